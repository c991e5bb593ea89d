//! Experiments: create, edit (with pre-registration locks once started), start and stop; every change recorded
//! with who made it. After each change the assignment snapshot is rebuilt, so the API answers with it at once.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::experiment::{check_key, ExperimentSpec, Status};
use crate::error::AppError;
use crate::model::{Experiment, VariationExposures};
use crate::services::assignments;
use crate::state::AppState;
use crate::storage::experiments::{self, NewChange, Update};
use crate::storage::exposures;
use crate::storage::Db;
use chrono::Utc;
use serde_json::{json, Map, Value};

pub async fn list(db: &Db, caller: &Caller) -> Result<Vec<Experiment>, AppError> {
    caller.require(Access::Results)?;
    experiments::list(db).await
}

/// One experiment with its change history.
pub async fn get(db: &Db, caller: &Caller, key: &str) -> Result<Experiment, AppError> {
    caller.require(Access::Results)?;
    let mut experiment = find(db, key).await?;
    experiment.history = experiments::history(db, experiment.id).await?;
    if experiment.status == Status::Concluded {
        experiment.playbook_entry = crate::storage::playbook::entry_of_experiment(db, experiment.id).await?;
    }
    let counts = exposures::counts(db, experiment.id).await?;
    experiment.exposures = experiment
        .spec
        .variations
        .iter()
        .enumerate()
        .map(|(i, v)| VariationExposures {
            variation: v.key.clone(),
            units: counts.iter().find(|(index, _)| *index as usize == i).map_or(0, |(_, n)| *n),
        })
        .collect();
    Ok(experiment)
}

/// The experiment with this key, or 404.
pub(crate) async fn find(db: &Db, key: &str) -> Result<Experiment, AppError> {
    experiments::find(db, key).await?.ok_or_else(|| AppError::not_found(format!("no experiment with the key '{key}'")))
}

fn parse_spec(json: Value) -> Result<ExperimentSpec, AppError> {
    let spec: ExperimentSpec =
        serde_json::from_value(json).map_err(|e| AppError::invalid(format!("invalid experiment: {e}")))?;
    let spec = spec.normalized();
    spec.validate().map_err(|problems| AppError::invalid(problems.to_string()))?;
    Ok(spec)
}

/// Every metric the experiment names must be in the metric library.
async fn check_metrics(db: &Db, spec: &ExperimentSpec) -> Result<(), AppError> {
    for (key, _) in spec.metrics.all() {
        if crate::storage::metrics::find(db, key).await?.is_none() {
            return Err(AppError::invalid(format!("metrics: no metric has the key '{key}'")));
        }
    }
    Ok(())
}

pub async fn create(state: &AppState, caller: &Caller, body: Value) -> Result<Experiment, AppError> {
    caller.require(Access::Write)?;
    let spec = parse_spec(body)?;
    check_metrics(&state.db, &spec).await?;
    let detail = serde_json::to_value(&spec).map_err(AppError::internal)?;
    let change = NewChange { actor: &caller.label(), action: "created", detail };
    let created = experiments::insert(&state.db, &spec, Utc::now(), change).await?;
    assignments::changed(state).await?;
    get(&state.db, caller, &created.spec.key).await
}

/// Applies a JSON merge patch (RFC 7396) to the experiment's configuration. Drafts may change freely (except the
/// key, which other systems refer to); after the start only coverage, name and description may.
pub async fn update(state: &AppState, caller: &Caller, key: &str, patch: Value) -> Result<Experiment, AppError> {
    caller.require(Access::Write)?;
    if !patch.is_object() {
        return Err(AppError::invalid("a change is a JSON object with the fields to change"));
    }
    let current = find(&state.db, key).await?;
    let mut document = serde_json::to_value(&current.spec).map_err(AppError::internal)?;
    json_patch::merge(&mut document, &patch);
    let next = parse_spec(document)?;
    check_metrics(&state.db, &next).await?;
    if next.key != current.spec.key {
        return Err(AppError::conflict("the key of an experiment cannot change; create a new experiment instead"));
    }
    if current.status != Status::Draft {
        let locked = current.spec.locked_changes(&next);
        if !locked.is_empty() {
            return Err(AppError::conflict(format!(
                "the experiment is {}: its pre-registered {} can no longer change (only coverage, name and \
                 description can); stop it and create a follow-up experiment instead",
                current.status,
                locked.join(", ")
            )));
        }
    }
    let detail = diff(&current.spec, &next)?;
    if detail.is_empty() {
        return get(&state.db, caller, key).await;
    }
    let action = if current.status == Status::Running && detail.keys().all(|k| k == "coverage") {
        "coverage changed"
    } else {
        "updated"
    };
    let update = Update {
        spec: &next,
        status: current.status,
        started_at: current.started_at,
        stopped_at: current.stopped_at,
        concluded_at: current.concluded_at,
    };
    let change = NewChange { actor: &caller.label(), action, detail: Value::Object(detail) };
    experiments::update(&state.db, current.id, update, Utc::now(), change).await?;
    assignments::changed(state).await?;
    get(&state.db, caller, key).await
}

/// Moves an experiment along its lifecycle (start, stop, restart).
pub async fn transition(state: &AppState, caller: &Caller, key: &str, next: Status) -> Result<Experiment, AppError> {
    caller.require(Access::Write)?;
    check_key(key).map_err(AppError::NotFound)?;
    let current = find(&state.db, key).await?;
    if !current.status.can_become(next) {
        return Err(AppError::conflict(format!("a {} experiment cannot become {next}", current.status)));
    }
    let now = Utc::now();
    let update = Update {
        spec: &current.spec,
        status: next,
        started_at: current.started_at.or((next == Status::Running).then_some(now)),
        stopped_at: (next == Status::Stopped).then_some(now).or(current.stopped_at),
        concluded_at: (next == Status::Concluded).then_some(now).or(current.concluded_at),
    };
    let action = match (current.status, next) {
        (Status::Stopped, Status::Running) => "restarted",
        (_, Status::Running) => "started",
        (_, Status::Stopped) => "stopped",
        _ => "concluded",
    };
    let detail = json!({ "status": { "from": current.status, "to": next } });
    let change = NewChange { actor: &caller.label(), action, detail };
    experiments::update(&state.db, current.id, update, now, change).await?;
    assignments::changed(state).await?;
    get(&state.db, caller, key).await
}

/// Top-level fields that differ, as `{"field": {"from": old, "to": new}}`.
fn diff(before: &ExperimentSpec, after: &ExperimentSpec) -> Result<Map<String, Value>, AppError> {
    let before = serde_json::to_value(before).map_err(AppError::internal)?;
    let after = serde_json::to_value(after).map_err(AppError::internal)?;
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return Err(AppError::internal("experiment specs serialise to objects"));
    };
    let mut fields: Vec<&String> = before.keys().chain(after.keys()).collect();
    fields.sort();
    fields.dedup();
    Ok(fields
        .into_iter()
        .filter(|f| before.get(*f) != after.get(*f))
        .map(|f| {
            let from = before.get(f).cloned().unwrap_or(Value::Null);
            let to = after.get(f).cloned().unwrap_or(Value::Null);
            (f.clone(), json!({ "from": from, "to": to }))
        })
        .collect())
}
