//! Signing in and out. The web UI's login form and `POST /api/v1/auth/login` both end here.

use crate::auth::password::verify_password;
use crate::auth::{ClientAddr, SESSION_SIGNED_IN_AT, SESSION_USER_ID};
use crate::domain::validate::Email;
use crate::error::AppError;
use crate::model::User;
use crate::state::AppState;
use crate::storage::{login_failures, users};
use chrono::Utc;
use tower_sessions::Session;

/// Signs `client` in as `email`. In order: the rate limits (how fast this client, and everyone, may try); the
/// attempt is recorded, then the failure windows are read — with every concurrent attempt visible, so a burst
/// cannot slip past the limit together; then the password, checked in the same time whether or not the email
/// has an account.
pub async fn login(
    state: &AppState,
    session: &Session,
    client: ClientAddr,
    email: &str,
    password: &str,
) -> Result<User, AppError> {
    let email = Email::parse(email).map_err(AppError::InvalidInput)?;
    let client_key = client.0.to_string();
    if let Err(wait) = state.sign_in_limits.check(client.0) {
        return Err(too_many(wait.as_secs().max(1), "too many sign-in attempts from your address"));
    }
    let now = Utc::now();
    let policy = state.login_throttle;
    let attempt = login_failures::begin(&state.db, email.as_str(), &client_key, now).await?;
    let (account, everywhere) =
        login_failures::others_since(&state.db, attempt, email.as_str(), &client_key, now - policy.window()).await?;
    // Read as of now: the concurrent attempts just loaded started after `now` and must count, not be filtered
    // out as future ones.
    if let Some(wait) = policy.retry_after(&account, &everywhere, Utc::now()) {
        login_failures::forget(&state.db, attempt).await?;
        let secs = wait.num_seconds().max(1) as u64;
        return Err(too_many(secs, &format!("too many failed sign-ins for {email} from your address")));
    }

    let credentials = users::credentials(&state.db, &email).await?.filter(|c| c.disabled_at.is_none());
    let user_id = credentials.as_ref().map(|c| c.id);
    let verified = verify_password(credentials.map(|c| c.password_hash), password).await;
    let user = match (verified, user_id) {
        (Ok(true), Some(id)) => users::find(&state.db, id).await?,
        // The check did not happen (the server is overloaded): the attempt was not a failure.
        (Err(err), _) => {
            login_failures::forget(&state.db, attempt).await?;
            return Err(err);
        }
        _ => None,
    };
    // A failed attempt stays recorded as the failure it is.
    let Some(user) = user else {
        return Err(AppError::InvalidCredentials("wrong email or password".into()));
    };

    login_failures::clear(&state.db, email.as_str(), &client_key).await?;
    // A new session id at sign-in: an id planted before login (session fixation) is worthless afterwards.
    session.cycle_id().await.map_err(AppError::internal)?;
    session.insert(SESSION_USER_ID, user.id).await.map_err(AppError::internal)?;
    session.insert(SESSION_SIGNED_IN_AT, Utc::now().timestamp_millis()).await.map_err(AppError::internal)?;
    tracing::info!(user_id = user.id, "signed in");
    Ok(user)
}

fn too_many(retry_after_secs: u64, what: &str) -> AppError {
    AppError::TooManyRequests {
        message: format!("{what}; try again in {} minute(s)", retry_after_secs.div_ceil(60)),
        retry_after_secs,
    }
}

/// Ends the session: the record is deleted from the store and the cookie cleared.
pub async fn logout(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(AppError::internal)
}
