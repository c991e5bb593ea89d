//! The metric library: list, read, create and change metric definitions.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::stats::metrics::{starter_metrics, Measure, MetricSpec};
use crate::error::AppError;
use crate::model::Metric;
use crate::storage::{metrics as store, settings, signals as signal_store, Db};
use chrono::Utc;
use serde_json::Value;

const SEEDED_SETTING: &str = "metrics_seeded";

/// Seeds the starter metrics once per installation (deleting them later does not bring them back).
pub async fn seed_starter_metrics(db: &Db) -> Result<(), AppError> {
    if settings::get(db, SEEDED_SETTING).await?.is_some() {
        return Ok(());
    }
    if store::count(db).await? == 0 {
        store::insert(db, &starter_metrics(), Utc::now(), "intentlab").await?;
        tracing::info!("seeded the starter metrics");
    }
    settings::set(db, SEEDED_SETTING, "true", Utc::now()).await
}

pub async fn list(db: &Db, caller: &Caller) -> Result<Vec<Metric>, AppError> {
    caller.require(Access::Results)?;
    store::list(db).await
}

pub async fn get(db: &Db, caller: &Caller, key: &str) -> Result<Metric, AppError> {
    caller.require(Access::Results)?;
    find(db, key).await
}

async fn find(db: &Db, key: &str) -> Result<Metric, AppError> {
    store::find(db, key).await?.ok_or_else(|| AppError::not_found(format!("no metric has the key '{key}'")))
}

/// A definition checked field by field; a signal metric must name a signal of the library.
async fn parse_spec(db: &Db, mut json: Value) -> Result<MetricSpec, AppError> {
    if let Value::Object(object) = &mut json {
        // The library manages these; a client copying a metric from GET may send them along.
        for managed in ["created_at", "updated_at", "updated_by"] {
            object.remove(managed);
        }
    }
    let spec: MetricSpec =
        serde_json::from_value(json).map_err(|e| AppError::invalid(format!("invalid metric: {e}")))?;
    spec.validate().map_err(|problems| AppError::invalid(problems.join("; ")))?;
    if let Measure::Signal { key } = &spec.measure {
        if signal_store::find(db, key).await?.is_none() {
            return Err(AppError::invalid(format!("measure.key: no signal has the key '{key}'")));
        }
    }
    Ok(spec)
}

pub async fn create(db: &Db, caller: &Caller, body: Value) -> Result<Metric, AppError> {
    caller.require(Access::Write)?;
    let spec = parse_spec(db, body).await?;
    store::insert(db, std::slice::from_ref(&spec), Utc::now(), &caller.label()).await?;
    find(db, &spec.key).await
}

/// Applies a JSON merge patch to the definition; the key cannot change.
pub async fn update(db: &Db, caller: &Caller, key: &str, patch: Value) -> Result<Metric, AppError> {
    caller.require(Access::Write)?;
    if !patch.is_object() {
        return Err(AppError::invalid("a change is a JSON object with the fields to change"));
    }
    let current = find(db, key).await?;
    let mut document = serde_json::to_value(&current.spec).map_err(AppError::internal)?;
    json_patch::merge(&mut document, &patch);
    store_definition(db, caller, key, document).await
}

/// Replaces the whole definition (what the metric form sends); the key cannot change.
pub async fn replace(db: &Db, caller: &Caller, key: &str, definition: Value) -> Result<Metric, AppError> {
    caller.require(Access::Write)?;
    store_definition(db, caller, key, definition).await
}

/// Checks and stores `definition` as metric `key`'s (not found when there is no such metric).
async fn store_definition(db: &Db, caller: &Caller, key: &str, mut definition: Value) -> Result<Metric, AppError> {
    let Some(fields) = definition.as_object_mut() else {
        return Err(AppError::invalid("a metric is a JSON object"));
    };
    if fields.get("key").is_some_and(|k| k != key) {
        return Err(AppError::invalid("key: a metric's key cannot change; create a new metric instead"));
    }
    fields.insert("key".into(), Value::String(key.to_string()));
    let spec = parse_spec(db, definition).await?;
    store::update(db, &spec, Utc::now(), &caller.label()).await?;
    find(db, key).await
}
