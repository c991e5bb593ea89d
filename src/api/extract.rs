//! Extractors whose rejections are `AppError`, so malformed input gets the JSON error shape (400, 413, 415)
//! instead of axum's plain-text bodies.

use app::error::AppError;
use axum::extract::{FromRequest, FromRequestParts};

/// A JSON body. Bad syntax or types → 400, missing `Content-Type: application/json` → 415, too large → 413.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

/// Path parameters. Unparseable values (`/users/abc`) → 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct ApiPath<T>(pub T);

/// Query parameters. Unknown values (`?method=magic`) → 400 with the JSON error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct ApiQuery<T>(pub T);
