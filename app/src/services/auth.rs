//! Signing in and out. The web UI's login form and `POST /api/v1/auth/login` both end here.

use crate::auth::password::verify_password;
use crate::auth::SESSION_USER_ID;
use crate::domain::validate::Email;
use crate::error::AppError;
use crate::model::User;
use crate::state::AppState;
use crate::storage::{login_failures, users};
use chrono::Utc;
use tower_sessions::Session;

pub async fn login(state: &AppState, session: &Session, email: &str, password: &str) -> Result<User, AppError> {
    let email = Email::parse(email).map_err(AppError::InvalidInput)?;
    let now = Utc::now();
    let policy = state.login_throttle;

    let failures = login_failures::since(&state.db, email.as_str(), now - policy.window).await?;
    if let Some(wait) = policy.retry_after(&failures, now) {
        let secs = wait.num_seconds().max(1) as u64;
        return Err(AppError::TooManyRequests {
            message: format!("too many failed sign-ins for {email}; try again in {} minute(s)", secs.div_ceil(60)),
            retry_after_secs: secs,
        });
    }

    let credentials = users::credentials(&state.db, &email).await?.filter(|c| c.disabled_at.is_none());
    let user_id = credentials.as_ref().map(|c| c.id);
    let verified = verify_password(credentials.map(|c| c.password_hash), password).await?;
    let user = match (verified, user_id) {
        (true, Some(id)) => users::find(&state.db, id).await?,
        _ => None,
    };
    let Some(user) = user else {
        login_failures::record(&state.db, email.as_str(), now).await?;
        return Err(AppError::InvalidCredentials("wrong email or password".into()));
    };

    login_failures::clear(&state.db, email.as_str()).await?;
    // A new session id at sign-in: an id planted before login (session fixation) is worthless afterwards.
    session.cycle_id().await.map_err(AppError::internal)?;
    session.insert(SESSION_USER_ID, user.id).await.map_err(AppError::internal)?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(user)
}

/// Ends the session: the record is deleted from the store and the cookie cleared.
pub async fn logout(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(AppError::internal)
}
