//! The assignment API's data: the in-memory snapshot of experiments (rebuilt from the database after every
//! change) and the requests it answers. Requests never touch the database.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::assignment::{Assignment, CompiledExperiment, Snapshot};
use crate::domain::experiment::Status;
use crate::error::AppError;
use crate::model::Experiment;
use crate::state::AppState;
use crate::storage::exposures::Exposure;
use crate::storage::{experiments, settings, Db};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// PostgreSQL channel on which an instance announces configuration changes to the others.
pub const CHANGES_CHANNEL: &str = "intentlab_config_changed";

/// Rebuilds this instance's snapshot and tells the other instances sharing the database to do the same.
pub async fn changed(state: &AppState) -> Result<(), AppError> {
    crate::services::reload_configuration(state).await?;
    if let Db::Postgres(pool) = &state.db {
        sqlx::query("SELECT pg_notify($1, '')").bind(CHANGES_CHANNEL).execute(pool).await?;
    }
    Ok(())
}

/// Reloads the snapshot whenever another instance announces a change (PostgreSQL only: SQLite deployments are a
/// single instance). After a lost connection it reloads once, since notifications sent meanwhile are lost.
pub async fn follow_changes(state: AppState, stop: impl std::future::Future<Output = ()>) {
    let Db::Postgres(pool) = &state.db else { return };
    tokio::pin!(stop);
    let mut listener = loop {
        match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANGES_CHANNEL).await {
                Ok(()) => break listener,
                Err(err) => tracing::warn!(%err, "cannot listen for configuration changes; retrying"),
            },
            Err(err) => tracing::warn!(%err, "cannot connect to listen for configuration changes; retrying"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            received = listener.try_recv() => {
                if let Err(err) = received {
                    tracing::warn!(%err, "configuration change listener failed; reconnecting");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                // A notification, or a reconnection after which missed notifications are unknowable: reload.
                if let Err(err) = crate::services::reload_configuration(&state).await {
                    tracing::warn!(error = ?err, "reloading the configuration failed");
                }
            }
        }
    }
}

/// Rebuilds the snapshot from the database and swaps it in.
pub async fn reload(state: &AppState) -> Result<(), AppError> {
    let all = experiments::list(&state.db).await?;
    let holdout = match settings::get(&state.db, settings::GLOBAL_HOLDOUT).await? {
        Some(text) => text.parse::<f64>().map_err(AppError::internal)?,
        None => 0.0,
    };
    let mut snapshot = build_snapshot(&all, holdout);
    snapshot.opted_out = crate::storage::profiles::opted_out_ids(&state.db).await?;
    state.assignments.replace(snapshot);
    Ok(())
}

fn build_snapshot(all: &[Experiment], holdout: f64) -> Snapshot {
    let compiled: Vec<CompiledExperiment> = all
        .iter()
        .filter_map(|e| match CompiledExperiment::compile(e.id, &e.spec, e.status) {
            Ok(c) => Some(c),
            Err(err) => {
                tracing::error!(experiment = %e.spec.key, %err, "stored experiment does not compile; not served");
                None
            }
        })
        .collect();
    let config = sdk_config(all, holdout);
    // The version is a digest of what clients can observe, so every instance computes the same ETag.
    let statuses: Vec<(&str, Status)> = all.iter().map(|e| (e.spec.key.as_str(), e.status)).collect();
    let digest = Sha256::digest(json!({ "config": config, "statuses": statuses }).to_string());
    let version = hex::encode(&digest[..8]);
    let uses_intent_stage = all
        .iter()
        .filter(|e| e.status == Status::Running)
        .any(|e| e.spec.targeting.as_ref().is_some_and(|t| t.to_string().contains(&format!("\"{INTENT_STAGE}\""))));
    let mut snapshot = Snapshot::new(compiled, holdout, version, config);
    snapshot.uses_intent_stage = uses_intent_stage;
    snapshot
}

/// The targeting attribute holding the unit's intent stage. Services may send it; when they do not and a running
/// experiment targets on it, the server fills it in from the unit's profile (one indexed lookup).
pub const INTENT_STAGE: &str = "intent_stage";

