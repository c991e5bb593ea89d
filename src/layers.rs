//! What every request passes through before and after its handler: its id, a last line of defence against
//! panics, and the log span that ties its lines together.

use app::error::AppError;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{MakeSpan, TraceLayer};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives the request its id (`request_id::choose`: a proxy's, if it sent a plain one), in its headers for the
/// log span, as the current id for the errors it may turn into, and on the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = app::request_id::choose(request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()));
    let header = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"));
    request.headers_mut().insert(REQUEST_ID, header.clone());
    let mut response = app::request_id::scope(id, next.run(request)).await;
    response.headers_mut().insert(REQUEST_ID, header);
    response
}

/// The log span of a request: method, path and id (the query string may hold share tokens and unit ids).
#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> tracing::Span {
        let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), path = request.uri().path(), id)
    }
}

pub fn trace(
) -> TraceLayer<tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>, RequestSpan> {
    TraceLayer::new_for_http().make_span_with(RequestSpan)
}

/// A handler that panics answers 500 in the JSON error shape (logged with the request's id) instead of dropping
/// the connection. Input must never get here: the tests send what used to panic and expect a 200 or a 400.
pub fn catch_panics() -> CatchPanicLayer<fn(Box<dyn Any + Send + 'static>) -> Response> {
    CatchPanicLayer::custom(panic_response as fn(Box<dyn Any + Send + 'static>) -> Response)
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    AppError::internal(format!("a handler panicked: {what}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("an index out of range")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_error_shape_with_the_request_id() {
        let router =
            Router::new().route("/boom", get(boom)).layer(catch_panics()).layer(axum::middleware::from_fn(request_id));
        let request = Request::get("/boom").header("x-request-id", "r-1").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()["x-request-id"], "r-1");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.ends_with("(request r-1)") && !message.contains("index"), "{message}");
    }
}
