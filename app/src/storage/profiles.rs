//! Reading unified profiles and their timelines, and the opt-out switch.

use super::{on_pool, Backend, Db};
use crate::domain::events::join_context;
use crate::domain::signals::SignalState;
use crate::error::AppError;
use crate::model::{Identity, ProfileSummary, TimelineEvent};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRecord {
    pub id: i64,
    pub traits: Json<Map<String, Value>>,
    pub consent: Json<BTreeMap<String, bool>>,
    pub opted_out: bool,
    pub channels: Json<Vec<String>>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub orders: i64,
    pub revenue: f64,
    pub intent_score: f64,
    pub stage: String,
}

/// The columns of a `ProfileRecord`, in order.
pub const PROFILE_COLUMNS: &str =
    "id, traits, consent, opted_out, channels, first_seen, last_seen, orders, revenue, intent_score, stage";

/// The profile an id belongs to.
pub async fn resolve(db: &Db, id: &str) -> Result<Option<i64>, AppError> {
    let sql = "SELECT profile_id FROM identities WHERE id = $1";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await)?)
}

pub async fn find(db: &Db, profile: i64) -> Result<Option<ProfileRecord>, AppError> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(profile).fetch_optional(pool).await)?)
}

pub async fn identities(db: &Db, profile: i64) -> Result<Vec<Identity>, AppError> {
    let sql = "SELECT id, kind, first_seen FROM identities WHERE profile_id = $1 ORDER BY first_seen, id";
    let rows: Vec<(String, String, DateTime<Utc>)> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(profile).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(id, kind, first_seen)| Identity { id, kind, first_seen }).collect())
}

pub async fn signal_states(db: &Db, profile: i64) -> Result<Vec<(String, SignalState)>, AppError> {
    let sql = "SELECT signal_key, matches, last_occurrence, score, score_at FROM profile_signals WHERE profile_id = $1";
    type Row = (String, i64, DateTime<Utc>, f64, DateTime<Utc>);
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(sql).bind(profile).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(key, matches, last_occurrence, score, score_at)| {
            (key, SignalState { matches, last_occurrence, score, score_at })
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct TimelineRow {
    id: i64,
    message_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    event: Option<String>,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    timestamp: DateTime<Utc>,
    received_at: DateTime<Utc>,
    channel: String,
    properties: Json<Map<String, Value>>,
    /// The event's own part of its context; `shared_context` the part its device repeats (see `event_contexts`).
    context: Json<Value>,
    shared_context: Option<Json<Map<String, Value>>>,
    schema_violations: Option<Json<Vec<String>>>,
}

/// Where a timeline page ends: events are ordered by (time, row id), newest first.
pub type TimelineCursor = (DateTime<Utc>, i64);

/// The profile's events, newest first, strictly after `before` in that order when given (without a row id: all
/// events at or after the time are skipped).
pub async fn timeline(
    db: &Db,
    profile: i64,
    limit: i64,
    before: Option<(DateTime<Utc>, Option<i64>)>,
) -> Result<Vec<(TimelineCursor, TimelineEvent)>, AppError> {
    let sql = "SELECT e.id, e.message_id, e.type, e.event, e.user_id, e.anonymous_id, e.timestamp, e.received_at, \
               e.channel, e.properties, e.context, shared.context AS shared_context, e.schema_violations \
               FROM events e LEFT JOIN event_contexts shared ON shared.id = e.context_id \
               WHERE e.profile_id = $1 AND ($2 IS NULL OR e.timestamp < $2 OR (e.timestamp = $2 AND e.id < $3)) \
               ORDER BY e.timestamp DESC, e.id DESC LIMIT $4";
    let (time, row) = (before.map(|b| b.0), before.and_then(|b| b.1).unwrap_or(i64::MIN));
    let rows: Vec<TimelineRow> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(profile).bind(time).bind(row).bind(limit).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.timestamp, r.id),
                TimelineEvent {
                    message_id: r.message_id,
                    kind: r.kind,
                    event: r.event,
                    user_id: r.user_id,
                    anonymous_id: r.anonymous_id,
                    timestamp: r.timestamp,
                    received_at: r.received_at,
                    channel: r.channel,
                    properties: r.properties.0,
                    context: join_context(r.shared_context.map(|c| c.0), r.context.0),
                    schema_violations: r.schema_violations.map(|v| v.0),
                },
            )
        })
        .collect())
}

