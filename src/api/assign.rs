//! The assignment API: `POST /api/v1/assign`, `GET /api/v1/experiments/{key}/assignment`, `GET /api/v1/config`.
//! Answers come from the in-memory snapshot; no request touches the database.

use super::extract::{ApiJson, ApiPath, ApiQuery};
use app::auth::{level, Caller, Needs};
use app::domain::access::Access;
use app::domain::assignment::Assignment;
use app::error::AppError;
use app::services::assignments::{self, AssignRequest, AssignResponse};
use app::state::AppState;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};
use std::collections::HashMap;

pub async fn assign(
    State(state): State<AppState>,
    caller: Needs<level::Assign>,
    ApiJson(request): ApiJson<AssignRequest>,
) -> Result<Json<AssignResponse>, AppError> {
    Ok(Json(assignments::assign(&state, &caller, request).await?))
}

/// A GET that records an exposure, kept for SDKs that fetch one assignment this way: only with an API key. A
/// link or an image tag in someone's browser must not put a signed-in person into an experiment.
pub async fn assignment(
    State(state): State<AppState>,
    caller: Needs<level::Assign>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(mut query): ApiQuery<HashMap<String, String>>,
) -> Result<Json<Assignment>, AppError> {
    if !matches!(*caller, Caller::ApiKey(_)) {
        return Err(AppError::forbidden(
            "this GET records an exposure, so it needs an API key with the 'assign' scope; signed in, use POST /api/v1/assign",
        ));
    }
    let unit_id =
        query.remove("unit_id").ok_or_else(|| AppError::invalid("the unit_id query parameter is required"))?;
    let attributes: Map<String, Value> = query.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    Ok(Json(assignments::assign_one(&state, &caller, &key, &unit_id, &attributes).await?))
}

/// The running configuration for SDK-side evaluation, with an ETag so polling clients get 304 when nothing
/// changed.
pub async fn config(
    State(state): State<AppState>,
    caller: Needs<level::Assign>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    caller.require(Access::Assign)?;
    let snapshot = state.assignments.current();
    let etag = format!("\"{}\"", snapshot.version);
    let etag_header = HeaderValue::from_str(&etag).map_err(AppError::internal)?;
    if if_none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag_header)]).into_response());
    }
    let mut body = snapshot.config.clone();
    if let Value::Object(object) = &mut body {
        object.insert("version".into(), Value::String(snapshot.version.clone()));
    }
    Ok(([(ETAG, etag_header), (CACHE_CONTROL, HeaderValue::from_static("no-cache"))], Json(body)).into_response())
}

/// Whether `If-None-Match` lists `etag` (or `*`); weak validators compare equal, as RFC 9110 asks for GET.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|candidate| {
        let candidate = candidate.trim();
        candidate == "*" || candidate.trim_start_matches("W/") == etag
    })
}
