//! The ingest transaction on SQLite: the whole of it on the writer's thread, on the sqlx connection's own SQLite
//! handle, every statement prepared once for the writer's life and run once per row.
//!
//! Through sqlx, every statement is a round trip to the connection's worker thread, every bound value is copied for
//! it and every result value copied back: at a group's thousands of rows, a quarter of the writer's time, and the
//! hand-offs between the threads left the writer waiting rather than working. Run per row, a statement also says
//! whether its row was new, so retries need no read-back.

use super::{
    CounterRow, EventRow, NewIdentity, OrderRow, SharedContext, StateRow, Statements, VolumeRow, ADD_COUNTERS,
    ADD_VOLUME, INSERT_EVENTS, INSERT_IDENTITIES, INSERT_ORDERS, MOVE_TO_WINNER, ON_COUNTER_CONFLICT,
    ON_STATE_CONFLICT, ON_VOLUME_CONFLICT, SELECT_OWNERS, SELECT_SIGNED_IN, SELECT_STATES, UPSERT_STATES,
};
use crate::domain::signals::SignalState;
use crate::error::AppError;
use crate::storage::profiles::{ProfileRecord, PROFILE_COLUMNS};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::types::Json;
use sqlx::{Sqlite, SqlitePool};

/// The writer's connection: sqlx opened it (with the pool's settings), the writer drives its SQLite handle.
pub struct Writer {
    // Declared first, dropped first: its prepared statements are finalized before sqlx closes the handle.
    handle: rusqlite::Connection,
    connection: PoolConnection<Sqlite>,
    pool: SqlitePool,
}

impl Writer {
    /// Takes a connection out of `pool` for good and its handle from sqlx.
    pub(super) async fn open(pool: SqlitePool) -> Result<Writer, AppError> {
        let mut connection = pool.acquire().await?;
        let raw = connection.lock_handle().await?.as_raw_handle();
        // SAFETY: the handle stays open while `connection` lives, which `Writer` keeps (and drops after `handle`).
        // sqlx touches a connection's handle only for commands sent through it, and the writer never sends any:
        // the connection is checked out of its pool, so nothing else can either. `from_handle` never closes it.
        let handle = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }?;
        // Room for every statement of the transaction (the default is 16).
        handle.set_prepared_statement_cache_capacity(32);
        Ok(Writer { handle, connection, pool })
    }

    /// Runs `work` in one write transaction (`BEGIN IMMEDIATE`: it queues for the write lock up front), in this
    /// thread; commits if `work` succeeds, rolls back otherwise.
    pub(super) fn write_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Transaction<'_>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        // A transaction left open by a failed rollback must not swallow the next one.
        if !self.handle.is_autocommit() {
            self.handle.execute_batch("ROLLBACK")?;
        }
        let mut tx = self.handle.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let result = work(&mut tx)?;
        tx.commit()?;
        Ok(result)
    }

    pub(super) async fn close(self) {
        let Writer { handle, connection, pool } = self;
        drop(handle);
        drop(connection);
        pool.close().await;
    }
}

