//! `POST /api/v1/stats/compare|power|adjust`: the statistics calculators on numbers the caller brings.

use super::extract::ApiJson;
use app::auth::{level, Needs};
use app::domain::stats::calculator::{
    AdjustRequest, AdjustResponse, CompareRequest, CompareResponse, PowerRequest, PowerResponse,
};
use app::error::AppError;
use app::services::stats;
use axum::Json;

pub async fn compare(
    caller: Needs<level::Results>,
    ApiJson(request): ApiJson<CompareRequest>,
) -> Result<Json<CompareResponse>, AppError> {
    Ok(Json(stats::compare(&caller, &request)?))
}

pub async fn power(
    caller: Needs<level::Results>,
    ApiJson(request): ApiJson<PowerRequest>,
) -> Result<Json<PowerResponse>, AppError> {
    Ok(Json(stats::power(&caller, &request)?))
}

pub async fn adjust(
    caller: Needs<level::Results>,
    ApiJson(request): ApiJson<AdjustRequest>,
) -> Result<Json<AdjustResponse>, AppError> {
    Ok(Json(stats::adjust(&caller, &request)?))
}
