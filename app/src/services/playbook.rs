//! The playbook: concluding an experiment (freezing its results), browsing and searching entries, re-analysis
//! revisions, follow-up experiments, the signal leaderboard, exports and share links.

use crate::auth::{api_key, Caller};
use crate::domain::access::Access;
use crate::domain::experiment::Status;
use crate::domain::playbook::{
    deviations, follow_up_spec, leaderboard as rank_signals, primary_effect, related, ConcludeRequest, Conclusion,
    CreatedShareLink, EntryDetail, FollowUpRequest, PlaybookEntry, PlaybookQuery, Reading, ReanalyzeRequest, ShareLink,
    ShareRequest, ShareScope, SharedView, SignalRecord, SignalRef, Snapshot,
};
use crate::domain::stats::results::ResultsQuery;
use crate::error::AppError;
use crate::model::Experiment;
use crate::services::experiments;
use crate::services::results::{compute, Breakdowns};
use crate::state::AppState;
use crate::storage::experiments::NewChange;
use crate::storage::playbook::{self as store, NewRevision, NewShareLink};
use crate::storage::{signals as signal_store, Db};
use chrono::{Duration, Utc};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Entries shown as related on an entry page.
const RELATED_SHOWN: usize = 5;
/// Share tokens carry this prefix so they are recognisable (and distinct from API keys).
const SHARE_TOKEN_PREFIX: &str = "ils_";

fn parse<T: DeserializeOwned>(body: Value, what: &str) -> Result<T, AppError> {
    serde_json::from_value(body).map_err(|e| AppError::invalid(format!("invalid {what}: {e}")))
}

/// Concludes a stopped experiment: checks the conclusion, freezes the results (every metric, the sample-ratio
/// check, a breakdown per segment attribute, the settings and the data-through time) and writes the entry.
pub async fn conclude(state: &AppState, caller: &Caller, key: &str, body: Value) -> Result<EntryDetail, AppError> {
    caller.require(Access::Write)?;
    let request = parse::<ConcludeRequest>(body, "conclusion")?.normalized();
    let experiment = experiments::get(&state.db, caller, key).await?;
    match experiment.status {
        Status::Stopped => {}
        Status::Concluded => return Err(AppError::conflict(format!("'{key}' is concluded already"))),
        other => {
            return Err(AppError::conflict(format!(
                "a {other} experiment cannot be concluded: stop it first, so the frozen results cover a finished test"
            )))
        }
    }
    request.validate(&experiment.spec).map_err(|problems| AppError::invalid(problems.to_string()))?;
    let mut signals = Vec::new();
    for key in &request.signals {
        let signal = signal_store::find(&state.db, key)
            .await?
            .ok_or_else(|| AppError::invalid(format!("signals: no signal in the library has the key '{key}'")))?;
        signals.push(SignalRef {
            key: signal.spec.key,
            name: signal.spec.name,
            stage: signal.spec.stage,
            channels: signal.spec.channels,
        });
    }
    let conclusion = Conclusion {
        decision: request.decision,
        winning_variation: request.winning_variation.clone(),
        summary: request.summary,
        signals,
        segments: request.segments,
        tags: request.tags,
        notes: request.notes,
    };
    let snapshot =
        freeze(&state.db, &experiment, request.analysis.unwrap_or_default(), conclusion.winning_variation.as_deref())
            .await?;
    let reading = Reading::of(&snapshot, conclusion.winning_variation.as_deref());
    let actor = caller.label();
    let revision =
        NewRevision { snapshot: &snapshot, reading: &reading, reason: "Concluded", actor: &actor, at: Utc::now() };
    let detail = json!({
        "status": { "from": Status::Stopped, "to": Status::Concluded },
        "decision": conclusion.decision,
        "winning_variation": conclusion.winning_variation,
    });
    let change = NewChange { actor: &actor, action: "concluded", detail };
    let id = store::conclude(&state.db, experiment.id, &conclusion, revision, change).await?;
    crate::services::configuration_changed(state).await?;
    entry(&state.db, id, None).await
}

