//! What server functions take from the request context that `leptos_axum` provides: the application state, the
//! request, and through them the caller and the session.

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;
use axum::http::request::Parts;
use leptos::prelude::use_context;
use tower_sessions::Session;

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState missing from the Leptos context"))
}

fn parts() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(|| AppError::internal("request parts missing from the Leptos context"))
}

pub fn session() -> Result<Session, AppError> {
    parts()?
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError::internal("session layer missing from the router"))
}

/// The address the request came from (set by the server's guards on every request).
pub fn client() -> Result<crate::auth::ClientAddr, AppError> {
    Ok(parts()?.extensions.get::<crate::auth::ClientAddr>().copied().unwrap_or(crate::auth::ClientAddr::UNKNOWN))
}

/// The state and the authenticated caller, or `Unauthenticated`.
pub async fn caller() -> Result<(AppState, Caller), AppError> {
    let state = state()?;
    let caller = Caller::from_parts(&parts()?, &state).await?;
    Ok((state, caller))
}
