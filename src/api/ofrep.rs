//! OpenFeature Remote Evaluation Protocol (open-feature/protocol, service/openapi.yaml):
//! `POST /ofrep/v1/evaluate/flags/{key}`, `POST /ofrep/v1/evaluate/flags` (bulk, with ETag/304) and
//! `GET /ofrep/v1/configuration`. Protocol errors use OFREP's body (`errorCode`, `errorDetails`), not ours;
//! authentication failures keep intentlab's JSON errors with 401/403, which the protocol leaves open.

use super::assign::if_none_match;
use app::auth::{level, Needs};
use app::domain::access::Access;
use app::domain::ofrep::{evaluation, flag_keys, parse_flag_key};
use app::error::AppError;
use app::services::assignments::{check_attributes, check_unit_id, log_exposures, with_intent_stage};
use app::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tower_http::cors::{Any, CorsLayer};

pub fn router() -> Router<AppState> {
    // Browser (client-side) OpenFeature providers call from other origins and revalidate with the ETag.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE, IF_NONE_MATCH, HeaderName::from_static("x-api-key")])
        .expose_headers([ETAG]);
    endpoints().router().layer(cors)
}

/// OFREP's endpoints, under `/ofrep/v1`.
pub fn endpoints() -> super::endpoints::Endpoints {
    super::endpoints::Endpoints::new("/ofrep/v1")
        .post("/evaluate/flags/{key}", evaluate_flag)
        .post("/evaluate/flags", evaluate_flags)
        .get("/configuration", configuration)
}

/// An OFREP error: status, `errorCode`, `errorDetails`, and the flag key when there is one — with intentlab's
/// `error` envelope beside them, so clients that read either shape understand it (OFREP providers ignore the
/// field they do not know).
struct Failure {
    status: StatusCode,
    code: &'static str,
    details: String,
    key: Option<String>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, details: impl Into<String>) -> Self {
        Failure { status, code, details: details.into(), key: None }
    }

    fn for_flag(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let code = match self.status.as_u16() {
            404 => "not_found",
            _ => "invalid_input",
        };
        let mut body = json!({
            "errorCode": self.code,
            "errorDetails": self.details,
            "error": { "code": code, "message": self.details },
        });
        if let Some(key) = self.key {
            body["key"] = Value::String(key);
        }
        (self.status, Json(body)).into_response()
    }
}

/// The evaluation context: `targetingKey` is the unit id, everything else the unit's attributes.
struct Context {
    unit_id: String,
    attributes: Map<String, Value>,
}

fn parse_context(body: &Bytes) -> Result<Context, Failure> {
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            Failure::new(StatusCode::BAD_REQUEST, "PARSE_ERROR", format!("the body is not valid JSON: {e}"))
        })?
    };
    let context = match request.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(context)) => context.clone(),
        Some(_) => {
            return Err(Failure::new(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", "context must be a JSON object"))
        }
    };
    let mut attributes = context;
    let unit_id = match attributes.remove("targetingKey") {
        Some(Value::String(key)) if !key.trim().is_empty() => key,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "TARGETING_KEY_MISSING",
                "context.targetingKey (the unit id) is required",
            ))
        }
        Some(_) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CONTEXT",
                "context.targetingKey must be a string",
            ))
        }
    };
    check_unit_id(&unit_id)
        .and_then(|()| check_attributes(&attributes))
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", e.public_message()))?;
    Ok(Context { unit_id, attributes })
}

async fn evaluate_flag(
    State(state): State<AppState>,
    caller: Needs<level::Assign>,
    Path(flag_key): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    caller.require(Access::Assign)?;
    let context = match parse_context(&body) {
        Ok(context) => context,
        Err(failure) => return Ok(failure.for_flag(&flag_key).into_response()),
    };
    let snapshot = state.assignments.current();
    let (experiment_key, payload) = parse_flag_key(&flag_key);
    let Some(experiment) = snapshot.get(experiment_key) else {
        let failure = Failure::new(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("no experiment with the key '{experiment_key}'"),
        );
        return Ok(failure.for_flag(&flag_key).into_response());
    };
    let attributes = with_intent_stage(&state, &snapshot, &context.unit_id, &context.attributes).await?;
    let assignment = snapshot.assign_experiment(experiment, &context.unit_id, &attributes);
    log_exposures(&state, &snapshot, &context.unit_id, &attributes, std::slice::from_ref(&assignment));
    let mut result = evaluation(&flag_key, experiment, &assignment, payload);
    // Assignments change when the experiment does: a provider must not cache them on its own.
    result["cacheable"] = Value::Bool(false);
    Ok(Json(result).into_response())
}

/// Every running experiment for one context. The ETag covers the configuration and the context, so a client
/// polling with an unchanged context gets 304 until an experiment changes.
async fn evaluate_flags(
    State(state): State<AppState>,
    caller: Needs<level::Assign>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    caller.require(Access::Assign)?;
    let context = match parse_context(&body) {
        Ok(context) => context,
        Err(failure) => return Ok(failure.into_response()),
    };
    let snapshot = state.assignments.current();
    let digest = Sha256::digest(
        json!({ "version": snapshot.version, "unit": context.unit_id, "attributes": context.attributes }).to_string(),
    );
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    let etag_header = HeaderValue::from_str(&etag).map_err(AppError::internal)?;
    if if_none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag_header)]).into_response());
    }
    let mut flags = Vec::new();
    let attributes = with_intent_stage(&state, &snapshot, &context.unit_id, &context.attributes).await?;
    for experiment in snapshot.running() {
        let assignment = snapshot.assign_experiment(experiment, &context.unit_id, &attributes);
        log_exposures(&state, &snapshot, &context.unit_id, &attributes, std::slice::from_ref(&assignment));
        for (flag_key, payload) in flag_keys(experiment) {
            flags.push(evaluation(&flag_key, experiment, &assignment, payload));
        }
    }
    Ok(([(ETAG, etag_header)], Json(json!({ "flags": flags }))).into_response())
}

/// What an OFREP provider may ask about this server before evaluating.
async fn configuration() -> Json<Value> {
    Json(json!({
        "name": "intentlab",
        "capabilities": {
            "cacheInvalidation": { "polling": { "enabled": true, "minPollingIntervalMs": 1000 } },
            "flagEvaluation": { "supportedTypes": ["string", "object"] },
        }
    }))
}
