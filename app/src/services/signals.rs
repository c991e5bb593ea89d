//! The signal library: list, create, edit (a changed rule is a new version), deprecate and reactivate; a live
//! preview of what a rule would have matched; the starter library on first run. After every change the ingest
//! writer's compiled library is rebuilt, so new events are scored by the new rule at once.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::signals::{
    self, CompiledSignal, IntentConfig, Library, Occurrence, PurchaseConfig, SignalSpec, SignalStatus,
};
use crate::error::AppError;
pub use crate::model::Preview;
use crate::model::{Signal, VolumePoint};
use crate::state::AppState;
use crate::storage::signals::{self as store, Change};
use crate::storage::{on_pool, settings, Db};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::types::Json;
use std::collections::{BTreeMap, HashSet};

/// Settings rows holding the intent and purchase configuration (JSON).
pub const INTENT_SETTING: &str = "intent";
pub const PURCHASE_SETTING: &str = "purchase";
const SEEDED_SETTING: &str = "signals_seeded";

pub async fn intent_config(db: &Db) -> Result<IntentConfig, AppError> {
    read_setting(db, INTENT_SETTING).await
}

pub async fn purchase_config(db: &Db) -> Result<PurchaseConfig, AppError> {
    read_setting(db, PURCHASE_SETTING).await
}

async fn read_setting<T: Default + for<'de> Deserialize<'de>>(db: &Db, name: &str) -> Result<T, AppError> {
    match settings::get(db, name).await? {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| AppError::internal(format!("setting '{name}' is unreadable: {e}")))
        }
        None => Ok(T::default()),
    }
}

/// Seeds the starter library once, on the first start of an installation.
pub async fn seed_starter_library(db: &Db) -> Result<(), AppError> {
    if settings::get(db, SEEDED_SETTING).await?.is_some() {
        return Ok(());
    }
    if store::count(db).await? == 0 {
        let change = Change { actor: "intentlab", action: "created", detail: json!({"from": "starter library"}) };
        store::insert(db, &signals::starter_library(), Utc::now(), change).await?;
        tracing::info!("seeded the starter signal library");
    }
    settings::set(db, SEEDED_SETTING, "true", Utc::now()).await
}

/// Rebuilds the compiled library the ingest writer scores events with.
pub async fn reload(state: &AppState) -> Result<(), AppError> {
    let mut compiled = Vec::new();
    for signal in store::list(&state.db).await? {
        if signal.status != SignalStatus::Active {
            continue;
        }
        match CompiledSignal::compile(&signal.spec, signal.version) {
            Ok(c) => compiled.push(c),
            Err(err) => tracing::error!(signal = %signal.spec.key, %err, "a stored signal does not compile; skipped"),
        }
    }
    let library = Library {
        signals: compiled,
        intent: intent_config(&state.db).await?,
        purchase: purchase_config(&state.db).await?,
    };
    state.ingest.replace_library(library);
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct SignalFilter {
    pub stage: Option<String>,
    pub channel: Option<String>,
    pub status: Option<String>,
}

/// The library, in funnel order (by stage, then weight, heaviest first).
pub async fn list(db: &Db, caller: &Caller, filter: &SignalFilter) -> Result<Vec<Signal>, AppError> {
    caller.require(Access::Read)?;
    let status = match filter.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(
            SignalStatus::parse(text)
                .ok_or_else(|| AppError::invalid(format!("unknown status '{text}': expected active or deprecated")))?,
        ),
    };
    let stages = intent_config(db).await?.stage_names();
    let mut list: Vec<Signal> = store::list(db)
        .await?
        .into_iter()
        .filter(|s| filter.stage.as_deref().is_none_or(|stage| stage.is_empty() || s.spec.stage == stage))
        .filter(|s| {
            filter
                .channel
                .as_deref()
                .is_none_or(|c| c.is_empty() || s.spec.channels.is_empty() || s.spec.channels.iter().any(|x| x == c))
        })
        .filter(|s| status.is_none_or(|status| s.status == status))
        .collect();
    let rank = |stage: &str| stages.iter().position(|s| s == stage).unwrap_or(usize::MAX);
    list.sort_by(|a, b| {
        rank(&a.spec.stage)
            .cmp(&rank(&b.spec.stage))
            .then(b.spec.weight.total_cmp(&a.spec.weight))
            .then(a.spec.key.cmp(&b.spec.key))
    });
    Ok(list)
}

/// One signal with its versions and change history.
pub async fn get(db: &Db, caller: &Caller, key: &str) -> Result<Signal, AppError> {
    caller.require(Access::Read)?;
    let mut signal = find(db, key).await?;
    signal.versions = store::versions(db, key).await?;
    signal.history = store::history(db, key).await?;
    Ok(signal)
}

