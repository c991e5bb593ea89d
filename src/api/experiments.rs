//! `/api/v1/experiments`: create, list, read, change (JSON merge patch), start and stop.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use app::auth::{level, Needs};
use app::domain::experiment::Status;
use app::domain::stats::results::{ExperimentResults, ResultsQuery};
use app::error::AppError;
use app::model::Experiment;
use app::services::{experiments, results};
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

pub async fn list_experiments(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
) -> Result<Json<Vec<Experiment>>, AppError> {
    Ok(Json(experiments::list(&state.db, &caller).await?))
}

pub async fn create_experiment(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Experiment>), AppError> {
    Ok((StatusCode::CREATED, Json(experiments::create(&state, &caller, body).await?)))
}

pub async fn get_experiment(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Experiment>, AppError> {
    Ok(Json(experiments::get(&state.db, &caller, &key).await?))
}

pub async fn update_experiment(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<Experiment>, AppError> {
    Ok(Json(experiments::update(&state, &caller, &key, patch).await?))
}

pub async fn start_experiment(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Experiment>, AppError> {
    Ok(Json(experiments::transition(&state, &caller, &key, Status::Running).await?))
}

pub async fn stop_experiment(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Experiment>, AppError> {
    Ok(Json(experiments::transition(&state, &caller, &key, Status::Stopped).await?))
}

/// `GET /api/v1/experiments/{key}/results?method=&alpha=&cuped=&correction=&segment=`
pub async fn experiment_results(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Json<ExperimentResults>, AppError> {
    Ok(Json(results::results(&state.db, &state.results, &caller, &key, &query).await?))
}
