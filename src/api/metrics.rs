//! `/api/v1/metrics`: the metric library experiments are measured with. Read with scope `read`; change with the
//! editor role or scope `admin`.

use super::extract::{ApiJson, ApiPath};
use app::auth::{level, Needs};
use app::error::AppError;
use app::model::Metric;
use app::services::metrics;
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

pub async fn list_metrics(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
) -> Result<Json<Vec<Metric>>, AppError> {
    Ok(Json(metrics::list(&state.db, &caller).await?))
}

pub async fn create_metric(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<Metric>), AppError> {
    Ok((StatusCode::CREATED, Json(metrics::create(&state.db, &caller, body).await?)))
}

pub async fn get_metric(
    State(state): State<AppState>,
    caller: Needs<level::Results>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Metric>, AppError> {
    Ok(Json(metrics::get(&state.db, &caller, &key).await?))
}

pub async fn update_metric(
    State(state): State<AppState>,
    caller: Needs<level::Write>,
    ApiPath(key): ApiPath<String>,
    ApiJson(patch): ApiJson<Value>,
) -> Result<Json<Metric>, AppError> {
    Ok(Json(metrics::update(&state.db, &caller, &key, patch).await?))
}
