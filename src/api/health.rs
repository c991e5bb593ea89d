//! Probes for load balancers and orchestrators.

use app::error::AppError;
use app::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// The process is up and serving HTTP. Deliberately touches nothing else.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// The database answers and every migration is applied: safe to route traffic here.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let backend = state.db.backend().as_str();
    state.db.ping().await.map_err(|e| AppError::Unavailable(format!("database {backend} unreachable: {e}")))?;
    let migrations = state.db.check_migrations().await.map_err(AppError::Unavailable)?;
    let exposures = &state.exposures;
    Ok(Json(json!({
        "status": "ready",
        "database": backend,
        "migrations": migrations,
        "exposures": { "queued": exposures.queued(), "written": exposures.written(), "shed": exposures.shed() },
    })))
}
