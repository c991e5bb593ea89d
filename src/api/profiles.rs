//! Unified profiles (`/api/v1/profiles`) and unit intent (`/api/v1/units/{id}/intent`).

use super::extract::{ApiPath, ApiQuery};
use app::auth::{level, Caller, Needs};
use app::error::AppError;
use app::model::{Profile, ProfileSummary};
use app::services::profiles::{self, Timeline, UnitIntent};
use app::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    stage: Option<String>,
}

pub async fn search_profiles(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<Vec<ProfileSummary>>, AppError> {
    Ok(Json(profiles::search(&state.db, &caller, &query.q, query.stage.as_deref()).await?))
}

pub async fn get_profile(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Profile>, AppError> {
    Ok(Json(profiles::get(&state.db, &caller, &id).await?))
}

#[derive(Deserialize)]
pub struct TimelineQuery {
    limit: Option<i64>,
    before: Option<String>,
}

pub async fn profile_events(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Json<Timeline>, AppError> {
    Ok(Json(profiles::timeline(&state.db, &caller, &id, query.limit, query.before.as_deref()).await?))
}

pub async fn unit_intent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UnitIntent>, AppError> {
    Ok(Json(profiles::unit_intent(&state.db, &caller, &id).await?))
}
