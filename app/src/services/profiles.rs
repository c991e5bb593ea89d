//! Unified profiles: look a person up by any of their ids, read their timeline and intent, opt them out or back
//! in; and the ingestion counters.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::signals::{self, Intent, IntentConfig};
use crate::error::AppError;
pub use crate::model::{HourStats, IngestStats, Timeline};
use crate::model::{Profile, ProfileSummary};
use crate::services::signals::intent_config;
use crate::state::AppState;
use crate::storage::{ingest, profiles, Db};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

async fn resolve(db: &Db, id: &str) -> Result<i64, AppError> {
    profiles::resolve(db, id).await?.ok_or_else(|| AppError::not_found(format!("no profile has the id '{id}'")))
}

async fn intent_of(db: &Db, profile: i64, purchased: bool, config: &IntentConfig) -> Result<Intent, AppError> {
    let states = profiles::signal_states(db, profile).await?;
    Ok(signals::intent(states.iter().map(|(k, s)| (k.as_str(), s)), purchased, Utc::now(), config))
}

/// The profile any of whose ids is `id`.
pub async fn get(db: &Db, caller: &Caller, id: &str) -> Result<Profile, AppError> {
    caller.require(Access::Read)?;
    let profile = resolve(db, id).await?;
    let record = profiles::find(db, profile)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no profile has the id '{id}'")))?;
    Ok(Profile {
        id: record.id,
        ids: profiles::identities(db, profile).await?,
        intent: intent_of(db, profile, record.orders > 0, &intent_config(db).await?).await?,
        traits: record.traits.0,
        consent: record.consent.0,
        opted_out: record.opted_out,
        channels: record.channels.0,
        first_seen: record.first_seen,
        last_seen: record.last_seen,
        orders: record.orders,
        revenue: record.revenue,
    })
}

pub const MAX_TIMELINE_PAGE: i64 = 500;

/// `before` is an RFC 3339 time, or the `next_before` cursor of a previous page (`<time>~<row>`), which also
/// splits events that share a time.
fn parse_before(text: &str) -> Result<(DateTime<Utc>, Option<i64>), AppError> {
    let invalid = || {
        AppError::invalid(format!(
            "before must be an RFC 3339 time such as 2026-11-25T10:00:00Z or a next_before cursor, not '{text}'"
        ))
    };
    let (time, row) = match text.split_once('~') {
        Some((time, row)) => (time, Some(row.parse::<i64>().map_err(|_| invalid())?)),
        None => (text, None),
    };
    let time = DateTime::parse_from_rfc3339(time).map_err(|_| invalid())?.with_timezone(&Utc);
    Ok((time, row))
}

pub async fn timeline(
    db: &Db,
    caller: &Caller,
    id: &str,
    limit: Option<i64>,
    before: Option<&str>,
) -> Result<Timeline, AppError> {
    caller.require(Access::Read)?;
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_TIMELINE_PAGE).contains(&limit) {
        return Err(AppError::invalid(format!("limit must be between 1 and {MAX_TIMELINE_PAGE}")));
    }
    let before = before.filter(|b| !b.is_empty()).map(parse_before).transpose()?;
    let profile = resolve(db, id).await?;
    let rows = profiles::timeline(db, profile, limit, before).await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|((time, row), _)| format!("{}~{row}", time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
        })
        .flatten();
    Ok(Timeline { events: rows.into_iter().map(|(_, event)| event).collect(), next_before })
}

/// A unit's intent as of now, explained. Unknown units are simply at the first stage with no score, so that
/// services may ask about brand-new visitors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct UnitIntent {
    pub unit_id: String,
    pub known: bool,
    /// Opted-out people are not scored or personalized.
    pub opted_out: bool,
    pub score: f64,
    pub stage: String,
    pub top_signals: Vec<signals::Contribution>,
}

