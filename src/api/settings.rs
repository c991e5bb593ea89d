//! `GET/PUT /api/v1/settings`: installation-wide settings (global holdout, intent stages, purchase event).

use super::extract::ApiJson;
use app::auth::{level, Needs};
use app::error::AppError;
use app::services::settings::{self, Settings, SettingsChange};
use app::state::AppState;
use axum::extract::State;
use axum::Json;

pub async fn get_settings(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
) -> Result<Json<Settings>, AppError> {
    Ok(Json(settings::get(&state, &caller).await?))
}

pub async fn update_settings(
    State(state): State<AppState>,
    caller: Needs<level::Admin>,
    ApiJson(next): ApiJson<SettingsChange>,
) -> Result<Json<Settings>, AppError> {
    Ok(Json(settings::update(&state, &caller, next).await?))
}
