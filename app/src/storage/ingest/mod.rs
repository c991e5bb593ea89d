//! The ingest transaction: one call commits a group of submissions (requests) atomically — stitched identities,
//! raw events, orders, per-profile signal states and intent, counters — or nothing at all, so a request is
//! acknowledged only when all of it is durable.
//!
//! The steps, in order: resolve every id to its profile (creating profiles for new people and stitching profiles
//! that an event shows to be one person); drop what consent or an opt-out forbids; insert the events, learning
//! from the database which were already there (idempotent retries); fold the new ones into orders, signal states
//! and profile aggregates; bump the counters.
//!
//! That logic (`fold`) is written once; the statements it runs ([`Statements`]) are each database's own:
//! `sqlite.rs` runs the whole transaction on the writer's thread through the connection's SQLite handle,
//! `postgres.rs` sends multi-row statements.

mod postgres;
mod sqlite;

use super::profiles::ProfileRecord;
use super::{on_pool, Db};
use crate::domain::events::{split_context, Consent, Event, EventType};
use crate::domain::signals::{self, CompiledSignal, Library, Occurrence, Order, SignalState};
use crate::error::AppError;
use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::PgPool;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The events of one request, already validated, and what of them is stored as JSON text, serialized by the
/// request: the writer is the pipeline's one serial step, while requests run on every core.
#[derive(Debug)]
pub struct Submission {
    /// Who sent them (`key:<id>`); message ids are unique per source.
    source: String,
    events: Vec<Event>,
    /// Indexed like `events`.
    serialized: Vec<SerializedEvent>,
    /// The shared parts of the events' contexts, one per context value (see [`split_context`]).
    contexts: Vec<SharedContext>,
    /// Codes of the events the request refused, for the counters.
    rejected: Vec<&'static str>,
    received_at: DateTime<Utc>,
}