/// Every method runs to completion without waiting: the `async` is the trait's, for PostgreSQL.
impl Statements for Transaction<'_> {
    async fn owners(&mut self, ids: &[&str]) -> Result<Vec<(String, i64)>, AppError> {
        select_each(self, SELECT_OWNERS, ids, |row| Ok((row.get(0)?, row.get(1)?)))
    }

    async fn profiles(&mut self, ids: &[i64]) -> Result<Vec<ProfileRecord>, AppError> {
        select_each(self, &format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE id"), ids, |row| {
            Ok(ProfileRecord {
                id: row.get(0)?,
                traits: Json(parse_json(row, 1)?),
                consent: Json(parse_json(row, 2)?),
                opted_out: row.get(3)?,
                channels: Json(parse_json(row, 4)?),
                first_seen: parse_time(row, 5)?,
                last_seen: parse_time(row, 6)?,
                orders: row.get(7)?,
                revenue: row.get(8)?,
                intent_score: row.get(9)?,
                stage: row.get(10)?,
            })
        })
    }

    async fn signed_in(&mut self, profiles: &[i64]) -> Result<Vec<i64>, AppError> {
        select_each(self, SELECT_SIGNED_IN, profiles, |row| row.get(0))
    }

    async fn create_profile(&mut self, first_seen: DateTime<Utc>, stage: &str) -> Result<i64, AppError> {
        let mut insert = self
            .prepare_cached("INSERT INTO profiles (first_seen, last_seen, stage) VALUES (?1, ?1, ?2) RETURNING id")?;
        Ok(insert.query_row(params![sqlite_time(first_seen), stage], |row| row.get(0))?)
    }

    async fn stitch(&mut self, winner: i64, loser: i64) -> Result<Vec<StateRow>, AppError> {
        for sql in MOVE_TO_WINNER {
            self.prepare_cached(sql)?.execute(params![winner, loser])?;
        }
        let states = select_each(self, SELECT_STATES, &[winner, loser], read_state)?;
        self.prepare_cached("DELETE FROM profile_signals WHERE profile_id = ?1")?.execute([loser])?;
        self.prepare_cached("DELETE FROM profiles WHERE id = ?1")?.execute([loser])?;
        Ok(states)
    }

    async fn insert_identities(&mut self, rows: &[NewIdentity]) -> Result<(), AppError> {
        let mut insert =
            self.prepare_cached(&format!("{INSERT_IDENTITIES} VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING"))?;
        for row in rows {
            insert.execute(params![row.id, row.profile, row.kind, sqlite_time(row.first_seen)])?;
        }
        Ok(())
    }

    async fn context_ids(&mut self, contexts: &[&SharedContext]) -> Result<Vec<i64>, AppError> {
        let mut select = self.prepare_cached("SELECT id FROM event_contexts WHERE digest = ?1")?;
        let mut insert =
            self.prepare_cached("INSERT INTO event_contexts (digest, context) VALUES (?1, ?2) RETURNING id")?;
        let mut ids = Vec::with_capacity(contexts.len());
        for context in contexts {
            let known = select.query_row([&context.digest[..]], |row| row.get(0)).optional()?;
            ids.push(match known {
                Some(id) => id,
                None => insert.query_row(params![&context.digest[..], context.text], |row| row.get(0))?,
            });
        }
        Ok(ids)
    }

    async fn insert_events(&mut self, rows: &[EventRow<'_>], is_new: &mut [bool]) -> Result<(), AppError> {
        let mut insert = self.prepare_cached(&format!(
            "{INSERT_EVENTS} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (source, message_id) DO NOTHING"
        ))?;
        for row in rows {
            let (event, json) = (row.event, row.serialized);
            let problems = (!row.problems.is_empty()).then(|| json_text(row.problems)).transpose()?;
            let stored = insert.execute(params![
                row.source,
                event.message_id,
                row.profile,
                event.kind.as_str(),
                event.event,
                event.user_id,
                event.anonymous_id,
                event.previous_id,
                sqlite_time(event.timestamp),
                sqlite_time(event.received_at),
                event.channel,
                json.properties.get(),
                json.traits.get(),
                json.own_context.get(),
                json.consent.get(),
                problems,
                row.context_id,
            ])?;
            is_new[row.index] = stored == 1;
        }
        Ok(())
    }

    async fn insert_orders(&mut self, rows: &[OrderRow<'_>], is_new: &mut [bool]) -> Result<(), AppError> {
        let mut insert = self.prepare_cached(&format!(
            "{INSERT_ORDERS} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (order_id) DO NOTHING"
        ))?;
        for (row, new) in rows.iter().zip(is_new) {
            *new = insert.execute(params![
                row.order.order_id,
                row.profile,
                row.source,
                row.event.message_id,
                row.order.revenue,
                row.order.currency,
                sqlite_time(row.event.timestamp),
            ])? == 1;
        }
        Ok(())
    }

    async fn signal_states(&mut self, profiles: &[i64]) -> Result<Vec<StateRow>, AppError> {
        select_each(self, SELECT_STATES, profiles, read_state)
    }

    async fn upsert_states(&mut self, states: &[(i64, &str, SignalState)]) -> Result<(), AppError> {
        let mut upsert =
            self.prepare_cached(&format!("{UPSERT_STATES} VALUES (?1, ?2, ?3, ?4, ?5, ?6){ON_STATE_CONFLICT}"))?;
        for (profile, key, state) in states {
            upsert.execute(params![
                profile,
                key,
                state.matches,
                sqlite_time(state.last_occurrence),
                state.score,
                sqlite_time(state.score_at),
            ])?;
        }
        Ok(())
    }

    async fn add_signal_volume(&mut self, rows: &[VolumeRow<'_>]) -> Result<(), AppError> {
        let mut add = self.prepare_cached(&format!("{ADD_VOLUME} VALUES (?1, ?2, ?3, ?4, ?5){ON_VOLUME_CONFLICT}"))?;
        for row in rows {
            add.execute(params![row.signal.key, row.signal.version, sqlite_date(row.day), row.channel, row.matches])?;
        }
        Ok(())
    }

    async fn update_profiles(&mut self, rows: &[&ProfileRecord], changed_at: DateTime<Utc>) -> Result<(), AppError> {
        let changed_at = sqlite_time(changed_at);
        let mut update = self.prepare_cached(
            "UPDATE profiles SET traits = ?2, consent = ?3, opted_out = ?4, channels = ?5, first_seen = ?6, \
             last_seen = ?7, orders = ?8, revenue = ?9, intent_score = ?10, stage = ?11, changed_at = ?12 WHERE id = ?1",
        )?;
        for row in rows {
            update.execute(params![
                row.id,
                json_text(&row.traits.0)?,
                json_text(&row.consent.0)?,
                row.opted_out,
                json_text(&row.channels.0)?,
                sqlite_time(row.first_seen),
                sqlite_time(row.last_seen),
                row.orders,
                row.revenue,
                row.intent_score,
                row.stage,
                changed_at,
            ])?;
        }
        Ok(())
    }

    async fn add_counters(&mut self, rows: &[CounterRow<'_>]) -> Result<(), AppError> {
        let mut add = self.prepare_cached(&format!("{ADD_COUNTERS} VALUES (?1, ?2, ?3, ?4){ON_COUNTER_CONFLICT}"))?;
        for row in rows {
            add.execute(params![row.source, sqlite_time(row.hour), row.metric, row.count])?;
        }
        Ok(())
    }
}

/// Runs `{select} = ?1` once per key: every row of every key, in key order.
fn select_each<K: rusqlite::ToSql, T>(
    db: &rusqlite::Connection,
    select: &str,
    keys: &[K],
    mut read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, AppError> {
    let mut statement = db.prepare_cached(&format!("{select} = ?1"))?;
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let mut rows = statement.query([key])?;
        while let Some(row) = rows.next()? {
            found.push(read(row)?);
        }
    }
    Ok(found)
}

fn read_state(row: &rusqlite::Row<'_>) -> rusqlite::Result<StateRow> {
    Ok(StateRow {
        profile_id: row.get(0)?,
        signal_key: row.get(1)?,
        matches: row.get(2)?,
        last_occurrence: parse_time(row, 3)?,
        score: row.get(4)?,
        score_at: parse_time(row, 5)?,
    })
}

/// A time as sqlx writes it to SQLite (`DateTime<Utc>`'s encoding): every time column is compared as text.
fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A date as sqlx writes it to SQLite.
fn sqlite_date(day: NaiveDate) -> String {
    day.format("%F").to_string()
}

fn parse_time(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(column)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(err)))
}

fn parse_json<T: serde::de::DeserializeOwned>(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(err)))
}

fn json_text(value: &(impl Serialize + ?Sized)) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sqlx::sqlite::{Sqlite, SqliteArgumentValue};
    use sqlx::Encode;

    #[test]
    fn times_and_dates_written_past_sqlx_have_the_text_sqlx_writes() {
        // Time columns are compared and sorted as text: both writers must agree to the character.
        for at in [
            Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap(),
            Utc.timestamp_opt(1_764_667_800, 123_456_789).unwrap(),
            Utc.timestamp_opt(1_764_667_800, 120_000_000).unwrap(),
        ] {
            let mut encoded = Vec::new();
            let _ = Encode::<Sqlite>::encode_by_ref(&at, &mut encoded).unwrap();
            let [SqliteArgumentValue::Text(text)] = encoded.as_slice() else { panic!("sqlx wrote {encoded:?}") };
            assert_eq!(sqlite_time(at), *text);
        }
        let day = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let mut encoded = Vec::new();
        let _ = Encode::<Sqlite>::encode_by_ref(&day, &mut encoded).unwrap();
        let [SqliteArgumentValue::Text(text)] = encoded.as_slice() else { panic!("sqlx wrote {encoded:?}") };
        assert_eq!(sqlite_date(day), *text);
    }
}
