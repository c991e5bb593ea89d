//! Argon2id password hashing, off the async runtime: one hash costs tens of milliseconds of CPU, which would
//! otherwise stall every other request on the same worker thread — and 19 MiB of memory, so only a few run at
//! once (`HASHING`): a flood of sign-ins queues for a moment and is then told to come back, instead of
//! exhausting memory.

use crate::domain::validate::NewPassword;
use crate::error::AppError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Hashes running at once: twice the cores keeps them busy while a hash waits for its thread.
fn hashing() -> &'static Semaphore {
    static HASHING: OnceLock<Semaphore> = OnceLock::new();
    HASHING.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new((2 * cores).max(2))
    })
}

/// How long a sign-in waits for a free hashing slot before it is refused with 503.
const HASHING_WAIT: Duration = Duration::from_secs(5);

pub async fn hash_password(password: &NewPassword) -> Result<String, AppError> {
    let password = password.expose().to_owned();
    spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(AppError::internal)
    })
    .await?
}

/// Checks `candidate` against `stored`. With no stored hash (unknown email, disabled account) the candidate is
/// checked against a dummy hash anyway, so the response time does not reveal which emails have accounts.
pub async fn verify_password(stored: Option<String>, candidate: &str) -> Result<bool, AppError> {
    let candidate = candidate.to_owned();
    spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let hash = PasswordHash::new(&stored).map_err(AppError::internal)?;
        let matches = Argon2::default().verify_password(candidate.as_bytes(), &hash).is_ok();
        Ok(known && matches)
    })
    .await?
}

/// A real Argon2id hash with the default parameters, made once, so verifying against it costs the same as
/// verifying a user's hash.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"intentlab-timing-equaliser", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Runs a hash on a blocking thread once a hashing slot is free.
async fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let overloaded = || AppError::Overloaded {
        message: "too many sign-ins are being checked right now; try again in a moment".into(),
        retry_after_secs: 1,
    };
    let _slot = tokio::time::timeout(HASHING_WAIT, hashing().acquire())
        .await
        .map_err(|_| overloaded())?
        .map_err(AppError::internal)?;
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await.map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let password = NewPassword::parse("correct horse battery").unwrap();
        let hash = hash_password(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(hash.clone()), "correct horse battery").await.unwrap());
        assert!(!verify_password(Some(hash), "wrong horse battery").await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        assert!(!verify_password(None, "intentlab-timing-equaliser").await.unwrap());
    }
}