async fn find(db: &Db, key: &str) -> Result<Signal, AppError> {
    store::find(db, key).await?.ok_or_else(|| AppError::not_found(format!("no signal with the key '{key}'")))
}

async fn parse_spec(db: &Db, json: Value) -> Result<SignalSpec, AppError> {
    parse_spec_for(json, &intent_config(db).await?)
}

/// A signal definition checked against the installation's stages.
fn parse_spec_for(json: Value, config: &IntentConfig) -> Result<SignalSpec, AppError> {
    let spec: SignalSpec =
        serde_json::from_value(json).map_err(|e| AppError::invalid(format!("invalid signal: {e}")))?;
    let spec = spec.normalized();
    spec.validate(&config.stage_names()).map_err(|problems| AppError::invalid(problems.to_string()))?;
    Ok(spec)
}

pub async fn create(state: &AppState, caller: &Caller, body: Value) -> Result<Signal, AppError> {
    caller.require(Access::Write)?;
    let mut body = body;
    if let Value::Object(object) = &mut body {
        // The library manages these; a client copying a signal from GET may send them along.
        for managed in ["version", "status", "created_at", "updated_at", "versions", "history"] {
            object.remove(managed);
        }
    }
    let spec = parse_spec(&state.db, body).await?;
    if store::find(&state.db, &spec.key).await?.is_some() {
        return Err(AppError::conflict(format!("a signal with the key '{}' already exists", spec.key)));
    }
    let detail = serde_json::to_value(&spec).map_err(AppError::internal)?;
    store::insert(
        &state.db,
        std::slice::from_ref(&spec),
        Utc::now(),
        Change { actor: &caller.label(), action: "created", detail },
    )
    .await?;
    crate::services::configuration_changed(state).await?;
    get(&state.db, caller, &spec.key).await
}

/// Applies a JSON merge patch to the signal's definition. A change to what it matches or scores (rule, weight,
/// stage, channels, schema) makes a new version; other edits correct the current one.
pub async fn update(state: &AppState, caller: &Caller, key: &str, patch: Value) -> Result<Signal, AppError> {
    caller.require(Access::Write)?;
    let Value::Object(mut patch) = patch else {
        return Err(AppError::invalid("a change is a JSON object with the fields to change"));
    };
    for managed in ["version", "created_at", "updated_at", "versions", "history"] {
        patch.remove(managed);
    }
    let status = match patch.remove("status") {
        None => None,
        Some(Value::String(text)) => Some(
            SignalStatus::parse(&text)
                .ok_or_else(|| AppError::invalid(format!("unknown status '{text}': expected active or deprecated")))?,
        ),
        Some(other) => return Err(AppError::invalid(format!("status must be a string, not {other}"))),
    };
    let current = find(&state.db, key).await?;
    let mut document = serde_json::to_value(&current.spec).map_err(AppError::internal)?;
    json_patch::merge(&mut document, &Value::Object(patch));
    let next = parse_spec(&state.db, document).await?;
    let status = status.unwrap_or(current.status);
    apply(state, caller, current, next, status).await
}

/// Replaces the signal's whole definition (what the editor sends: a field left out is cleared, where a merge
/// patch would keep it); status stays.
pub async fn replace(state: &AppState, caller: &Caller, key: &str, body: Value) -> Result<Signal, AppError> {
    caller.require(Access::Write)?;
    let mut body = body;
    if let Value::Object(object) = &mut body {
        for managed in ["version", "status", "created_at", "updated_at", "versions", "history"] {
            object.remove(managed);
        }
    }
    let current = find(&state.db, key).await?;
    let next = parse_spec(&state.db, body).await?;
    let status = current.status;
    apply(state, caller, current, next, status).await
}

async fn apply(
    state: &AppState,
    caller: &Caller,
    current: Signal,
    next: SignalSpec,
    status: SignalStatus,
) -> Result<Signal, AppError> {
    let key = current.spec.key.clone();
    if next.key != current.spec.key {
        return Err(AppError::conflict(
            "the key of a signal cannot change; create a new signal and deprecate this one",
        ));
    }
    let new_version = current.spec.rule_changed(&next);
    let detail = changed_fields(&current.spec, &next, current.status, status)?;
    let action = if new_version { "new version" } else { "edited" };
    store::update(
        &state.db,
        &current,
        &next,
        status,
        new_version,
        Utc::now(),
        Change { actor: &caller.label(), action, detail },
    )
    .await?;
    crate::services::configuration_changed(state).await?;
    get(&state.db, caller, &key).await
}

