//! API keys for backend services: created with scopes, shown once, revocable.

use crate::auth::{api_key, Caller};
use crate::domain::access::{parse_scopes, Access};
use crate::domain::validate::parse_label;
use crate::error::AppError;
use crate::model::{ApiKey, ApiKeyId, CreatedApiKey, NewApiKey, UserId};
use crate::state::AppState;
use crate::storage::{api_keys, Db};
use chrono::Utc;

pub async fn list(db: &Db, caller: &Caller) -> Result<Vec<ApiKey>, AppError> {
    caller.require(Access::Admin)?;
    api_keys::list(db).await
}

pub async fn create(db: &Db, caller: &Caller, input: NewApiKey) -> Result<CreatedApiKey, AppError> {
    caller.require(Access::Admin)?;
    create_unchecked(db, input, caller.user().map(|u| u.id)).await
}

/// Creates a key without an access check: for `intentlab api-key create`, run by the server's operator.
pub async fn create_unchecked(
    db: &Db,
    input: NewApiKey,
    created_by: Option<UserId>,
) -> Result<CreatedApiKey, AppError> {
    let name = parse_label("name", &input.name, 100).map_err(AppError::InvalidInput)?;
    let scopes = parse_scopes(&input.scopes.join(",")).map_err(AppError::InvalidInput)?;
    let generated = api_key::generate();
    let key = api_keys::insert(
        db,
        api_keys::NewApiKey {
            name: &name,
            prefix: &generated.prefix,
            key_hash: &generated.hash,
            scopes: &scopes,
            created_by,
            created_at: Utc::now(),
        },
    )
    .await?;
    Ok(CreatedApiKey { key, secret: generated.secret })
}

pub async fn revoke(state: &AppState, caller: &Caller, id: ApiKeyId) -> Result<ApiKey, AppError> {
    caller.require(Access::Admin)?;
    let revoked = api_keys::revoke(&state.db, id, Utc::now()).await?;
    state.key_cache.evict(id);
    Ok(revoked)
}
