//! `/api/v1/users`: admins list, create and change users.

use super::extract::{ApiJson, ApiPath};
use app::auth::{level, Needs};
use app::error::AppError;
use app::model::{NewUser, User, UserChange};
use app::services;
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

pub async fn list_users(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
) -> Result<Json<Vec<User>>, AppError> {
    Ok(Json(services::users::list(&state.db, &caller).await?))
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let user = services::users::create(&state.db, &caller, input).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<User>, AppError> {
    Ok(Json(services::users::update(&state.db, &caller, id, change).await?))
}