/// Deprecates (stops matching new events; history and data stay) or reactivates a signal.
pub async fn set_status(
    state: &AppState,
    caller: &Caller,
    key: &str,
    status: SignalStatus,
) -> Result<Signal, AppError> {
    caller.require(Access::Write)?;
    let current = find(&state.db, key).await?;
    if current.status == status {
        return get(&state.db, caller, key).await;
    }
    let action = match status {
        SignalStatus::Active => "reactivated",
        SignalStatus::Deprecated => "deprecated",
    };
    let change = Change { actor: &caller.label(), action, detail: json!({}) };
    store::update(&state.db, &current, &current.spec, status, false, Utc::now(), change).await?;
    crate::services::configuration_changed(state).await?;
    get(&state.db, caller, key).await
}

/// The fields that differ, old and new, for the history.
fn changed_fields(
    old: &SignalSpec,
    new: &SignalSpec,
    old_status: SignalStatus,
    new_status: SignalStatus,
) -> Result<Value, AppError> {
    let (Value::Object(before), Value::Object(after)) = (
        serde_json::to_value(old).map_err(AppError::internal)?,
        serde_json::to_value(new).map_err(AppError::internal)?,
    ) else {
        return Ok(json!({}));
    };
    let mut detail = Map::new();
    for (field, value) in &after {
        if before.get(field) != Some(value) {
            detail.insert(field.clone(), json!({"from": before.get(field), "to": value}));
        }
    }
    if old_status != new_status {
        detail.insert("status".into(), json!({"from": old_status.as_str(), "to": new_status.as_str()}));
    }
    Ok(Value::Object(detail))
}

pub const PREVIEW_DAYS: i64 = 7;
const PREVIEW_MAX_EVENTS: i64 = 200_000;

pub async fn preview(db: &Db, caller: &Caller, body: Value) -> Result<Preview, AppError> {
    caller.require(Access::Read)?;
    let config = intent_config(db).await?;
    let mut body = body;
    if let Value::Object(object) = &mut body {
        // A rule being drafted may have no key or name yet.
        object.entry("key").or_insert(json!("rule-preview"));
        object.entry("name").or_insert(json!("preview"));
        object.entry("stage").or_insert(Value::Null);
        object.entry("weight").or_insert(json!(1.0));
        if object.get("stage").is_some_and(Value::is_null) {
            let first = config.stage_names().into_iter().next().unwrap_or_default();
            object.insert("stage".into(), json!(first));
        }
    }
    let spec = parse_spec_for(body, &config)?;
    let signal = CompiledSignal::compile(&spec, 0).map_err(AppError::invalid)?;
    let half_life = config.half_life_days;
    let since = Utc::now() - Duration::days(PREVIEW_DAYS);
    let view = spec.rule.kind == signals::RuleKind::View;
    let sql = "SELECT profile_id, type, event, channel, properties, timestamp FROM events \
               WHERE timestamp >= $1 AND schema_violations IS NULL AND \
               (($2 AND type IN ('page', 'screen')) OR (NOT $2 AND type = 'track' AND event = $3)) \
               ORDER BY profile_id, timestamp LIMIT $4";
    type Row = (i64, String, Option<String>, String, Json<Map<String, Value>>, DateTime<Utc>);
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(sql)
        .bind(since).bind(view).bind(&spec.rule.event).bind(PREVIEW_MAX_EVENTS + 1).fetch_all(pool).await)?;
    let truncated = rows.len() as i64 > PREVIEW_MAX_EVENTS;
    let mut units = HashSet::new();
    let mut matches = 0;
    let mut by_channel = BTreeMap::new();
    let mut state: Option<(i64, signals::SignalState)> = None;
    for (profile, kind, event, channel, properties, at) in rows.iter().take(PREVIEW_MAX_EVENTS as usize) {
        let occurrence =
            Occurrence { view: kind != "track", event: event.as_deref(), channel, properties: &properties.0 };
        if !signal.matches(&occurrence) {
            continue;
        }
        let previous = state.filter(|(p, _)| p == profile).map(|(_, s)| s);
        let (next, fired) = signals::record_occurrence(&signal, previous, *at, half_life);
        state = Some((*profile, next));
        if fired {
            matches += 1;
            units.insert(*profile);
            *by_channel.entry(channel.clone()).or_insert(0) += 1;
        }
    }
    Ok(Preview { since, units: units.len(), matches, by_channel, truncated })
}

/// Daily matches per channel over the last `days` days, per signal.
pub async fn volume(
    db: &Db,
    caller: &Caller,
    key: Option<&str>,
    days: i64,
) -> Result<BTreeMap<String, Vec<VolumePoint>>, AppError> {
    caller.require(Access::Read)?;
    let since = (Utc::now() - Duration::days(days.clamp(1, 365) - 1)).date_naive();
    let mut by_signal: BTreeMap<String, Vec<VolumePoint>> = BTreeMap::new();
    for (signal, point) in store::volume(db, key, since).await? {
        by_signal.entry(signal).or_default().push(point);
    }
    Ok(by_signal)
}