impl Submission {
    pub fn new(
        source: String,
        events: Vec<Event>,
        rejected: Vec<&'static str>,
        received_at: DateTime<Utc>,
    ) -> Result<Submission, AppError> {
        // The events of a batch that came with the same context share it (see `Normalizer`): keyed here by the
        // shared value's address, it is split and serialized once. Equal contexts that are not shared are merged
        // by their digest when stored (see `fold`).
        let mut split: HashMap<*const Value, (usize, Box<RawValue>)> = HashMap::new();
        let mut contexts: Vec<SharedContext> = Vec::new();
        let mut serialized = Vec::with_capacity(events.len());
        for event in &events {
            let (shared_context, own_context) = match split.entry(Arc::as_ptr(&event.context)) {
                Entry::Occupied(entry) => entry.get().clone(),
                Entry::Vacant(entry) => {
                    let (repeated, own) = split_context(&event.context);
                    let text = serde_json::to_string(&repeated).map_err(AppError::internal)?;
                    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
                    contexts.push(SharedContext { digest, text });
                    entry.insert((contexts.len() - 1, raw_json(&own)?)).clone()
                }
            };
            serialized.push(SerializedEvent {
                properties: raw_json(&event.properties)?,
                traits: raw_json(&event.traits)?,
                consent: raw_json(&event.consent)?,
                own_context,
                shared_context,
            });
        }
        Ok(Submission { source, events, serialized, contexts, rejected, received_at })
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

/// An event's JSON columns.
#[derive(Debug)]
struct SerializedEvent {
    properties: Box<RawValue>,
    traits: Box<RawValue>,
    consent: Box<RawValue>,
    /// What of its context is this event's own; the rest is `shared_context`, a position in
    /// [`Submission::contexts`].
    own_context: Box<RawValue>,
    shared_context: usize,
}

fn raw_json(value: &impl Serialize) -> Result<Box<RawValue>, AppError> {
    serde_json::value::to_raw_value(value).map_err(AppError::internal)
}

/// What happened to a submission's valid events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
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

#[derive(Debug, Clone, sqlx::FromRow)]
struct StateRow {
    profile_id: i64,
    signal_key: String,
    matches: i64,
    last_occurrence: DateTime<Utc>,
    score: f64,
    score_at: DateTime<Utc>,
}

impl StateRow {
    fn state(&self) -> SignalState {
        SignalState {
            matches: self.matches,
            last_occurrence: self.last_occurrence,
            score: self.score,
            score_at: self.score_at,
        }
    }
}

enum Fate {
    ConsentDropped,
    OptedOut,
    Duplicate,
    Keep { profile: i64 },
}

/// The ingest writer's own connection, held for as long as the writer runs. On SQLite it is the connection's
/// SQLite handle, taken from sqlx once: its statements stay prepared from one transaction to the next.
pub enum Writer {
    Sqlite(sqlite::Writer),
    Postgres(PgPool),
}

impl Writer {
    /// Opens a connection of the writer's own beside `db`'s pool (see [`Db::dedicated_writer`]).
    pub async fn open(db: &Db) -> Result<Writer, AppError> {
        Ok(match db.dedicated_writer().await? {
            Db::Sqlite(pool) => Writer::Sqlite(sqlite::Writer::open(pool).await?),
            Db::Postgres(pool) => Writer::Postgres(pool),
        })
    }

    /// Commits a group of submissions in one transaction: all of it, or nothing. On SQLite this blocks the
    /// thread until the commit is durable, so the writer runs on a thread of its own.
    pub async fn commit(&mut self, submissions: &[Submission], library: &Library) -> Result<Vec<Outcome>, AppError> {
        match self {
            // SQLite's statements block instead of waiting: `fold` finishes in its first poll, on this thread.
            Writer::Sqlite(writer) => {
                writer.write_transaction(|tx| futures_executor::block_on(fold(tx, submissions, library)))
            }
            Writer::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(INGEST_LOCK).execute(&mut *tx).await?;
                let outcomes = fold(&mut *tx, submissions, library).await?;
                tx.commit().await?;
                Ok(outcomes)
            }
        }
    }

    pub async fn close(self) {
        match self {
            Writer::Sqlite(writer) => writer.close().await,
            Writer::Postgres(pool) => pool.close().await,
        }
    }
}

/// The transaction's work on either database, between its `BEGIN` and its `COMMIT`.
async fn fold(
    tx: &mut impl Statements,
    submissions: &[Submission],
    library: &Library,
) -> Result<Vec<Outcome>, AppError> {
    let events: Vec<(usize, &Event)> =
        submissions.iter().enumerate().flat_map(|(i, s)| s.events.iter().map(move |e| (i, e))).collect();
    let serialized: Vec<&SerializedEvent> = submissions.iter().flat_map(|s| &s.serialized).collect();
    let ids: Vec<&str> = {
        let set: BTreeSet<&str> = events.iter().flat_map(|(_, e)| e.ids()).collect();
        set.into_iter().collect()
    };
    let first_stage = library.intent.stage_for(0.0, false).to_string();

    // 1. Who is who: known ids, their profiles, and which profiles belong to a signed-in user.
    let mut owner: HashMap<String, i64> = tx.owners(&ids).await?.into_iter().collect();
    let known: Vec<i64> = owner.values().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let mut profiles: HashMap<i64, ProfileRecord> = tx.profiles(&known).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut with_user_id: HashSet<i64> = tx.signed_in(&known).await?.into_iter().collect();

    // 2. Each event in order: consent, identity (create or stitch), opt-out.
    let mut fates: Vec<Fate> = Vec::with_capacity(events.len());
    let mut new_identities: Vec<NewIdentity> = Vec::new();
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
                let id = tx.create_profile(event.timestamp, &first_stage).await?;
                profiles.insert(
                    id,
                    ProfileRecord {
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
                    },
                );
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
                    let states = tx.stitch(*winner, *loser).await?;
                    let mut merged: BTreeMap<String, SignalState> = BTreeMap::new();
                    for row in states {
                        let state = row.state();
                        let next = match merged.remove(&row.signal_key) {
                            Some(other) => signals::merge_states(other, state, library.intent.half_life_days),
                            None => state,
                        };
                        merged.insert(row.signal_key, next);
                    }
                    let merged: Vec<(i64, &str, SignalState)> =
                        merged.iter().map(|(key, state)| (*winner, key.as_str(), *state)).collect();
                    tx.upsert_states(&merged).await?;
                    if let Some(lost) = profiles.remove(loser) {
                        if let Some(won) = profiles.get_mut(winner) {
                            merge_profiles(won, lost);
                        }
                    }
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
                    new_identities.iter_mut().filter(|i| i.profile == *loser).for_each(|i| i.profile = *winner);
                    if with_user_id.remove(loser) {
                        with_user_id.insert(*winner);
                    }
                    dirty.remove(loser);
                    dirty.insert(*winner);
                }
                kept
            }
        };
        for (id, kind) in
            [(&event.user_id, "user_id"), (&event.anonymous_id, "anonymous_id"), (&event.previous_id, "alias")]
        {
            let Some(id) = id else { continue };
            if !owner.contains_key(id) {
                owner.insert(id.clone(), profile);
                new_identities.push(NewIdentity { id: id.clone(), profile, kind, first_seen: event.timestamp });
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
    tx.insert_identities(&new_identities).await?;

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
    let keep: Vec<usize> =
        fates.iter().enumerate().filter(|(_, f)| matches!(f, Fate::Keep { .. })).map(|(i, _)| i).collect();
    // What a device repeats of its context is stored once for all of its events (`event_contexts`, found by its
    // digest): only the contexts of kept events, each once however many requests of the group repeat it.
    let mut shared: Vec<&SharedContext> = Vec::new();
    let mut shared_positions: HashMap<[u8; 32], usize> = HashMap::new();
    let mut context_positions = vec![0; events.len()];
    for &i in &keep {
        let context = &submissions[events[i].0].contexts[serialized[i].shared_context];
        context_positions[i] = *shared_positions.entry(context.digest).or_insert_with(|| {
            shared.push(context);
            shared.len() - 1
        });
    }
    let shared_ids = tx.context_ids(&shared).await?;
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
                serialized: serialized[i],
                context_id: shared_ids[context_positions[i]],
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
    let mut orders: Vec<OrderRow> = Vec::new();
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
                    orders.push(OrderRow { order, profile, source: &submissions[*submission].source, event });
                }
                if problems.is_empty() {
                    occurrences
                        .extend(library.matching(&occurrence_of(event)).map(|(signal, _)| (profile, signal, *event)));
                }
            }
        }
    }
    let hour = |at: DateTime<Utc>| at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at);
    let mut counters: BTreeMap<(&str, DateTime<Utc>, String), i64> = BTreeMap::new();
    let rejections = submissions
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.rejected.iter().map(move |code| ((i, format!("rejected:{code}")), 1)));
    for ((submission, metric), n) in tallies.into_iter().map(|((i, m), n)| ((i, m.to_string()), n)).chain(rejections) {
        let s = &submissions[submission];
        *counters.entry((s.source.as_str(), hour(s.received_at), metric)).or_default() += n;
    }

    let mut new_order = vec![false; orders.len()];
    tx.insert_orders(&orders, &mut new_order).await?;
    for (row, _) in orders.iter().zip(new_order).filter(|(_, new)| *new) {
        if let Some(profile) = profiles.get_mut(&row.profile) {
            profile.orders += 1;
            profile.revenue += row.order.revenue.unwrap_or(0.0);
        }
    }

    let dirty: Vec<i64> = dirty.into_iter().collect();
    let mut states: HashMap<i64, BTreeMap<String, SignalState>> = HashMap::new();
    for row in tx.signal_states(&dirty).await? {
        let state = row.state();
        states.entry(row.profile_id).or_default().insert(row.signal_key, state);
    }
    occurrences.sort_by_key(|(profile, signal, event)| (*profile, *signal, event.timestamp));
    let mut changed: BTreeSet<(i64, usize)> = BTreeSet::new();
    let mut volume: BTreeMap<(usize, NaiveDate, &str), i64> = BTreeMap::new();
    for (profile, signal_index, event) in &occurrences {
        let signal = &library.signals[*signal_index];
        let profile_states = states.entry(*profile).or_default();
        let previous = profile_states.get(&signal.key).copied();
        let (next, fired) =
            signals::record_occurrence(signal, previous, event.timestamp, library.intent.half_life_days);
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
    let volume: Vec<VolumeRow> = volume
        .into_iter()
        .map(|((signal_index, day, channel), matches)| VolumeRow {
            signal: &library.signals[signal_index],
            day,
            channel,
            matches,
        })
        .collect();
    tx.add_signal_volume(&volume).await?;

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

    let counters: Vec<CounterRow> = counters
        .into_iter()
        .map(|((source, hour, metric), count)| CounterRow { source, hour, metric, count })
        .collect();
    tx.add_counters(&counters).await?;
    Ok(outcomes)
}