pub async fn unit_intent(db: &Db, caller: &Caller, unit_id: &str) -> Result<UnitIntent, AppError> {
    if caller.require(Access::Assign).is_err() {
        caller.require(Access::Read)?;
    }
    let config = intent_config(db).await?;
    let first_stage = config.stage_for(0.0, false).to_string();
    let unknown = |opted_out| UnitIntent {
        unit_id: unit_id.to_string(),
        known: opted_out,
        opted_out,
        score: 0.0,
        stage: first_stage.clone(),
        top_signals: Vec::new(),
    };
    let Some(profile) = profiles::resolve(db, unit_id).await? else { return Ok(unknown(false)) };
    let Some(record) = profiles::find(db, profile).await? else { return Ok(unknown(false)) };
    if record.opted_out {
        return Ok(unknown(true));
    }
    let intent = intent_of(db, profile, record.orders > 0, &config).await?;
    Ok(UnitIntent {
        unit_id: unit_id.to_string(),
        known: true,
        opted_out: false,
        score: intent.score,
        stage: intent.stage,
        top_signals: intent.contributions.into_iter().take(5).collect(),
    })
}

pub async fn search(
    db: &Db,
    caller: &Caller,
    query: &str,
    stage: Option<&str>,
) -> Result<Vec<ProfileSummary>, AppError> {
    caller.require(Access::Read)?;
    profiles::search(db, query.trim(), stage.filter(|s| !s.is_empty()), 50).await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct OptOutState {
    pub id: String,
    pub profile_id: i64,
    pub opted_out: bool,
}

/// Stops (or resumes) storing events and personalizing for the person behind `id`, from the next request on.
pub async fn set_opted_out(
    state: &AppState,
    caller: &Caller,
    id: &str,
    opted_out: bool,
) -> Result<OptOutState, AppError> {
    caller.require(Access::Ingest)?;
    let id = id.trim();
    if id.is_empty() || id.chars().count() > 256 {
        return Err(AppError::invalid("the id must be 1 to 256 characters"));
    }
    let first_stage = state.ingest.library().intent.stage_for(0.0, false).to_string();
    let profile_id = profiles::set_opted_out(&state.db, id, opted_out, &first_stage, Utc::now()).await?;
    crate::services::configuration_changed(state).await?;
    tracing::info!(profile_id, opted_out, by = %caller.label(), "opt-out changed");
    Ok(OptOutState { id: id.to_string(), profile_id, opted_out })
}

/// Ingestion counters over the last `hours` hours: totals, per source and per hour.
pub async fn ingest_stats(state: &AppState, caller: &Caller, hours: Option<i64>) -> Result<IngestStats, AppError> {
    caller.require(Access::Read)?;
    let hours = hours.unwrap_or(48);
    if !(1..=24 * 90).contains(&hours) {
        return Err(AppError::invalid("hours must be between 1 and 2160"));
    }
    let since = Utc::now() - Duration::hours(hours);
    let mut stats = IngestStats {
        since,
        totals: BTreeMap::new(),
        rejected: BTreeMap::new(),
        sources: BTreeMap::new(),
        hours: Vec::new(),
        in_flight: state.ingest.in_flight(),
        writer: state.ingest.writer_stats(),
    };
    // Sources are stored as `key:<id>`; people read key names.
    let key_names: BTreeMap<String, String> = crate::storage::api_keys::list(&state.db)
        .await?
        .into_iter()
        .map(|k| (format!("key:{}", k.id), format!("{} (key {})", k.name, k.id)))
        .collect();
    for (source, hour, metric, count) in ingest::ingest_stats(&state.db, since).await? {
        let source = key_names.get(&source).cloned().unwrap_or(source);
        let total_metric = match metric.strip_prefix("rejected:") {
            Some(code) => {
                *stats.rejected.entry(code.to_string()).or_default() += count;
                "rejected".to_string()
            }
            None => metric.clone(),
        };
        *stats.totals.entry(total_metric.clone()).or_default() += count;
        *stats.sources.entry(source.clone()).or_default().entry(total_metric).or_default() += count;
        match stats.hours.last_mut() {
            Some(last) if last.hour == hour && last.source == source => {
                *last.counts.entry(metric).or_default() += count;
            }
            _ => stats.hours.push(HourStats { hour, source, counts: BTreeMap::from([(metric, count)]) }),
        }
    }
    Ok(stats)
}
