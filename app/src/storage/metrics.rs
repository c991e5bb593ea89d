//! The metric library.

use super::{on_pool, Db};
use crate::domain::stats::metrics::MetricSpec;
use crate::error::AppError;
use crate::model::Metric;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

#[derive(sqlx::FromRow)]
struct MetricRow {
    spec: Json<MetricSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    updated_by: String,
}

impl From<MetricRow> for Metric {
    fn from(row: MetricRow) -> Self {
        Metric { spec: row.spec.0, created_at: row.created_at, updated_at: row.updated_at, updated_by: row.updated_by }
    }
}

const COLUMNS: &str = "spec, created_at, updated_at, updated_by";

/// Inserts new metrics in one transaction; a key that exists is a conflict.
pub async fn insert(db: &Db, specs: &[MetricSpec], now: DateTime<Utc>, actor: &str) -> Result<(), AppError> {
    on_pool!(db, pool => async {
        let mut tx = pool.begin_with(db.begin_write()).await?;
        for spec in specs {
            let inserted = sqlx::query(
                "INSERT INTO metrics (key, spec, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $3, $4) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&spec.key).bind(Json(spec)).bind(now).bind(actor).execute(&mut *tx).await?;
            if inserted.rows_affected() == 0 {
                return Err(AppError::conflict(format!("a metric with the key '{}' exists already", spec.key)));
            }
        }
        tx.commit().await.map_err(AppError::from)
    }.await)
}

pub async fn update(db: &Db, spec: &MetricSpec, now: DateTime<Utc>, actor: &str) -> Result<(), AppError> {
    let sql = "UPDATE metrics SET spec = $1, updated_at = $2, updated_by = $3 WHERE key = $4";
    let updated = on_pool!(db, pool => sqlx::query(sql).bind(Json(spec)).bind(now).bind(actor).bind(&spec.key)
        .execute(pool).await.map(|done| done.rows_affected()))?;
    if updated == 0 {
        return Err(AppError::not_found(format!("no metric has the key '{}'", spec.key)));
    }
    Ok(())
}

pub async fn find(db: &Db, key: &str) -> Result<Option<Metric>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM metrics WHERE key = $1");
    let row: Option<MetricRow> = on_pool!(db, pool => sqlx::query_as(&sql).bind(key).fetch_optional(pool).await)?;
    Ok(row.map(Metric::from))
}

pub async fn list(db: &Db) -> Result<Vec<Metric>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM metrics ORDER BY key");
    let rows: Vec<MetricRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(Metric::from).collect())
}

pub async fn count(db: &Db) -> Result<i64, AppError> {
    Ok(on_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM metrics").fetch_one(pool).await)?)
}