/// The request's attributes, with the unit's intent stage added when an experiment needs it and it is missing.
pub async fn with_intent_stage<'a>(
    state: &AppState,
    snapshot: &Snapshot,
    unit_id: &str,
    attributes: &'a Map<String, Value>,
) -> Result<std::borrow::Cow<'a, Map<String, Value>>, AppError> {
    if !snapshot.uses_intent_stage || attributes.contains_key(INTENT_STAGE) {
        return Ok(std::borrow::Cow::Borrowed(attributes));
    }
    let stage = match crate::storage::profiles::stage_of(&state.db, unit_id).await? {
        Some(stage) => stage,
        // Someone never seen is at the beginning of the funnel.
        None => state.ingest.library().intent.stage_for(0.0, false).to_string(),
    };
    let mut extended = attributes.clone();
    extended.insert(INTENT_STAGE.into(), Value::String(stage));
    Ok(std::borrow::Cow::Owned(extended))
}

/// Running experiments in the form an SDK needs to assign locally, like GrowthBook's feature payload.
fn sdk_config(all: &[Experiment], holdout: f64) -> Value {
    let experiments: Vec<Value> = all
        .iter()
        .filter(|e| e.status == Status::Running)
        .map(|e| {
            let s = &e.spec;
            json!({
                "key": s.key,
                "variations": s.variations.iter().map(|v| json!({ "key": v.key, "payload": v.payload })).collect::<Vec<_>>(),
                "weights": s.weights(),
                "coverage": s.coverage,
                "hash_attribute": s.hash_attribute,
                "hash_version": s.hash_version,
                "seed": s.effective_seed(),
                "targeting": s.targeting,
                "namespace": s.namespace.as_ref().map(|ns| json!([ns.name, ns.range.0, ns.range.1])),
            })
        })
        .collect();
    json!({ "holdout": holdout, "experiments": experiments })
}

/// `POST /api/v1/assign`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub unit_id: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub experiments: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub log_exposure: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct AssignResponse {
    pub unit_id: String,
    pub assignments: Vec<Assignment>,
}

/// The longest unit id accepted: ids are cookies, device ids or customer numbers, never documents.
const MAX_UNIT_ID_CHARS: usize = 256;

/// At most this many attributes per request: targeting reads a handful; every attribute is also copied into each
/// exposure the request logs, so the bound is on memory and storage, not on taste.
pub const MAX_ATTRIBUTES: usize = 50;
/// The longest attribute name, and the most JSON one attribute's value may take.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 128;
pub const MAX_ATTRIBUTE_BYTES: usize = 1024;
/// At most this many experiments named in one assignment request.
pub const MAX_EXPERIMENTS_PER_REQUEST: usize = 100;

/// Refuses attributes beyond the bounds above, naming the first one that breaks them.
pub fn check_attributes(attributes: &Map<String, Value>) -> Result<(), AppError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(AppError::invalid(format!(
            "{} attributes sent; at most {MAX_ATTRIBUTES} are accepted",
            attributes.len()
        )));
    }
    for (name, value) in attributes {
        if name.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
            return Err(AppError::invalid(format!(
                "attribute names are at most {MAX_ATTRIBUTE_NAME_CHARS} characters"
            )));
        }
        if !fits(value, &mut (MAX_ATTRIBUTE_BYTES as isize)) {
            return Err(AppError::invalid(format!(
                "the attribute '{name}' is larger than {MAX_ATTRIBUTE_BYTES} bytes of JSON"
            )));
        }
    }
    Ok(())
}

/// Whether `value` takes at most `budget` bytes of JSON (about: numbers count their digits, syntax its
/// characters), stopping as soon as it does not — a huge value is never walked whole.
fn fits(value: &Value, budget: &mut isize) -> bool {
    *budget -= match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(n) => n.to_string().len() as isize,
        Value::String(s) => s.len() as isize + 2,
        Value::Array(items) => 2 + items.len() as isize,
        Value::Object(fields) => 2 + fields.keys().map(|k| k.len() as isize + 4).sum::<isize>(),
    };
    if *budget < 0 {
        return false;
    }
    match value {
        Value::Array(items) => items.iter().all(|item| fits(item, budget)),
        Value::Object(fields) => fields.values().all(|item| fits(item, budget)),
        _ => true,
    }
}