/// Computes the results to freeze, with every segment breakdown and the deviations from the plan.
async fn freeze(
    db: &Db,
    experiment: &Experiment,
    analysis: ResultsQuery,
    winning_variation: Option<&str>,
) -> Result<Snapshot, AppError> {
    let query = ResultsQuery { segment: None, ..analysis };
    let (results, breakdowns) = compute(db, experiment, &query, Breakdowns::Every).await?;
    let registered = registered_primary_metric(experiment);
    let primary = primary_effect(&results, winning_variation);
    let deviations = deviations(&results, registered.as_deref(), primary.as_ref());
    Ok(Snapshot {
        experiment: experiment.spec.clone(),
        started_at: experiment.started_at,
        stopped_at: experiment.stopped_at,
        registered_primary_metric: registered,
        results,
        breakdowns,
        deviations,
    })
}

/// The primary metric as it was when the experiment first started: today's, with every later change to the
/// metrics undone from the history.
fn registered_primary_metric(experiment: &Experiment) -> Option<String> {
    let first_start = experiment.history.iter().position(|c| c.action == "started")?;
    let mut primary = experiment.spec.metrics.primary.clone();
    for change in experiment.history[first_start..].iter().rev() {
        if let Some(before) = change.detail.pointer("/metrics/from") {
            primary = before.get("primary").and_then(Value::as_str).map(str::to_string);
        }
    }
    primary
}

/// The entries matching the query's words and filters.
pub async fn list(db: &Db, caller: &Caller, query: &PlaybookQuery) -> Result<Vec<PlaybookEntry>, AppError> {
    caller.require(Access::Results)?;
    Ok(query.apply(store::entries(db).await?))
}

pub async fn get(db: &Db, caller: &Caller, id: i64, revision: Option<u32>) -> Result<EntryDetail, AppError> {
    caller.require(Access::Results)?;
    entry(db, id, revision).await
}

async fn find(db: &Db, id: i64) -> Result<PlaybookEntry, AppError> {
    store::entry(db, id).await?.ok_or_else(|| AppError::not_found(format!("no playbook entry #{id}")))
}

async fn entry(db: &Db, id: i64, revision: Option<u32>) -> Result<EntryDetail, AppError> {
    detail(db, find(db, id).await?, revision).await
}

/// An entry with its snapshot (the latest, or `revision`), revisions and related entries.
async fn detail(db: &Db, entry: PlaybookEntry, revision: Option<u32>) -> Result<EntryDetail, AppError> {
    let shown = revision.unwrap_or(entry.revision);
    let snapshot = store::snapshot(db, entry.id, shown).await?.ok_or_else(|| {
        AppError::not_found(format!("entry #{} has no revision {shown} (it has 1 to {})", entry.id, entry.revision))
    })?;
    let revisions = store::revisions(db, entry.id).await?;
    let all = store::entries(db).await?;
    let related = related(&entry, &all).into_iter().take(RELATED_SHOWN).cloned().collect();
    Ok(EntryDetail { entry, shown_revision: shown, snapshot, revisions, related })
}

/// Re-analyses a concluded entry with today's data (or other settings) as a new, labelled revision; earlier
/// revisions stay as they were.
pub async fn reanalyze(state: &AppState, caller: &Caller, id: i64, body: Value) -> Result<EntryDetail, AppError> {
    caller.require(Access::Write)?;
    let request: ReanalyzeRequest = parse(body, "re-analysis")?;
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("reason: say why the entry is re-analysed (it labels the new revision)"));
    }
    let current = find(&state.db, id).await?;
    let experiment = experiments::get(&state.db, caller, &current.reading.experiment).await?;
    let winning = current.conclusion.winning_variation.as_deref();
    let snapshot = freeze(&state.db, &experiment, request.analysis.unwrap_or_default(), winning).await?;
    let reading = Reading::of(&snapshot, winning);
    let actor = caller.label();
    let revision = NewRevision { snapshot: &snapshot, reading: &reading, reason, actor: &actor, at: Utc::now() };
    store::add_revision(&state.db, id, revision).await?;
    entry(&state.db, id, None).await
}

