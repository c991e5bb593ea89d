//! Failed sign-ins per email, kept only as long as the throttling window needs them.

use super::{on_pool, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};

pub async fn record(db: &Db, email: &str, at: DateTime<Utc>) -> Result<(), AppError> {
    let sql = "INSERT INTO login_failures (email, attempted_at) VALUES ($1, $2)";
    on_pool!(db, pool => sqlx::query(sql).bind(email).bind(at).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn since(db: &Db, email: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, AppError> {
    let sql = "SELECT attempted_at FROM login_failures WHERE email = $1 AND attempted_at > $2";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).bind(email).bind(since).fetch_all(pool).await)?)
}

pub async fn clear(db: &Db, email: &str) -> Result<(), AppError> {
    let sql = "DELETE FROM login_failures WHERE email = $1";
    on_pool!(db, pool => sqlx::query(sql).bind(email).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn prune_before(db: &Db, before: DateTime<Utc>) -> Result<u64, AppError> {
    let sql = "DELETE FROM login_failures WHERE attempted_at < $1";
    Ok(on_pool!(db, pool => sqlx::query(sql).bind(before).execute(pool).await.map(|r| r.rows_affected()))?)
}
