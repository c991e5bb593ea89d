//! Installation-wide settings stored as text, one row per name.

use super::{on_pool, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};

/// Share of units (0–1) excluded from every experiment.
pub const GLOBAL_HOLDOUT: &str = "global_holdout";

pub async fn get(db: &Db, name: &str) -> Result<Option<String>, AppError> {
    let sql = "SELECT value FROM settings WHERE name = $1";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).bind(name).fetch_optional(pool).await)?)
}

pub async fn set(db: &Db, name: &str, value: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    let sql = "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
               ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
    on_pool!(db, pool => sqlx::query(sql).bind(name).bind(value).bind(now).execute(pool).await.map(|_| ()))?;
    Ok(())
}
