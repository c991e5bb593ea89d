//! The ingest transaction: one call commits a group of submissions (requests) atomically — stitched identities,
//! raw events, orders, per-profile signal states and intent, counters — or nothing at all, so a request is
//! acknowledged only when all of it is durable.
//!
//! The steps, in order: resolve every id to its profile (creating profiles for new people and stitching profiles
//! that an event shows to be one person); drop what consent or an opt-out forbids; insert the events, learning
//! from the database which were already there (idempotent retries); fold the new ones into orders, signal states
//! and profile aggregates; bump the counters.

use super::profiles::{ProfileRecord, PROFILE_COLUMNS};
use super::{on_pool, select_in, Backend, Db};
use crate::domain::events::{Consent, Event, EventType};
use crate::domain::signals::{self, Library, Occurrence, Order, SignalState};
use crate::error::AppError;
use chrono::{DateTime, DurationRound, NaiveDate, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Map;
use sqlx::types::Json;
use sqlx::Postgres;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The events of one request, already validated.
#[derive(Debug, Default)]
pub struct Submission {
    /// Who sent them (`key:<id>`); message ids are unique per source.
    pub source: String,
    pub events: Vec<Event>,
    /// Codes of the events the request refused, for the counters.
    pub rejected: Vec<&'static str>,
    pub received_at: DateTime<Utc>,
}

/// What happened to a submission's valid events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Newly stored.
    pub accepted: usize,
    /// Already stored earlier (a retry), or repeated within the request.
    pub duplicates: usize,
    /// Not stored: the person withheld analytics consent (counted only).
    pub consent_dropped: usize,
    /// Not stored: the person opted out.
    pub opted_out: usize,
    /// People who opted out or back in through an identify call.
    pub opt_out_changes: usize,
}

/// Serializes ingest writers of several instances on one PostgreSQL: stitching reads, then writes, identities.
pub(crate) const INGEST_LOCK: i64 = 0x696e_6765_7374;
const ROWS_PER_STATEMENT: usize = 500;

#[derive(Debug, Clone, sqlx::FromRow)]
struct StateRow {
    profile_id: i64,
    signal_key: String,
    matches: i64,
    last_occurrence: DateTime<Utc>,
    score: f64,
    score_at: DateTime<Utc>,
}

enum Fate {
    ConsentDropped,
    OptedOut,
    Duplicate,
    Keep { profile: i64 },
}

