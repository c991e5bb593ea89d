//! `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`, `GET /api/v1/me`.
//! The web UI's sign-in form runs the same `services::auth` code.

use super::extract::ApiJson;
use app::auth::{Caller, ClientAddr};
use app::error::AppError;
use app::model::Me;
use app::services;
use app::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Deserialize, schemars::JsonSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// 200 with the user and a session cookie; 401 for a wrong email or password; 429 after repeated failures.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<Me>, AppError> {
    let client = client.map_or(ClientAddr::UNKNOWN, |Extension(client)| client);
    let user = services::auth::login(&state, &session, client, &body.email, &body.password).await?;
    Ok(Json(Caller::User(user).me()))
}

/// Ends the session (if any): 204 either way, so logging out twice is harmless.
pub async fn logout(session: Session) -> Result<StatusCode, AppError> {
    services::auth::logout(&session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is calling: a signed-in user (email, role) or an API key (name, scopes). 401 without credentials.
pub async fn me(caller: Caller) -> Json<Me> {
    Json(caller.me())
}
