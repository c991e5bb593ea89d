//! Sign-in attempts per account and client address, kept only as long as the throttling windows need them. An
//! attempt is written before its password is checked and removed when it succeeds or is refused, so the rows
//! are the failures plus the attempts in progress — which is what makes concurrent attempts see each other.

use super::{on_pool, Db};
use crate::error::AppError;
use chrono::{DateTime, Utc};

/// Records an attempt starting now; returns its id.
pub async fn begin(db: &Db, email: &str, client: &str, at: DateTime<Utc>) -> Result<i64, AppError> {
    let sql = "INSERT INTO login_failures (email, client, attempted_at) VALUES ($1, $2, $3) RETURNING id";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).bind(email).bind(client).bind(at).fetch_one(pool).await)?)
}

/// The other attempts since `since`: for this account from this client, and from this client overall.
pub async fn others_since(
    db: &Db,
    attempt: i64,
    email: &str,
    client: &str,
    since: DateTime<Utc>,
) -> Result<(Vec<DateTime<Utc>>, Vec<DateTime<Utc>>), AppError> {
    let account =
        "SELECT attempted_at FROM login_failures WHERE email = $1 AND client = $2 AND attempted_at > $3 AND id <> $4";
    let account: Vec<DateTime<Utc>> = on_pool!(db, pool => {
        sqlx::query_scalar(account).bind(email).bind(client).bind(since).bind(attempt).fetch_all(pool).await
    })?;
    let everywhere = "SELECT attempted_at FROM login_failures WHERE client = $1 AND attempted_at > $2 AND id <> $3";
    let everywhere: Vec<DateTime<Utc>> = on_pool!(db, pool => {
        sqlx::query_scalar(everywhere).bind(client).bind(since).bind(attempt).fetch_all(pool).await
    })?;
    Ok((account, everywhere))
}

/// Removes one attempt (refused before its password was checked: it was no failure).
pub async fn forget(db: &Db, attempt: i64) -> Result<(), AppError> {
    let sql = "DELETE FROM login_failures WHERE id = $1";
    on_pool!(db, pool => sqlx::query(sql).bind(attempt).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// After a successful sign-in: this client's failures for the account are forgiven.
pub async fn clear(db: &Db, email: &str, client: &str) -> Result<(), AppError> {
    let sql = "DELETE FROM login_failures WHERE email = $1 AND client = $2";
    on_pool!(db, pool => sqlx::query(sql).bind(email).bind(client).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn prune_before(db: &Db, before: DateTime<Utc>) -> Result<u64, AppError> {
    let sql = "DELETE FROM login_failures WHERE attempted_at < $1";
    Ok(on_pool!(db, pool => sqlx::query(sql).bind(before).execute(pool).await.map(|r| r.rows_affected()))?)
}
