//! Experiments and their change history. A change and the history entry describing it are written in one
//! transaction: the history never misses a change, nor records one that did not happen.

use super::{on_pool, Db};
use crate::domain::experiment::{ExperimentSpec, Status};
use crate::error::AppError;
use crate::model::{Experiment, ExperimentChange};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

#[derive(sqlx::FromRow)]
struct ExperimentRow {
    id: i64,
    status: String,
    spec: Json<ExperimentSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
    concluded_at: Option<DateTime<Utc>>,
}

impl TryFrom<ExperimentRow> for Experiment {
    type Error = AppError;

    fn try_from(row: ExperimentRow) -> Result<Self, AppError> {
        Ok(Experiment {
            id: row.id,
            spec: row.spec.0,
            status: Status::parse(&row.status).map_err(AppError::internal)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            started_at: row.started_at,
            stopped_at: row.stopped_at,
            concluded_at: row.concluded_at,
            history: Vec::new(),
            exposures: Vec::new(),
            playbook_entry: None,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    at: DateTime<Utc>,
    actor: String,
    action: String,
    detail: Json<Value>,
}

const COLUMNS: &str = "id, status, spec, created_at, updated_at, started_at, stopped_at, concluded_at";
/// Appends to an experiment's history; binds experiment id, time, actor, action and detail.
pub(super) const HISTORY_SQL: &str =
    "INSERT INTO experiment_changes (experiment_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)";

/// A history entry to write with a change.
pub struct NewChange<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: Value,
}

pub async fn insert(
    db: &Db,
    spec: &ExperimentSpec,
    now: DateTime<Utc>,
    change: NewChange<'_>,
) -> Result<Experiment, AppError> {
    let insert = format!(
        "INSERT INTO experiments (key, status, spec, created_at, updated_at) VALUES ($1, 'draft', $2, $3, $3) RETURNING {COLUMNS}"
    );
    let result: Result<ExperimentRow, sqlx::Error> = on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        let row: ExperimentRow = sqlx::query_as(&insert).bind(&spec.key).bind(Json(spec)).bind(now).fetch_one(&mut *tx).await?;
        sqlx::query(HISTORY_SQL).bind(row.id).bind(now).bind(change.actor).bind(change.action).bind(Json(&change.detail))
            .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    }.await);
    match result {
        Ok(row) => row.try_into(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AppError::conflict(format!("an experiment with the key '{}' already exists", spec.key)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The new state of an experiment after a change.
pub struct Update<'a> {
    pub spec: &'a ExperimentSpec,
    pub status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub concluded_at: Option<DateTime<Utc>>,
}

pub async fn update(
    db: &Db,
    id: i64,
    next: Update<'_>,
    now: DateTime<Utc>,
    change: NewChange<'_>,
) -> Result<Experiment, AppError> {
    let update = format!(
        "UPDATE experiments SET spec = $1, status = $2, started_at = $3, stopped_at = $4, concluded_at = $5, updated_at = $6 \
         WHERE id = $7 RETURNING {COLUMNS}"
    );
    let row: ExperimentRow = on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        let row: ExperimentRow = sqlx::query_as(&update)
            .bind(Json(next.spec)).bind(next.status.as_str()).bind(next.started_at).bind(next.stopped_at)
            .bind(next.concluded_at).bind(now).bind(id)
            .fetch_one(&mut *tx).await?;
        sqlx::query(HISTORY_SQL).bind(id).bind(now).bind(change.actor).bind(change.action).bind(Json(&change.detail))
            .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }.await)?;
    row.try_into()
}

pub async fn find(db: &Db, key: &str) -> Result<Option<Experiment>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM experiments WHERE key = $1");
    let row: Option<ExperimentRow> = on_pool!(db, pool => sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?;
    row.map(Experiment::try_from).transpose()
}

/// All experiments, running first, then drafts, stopped and concluded; newest first within each.
pub async fn list(db: &Db) -> Result<Vec<Experiment>, AppError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM experiments ORDER BY \
         CASE status WHEN 'running' THEN 0 WHEN 'draft' THEN 1 WHEN 'stopped' THEN 2 ELSE 3 END, created_at DESC, id DESC"
    );
    let rows: Vec<ExperimentRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    rows.into_iter().map(Experiment::try_from).collect()
}

/// Oldest first: the order in which things happened.
pub async fn history(db: &Db, experiment_id: i64) -> Result<Vec<ExperimentChange>, AppError> {
    let sql = "SELECT at, actor, action, detail FROM experiment_changes WHERE experiment_id = $1 ORDER BY at, id";
    let rows: Vec<ChangeRow> = on_pool!(db, pool => sqlx::query_as(sql).bind(experiment_id).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| ExperimentChange { at: r.at, actor: r.actor, action: r.action, detail: r.detail.0 })
        .collect())
}