pub fn check_unit_id(unit_id: &str) -> Result<(), AppError> {
    if unit_id.trim().is_empty() {
        return Err(AppError::invalid("unit_id is required"));
    }
    if unit_id.chars().count() > MAX_UNIT_ID_CHARS {
        return Err(AppError::invalid(format!("unit_id is longer than {MAX_UNIT_ID_CHARS} characters")));
    }
    Ok(())
}

pub async fn assign(state: &AppState, caller: &Caller, request: AssignRequest) -> Result<AssignResponse, AppError> {
    caller.require(Access::Assign)?;
    check_unit_id(&request.unit_id)?;
    check_attributes(&request.attributes)?;
    if let Some(keys) = request.experiments.as_ref().filter(|keys| keys.len() > MAX_EXPERIMENTS_PER_REQUEST) {
        return Err(AppError::invalid(format!(
            "{} experiments named; at most {MAX_EXPERIMENTS_PER_REQUEST} per request",
            keys.len()
        )));
    }
    let snapshot = state.assignments.current();
    let attributes = with_intent_stage(state, &snapshot, &request.unit_id, &request.attributes).await?;
    let assignments = snapshot.assign(&request.unit_id, &attributes, request.experiments.as_deref());
    if request.log_exposure {
        log_exposures(state, &snapshot, &request.unit_id, &attributes, &assignments);
    }
    Ok(AssignResponse { unit_id: request.unit_id, assignments })
}

/// Queues an exposure for every assignment that put the unit in an experiment.
pub fn log_exposures(
    state: &AppState,
    snapshot: &Snapshot,
    unit_id: &str,
    attributes: &Map<String, Value>,
    assignments: &[Assignment],
) {
    let now = Utc::now();
    for assignment in assignments.iter().filter(|a| a.in_experiment) {
        if let (Some(experiment), Some(variation_index)) =
            (snapshot.get(&assignment.experiment), assignment.variation_index)
        {
            state.exposures.record(Exposure {
                experiment_id: experiment.id,
                unit_id: unit_id.to_string(),
                variation_index,
                at: now,
                attributes: attributes.clone(),
            });
        }
    }
}

/// One experiment's assignment (`GET /api/v1/experiments/{key}/assignment?unit_id=…&country=DE`); query
/// parameters other than `unit_id` are the unit's attributes, as strings.
pub async fn assign_one(
    state: &AppState,
    caller: &Caller,
    key: &str,
    unit_id: &str,
    attributes: &Map<String, Value>,
) -> Result<Assignment, AppError> {
    caller.require(Access::Assign)?;
    check_unit_id(unit_id)?;
    check_attributes(attributes)?;
    let snapshot = state.assignments.current();
    let experiment =
        snapshot.get(key).ok_or_else(|| AppError::not_found(format!("no experiment with the key '{key}'")))?;
    let attributes = with_intent_stage(state, &snapshot, unit_id, attributes).await?;
    let assignment = snapshot.assign_experiment(experiment, unit_id, &attributes);
    log_exposures(state, &snapshot, unit_id, &attributes, std::slice::from_ref(&assignment));
    Ok(assignment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_bounded_in_count_name_and_size() {
        let ok: Map<String, Value> = (0..MAX_ATTRIBUTES).map(|i| (format!("a{i}"), json!(i))).collect();
        assert!(check_attributes(&ok).is_ok());
        let many: Map<String, Value> = (0..=MAX_ATTRIBUTES).map(|i| (format!("a{i}"), json!(i))).collect();
        assert!(check_attributes(&many).is_err());
        let long_name: Map<String, Value> = [("n".repeat(129), json!(1))].into_iter().collect();
        assert!(check_attributes(&long_name).is_err());
        let big: Map<String, Value> = [("notes".to_string(), json!("x".repeat(1100)))].into_iter().collect();
        assert!(check_attributes(&big).is_err());
        let nested: Map<String, Value> =
            [("deep".to_string(), json!([[["x".repeat(400)], ["y".repeat(400)]], ["z".repeat(400)]]))]
                .into_iter()
                .collect();
        assert!(check_attributes(&nested).is_err());
        let fine: Map<String, Value> =
            [("country".to_string(), json!("DE")), ("tags".to_string(), json!(["a", "b", {"c": 1.5}]))]
                .into_iter()
                .collect();
        assert!(check_attributes(&fine).is_ok());
    }
}
