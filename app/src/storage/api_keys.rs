//! API keys: only the SHA-256 of a secret is stored; lookups go by that hash.

use super::{on_pool, Db};
use crate::domain::access::{format_scopes, parse_scopes, Scope};
use crate::error::AppError;
use crate::model::{ApiKey, ApiKeyId, UserId};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    name: String,
    prefix: String,
    scopes: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = AppError;

    fn try_from(row: ApiKeyRow) -> Result<Self, AppError> {
        Ok(ApiKey {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: parse_scopes(&row.scopes).map_err(AppError::internal)?,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

const COLUMNS: &str = "id, name, prefix, scopes, created_at, last_used_at, revoked_at";

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a [Scope],
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(db: &Db, key: NewApiKey<'_>) -> Result<ApiKey, AppError> {
    let sql = format!(
        "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    let scopes = format_scopes(key.scopes);
    let row: ApiKeyRow = on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(key.name)
            .bind(key.prefix)
            .bind(key.key_hash)
            .bind(&scopes)
            .bind(key.created_by)
            .bind(key.created_at)
            .fetch_one(pool)
            .await
    })?;
    row.try_into()
}

/// The active (not revoked) key with this hash.
pub async fn find_active_by_hash(db: &Db, key_hash: &str) -> Result<Option<ApiKey>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
    let row: Option<ApiKeyRow> = on_pool!(db, pool => sqlx::query_as(&sql).bind(key_hash).fetch_optional(pool).await)?;
    row.map(ApiKey::try_from).transpose()
}

/// Active keys first, newest first.
pub async fn list(db: &Db) -> Result<Vec<ApiKey>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC");
    let rows: Vec<ApiKeyRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    rows.into_iter().map(ApiKey::try_from).collect()
}

/// Revokes a key; revoking twice is not an error, and the first revocation time is kept.
pub async fn revoke(db: &Db, id: ApiKeyId, now: DateTime<Utc>) -> Result<ApiKey, AppError> {
    let sql = format!("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING {COLUMNS}");
    let row: Option<ApiKeyRow> =
        on_pool!(db, pool => sqlx::query_as(&sql).bind(now).bind(id).fetch_optional(pool).await)?;
    row.ok_or_else(|| AppError::not_found(format!("no API key with id {id}")))?.try_into()
}

pub async fn touch_last_used(db: &Db, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), AppError> {
    let sql = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2";
    on_pool!(db, pool => sqlx::query(sql).bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}
