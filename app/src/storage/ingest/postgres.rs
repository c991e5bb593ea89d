//! The ingest transaction on PostgreSQL: multi-row statements, a few hundred rows per round trip; the events as one
//! array per column, unnested into rows — seventeen parameters however many events, where a `VALUES` list has
//! seventeen per event for the server to parse, plan and bind.

use super::{
    CounterRow, EventRow, NewIdentity, OrderRow, SharedContext, StateRow, Statements, VolumeRow, ADD_COUNTERS,
    ADD_VOLUME, INSERT_EVENTS, INSERT_IDENTITIES, INSERT_ORDERS, MOVE_TO_WINNER, ON_COUNTER_CONFLICT,
    ON_STATE_CONFLICT, ON_VOLUME_CONFLICT, SELECT_OWNERS, SELECT_SIGNED_IN, SELECT_STATES, UPSERT_STATES,
};
use crate::domain::signals::SignalState;
use crate::error::AppError;
use crate::storage::profiles::{ProfileRecord, PROFILE_COLUMNS};
use crate::storage::select_in;
use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::{HashMap, HashSet};

const ROWS_PER_STATEMENT: usize = 500;

impl Statements for PgConnection {
    async fn owners(&mut self, ids: &[&str]) -> Result<Vec<(String, i64)>, AppError> {
        select_chunked(self, SELECT_OWNERS, ids).await
    }

