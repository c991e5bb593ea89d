//! The Segment-compatible tracking API under `/v1`, so existing analytics SDKs (Segment, RudderStack, …) can
//! point at intentlab: `track`, `page`, `screen`, `identify`, `alias`, `batch` (and `import`). The write key
//! (an API key with the `ingest` scope) comes as HTTP Basic user name or as `writeKey` in the body; bodies are
//! JSON whatever their Content-Type, optionally gzip-compressed; 32 KB per event, 500 KB per batch.

use super::body::{parse_json, read_body};
use app::auth::Caller;
use app::domain::events::{BatchDefaults, Dialect};
use app::error::AppError;
use app::services::ingest;
use app::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tower_http::cors::{Any, CorsLayer};

pub const MAX_EVENT_BYTES: usize = 32 * 1024;
pub const MAX_BATCH_BYTES: usize = 500 * 1024;

pub fn router() -> Router<AppState> {
    // analytics.js posts from the shop's own origin.
    let cors = CorsLayer::new().allow_origin(Any).allow_methods([Method::POST]).allow_headers([
        AUTHORIZATION,
        CONTENT_TYPE,
        CONTENT_ENCODING,
    ]);
    endpoints().router().fallback(unknown).layer(cors)
}

/// The Segment-compatible tracking API's endpoints, under `/v1`.
pub fn endpoints() -> super::endpoints::Endpoints {
    super::endpoints::Endpoints::new("/v1")
        .post("/track", |s, r| single("track", s, r))
        .post("/page", |s, r| single("page", s, r))
        .post("/screen", |s, r| single("screen", s, r))
        .post("/identify", |s, r| single("identify", s, r))
        .post("/alias", |s, r| single("alias", s, r))
        .post("/batch", batch)
        .post("/import", batch)
}

/// An error in the tracking API's shape: Segment's (and the SDKs' parsers) read `code` and `message` at the top
/// level; intentlab's usual `error` envelope is kept alongside, so either kind of client understands it.
pub struct TrackingError(AppError);

impl From<AppError> for TrackingError {
    fn from(err: AppError) -> Self {
        TrackingError(err)
    }
}

impl IntoResponse for TrackingError {
    fn into_response(self) -> Response {
        let (code, message) = (self.0.code(), self.0.public_message());
        let mut response = self.0.into_response();
        *response.body_mut() = axum::body::Body::from(
            json!({"code": code, "message": message, "error": {"code": code, "message": message}}).to_string(),
        );
        response
    }
}

async fn unknown(uri: Uri) -> TrackingError {
    TrackingError(AppError::not_found(format!(
        "no tracking endpoint at {}; use /v1/track, /v1/page, /v1/screen, /v1/identify, /v1/alias or /v1/batch",
        uri.path()
    )))
}

/// The caller: the `Authorization` header when present, else the body's `writeKey`.
async fn caller(state: &AppState, parts: &Parts, body: &Map<String, Value>) -> Result<Caller, AppError> {
    if parts.headers.contains_key(AUTHORIZATION) {
        return Caller::from_parts(parts, state).await;
    }
    match body.get("writeKey").and_then(Value::as_str) {
        Some(key) => Caller::from_secret(state, key).await,
        None => Err(AppError::InvalidCredentials(
            "send the write key as the HTTP Basic user name or as 'writeKey' in the body".into(),
        )),
    }
}

async fn object_body(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<(Caller, Map<String, Value>), AppError> {
    let (parts, body) = request.into_parts();
    let bytes = read_body(&parts.headers, body, limit).await?;
    let Value::Object(object) = parse_json::<Value>(&bytes)? else {
        return Err(AppError::invalid("the body must be a JSON object"));
    };
    let caller = caller(state, &parts, &object).await?;
    // Before the body's content is looked at: a key that may not ingest learns nothing about it.
    caller.require(app::domain::access::Access::Ingest)?;
    Ok((caller, object))
}

/// One event; its type comes from the path. A refused event is a 400 naming the reason.
async fn single(
    kind: &'static str,
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<Value>, TrackingError> {
    let (caller, mut event) = object_body(&state, request, MAX_EVENT_BYTES).await?;
    event.remove("writeKey");
    event.insert("type".into(), json!(kind));
    let response =
        ingest::ingest(&state, &caller, &[Value::Object(event)], Dialect::Segment, &BatchDefaults::default()).await?;
    if let Some(rejection) = response.rejected.first() {
        return Err(AppError::invalid(format!("{} ({})", rejection.message, rejection.code)).into());
    }
    Ok(Json(json!({"success": true})))
}

/// `{"batch": [...], "context": {...}, "sentAt": ...}`: events of every type at once.
async fn batch(State(state): State<AppState>, request: Request) -> Result<Json<Value>, TrackingError> {
    let (caller, mut body) = object_body(&state, request, MAX_BATCH_BYTES).await?;
    let Some(Value::Array(events)) = body.remove("batch") else {
        return Err(AppError::invalid("a batch body needs a 'batch' array of events").into());
    };
    let defaults = BatchDefaults {
        sent_at: body.remove("sentAt"),
        context: body.remove("context").and_then(|c| match c {
            Value::Object(o) => Some(o),
            _ => None,
        }),
    };
    let response = ingest::ingest(&state, &caller, &events, Dialect::Segment, &defaults).await?;
    let mut answer = serde_json::to_value(&response).map_err(AppError::internal)?;
    answer["success"] = json!(true);
    Ok(Json(answer))
}
