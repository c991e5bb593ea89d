//! Native ingestion (`POST /api/v1/events`), opt-out and opt-in, and the ingestion counters.

use super::body::{parse_json, read_body, require_json};
use super::extract::{ApiPath, ApiQuery};
use app::auth::{level, Needs};
use app::domain::events::{BatchDefaults, Dialect};
use app::error::AppError;
use app::services::ingest::{self, IngestResponse};
use app::services::profiles::{self, IngestStats, OptOutState};
use app::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

/// Largest native batch body (after decompression): 10 000 small events.
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

#[derive(Deserialize)]
struct Batch {
    events: Vec<Value>,
}

/// `{"events": [...]}` → `{"accepted", "duplicates", "consent_dropped", "opted_out", "rejected": [...]}`, answered
/// only after the accepted events are committed.
pub async fn ingest_events(
    State(state): State<AppState>,
    caller: Needs<level::Ingest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, AppError> {
    require_json(&headers)?;
    let batch: Batch = parse_json(&read_body(&headers, body, MAX_BATCH_BYTES).await?)?;
    if batch.events.is_empty() {
        return Err(AppError::invalid("'events' is empty: send at least one event"));
    }
    let response = ingest::ingest(&state, &caller, &batch.events, Dialect::Native, &BatchDefaults::default()).await?;
    Ok(Json(response))
}

pub async fn opt_out(
    State(state): State<AppState>,
    caller: Needs<level::Ingest>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OptOutState>, AppError> {
    Ok(Json(profiles::set_opted_out(&state, &caller, &id, true).await?))
}

pub async fn opt_in(
    State(state): State<AppState>,
    caller: Needs<level::Ingest>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OptOutState>, AppError> {
    Ok(Json(profiles::set_opted_out(&state, &caller, &id, false).await?))
}

#[derive(Deserialize)]
pub struct StatsQuery {
    hours: Option<i64>,
}

pub async fn ingest_stats(
    State(state): State<AppState>,
    caller: Needs<level::Read>,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Json<IngestStats>, AppError> {
    Ok(Json(profiles::ingest_stats(&state, &caller, query.hours).await?))
}
