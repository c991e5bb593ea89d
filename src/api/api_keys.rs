//! `/api/v1/api-keys`: admins list, create (secret returned once) and revoke keys.

use super::extract::{ApiJson, ApiPath};
use app::auth::{level, Needs};
use app::error::AppError;
use app::model::{ApiKey, CreatedApiKey, NewApiKey};
use app::services;
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
) -> Result<Json<Vec<ApiKey>>, AppError> {
    Ok(Json(services::api_keys::list(&state.db, &caller).await?))
}

pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), AppError> {
    let created = services::api_keys::create(&state.db, &caller, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ApiKey>, AppError> {
    Ok(Json(services::api_keys::revoke(&state, &caller, id).await?))
}
