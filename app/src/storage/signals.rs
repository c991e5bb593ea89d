//! The signal library: current versions, every past version, and the change history. A change, its version
//! row and its history entry are written in one transaction.

use super::{on_pool, Db};
use crate::domain::signals::{SignalSpec, SignalStatus};
use crate::error::AppError;
use crate::model::{Signal, SignalChange, SignalVersion, VolumePoint};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::types::Json;

#[derive(sqlx::FromRow)]
struct SignalRow {
    version: i64,
    status: String,
    spec: Json<SignalSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<SignalRow> for Signal {
    type Error = AppError;

    fn try_from(row: SignalRow) -> Result<Self, AppError> {
        Ok(Signal {
            spec: row.spec.0,
            version: row.version,
            status: SignalStatus::parse(&row.status)
                .ok_or_else(|| AppError::internal(format!("unknown signal status '{}'", row.status)))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            versions: Vec::new(),
            history: Vec::new(),
        })
    }
}

const COLUMNS: &str = "version, status, spec, created_at, updated_at";

/// How a change is recorded.
pub struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: Value,
}

/// Inserts new signals (version 1 each) in one transaction; keys that exist are a conflict.
pub async fn insert(db: &Db, specs: &[SignalSpec], now: DateTime<Utc>, change: Change<'_>) -> Result<(), AppError> {
    on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        for spec in specs {
            sqlx::query("INSERT INTO signals (key, version, status, spec, created_at, updated_at) VALUES ($1, 1, 'active', $2, $3, $3)")
                .bind(&spec.key).bind(Json(spec)).bind(now).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO signal_versions (key, version, spec, created_at, created_by) VALUES ($1, 1, $2, $3, $4)")
                .bind(&spec.key).bind(Json(spec)).bind(now).bind(change.actor).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO signal_changes (key, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(&spec.key).bind(now).bind(change.actor).bind(change.action).bind(Json(&change.detail))
                .execute(&mut *tx).await?;
        }
        tx.commit().await
    }.await)?;
    Ok(())
}

/// Replaces a signal's spec and/or status. `new_version` adds a version row (the rule changed); otherwise the
/// current version's row is corrected in place (names and descriptions are not part of what data matched).
pub async fn update(
    db: &Db,
    current: &Signal,
    spec: &SignalSpec,
    status: SignalStatus,
    new_version: bool,
    now: DateTime<Utc>,
    change: Change<'_>,
) -> Result<(), AppError> {
    let version = if new_version { current.version + 1 } else { current.version };
    on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        let updated = sqlx::query("UPDATE signals SET version = $1, status = $2, spec = $3, updated_at = $4 WHERE key = $5 AND version = $6")
            .bind(version).bind(status.as_str()).bind(Json(spec)).bind(now).bind(&spec.key).bind(current.version)
            .execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            return Err(AppError::conflict(format!("signal '{}' was changed by someone else meanwhile; reload and try again", spec.key)));
        }
        if new_version {
            sqlx::query("INSERT INTO signal_versions (key, version, spec, created_at, created_by) VALUES ($1, $2, $3, $4, $5)")
                .bind(&spec.key).bind(version).bind(Json(spec)).bind(now).bind(change.actor).execute(&mut *tx).await?;
        } else {
            sqlx::query("UPDATE signal_versions SET spec = $1 WHERE key = $2 AND version = $3")
                .bind(Json(spec)).bind(&spec.key).bind(version).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO signal_changes (key, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(&spec.key).bind(now).bind(change.actor).bind(change.action).bind(Json(&change.detail))
            .execute(&mut *tx).await?;
        tx.commit().await.map_err(AppError::from)
    }.await)
}

pub async fn find(db: &Db, key: &str) -> Result<Option<Signal>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM signals WHERE key = $1");
    let row: Option<SignalRow> = on_pool!(db, pool => sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?;
    row.map(Signal::try_from).transpose()
}

/// Every signal, in funnel order is the caller's business: here by key.
pub async fn list(db: &Db) -> Result<Vec<Signal>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM signals ORDER BY key");
    let rows: Vec<SignalRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    rows.into_iter().map(Signal::try_from).collect()
}

pub async fn count(db: &Db) -> Result<i64, AppError> {
    Ok(on_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM signals").fetch_one(pool).await)?)
}

pub async fn versions(db: &Db, key: &str) -> Result<Vec<SignalVersion>, AppError> {
    let sql = "SELECT version, spec, created_at, created_by FROM signal_versions WHERE key = $1 ORDER BY version";
    let rows: Vec<(i64, Json<SignalSpec>, DateTime<Utc>, String)> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(key).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(version, spec, created_at, created_by)| SignalVersion { version, spec: spec.0, created_at, created_by })
        .collect())
}

pub async fn history(db: &Db, key: &str) -> Result<Vec<SignalChange>, AppError> {
    let sql = "SELECT at, actor, action, detail FROM signal_changes WHERE key = $1 ORDER BY at DESC, id DESC";
    let rows: Vec<(DateTime<Utc>, String, String, Json<Value>)> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(key).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(at, actor, action, detail)| SignalChange { at, actor, action, detail: detail.0 })
        .collect())
}

/// Daily matches per channel since `since` (all versions), oldest first.
pub async fn volume(db: &Db, key: Option<&str>, since: NaiveDate) -> Result<Vec<(String, VolumePoint)>, AppError> {
    let sql = "SELECT signal_key, day, channel, CAST(SUM(matches) AS BIGINT) FROM signal_volume \
               WHERE day >= $1 AND ($2 IS NULL OR signal_key = $2) GROUP BY signal_key, day, channel ORDER BY day";
    let rows: Vec<(String, NaiveDate, String, i64)> =
        on_pool!(db, pool => sqlx::query_as(sql).bind(since).bind(key).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(key, day, channel, matches)| (key, VolumePoint { day, channel, matches })).collect())
}
