//! The one error type of intentlab, used by the REST API and by server functions alike.
//!
//! - Expected failures (bad input, missing rights, conflicts) are specific variants with a message for people.
//! - Unexpected failures (database down, a bug) become `Internal`/`Unavailable`: the cause is logged on the
//!   server with the request's id, the client gets a generic message naming that id — the same through the REST
//!   API and through server functions.
//! - The HTTP status and the stable `code` are decided here and nowhere else; the wire shape is
//!   `{"error":{"code":"snake_case_code","message":"human text"}}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("authentication required: sign in or send an API key as 'Authorization: Bearer <key>'")]
    Unauthenticated,
    #[error("{0}")]
    InvalidCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// The server is at capacity and refuses work it could not finish; the client should retry later.
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u64 },
    /// The message is for the log only; clients see a generic text.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::InvalidInput(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict(message.into())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        AppError::Internal(cause.to_string())
    }

    /// Stable, machine-readable code: clients may match on it, so never rename one.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidInput(_) => "invalid_input",
            AppError::MalformedJson(_) => "malformed_json",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidCredentials(_) => "invalid_credentials",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable(_) => "service_unavailable",
            AppError::Overloaded { .. } => "overloaded",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            AppError::InvalidInput(_) | AppError::MalformedJson(_) => 400,
            AppError::Unauthenticated | AppError::InvalidCredentials(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::MethodNotAllowed(_) => 405,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::UnsupportedMediaType(_) => 415,
            AppError::TooManyRequests { .. } => 429,
            AppError::Internal(_) => 500,
            AppError::Unavailable(_) | AppError::Overloaded { .. } => 503,
        }
    }

    /// When the client may try again (the `Retry-After` header).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests { retry_after_secs, .. } | AppError::Overloaded { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }

    /// The text a person may see. On the server, the causes of server-side failures stay in the log; in the
    /// browser those errors arrive already masked (`masked`, with the request's id), so their text is shown.
    pub fn public_message(&self) -> String {
        match self {
            #[cfg(not(feature = "ssr"))]
            AppError::Internal(text) | AppError::Unavailable(text) => text.clone(),
            #[cfg(feature = "ssr")]
            AppError::Internal(_) => "something went wrong on our side; it has been logged".into(),
            #[cfg(feature = "ssr")]
            AppError::Unavailable(_) => "the service is unavailable for a moment; retry shortly".into(),
            other => other.to_string(),
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(m) | E::MissingArg(m) => AppError::InvalidInput(format!("invalid form input: {m}")),
            E::Request(m) => AppError::Unavailable(format!("could not reach the server: {m}")),
            other => AppError::Internal(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::Json;

    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        error: Body<'a>,
    }

    #[derive(serde::Serialize)]
    struct Body<'a> {
        code: &'a str,
        message: String,
    }

    impl AppError {
        pub fn status(&self) -> StatusCode {
            StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }

        /// Logs server-side failures once, where they turn into a response, with the request's id.
        pub fn log(&self) {
            let request = crate::request_id::current();
            let request = request.as_deref().unwrap_or("-");
            match self {
                AppError::Internal(cause) => tracing::error!(%cause, request, "internal error"),
                AppError::Unavailable(cause) => tracing::warn!(%cause, request, "service unavailable"),
                _ => {}
            }
        }

        /// What the client is told: a server-side failure's generic message with the request's id (for the
        /// person who reports it), anything else as it is.
        pub fn client_message(&self) -> String {
            let masked = matches!(self, AppError::Internal(_) | AppError::Unavailable(_));
            match crate::request_id::current() {
                Some(id) if masked => format!("{} (request {id})", self.public_message()),
                _ => self.public_message(),
            }
        }

        /// The error as it may cross to a client: server-side failures keep their kind, not their cause.
        pub fn masked(self) -> AppError {
            match self {
                AppError::Internal(_) => AppError::Internal(self.client_message()),
                AppError::Unavailable(_) => AppError::Unavailable(self.client_message()),
                other => other,
            }
        }
    }

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            self.log();
            let body = Envelope { error: Body { code: self.code(), message: self.client_message() } };
            let mut response = (self.status(), Json(body)).into_response();
            if let Some(seconds) = self.retry_after_secs() {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(err: sqlx::Error) -> Self {
            match err {
                sqlx::Error::RowNotFound => AppError::not_found("no such record"),
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                    AppError::Unavailable(format!("database unavailable: {err}"))
                }
                // SQLite busy/locked, PostgreSQL serialization failure or deadlock: worth retrying.
                sqlx::Error::Database(ref db)
                    if db.code().is_some_and(|c| matches!(c.as_ref(), "5" | "6" | "517" | "40001" | "40P01")) =>
                {
                    AppError::Unavailable(format!("database busy: {err}"))
                }
                sqlx::Error::Database(ref db) if db.is_unique_violation() => {
                    AppError::conflict("a record with the same unique value already exists")
                }
                other => AppError::internal(other),
            }
        }
    }

    /// The ingest writer's statements that bypass sqlx on SQLite (storage/ingest.rs): the same mapping.
    impl From<rusqlite::Error> for AppError {
        fn from(err: rusqlite::Error) -> Self {
            use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
            match err.sqlite_error_code() {
                Some(DatabaseBusy | DatabaseLocked) => AppError::Unavailable(format!("database busy: {err}")),
                _ => AppError::internal(err),
            }
        }
    }

    impl From<axum::extract::rejection::JsonRejection> for AppError {
        fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
            let text = rejection.body_text();
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(text),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    AppError::UnsupportedMediaType("expected a JSON body with 'Content-Type: application/json'".into())
                }
                _ => AppError::MalformedJson(text),
            }
        }
    }

    impl From<axum::extract::rejection::QueryRejection> for AppError {
        fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
            AppError::InvalidInput(rejection.body_text())
        }
    }

    impl From<axum::extract::rejection::PathRejection> for AppError {
        fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
            AppError::InvalidInput(rejection.body_text())
        }
    }
}