/// One row of `events`.
struct EventRow<'a> {
    /// The event's position in the group.
    index: usize,
    source: &'a str,
    profile: i64,
    event: &'a Event,
    serialized: &'a SerializedEvent,
    /// What the event's device repeats of its context: a row of `event_contexts`.
    context_id: i64,
    problems: &'a [String],
}

/// The part of a context that a device's events repeat, stored once in `event_contexts`.
#[derive(Debug)]
struct SharedContext {
    /// SHA-256 of `text`: what finds the row.
    digest: [u8; 32],
    text: String,
}

/// An id seen for the first time, and whose it is.
struct NewIdentity {
    id: String,
    profile: i64,
    kind: &'static str,
    first_seen: DateTime<Utc>,
}

/// A purchase, and the event that reported it.
struct OrderRow<'a> {
    order: &'a Order,
    profile: i64,
    source: &'a str,
    event: &'a Event,
}

/// Matches of a signal version on a day in a channel, to add to `signal_volume`.
struct VolumeRow<'a> {
    signal: &'a CompiledSignal,
    day: NaiveDate,
    channel: &'a str,
    matches: i64,
}

/// A count to add to `ingest_stats`.
struct CounterRow<'a> {
    source: &'a str,
    hour: DateTime<Utc>,
    metric: String,
    count: i64,
}