    async fn profiles(&mut self, ids: &[i64]) -> Result<Vec<ProfileRecord>, AppError> {
        select_chunked(self, &format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE id"), ids).await
    }

    async fn signed_in(&mut self, profiles: &[i64]) -> Result<Vec<i64>, AppError> {
        let rows: Vec<(i64,)> = select_chunked(self, SELECT_SIGNED_IN, profiles).await?;
        Ok(rows.into_iter().map(|(profile,)| profile).collect())
    }

    async fn create_profile(&mut self, first_seen: DateTime<Utc>, stage: &str) -> Result<i64, AppError> {
        let sql = "INSERT INTO profiles (first_seen, last_seen, stage) VALUES ($1, $1, $2) RETURNING id";
        Ok(sqlx::query_scalar(sql).bind(first_seen).bind(stage).fetch_one(&mut *self).await?)
    }

    async fn stitch(&mut self, winner: i64, loser: i64) -> Result<Vec<StateRow>, AppError> {
        for sql in MOVE_TO_WINNER {
            sqlx::query(sql).bind(winner).bind(loser).execute(&mut *self).await?;
        }
        let states = select_chunked(self, SELECT_STATES, &[winner, loser]).await?;
        sqlx::query("DELETE FROM profile_signals WHERE profile_id = $1").bind(loser).execute(&mut *self).await?;
        sqlx::query("DELETE FROM profiles WHERE id = $1").bind(loser).execute(&mut *self).await?;
        Ok(states)
    }

    async fn insert_identities(&mut self, rows: &[NewIdentity]) -> Result<(), AppError> {
        write_chunked(self, INSERT_IDENTITIES, rows, " ON CONFLICT (id) DO NOTHING", |mut values, row| {
            values.push_bind(&row.id).push_bind(row.profile).push_bind(row.kind).push_bind(row.first_seen);
        })
        .await
    }

    async fn context_ids(&mut self, contexts: &[&SharedContext]) -> Result<Vec<i64>, AppError> {
        if contexts.is_empty() {
            return Ok(Vec::new());
        }
        let digests: Vec<&[u8]> = contexts.iter().map(|c| &c.digest[..]).collect();
        let texts: Vec<&str> = contexts.iter().map(|c| c.text.as_str()).collect();
        sqlx::query(
            "INSERT INTO event_contexts (digest, context) SELECT digest, context::jsonb \
             FROM UNNEST($1::bytea[], $2::text[]) AS given (digest, context) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&digests)
        .bind(&texts)
        .execute(&mut *self)
        .await?;
        let stored: HashMap<Vec<u8>, i64> =
            sqlx::query_as("SELECT digest, id FROM event_contexts WHERE digest = ANY($1)")
                .bind(&digests)
                .fetch_all(&mut *self)
                .await?
                .into_iter()
                .collect();
        digests
            .iter()
            .map(|digest| {
                stored.get(*digest).copied().ok_or_else(|| AppError::internal("a shared context vanished while stored"))
            })
            .collect()
    }

    async fn insert_events(&mut self, rows: &[EventRow<'_>], is_new: &mut [bool]) -> Result<(), AppError> {
        fn column<'r, T>(rows: &'r [EventRow<'_>], value: impl Fn(&'r EventRow<'_>) -> T) -> Vec<T> {
            rows.iter().map(value).collect()
        }
        let sql = format!(
            "{INSERT_EVENTS} SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::jsonb[], \
             $13::jsonb[], $14::jsonb[], $15::jsonb[], $16::jsonb[], $17::int8[]) ON CONFLICT (source, message_id) DO NOTHING"
        );
        let inserted = sqlx::query(&sql)
            .bind(column(rows, |r| r.source))
            .bind(column(rows, |r| r.event.message_id.as_str()))
            .bind(column(rows, |r| r.profile))
            .bind(column(rows, |r| r.event.kind.as_str()))
            .bind(column(rows, |r| r.event.event.as_deref()))
            .bind(column(rows, |r| r.event.user_id.as_deref()))
            .bind(column(rows, |r| r.event.anonymous_id.as_deref()))
            .bind(column(rows, |r| r.event.previous_id.as_deref()))
            .bind(column(rows, |r| r.event.timestamp))
            .bind(column(rows, |r| r.event.received_at))
            .bind(column(rows, |r| r.event.channel.as_str()))
            .bind(column(rows, |r| Json(&*r.serialized.properties)))
            .bind(column(rows, |r| Json(&*r.serialized.traits)))
            .bind(column(rows, |r| Json(&*r.serialized.own_context)))
            .bind(column(rows, |r| Json(&*r.serialized.consent)))
            .bind(column(rows, |r| (!r.problems.is_empty()).then_some(Json(r.problems))))
            .bind(column(rows, |r| r.context_id))
            .execute(&mut *self)
            .await?
            .rows_affected();
        if inserted == rows.len() as u64 {
            rows.iter().for_each(|row| is_new[row.index] = true);
        } else if inserted > 0 {
            // Some were stored before (retries). The database does not say which without returning a row per
            // event, so this rare case reads back the rows just inserted: they are the newest of the table, since
            // ids only grow and this transaction is the only one inserting events (INGEST_LOCK).
            let newest: Vec<(String, String)> =
                sqlx::query_as("SELECT source, message_id FROM events ORDER BY id DESC LIMIT $1")
                    .bind(inserted as i64)
                    .fetch_all(&mut *self)
                    .await?;
            let fresh: HashSet<(&str, &str)> = newest.iter().map(|(s, m)| (s.as_str(), m.as_str())).collect();
            for row in rows {
                is_new[row.index] = fresh.contains(&(row.source, row.event.message_id.as_str()));
            }
        }
        Ok(())
    }

    async fn insert_orders(&mut self, rows: &[OrderRow<'_>], is_new: &mut [bool]) -> Result<(), AppError> {
        for (chunk, is_new) in rows.chunks(ROWS_PER_STATEMENT).zip(is_new.chunks_mut(ROWS_PER_STATEMENT)) {
            let mut query = QueryBuilder::new(INSERT_ORDERS);
            query.push_values(chunk, |mut values, row| {
                values
                    .push_bind(&row.order.order_id)
                    .push_bind(row.profile)
                    .push_bind(row.source)
                    .push_bind(&row.event.message_id)
                    .push_bind(row.order.revenue)
                    .push_bind(&row.order.currency)
                    .push_bind(row.event.timestamp);
            });
            query.push(" ON CONFLICT (order_id) DO NOTHING RETURNING order_id");
            let mut stored: HashSet<String> =
                query.build_query_scalar().fetch_all(&mut *self).await?.into_iter().collect();
            for (row, new) in chunk.iter().zip(is_new) {
                // `remove`: an order repeated within the chunk was stored once, for its first row.
                *new = stored.remove(&row.order.order_id);
            }
        }
        Ok(())
    }

    async fn signal_states(&mut self, profiles: &[i64]) -> Result<Vec<StateRow>, AppError> {
        select_chunked(self, SELECT_STATES, profiles).await
    }

    async fn upsert_states(&mut self, states: &[(i64, &str, SignalState)]) -> Result<(), AppError> {
        write_chunked(self, UPSERT_STATES, states, ON_STATE_CONFLICT, |mut values, (profile, key, state)| {
            values
                .push_bind(*profile)
                .push_bind(*key)
                .push_bind(state.matches)
                .push_bind(state.last_occurrence)
                .push_bind(state.score)
                .push_bind(state.score_at);
        })
        .await
    }

    async fn add_signal_volume(&mut self, rows: &[VolumeRow<'_>]) -> Result<(), AppError> {
        write_chunked(self, ADD_VOLUME, rows, ON_VOLUME_CONFLICT, |mut values, row| {
            values
                .push_bind(&row.signal.key)
                .push_bind(row.signal.version)
                .push_bind(row.day)
                .push_bind(row.channel)
                .push_bind(row.matches);
        })
        .await
    }

    async fn update_profiles(&mut self, rows: &[&ProfileRecord], changed_at: DateTime<Utc>) -> Result<(), AppError> {
        // Every row exists: the upsert is a multi-row UPDATE. The identity column's values are given on purpose.
        let insert = "INSERT INTO profiles (id, traits, consent, opted_out, channels, first_seen, last_seen, orders, \
                      revenue, intent_score, stage, changed_at) OVERRIDING SYSTEM VALUE ";
        let on_conflict = " ON CONFLICT (id) DO UPDATE SET traits = excluded.traits, consent = excluded.consent, \
             opted_out = excluded.opted_out, channels = excluded.channels, first_seen = excluded.first_seen, \
             last_seen = excluded.last_seen, orders = excluded.orders, revenue = excluded.revenue, \
             intent_score = excluded.intent_score, stage = excluded.stage, changed_at = excluded.changed_at";
        write_chunked(self, insert, rows, on_conflict, |mut values, row| {
            values
                .push_bind(row.id)
                .push_bind(&row.traits)
                .push_bind(&row.consent)
                .push_bind(row.opted_out)
                .push_bind(&row.channels)
                .push_bind(row.first_seen)
                .push_bind(row.last_seen)
                .push_bind(row.orders)
                .push_bind(row.revenue)
                .push_bind(row.intent_score)
                .push_bind(&row.stage)
                .push_bind(changed_at);
        })
        .await
    }

    async fn add_counters(&mut self, rows: &[CounterRow<'_>]) -> Result<(), AppError> {
        write_chunked(self, ADD_COUNTERS, rows, ON_COUNTER_CONFLICT, |mut values, row| {
            values.push_bind(row.source).push_bind(row.hour).push_bind(&row.metric).push_bind(row.count);
        })
        .await
    }
}

/// `{insert} VALUES (…), (…), … {on_conflict}` over `rows`, `ROWS_PER_STATEMENT` at a time; `bind` binds one row.
async fn write_chunked<'r, T>(
    conn: &mut PgConnection,
    insert: &str,
    rows: &'r [T],
    on_conflict: &str,
    mut bind: impl FnMut(Separated<'_, 'r, Postgres, &'static str>, &'r T),
) -> Result<(), AppError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::new(insert);
        query.push_values(chunk, &mut bind);
        query.push(on_conflict);
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// `{select} IN (…)` over `values`, `ROWS_PER_STATEMENT` at a time.
async fn select_chunked<'v, V, T>(conn: &mut PgConnection, select: &str, values: &'v [V]) -> Result<Vec<T>, AppError>
where
    V: sqlx::Encode<'v, Postgres> + sqlx::Type<Postgres> + Copy + Send + Sync + 'v,
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut found = Vec::with_capacity(values.len());
    for chunk in values.chunks(ROWS_PER_STATEMENT) {
        found.extend(select_in::<Postgres, V>(select, chunk).build_query_as::<T>().fetch_all(&mut *conn).await?);
    }
    Ok(found)
}