/// Result of a server function. On the server, an error also sets the HTTP status of the response, so server
/// functions answer 401/403/429 like the REST API does instead of a blanket 500, and a server-side failure is
/// logged and masked as the REST API masks it: the browser never sees a database's error text.
pub fn server_result<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    #[cfg(feature = "ssr")]
    if let Err(err) = &result {
        err.log();
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(err.status());
            if let Some(seconds) = err.retry_after_secs() {
                response.insert_header(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
            }
        }
    }
    #[cfg(feature = "ssr")]
    let result = result.map_err(AppError::masked);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_are_not_shown_to_clients() {
        let err = AppError::internal("password column missing");
        assert_eq!(err.code(), "internal_error");
        assert_eq!(err.status_code(), 500);
        assert!(!err.public_message().contains("password"));
    }

    #[cfg(feature = "ssr")]
    #[tokio::test]
    async fn server_side_failures_reach_clients_masked_with_the_request_id() {
        let masked = crate::request_id::scope("r-42".into(), async {
            AppError::internal("relation \"users\" does not exist").masked()
        })
        .await;
        assert_eq!(masked.code(), "internal_error");
        let AppError::Internal(text) = &masked else { panic!("{masked:?}") };
        assert!(text.contains("request r-42") && !text.contains("users"), "{text}");
        let unavailable = AppError::Unavailable("database busy: SQLITE_BUSY".into()).masked();
        assert!(!format!("{unavailable:?}").contains("SQLITE"), "{unavailable:?}");
        assert_eq!(AppError::forbidden("viewers may not").masked(), AppError::forbidden("viewers may not"));
    }

    #[test]
    fn expected_errors_keep_their_message() {
        let err = AppError::forbidden("viewers cannot create API keys");
        assert_eq!((err.code(), err.status_code()), ("forbidden", 403));
        assert_eq!(err.public_message(), "viewers cannot create API keys");
    }
}
