//! The browser bundle's files under `/pkg`: which build to serve and how.
//!
//! `tools/bundle` writes each build into `pkg/<hash of its content>/` with every file precompressed (`.br`, `.gz`)
//! and names the current one in `bundle.json` at the site's root. A file's URL therefore changes whenever its
//! content does, so the browser may keep it for a year without asking again; the pages that name them are never
//! cached that way (`Cache-Control: no-store`, set by `pages_not_cached`).

use app::error::AppError;
use axum::extract::{OriginalUri, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, VARY};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::path::Path;
use tower_http::services::ServeDir;

/// What a content-addressed file may be cached as.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Pages hold what the signed-in person may see: neither the browser nor a proxy keeps them.
const NOT_STORED: HeaderValue = HeaderValue::from_static("no-store");

/// The directory of the build to serve, relative to the site's root (`pkg/<hash>`), from `bundle.json`.
/// Without one (a server started before any bundle was built, as the API tests do) pages name `pkg/`.
pub fn current_pkg_dir(site_root: &str) -> String {
    let manifest = Path::new(site_root).join("bundle.json");
    let pkg_dir = std::fs::read(&manifest)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| value["pkg_dir"].as_str().map(str::to_string));
    match pkg_dir {
        Some(dir) => dir,
        None => {
            tracing::warn!(manifest = %manifest.display(), "no browser bundle built: pages will not become interactive");
            "pkg".to_string()
        }
    }
}

/// `/pkg`: the bundle's files, sent precompressed when the browser accepts brotli or gzip, cached for good when
/// they exist, a JSON 404 when they do not.
pub fn pkg_router(site_root: &str) -> Router {
    let files = ServeDir::new(Path::new(site_root).join("pkg")).precompressed_br().precompressed_gzip().fallback(
        tower::service_fn(|request: Request| async move {
            let path = match request.extensions().get::<OriginalUri>() {
                Some(OriginalUri(uri)) => uri.path().to_string(),
                None => request.uri().path().to_string(),
            };
            Ok::<_, std::convert::Infallible>(AppError::not_found(format!("no file at {path}")).into_response())
        }),
    );
    Router::new().fallback_service(files).layer(middleware::map_response(cache_found_files))
}

async fn cache_found_files(mut response: Response) -> Response {
    if response.status().is_success() {
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, IMMUTABLE);
        // The same URL answers brotli, gzip or plain bytes: a shared cache must keep them apart.
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Marks HTML responses (the pages) `no-store`, unless the handler chose otherwise.
pub async fn pages_not_cached(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html =
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if is_html && !response.headers().contains_key(CACHE_CONTROL) {
        response.headers_mut().insert(CACHE_CONTROL, NOT_STORED);
    }
    response
}