/// Every statement of the ingest transaction, each in its database's fastest way: SQLite runs one prepared
/// statement per row on the writer's thread (`sqlite.rs`), PostgreSQL multi-row statements (`postgres.rs`).
trait Statements {
    /// The profiles these ids belong to: (id, profile), for the known ids.
    async fn owners(&mut self, ids: &[&str]) -> Result<Vec<(String, i64)>, AppError>;

    async fn profiles(&mut self, ids: &[i64]) -> Result<Vec<ProfileRecord>, AppError>;

    /// Those of these profiles that have a user id (someone signed in).
    async fn signed_in(&mut self, profiles: &[i64]) -> Result<Vec<i64>, AppError>;

    /// A new, empty profile: its id.
    async fn create_profile(&mut self, first_seen: DateTime<Utc>, stage: &str) -> Result<i64, AppError>;

    /// Moves the ids, events and orders of `loser` to `winner` and deletes `loser`, returning the signal states
    /// both had, for the caller to merge into `winner`'s.
    async fn stitch(&mut self, winner: i64, loser: i64) -> Result<Vec<StateRow>, AppError>;

    async fn insert_identities(&mut self, rows: &[NewIdentity]) -> Result<(), AppError>;

    /// The ids of these shared contexts in `event_contexts` (indexed like `contexts`), storing the new ones.
    async fn context_ids(&mut self, contexts: &[&SharedContext]) -> Result<Vec<i64>, AppError>;

    /// Stores events, skipping those already stored (same source and message id), and marks in `is_new` (indexed
    /// by `EventRow::index`) the ones it stored.
    async fn insert_events(&mut self, rows: &[EventRow<'_>], is_new: &mut [bool]) -> Result<(), AppError>;

    /// Stores orders, skipping order ids already stored (earlier, or earlier in `rows`), and marks in `is_new`
    /// (indexed like `rows`) the ones it stored.
    async fn insert_orders(&mut self, rows: &[OrderRow<'_>], is_new: &mut [bool]) -> Result<(), AppError>;

    /// The signal states of these profiles (from which their intent is recomputed).
    async fn signal_states(&mut self, profiles: &[i64]) -> Result<Vec<StateRow>, AppError>;

    async fn upsert_states(&mut self, states: &[(i64, &str, SignalState)]) -> Result<(), AppError>;

    async fn add_signal_volume(&mut self, rows: &[VolumeRow<'_>]) -> Result<(), AppError>;

    /// Writes back profiles read by `profiles` (or just created) and changed since.
    async fn update_profiles(&mut self, rows: &[&ProfileRecord], changed_at: DateTime<Utc>) -> Result<(), AppError>;

    async fn add_counters(&mut self, rows: &[CounterRow<'_>]) -> Result<(), AppError>;
}

const SELECT_OWNERS: &str = "SELECT id, profile_id FROM identities WHERE id";
const SELECT_SIGNED_IN: &str = "SELECT DISTINCT profile_id FROM identities WHERE kind = 'user_id' AND profile_id";
const INSERT_EVENTS: &str = "INSERT INTO events (source, message_id, profile_id, type, event, user_id, anonymous_id, \
     previous_id, timestamp, received_at, channel, properties, traits, context, consent, schema_violations, \
     context_id) ";
const SELECT_STATES: &str =
    "SELECT profile_id, signal_key, matches, last_occurrence, score, score_at FROM profile_signals WHERE profile_id";
const UPSERT_STATES: &str =
    "INSERT INTO profile_signals (profile_id, signal_key, matches, last_occurrence, score, score_at) ";
const ON_STATE_CONFLICT: &str = " ON CONFLICT (profile_id, signal_key) DO UPDATE SET matches = excluded.matches, \
     last_occurrence = excluded.last_occurrence, score = excluded.score, score_at = excluded.score_at";
const MOVE_TO_WINNER: [&str; 3] = [
    "UPDATE identities SET profile_id = $1 WHERE profile_id = $2",
    "UPDATE events SET profile_id = $1 WHERE profile_id = $2",
    "UPDATE orders SET profile_id = $1 WHERE profile_id = $2",
];
const INSERT_IDENTITIES: &str = "INSERT INTO identities (id, profile_id, kind, first_seen) ";
const INSERT_ORDERS: &str = "INSERT INTO orders (order_id, profile_id, source, message_id, revenue, currency, at) ";
const ADD_VOLUME: &str = "INSERT INTO signal_volume (signal_key, version, day, channel, matches) ";
const ON_VOLUME_CONFLICT: &str =
    " ON CONFLICT (signal_key, version, day, channel) DO UPDATE SET matches = signal_volume.matches + excluded.matches";
const ADD_COUNTERS: &str = "INSERT INTO ingest_stats (source, hour, metric, count) ";
const ON_COUNTER_CONFLICT: &str =
    " ON CONFLICT (source, hour, metric) DO UPDATE SET count = ingest_stats.count + excluded.count";

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