pub async fn commit(db: &Db, submissions: &[Submission], library: &Library) -> Result<Vec<Outcome>, AppError> {
    let events: Vec<(usize, &Event)> =
        submissions.iter().enumerate().flat_map(|(i, s)| s.events.iter().map(move |e| (i, e))).collect();
    let ids: Vec<&str> = {
        let set: BTreeSet<&str> = events.iter().flat_map(|(_, e)| e.ids()).collect();
        set.into_iter().collect()
    };
    let is_postgres = db.backend() == Backend::Postgres;
    let first_stage = library.intent.stage_for(0.0, false).to_string();

    on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        if is_postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(INGEST_LOCK).execute(&mut *tx).await?;
        }

        // 1. Who is who: known ids, their profiles, and which profiles belong to a signed-in user.
        let mut owner: HashMap<String, i64> = tx.owners(&ids).await?.into_iter().collect();
        let known: Vec<i64> = owner.values().copied().collect::<BTreeSet<_>>().into_iter().collect();
        let mut profiles: HashMap<i64, ProfileRecord> = tx.profiles(&known).await?.into_iter().map(|p| (p.id, p)).collect();
        let mut with_user_id: HashSet<i64> = tx.signed_in(&known).await?.into_iter().collect();

        // 2. Each event in order: consent, identity (create or stitch), opt-out.
        let mut fates: Vec<Fate> = Vec::with_capacity(events.len());
        let mut new_identities: Vec<(String, i64, &'static str, DateTime<Utc>)> = Vec::new();
        let mut dirty: BTreeSet<i64> = BTreeSet::new();
        let mut in_batch: HashSet<(&str, &str)> = HashSet::new();
        let mut opt_out_changes = vec![0usize; submissions.len()];
        for (submission, event) in &events {
            if !event.consent.allows(Consent::ANALYTICS) {
                // The event is not kept, but a known person's withdrawn consent must be: it governs what is done
                // with the data already stored about them.
                if let Some(row) = event.ids().find_map(|id| owner.get(id)).and_then(|p| profiles.get_mut(p)) {
                    row.consent.0.extend(event.consent.0.iter().map(|(k, v)| (k.clone(), *v)));
                    dirty.insert(row.id);
                }
                fates.push(Fate::ConsentDropped);
                continue;
            }
            let mut linked: Vec<i64> = event.ids().filter_map(|id| owner.get(id).copied()).collect();
            linked.sort();
            linked.dedup();
            // A new user id on a device already signed in as someone else is a new person (a shared device), not
            // another id of the first one; only an explicit alias says otherwise.
            let new_user_on_shared_device = event.kind != EventType::Alias
                && event.user_id.as_ref().is_some_and(|u| !owner.contains_key(u))
                && linked.iter().any(|p| with_user_id.contains(p));
            if new_user_on_shared_device {
                linked.clear();
            }
            let profile = match linked.as_slice() {
                [] => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO profiles (first_seen, last_seen, stage) VALUES ($1, $1, $2) RETURNING id",
                    )
                    .bind(event.timestamp)
                    .bind(&first_stage)
                    .fetch_one(&mut *tx)
                    .await?;
                    profiles.insert(id, ProfileRecord {
                        id,
                        traits: Json(Map::new()),
                        consent: Json(BTreeMap::new()),
                        opted_out: false,
                        channels: Json(Vec::new()),
                        first_seen: event.timestamp,
                        last_seen: event.timestamp,
                        orders: 0,
                        revenue: 0.0,
                        intent_score: 0.0,
                        stage: first_stage.clone(),
                    });
                    id
                }
                [one] => *one,
                [winner, losers @ ..] => {
                    let user_profile = event.user_id.as_deref().and_then(|u| owner.get(u).copied());
                    let mut kept = *winner;
                    for loser in losers {
                        // Two different signed-in people on one device are not one person; an explicit alias is.
                        if event.kind != EventType::Alias && with_user_id.contains(winner) && with_user_id.contains(loser) {
                            kept = user_profile.unwrap_or(*winner);
                            continue;
                        }
                        // Stitch: everything of the loser moves to the winner.
                        for sql in [
                            "UPDATE identities SET profile_id = $1 WHERE profile_id = $2",
                            "UPDATE events SET profile_id = $1 WHERE profile_id = $2",
                            "UPDATE orders SET profile_id = $1 WHERE profile_id = $2",
                        ] {
                            sqlx::query(sql).bind(*winner).bind(*loser).execute(&mut *tx).await?;
                        }
                        let states: Vec<StateRow> = sqlx::query_as(
                            "SELECT profile_id, signal_key, matches, last_occurrence, score, score_at FROM profile_signals WHERE profile_id IN ($1, $2)",
                        )
                        .bind(*winner)
                        .bind(*loser)
                        .fetch_all(&mut *tx)
                        .await?;
                        let mut merged: BTreeMap<String, SignalState> = BTreeMap::new();
                        for row in states {
                            let state = SignalState { matches: row.matches, last_occurrence: row.last_occurrence, score: row.score, score_at: row.score_at };
                            let next = match merged.remove(&row.signal_key) {
                                Some(other) => signals::merge_states(other, state, library.intent.half_life_days),
                                None => state,
                            };
                            merged.insert(row.signal_key, next);
                        }
                        sqlx::query("DELETE FROM profile_signals WHERE profile_id = $1").bind(*loser).execute(&mut *tx).await?;
                        let merged: Vec<(i64, &str, SignalState)> = merged.iter().map(|(key, state)| (*winner, key.as_str(), *state)).collect();
                        tx.upsert_states(&merged).await?;
                        if let Some(lost) = profiles.remove(loser) {
                            if let Some(won) = profiles.get_mut(winner) {
                                merge_profiles(won, lost);
                            }
                        }
                        sqlx::query("DELETE FROM profiles WHERE id = $1").bind(*loser).execute(&mut *tx).await?;
                        // Everything of this batch that pointed at the loser points at the winner from now on. Done
                        // here, not at the end: SQLite gives the loser's id to the next profile created.
                        owner.values_mut().filter(|p| **p == *loser).for_each(|p| *p = *winner);
                        for fate in &mut fates {
                            if let Fate::Keep { profile } = fate {
                                if *profile == *loser {
                                    *profile = *winner;
                                }
                            }
                        }
                        new_identities.iter_mut().filter(|i| i.1 == *loser).for_each(|i| i.1 = *winner);
                        if with_user_id.remove(loser) {
                            with_user_id.insert(*winner);
                        }
                        dirty.remove(loser);
                        dirty.insert(*winner);
                    }
                    if kept == *winner { *winner } else { kept }
                }
            };
            for (id, kind) in [(&event.user_id, "user_id"), (&event.anonymous_id, "anonymous_id"), (&event.previous_id, "alias")] {
                let Some(id) = id else { continue };
                if !owner.contains_key(id) {
                    owner.insert(id.clone(), profile);
                    new_identities.push((id.clone(), profile, kind, event.timestamp));
                    // A new id of a person changes which exposed units are theirs: see `changed_at` below.
                    dirty.insert(profile);
                    if kind == "user_id" {
                        with_user_id.insert(profile);
                    }
                }
            }
            let Some(row) = profiles.get_mut(&profile) else {
                return Err(AppError::internal(format!("profile {profile} vanished during ingestion")));
            };
            let change = event.opt_out_change();
            if row.opted_out && change != Some(false) {
                fates.push(Fate::OptedOut);
                continue;
            }
            if let Some(opted_out) = change.filter(|c| *c != row.opted_out) {
                row.opted_out = opted_out;
                dirty.insert(profile);
                opt_out_changes[*submission] += 1;
            }
            if !in_batch.insert((submissions[*submission].source.as_str(), event.message_id.as_str())) {
                fates.push(Fate::Duplicate);
                continue;
            }
            fates.push(Fate::Keep { profile });
        }
        for chunk in new_identities.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new("INSERT INTO identities (id, profile_id, kind, first_seen) ");
            query.push_values(chunk, |mut row, (id, profile, kind, at)| {
                row.push_bind(id).push_bind(*profile).push_bind(*kind).push_bind(*at);
            });
            query.push(" ON CONFLICT (id) DO NOTHING");
            query.build().execute(&mut *tx).await?;
        }

        // 3. Store the kept events; the database says which ones it already had.
        let checks: Vec<(Vec<String>, Option<Order>)> = events
            .iter()
            .map(|(_, event)| {
                let occurrence = occurrence_of(event);
                let mut problems = library.schema_violations(&occurrence);
                let order = if library.purchase.is_purchase(&occurrence) {
                    library.purchase.order(&event.properties).map_err(|e| problems.push(e)).ok()
                } else {
                    None
                };
                (problems, order)
            })
            .collect();
        let keep: Vec<usize> = fates.iter().enumerate().filter(|(_, f)| matches!(f, Fate::Keep { .. })).map(|(i, _)| i).collect();
        // Events of a batch share their normalized context when they repeat it: serialized once, stored per event.
        // Keyed by the shared value's address.
        let context_key = |event: &Event| Arc::as_ptr(&event.context) as usize;
        let mut contexts: HashMap<usize, Box<RawValue>> = HashMap::new();
        for &i in &keep {
            let event = events[i].1;
            if let Entry::Vacant(entry) = contexts.entry(context_key(event)) {
                entry.insert(serde_json::value::to_raw_value(&*event.context).map_err(|e| AppError::internal(e.to_string()))?);
            }
        }
        let rows: Vec<EventRow> = keep
            .iter()
            .map(|&i| {
                let (submission, event) = events[i];
                let Fate::Keep { profile } = fates[i] else { unreachable!("only kept events are inserted") };
                EventRow {
                    index: i,
                    source: &submissions[submission].source,
                    profile,
                    event,
                    context: &contexts[&context_key(event)],
                    problems: &checks[i].0,
                }
            })
            .collect();
        let mut is_new = vec![false; events.len()];
        if !rows.is_empty() {
            tx.insert_events(&rows, &mut is_new).await?;
        }

        // 4. Fold the new events into orders, profiles, signal states and counters.
        let mut outcomes: Vec<Outcome> =
            opt_out_changes.iter().map(|&opt_out_changes| Outcome { opt_out_changes, ..Outcome::default() }).collect();
        // Tallied per submission, named per source and hour once at the end.
        let mut tallies: HashMap<(usize, &str), i64> = HashMap::new();
        let mut count = |submission: usize, metric: &'static str| *tallies.entry((submission, metric)).or_default() += 1;
        let mut orders: Vec<(&Order, i64, usize, &Event)> = Vec::new();
        let mut occurrences: Vec<(i64, usize, &Event)> = Vec::new();
        for (i, (submission, event)) in events.iter().enumerate() {
            let outcome = &mut outcomes[*submission];
            match fates[i] {
                Fate::ConsentDropped => {
                    outcome.consent_dropped += 1;
                    count(*submission, "consent_dropped");
                }
                Fate::OptedOut => {
                    outcome.opted_out += 1;
                    count(*submission, "opted_out");
                }
                Fate::Duplicate => {
                    outcome.duplicates += 1;
                    count(*submission, "duplicates");
                }
                Fate::Keep { profile } => {
                    if !is_new[i] {
                        outcome.duplicates += 1;
                        count(*submission, "duplicates");
                        continue;
                    }
                    outcome.accepted += 1;
                    count(*submission, "accepted");
                    let (problems, order) = &checks[i];
                    if !problems.is_empty() {
                        count(*submission, "schema_violations");
                    }
                    if let Some(row) = profiles.get_mut(&profile) {
                        row.first_seen = row.first_seen.min(event.timestamp);
                        row.last_seen = row.last_seen.max(event.timestamp);
                        // Identify and alias calls often come from back ends: only behaviour says where people shop.
                        let behaviour = matches!(event.kind, EventType::Track | EventType::Page | EventType::Screen);
                        if behaviour && !row.channels.contains(&event.channel) {
                            row.channels.push(event.channel.clone());
                            row.channels.sort();
                        }
                        if event.kind == EventType::Identify {
                            row.traits.extend(event.traits.iter().map(|(k, v)| (k.clone(), v.clone())));
                        }
                        if !event.consent.0.is_empty() {
                            row.consent.0.extend(event.consent.0.iter().map(|(k, v)| (k.clone(), *v)));
                        }
                    }
                    dirty.insert(profile);
                    if let Some(order) = order {
                        orders.push((order, profile, *submission, event));
                    }
                    if problems.is_empty() {
                        occurrences.extend(library.matching(&occurrence_of(event)).map(|(signal, _)| (profile, signal, *event)));
                    }
                }
            }
        }
        let hour = |at: DateTime<Utc>| at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at);
        let mut counters: BTreeMap<(&str, DateTime<Utc>, String), i64> = BTreeMap::new();
        let rejections = submissions.iter().enumerate().flat_map(|(i, s)| s.rejected.iter().map(move |code| ((i, format!("rejected:{code}")), 1)));
        for ((submission, metric), n) in tallies.into_iter().map(|((i, m), n)| ((i, m.to_string()), n)).chain(rejections) {
            let s = &submissions[submission];
            *counters.entry((s.source.as_str(), hour(s.received_at), metric)).or_default() += n;
        }

        for chunk in orders.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new("INSERT INTO orders (order_id, profile_id, source, message_id, revenue, currency, at) ");
            query.push_values(chunk, |mut row, (order, profile, submission, event)| {
                row.push_bind(&order.order_id)
                    .push_bind(*profile)
                    .push_bind(&submissions[*submission].source)
                    .push_bind(&event.message_id)
                    .push_bind(order.revenue)
                    .push_bind(&order.currency)
                    .push_bind(event.timestamp);
            });
            query.push(" ON CONFLICT (order_id) DO NOTHING RETURNING order_id");
            let mut new_orders: HashSet<String> = query.build_query_scalar().fetch_all(&mut *tx).await?.into_iter().collect();
            for (order, profile, _, _) in chunk {
                // `remove`: an order repeated within the chunk was inserted once.
                if new_orders.remove(&order.order_id) {
                    if let Some(row) = profiles.get_mut(profile) {
                        row.orders += 1;
                        row.revenue += order.revenue.unwrap_or(0.0);
                    }
                }
            }
        }

        let dirty: Vec<i64> = dirty.into_iter().collect();
        let mut states: HashMap<i64, BTreeMap<String, SignalState>> = HashMap::new();
        for row in tx.signal_states(&dirty).await? {
            let state = SignalState { matches: row.matches, last_occurrence: row.last_occurrence, score: row.score, score_at: row.score_at };
            states.entry(row.profile_id).or_default().insert(row.signal_key, state);
        }
        occurrences.sort_by_key(|(profile, signal, event)| (*profile, *signal, event.timestamp));
        let mut changed: BTreeSet<(i64, usize)> = BTreeSet::new();
        let mut volume: BTreeMap<(usize, NaiveDate, &str), i64> = BTreeMap::new();
        for (profile, signal_index, event) in &occurrences {
            let signal = &library.signals[*signal_index];
            let profile_states = states.entry(*profile).or_default();
            let previous = profile_states.get(&signal.key).copied();
            let (next, fired) = signals::record_occurrence(signal, previous, event.timestamp, library.intent.half_life_days);
            profile_states.insert(signal.key.clone(), next);
            changed.insert((*profile, *signal_index));
            if fired {
                *volume.entry((*signal_index, event.timestamp.date_naive(), event.channel.as_str())).or_default() += 1;
            }
        }
        let changed_states: Vec<(i64, &str, SignalState)> = changed
            .iter()
            .filter_map(|(profile, signal_index)| {
                let key = library.signals[*signal_index].key.as_str();
                states.get(profile).and_then(|s| s.get(key)).map(|state| (*profile, key, *state))
            })
            .collect();
        tx.upsert_states(&changed_states).await?;
        let volume: Vec<_> = volume.into_iter().collect();
        for chunk in volume.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new("INSERT INTO signal_volume (signal_key, version, day, channel, matches) ");
            query.push_values(chunk, |mut row, ((signal_index, day, channel), matches)| {
                let signal = &library.signals[*signal_index];
                row.push_bind(&signal.key).push_bind(signal.version).push_bind(*day).push_bind(*channel).push_bind(*matches);
            });
            query.push(" ON CONFLICT (signal_key, version, day, channel) DO UPDATE SET matches = signal_volume.matches + excluded.matches");
            query.build().execute(&mut *tx).await?;
        }

        for id in &dirty {
            let Some(row) = profiles.get_mut(id) else { continue };
            let empty = BTreeMap::new();
            let profile_states = states.get(id).unwrap_or(&empty);
            let intent = signals::intent(
                profile_states.iter().map(|(k, s)| (k.as_str(), s)),
                row.orders > 0,
                row.last_seen,
                &library.intent,
            );
            row.intent_score = intent.score;
            row.stage = intent.stage;
        }
        let changed_profiles: Vec<&ProfileRecord> = dirty.iter().filter_map(|id| profiles.get(id)).collect();
        // Taken just before the commit: the results service re-reads people changed since its last read (with an
        // overlap covering the time between this moment and the commit).
        let changed_at = Utc::now();
        tx.update_profiles(&changed_profiles, changed_at).await?;

        let counters: Vec<_> = counters.into_iter().collect();
        for chunk in counters.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new("INSERT INTO ingest_stats (source, hour, metric, count) ");
            query.push_values(chunk, |mut row, ((source, hour, metric), n)| {
                row.push_bind(source).push_bind(*hour).push_bind(metric).push_bind(*n);
            });
            query.push(" ON CONFLICT (source, hour, metric) DO UPDATE SET count = ingest_stats.count + excluded.count");
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, AppError>(outcomes)
    }.await)
}