/// Profiles whose id starts with `query` (or whose email trait contains it), optionally in one stage, most
/// recently seen first. An empty query lists the most recent profiles.
pub async fn search(db: &Db, query: &str, stage: Option<&str>, limit: i64) -> Result<Vec<ProfileSummary>, AppError> {
    let pattern = format!("{}%", query.replace(['%', '_'], ""));
    let email_pattern = format!("%{}%", query.to_lowercase().replace(['%', '_'], ""));
    let email = match db.backend() {
        Backend::Sqlite => "lower(json_extract(p.traits, '$.email'))",
        Backend::Postgres => "lower(p.traits->>'email')",
    };
    let sql = format!(
        "SELECT {PROFILE_COLUMNS} \
         FROM profiles p WHERE ($1 = '' OR p.id IN (SELECT profile_id FROM identities WHERE id LIKE $2) OR {email} LIKE $3) \
         AND ($4 IS NULL OR p.stage = $4) ORDER BY p.last_seen DESC LIMIT $5"
    );
    let rows: Vec<ProfileRecord> = on_pool!(db, pool => sqlx::query_as(&sql)
        .bind(query).bind(&pattern).bind(&email_pattern).bind(stage).bind(limit).fetch_all(pool).await)?;
    // Every listed profile's ids in one query, not one per row.
    let listed: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut ids_of: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    if !listed.is_empty() {
        let pairs: Vec<(i64, String)> = on_pool!(db, pool => {
            let mut query = super::select_in("SELECT profile_id, id FROM identities WHERE profile_id", &listed);
            query.push(" ORDER BY first_seen, id");
            query.build_query_as().fetch_all(pool).await
        })?;
        for (profile, id) in pairs {
            ids_of.entry(profile).or_default().push(id);
        }
    }
    let mut summaries = Vec::with_capacity(rows.len());
    for row in rows {
        let ids = ids_of.remove(&row.id).unwrap_or_default();
        let matching: Vec<String> =
            ids.iter().filter(|id| !query.is_empty() && id.starts_with(query)).cloned().collect();
        summaries.push(ProfileSummary {
            id: row.id,
            ids: if matching.is_empty() { ids.into_iter().take(3).collect() } else { matching },
            email: row.traits.get("email").and_then(Value::as_str).map(String::from),
            stage: row.stage,
            intent_score: row.intent_score,
            channels: row.channels.0,
            orders: row.orders,
            opted_out: row.opted_out,
            last_seen: row.last_seen,
        });
    }
    Ok(summaries)
}

/// Opts the person behind `id` out of (or back into) storage and personalization. An unknown id gets a profile,
/// so that their first event is already refused.
pub async fn set_opted_out(
    db: &Db,
    id: &str,
    opted_out: bool,
    first_stage: &str,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let is_postgres = db.backend() == Backend::Postgres;
    on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        if is_postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(super::ingest::INGEST_LOCK).execute(&mut *tx).await?;
        }
        let existing: Option<i64> = sqlx::query_scalar("SELECT profile_id FROM identities WHERE id = $1")
            .bind(id).fetch_optional(&mut *tx).await?;
        let profile = match existing {
            Some(profile) => profile,
            None => {
                let profile: i64 = sqlx::query_scalar("INSERT INTO profiles (first_seen, last_seen, stage) VALUES ($1, $1, $2) RETURNING id")
                    .bind(now).bind(first_stage).fetch_one(&mut *tx).await?;
                sqlx::query("INSERT INTO identities (id, profile_id, kind, first_seen) VALUES ($1, $2, 'user_id', $3)")
                    .bind(id).bind(profile).bind(now).execute(&mut *tx).await?;
                profile
            }
        };
        sqlx::query("UPDATE profiles SET opted_out = $1, changed_at = $2 WHERE id = $3")
            .bind(opted_out).bind(Utc::now()).bind(profile).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, AppError>(profile)
    }.await)
}

/// Every id of every opted-out person: the assignment API keeps them out of experiments without a query.
pub async fn opted_out_ids(db: &Db) -> Result<std::collections::HashSet<String>, AppError> {
    let sql = "SELECT i.id FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE p.opted_out";
    let ids: Vec<String> = on_pool!(db, pool => sqlx::query_scalar(sql).fetch_all(pool).await)?;
    Ok(ids.into_iter().collect())
}

/// The intent stage of the person behind an id, as of their last event.
pub async fn stage_of(db: &Db, id: &str) -> Result<Option<String>, AppError> {
    let sql = "SELECT p.stage FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.id = $1";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).bind(id).fetch_optional(pool).await)?)
}