/// A new draft experiment that repeats the entry's hypothesis, metrics and targeting.
pub async fn follow_up(state: &AppState, caller: &Caller, id: i64, body: Value) -> Result<Experiment, AppError> {
    caller.require(Access::Write)?;
    let request: FollowUpRequest = parse(body, "follow-up")?;
    let entry = find(&state.db, id).await?;
    let concluded = experiments::find(&state.db, &entry.reading.experiment).await?;
    let spec = follow_up_spec(&concluded.spec, id, &request);
    let body = serde_json::to_value(&spec).map_err(AppError::internal)?;
    experiments::create(state, caller, body).await
}

/// Per signal: tests, wins, losses, pooled effects and the segments where it did best.
pub async fn leaderboard(db: &Db, caller: &Caller) -> Result<Vec<SignalRecord>, AppError> {
    caller.require(Access::Results)?;
    let entries = store::entries(db).await?;
    let mut snapshots: HashMap<i64, Snapshot> = store::latest_snapshots(db).await?.into_iter().collect();
    let pairs: Vec<_> = entries
        .into_iter()
        .filter_map(|entry| {
            let snapshot = snapshots.remove(&entry.id)?;
            Some((entry, snapshot))
        })
        .collect();
    Ok(rank_signals(&pairs))
}

/// Makes a read-only link; the token is returned once and stored only as a hash.
pub async fn share(db: &Db, caller: &Caller, body: Value) -> Result<CreatedShareLink, AppError> {
    caller.require(Access::Write)?;
    let request: ShareRequest = parse(body, "share link")?;
    let scope = request.scope().map_err(AppError::invalid)?;
    let days = request.days().map_err(AppError::invalid)?;
    let default_label = match &scope {
        ShareScope::Entry(id) => format!("{} (#{id})", find(db, *id).await?.reading.name),
        ShareScope::View(_) => "Playbook view".to_string(),
    };
    let label = Some(request.label.trim()).filter(|l| !l.is_empty()).map_or(default_label, str::to_string);
    let token = api_key::random_secret(SHARE_TOKEN_PREFIX);
    let now = Utc::now();
    let link = store::insert_share_link(
        db,
        NewShareLink {
            token_hash: &api_key::hash_secret(&token),
            scope: &scope,
            label: &label,
            actor: &caller.label(),
            at: now,
            expires_at: now + Duration::days(i64::from(days)),
        },
    )
    .await?;
    Ok(CreatedShareLink { link, path: format!("/share/{token}"), token })
}

pub async fn share_links(db: &Db, caller: &Caller) -> Result<Vec<ShareLink>, AppError> {
    caller.require(Access::Write)?;
    store::share_links(db).await
}

pub async fn revoke_share(db: &Db, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Access::Write)?;
    if store::revoke_share_link(db, id, Utc::now()).await? {
        Ok(())
    } else {
        Err(AppError::not_found(format!("no share link #{id}")))
    }
}

/// What a share link shows, to anyone holding the token. Unknown, expired and revoked links all answer the same
/// 404, so a token cannot be probed for having existed.
pub async fn open_share(db: &Db, token: &str) -> Result<SharedView, AppError> {
    let gone = || AppError::not_found("this share link does not exist, has expired or was revoked");
    let link = store::share_link_by_hash(db, &api_key::hash_secret(token.trim())).await?.ok_or_else(gone)?;
    if !link.active(Utc::now()) {
        return Err(gone());
    }
    // Readers of a link are outside the team: staff appear by role, not by email.
    let roles: std::collections::HashMap<String, crate::domain::access::Role> =
        crate::storage::users::list(db).await?.into_iter().map(|u| (u.email, u.role)).collect();
    let label_of = |email: &str| crate::domain::playbook::outsider_label(roles.get(email).copied());
    match link.scope {
        ShareScope::Entry(id) => {
            let entry = detail(db, find(db, id).await?, None).await?.for_outsiders(&label_of);
            Ok(SharedView::Entry { label: link.label, expires_at: link.expires_at, entry: Box::new(entry) })
        }
        ShareScope::View(filter) => {
            let entries =
                filter.apply(store::entries(db).await?).into_iter().map(|e| e.for_outsiders(&label_of)).collect();
            Ok(SharedView::View { label: link.label, expires_at: link.expires_at, filter, entries })
        }
    }
}
