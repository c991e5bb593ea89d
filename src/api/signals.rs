//! `/api/v1/signals`: the micro-conversion library. Read with scope `read`; change with the editor role or
//! scope `admin`.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use app::auth::{level, Needs};
use app::domain::signals::SignalStatus;
use app::error::AppError;
use app::model::{Signal, VolumePoint};
use app::services::signals::{self, Preview, SignalFilter};
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

pub async fn list_signals(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiQuery(filter): ApiQuery<SignalFilter>,
) -> Result<Json<Vec<Signal>>, AppError> {
    Ok(Json(signals::list(&state.db, &caller, &filter).await?))
}

pub async fn create_signal(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Signal>), AppError> {
    Ok((StatusCode::CREATED, Json(signals::create(&state, &caller, body).await?)))
}

pub async fn get_signal(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Signal>, AppError> {
    Ok(Json(signals::get(&state.db, &caller, &key).await?))
}

pub async fn update_signal(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<Signal>, AppError> {
    Ok(Json(signals::update(&state, &caller, &key, patch).await?))
}

pub async fn deprecate_signal(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Signal>, AppError> {
    Ok(Json(signals::set_status(&state, &caller, &key, SignalStatus::Deprecated).await?))
}

pub async fn activate_signal(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Signal>, AppError> {
    Ok(Json(signals::set_status(&state, &caller, &key, SignalStatus::Active).await?))
}

/// What a (draft) definition would have matched over the last 7 days.
pub async fn preview_signal(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Preview>, AppError> {
    Ok(Json(signals::preview(&state.db, &caller, body).await?))
}

#[derive(Deserialize)]
pub struct VolumeQuery {
    days: Option<i64>,
}

pub async fn signal_volume(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<VolumeQuery>,
) -> Result<Json<Vec<VolumePoint>>, AppError> {
    let mut volume = signals::volume(&state.db, &caller, Some(&key), query.days.unwrap_or(30)).await?;
    Ok(Json(volume.remove(&key).unwrap_or_default()))
}
