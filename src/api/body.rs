//! Request bodies read by hand where the extractors cannot help: size limits that apply after decompression
//! (a small gzip body can expand enormously), `Content-Encoding: gzip`, and JSON whatever the Content-Type
//! (some analytics SDKs label JSON as form data).

use app::error::AppError;
use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::io::Read;

/// Reads the body, gunzipping it when `Content-Encoding: gzip`; more than `limit` bytes (before or after
/// decompression) is a 413.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, AppError> {
    let too_large = || AppError::PayloadTooLarge(format!("the body is larger than the limit of {} KB", limit / 1024));
    let raw = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(err) => return Err(AppError::invalid(format!("the request body could not be read: {err}"))),
    };
    let encoding =
        headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|_| AppError::invalid("the body is marked 'Content-Encoding: gzip' but is not valid gzip"))?;
            if inflated.len() > limit {
                return Err(too_large());
            }
            Ok(inflated.into())
        }
        other => Err(AppError::UnsupportedMediaType(format!(
            "Content-Encoding '{other}' is not supported: send the body uncompressed or gzip-compressed"
        ))),
    }
}

/// Parses JSON, with the parser's own words on what is wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| AppError::MalformedJson(format!("the body is not valid JSON: {e}")))
}

/// Refuses bodies that say they are something other than JSON (the native API is strict; the Segment-compatible
/// one is not).
pub fn require_json(headers: &HeaderMap) -> Result<(), AppError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType("expected a JSON body with 'Content-Type: application/json'".into()))
    }
}