/// One row of `events`.
struct EventRow<'a> {
    /// The event's position in the group.
    index: usize,
    source: &'a str,
    profile: i64,
    event: &'a Event,
    context: &'a RawValue,
    problems: &'a [String],
}

/// The statements run per event, per id or per touched profile: each database's fastest way.
trait HotStatements {
    /// The profiles these ids belong to: (id, profile), for the known ids.
    async fn owners(&mut self, ids: &[&str]) -> Result<Vec<(String, i64)>, AppError>;

    async fn profiles(&mut self, ids: &[i64]) -> Result<Vec<ProfileRecord>, AppError>;

    /// Those of these profiles that have a user id (someone signed in).
    async fn signed_in(&mut self, profiles: &[i64]) -> Result<Vec<i64>, AppError>;

    /// Stores events, skipping those already stored (same source and message id), and marks in `is_new` (indexed
    /// by `EventRow::index`) the ones it stored.
    async fn insert_events(&mut self, rows: &[EventRow<'_>], is_new: &mut [bool]) -> Result<(), AppError>;

    /// The signal states of these profiles (from which their intent is recomputed).
    async fn signal_states(&mut self, profiles: &[i64]) -> Result<Vec<StateRow>, AppError>;

    async fn upsert_states(&mut self, states: &[(i64, &str, SignalState)]) -> Result<(), AppError>;

    /// Writes back profiles read by `profiles` (or just created) and changed since.
    async fn update_profiles(&mut self, rows: &[&ProfileRecord], changed_at: DateTime<Utc>) -> Result<(), AppError>;
}

const SELECT_OWNERS: &str = "SELECT id, profile_id FROM identities WHERE id";
const SELECT_SIGNED_IN: &str = "SELECT DISTINCT profile_id FROM identities WHERE kind = 'user_id' AND profile_id";
const INSERT_EVENTS: &str = "INSERT INTO events (source, message_id, profile_id, type, event, user_id, anonymous_id, \
     previous_id, timestamp, received_at, channel, properties, traits, context, consent, schema_violations) ";
const SELECT_STATES: &str =
    "SELECT profile_id, signal_key, matches, last_occurrence, score, score_at FROM profile_signals WHERE profile_id";
const UPSERT_STATES: &str =
    "INSERT INTO profile_signals (profile_id, signal_key, matches, last_occurrence, score, score_at) ";
const ON_STATE_CONFLICT: &str = " ON CONFLICT (profile_id, signal_key) DO UPDATE SET matches = excluded.matches, \
     last_occurrence = excluded.last_occurrence, score = excluded.score, score_at = excluded.score_at";

/// SQLite: prepared statements run once per row on the connection's own handle, in the writer's thread. Through
/// sqlx every bound value is copied for its worker thread and every result value copied back, row by row through a
/// channel: a quarter of the saturated writer's time. A statement per row also says which rows were new.
impl HotStatements for sqlx::SqliteConnection {
    async fn owners(&mut self, ids: &[&str]) -> Result<Vec<(String, i64)>, AppError> {
        on_sqlite_handle(self, |db| select_each(db, SELECT_OWNERS, ids, |row| Ok((row.get(0)?, row.get(1)?)))).await
    }

    async fn profiles(&mut self, ids: &[i64]) -> Result<Vec<ProfileRecord>, AppError> {
        let select = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE id");
        on_sqlite_handle(self, |db| {
            select_each(db, &select, ids, |row| {
                Ok(ProfileRecord {
                    id: row.get(0)?,
                    traits: Json(parse_json(row, 1)?),
                    consent: Json(parse_json(row, 2)?),
                    opted_out: row.get(3)?,
                    channels: Json(parse_json(row, 4)?),
                    first_seen: parse_sqlite_time(row, 5)?,
                    last_seen: parse_sqlite_time(row, 6)?,
                    orders: row.get(7)?,
                    revenue: row.get(8)?,
                    intent_score: row.get(9)?,
                    stage: row.get(10)?,
                })
            })
        })
        .await
    }

    async fn signed_in(&mut self, profiles: &[i64]) -> Result<Vec<i64>, AppError> {
        on_sqlite_handle(self, |db| select_each(db, SELECT_SIGNED_IN, profiles, |row| row.get(0))).await
    }

    async fn insert_events(&mut self, rows: &[EventRow<'_>], is_new: &mut [bool]) -> Result<(), AppError> {
        on_sqlite_handle(self, |db| {
            let mut insert = db.prepare(&format!(
                "{INSERT_EVENTS} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
                 ON CONFLICT (source, message_id) DO NOTHING"
            ))?;
            for row in rows {
                let event = row.event;
                let problems = (!row.problems.is_empty()).then(|| json_text(row.problems)).transpose()?;
                let stored = insert.execute(rusqlite::params![
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
                    json_text(&event.properties)?,
                    json_text(&event.traits)?,
                    row.context.get(),
                    json_text(&event.consent)?,
                    problems,
                ])?;
                is_new[row.index] = stored == 1;
            }
            Ok(())
        })
        .await
    }

    async fn signal_states(&mut self, profiles: &[i64]) -> Result<Vec<StateRow>, AppError> {
        on_sqlite_handle(self, |db| {
            select_each(db, SELECT_STATES, profiles, |row| {
                Ok(StateRow {
                    profile_id: row.get(0)?,
                    signal_key: row.get(1)?,
                    matches: row.get(2)?,
                    last_occurrence: parse_sqlite_time(row, 3)?,
                    score: row.get(4)?,
                    score_at: parse_sqlite_time(row, 5)?,
                })
            })
        })
        .await
    }

    async fn upsert_states(&mut self, states: &[(i64, &str, SignalState)]) -> Result<(), AppError> {
        on_sqlite_handle(self, |db| {
            let mut upsert =
                db.prepare(&format!("{UPSERT_STATES} VALUES (?1, ?2, ?3, ?4, ?5, ?6){ON_STATE_CONFLICT}"))?;
            for (profile, key, state) in states {
                upsert.execute(rusqlite::params![
                    profile,
                    key,
                    state.matches,
                    sqlite_time(state.last_occurrence),
                    state.score,
                    sqlite_time(state.score_at),
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn update_profiles(&mut self, rows: &[&ProfileRecord], changed_at: DateTime<Utc>) -> Result<(), AppError> {
        let changed_at = sqlite_time(changed_at);
        on_sqlite_handle(self, |db| {
            let mut update = db.prepare(
                "UPDATE profiles SET traits = ?2, consent = ?3, opted_out = ?4, channels = ?5, first_seen = ?6, \
                 last_seen = ?7, orders = ?8, revenue = ?9, intent_score = ?10, stage = ?11, changed_at = ?12 WHERE id = ?1",
            )?;
            for row in rows {
                update.execute(rusqlite::params![
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
        })
        .await
    }
}

/// Runs `work` on the SQLite connection's own handle, in this thread, inside the transaction sqlx opened on it.
async fn on_sqlite_handle<T>(
    conn: &mut sqlx::SqliteConnection,
    work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T, AppError> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: sqlx's worker leaves the handle to us while `handle` is held, and `from_handle` never closes it.
    let db = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    use tokio::runtime::{Handle, RuntimeFlavor};
    // Blocking work: on a multi-threaded runtime this worker's other tasks move to another meanwhile.
    let result = match Handle::current().runtime_flavor() {
        RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| work(&db)),
        _ => work(&db),
    };
    drop(db);
    Ok(result?)
}

/// Runs `{select} = ?1` once per key with one prepared statement: every row of every key, in key order.
fn select_each<K: rusqlite::ToSql, T>(
    db: &rusqlite::Connection,
    select: &str,
    keys: &[K],
    mut read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut statement = db.prepare(&format!("{select} = ?1"))?;
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let mut rows = statement.query([key])?;
        while let Some(row) = rows.next()? {
            found.push(read(row)?);
        }
    }
    Ok(found)
}

/// A time as sqlx writes it to SQLite (`DateTime<Utc>`'s encoding): every time column is compared as text.
fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn parse_sqlite_time(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
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

/// PostgreSQL: multi-row statements; events as one array per column, unnested into rows — sixteen parameters
/// however many events, where a `VALUES` list has sixteen per event for the server to parse, plan and bind.
impl HotStatements for sqlx::PgConnection {
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

    async fn insert_events(&mut self, rows: &[EventRow<'_>], is_new: &mut [bool]) -> Result<(), AppError> {
        fn column<'r, T>(rows: &'r [EventRow<'_>], value: impl Fn(&'r EventRow<'_>) -> T) -> Vec<T> {
            rows.iter().map(value).collect()
        }
        let sql = format!(
            "{INSERT_EVENTS} SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], $12::jsonb[], \
             $13::jsonb[], $14::jsonb[], $15::jsonb[], $16::jsonb[]) ON CONFLICT (source, message_id) DO NOTHING"
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
            .bind(column(rows, |r| Json(&r.event.properties)))
            .bind(column(rows, |r| Json(&r.event.traits)))
            .bind(column(rows, |r| Json(r.context)))
            .bind(column(rows, |r| Json(&r.event.consent)))
            .bind(column(rows, |r| (!r.problems.is_empty()).then_some(Json(r.problems))))
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

    async fn signal_states(&mut self, profiles: &[i64]) -> Result<Vec<StateRow>, AppError> {
        select_chunked(self, SELECT_STATES, profiles).await
    }

    async fn upsert_states(&mut self, states: &[(i64, &str, SignalState)]) -> Result<(), AppError> {
        for chunk in states.chunks(ROWS_PER_STATEMENT) {
            let mut query = sqlx::QueryBuilder::new(UPSERT_STATES);
            query.push_values(chunk, |mut row, (profile, key, state)| {
                row.push_bind(*profile)
                    .push_bind(*key)
                    .push_bind(state.matches)
                    .push_bind(state.last_occurrence)
                    .push_bind(state.score)
                    .push_bind(state.score_at);
            });
            query.push(ON_STATE_CONFLICT);
            query.build().execute(&mut *self).await?;
        }
        Ok(())
    }

    async fn update_profiles(&mut self, rows: &[&ProfileRecord], changed_at: DateTime<Utc>) -> Result<(), AppError> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            // Every row exists: the upsert is a multi-row UPDATE. The identity column's values are given on purpose.
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO profiles (id, traits, consent, opted_out, channels, first_seen, last_seen, orders, revenue, \
                 intent_score, stage, changed_at) OVERRIDING SYSTEM VALUE ",
            );
            query.push_values(chunk, |mut values, row| {
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
            });
            query.push(
                " ON CONFLICT (id) DO UPDATE SET traits = excluded.traits, consent = excluded.consent, opted_out = excluded.opted_out, \
                 channels = excluded.channels, first_seen = excluded.first_seen, last_seen = excluded.last_seen, orders = excluded.orders, \
                 revenue = excluded.revenue, intent_score = excluded.intent_score, stage = excluded.stage, changed_at = excluded.changed_at",
            );
            query.build().execute(&mut *self).await?;
        }
        Ok(())
    }
}

/// `{select} IN (…)` over `values`, `ROWS_PER_STATEMENT` at a time.
async fn select_chunked<'v, V, T>(
    conn: &mut sqlx::PgConnection,
    select: &str,
    values: &'v [V],
) -> Result<Vec<T>, AppError>
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

fn occurrence_of(event: &Event) -> Occurrence<'_> {
    Occurrence {
        view: event.kind.is_view(),
        event: event.event.as_deref(),
        channel: &event.channel,
        properties: &event.properties,
    }
}

/// Folds a stitched-away profile into the one that remains. Traits of the remaining profile win; an opt-out on
/// either side wins (privacy is never lost by stitching).
fn merge_profiles(won: &mut ProfileRecord, lost: ProfileRecord) {
    for (key, value) in lost.traits.0 {
        won.traits.entry(key).or_insert(value);
    }
    for (key, value) in lost.consent.0 {
        won.consent.0.entry(key).or_insert(value);
    }
    won.opted_out |= lost.opted_out;
    for channel in lost.channels.0 {
        if !won.channels.contains(&channel) {
            won.channels.push(channel);
        }
    }
    won.channels.sort();
    won.first_seen = won.first_seen.min(lost.first_seen);
    won.last_seen = won.last_seen.max(lost.last_seen);
    won.orders += lost.orders;
    won.revenue += lost.revenue;
}

/// Ingest counters since `since`: (source, hour, metric, count).
pub async fn ingest_stats(
    db: &Db,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, String, i64)>, AppError> {
    let sql = "SELECT source, hour, metric, count FROM ingest_stats WHERE hour >= $1 ORDER BY hour, source, metric";
    Ok(on_pool!(db, pool => sqlx::query_as(sql).bind(since).fetch_all(pool).await)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sqlx::sqlite::{Sqlite, SqliteArgumentValue};
    use sqlx::Encode;

    #[test]
    fn times_written_past_sqlx_have_the_text_sqlx_writes() {
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
    }
}
