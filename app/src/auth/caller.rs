//! `Caller`: who is making this request. An `Authorization: Bearer` header means an API key (and nothing else is
//! consulted); otherwise the session cookie decides. The user row is re-read on every request, so a role change
//! or a disabled account takes effect immediately.

use super::{api_key, SESSION_SIGNED_IN_AT, SESSION_USER_ID};
use crate::domain::access::{Access, Principal, Role, Scope};
use crate::error::AppError;
use crate::model::{ApiKey, Me, User};
use crate::state::AppState;
use crate::storage;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use tower_sessions::Session;

#[derive(Debug, Clone)]
pub enum Caller {
    User(User),
    ApiKey(ApiKey),
}

impl Caller {
    fn principal(&self) -> Principal<'_> {
        match self {
            Caller::User(user) => Principal::User(user.role),
            Caller::ApiKey(key) => Principal::ApiKey(&key.scopes),
        }
    }

    /// A key that exists only in memory, for tools that run the services in-process (the demo loader, the
    /// benchmarks): it has `scopes` and leaves no credential behind.
    pub fn in_process(name: &str, scopes: Vec<Scope>) -> Caller {
        Caller::ApiKey(ApiKey {
            id: 0,
            name: name.into(),
            prefix: String::new(),
            scopes,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// Refuses with 403 and a message saying what would be needed.
    pub fn require(&self, access: Access) -> Result<(), AppError> {
        if self.principal().may(access) {
            return Ok(());
        }
        Err(AppError::forbidden(match self {
            Caller::User(user) => {
                let needed = match access {
                    Access::Admin => Role::Admin,
                    _ => Role::Editor,
                };
                format!("your role ({}) cannot do this: it needs the {} role", user.role, needed)
            }
            Caller::ApiKey(_) => {
                let needed = match access {
                    Access::Results | Access::Read => Scope::Read,
                    Access::Write | Access::Admin => Scope::Admin,
                    Access::Assign => Scope::Assign,
                    Access::Ingest => Scope::Ingest,
                };
                format!("this API key lacks the '{needed}' scope")
            }
        }))
    }

    /// The signed-in user, for actions only people take (changing one's own account, for example).
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::User(user) => Some(user),
            Caller::ApiKey(_) => None,
        }
    }

    /// Who made a change, for history entries: the user's email, or the key's name.
    pub fn label(&self) -> String {
        match self {
            Caller::User(u) => u.email.clone(),
            Caller::ApiKey(k) => format!("API key '{}'", k.name),
        }
    }

    pub fn me(&self) -> Me {
        match self {
            Caller::User(u) => Me::User { id: u.id, email: u.email.clone(), role: u.role },
            Caller::ApiKey(k) => Me::ApiKey { id: k.id, name: k.name.clone(), scopes: k.scopes.clone() },
        }
    }

    /// Resolves the caller of a request; `Unauthenticated` when there are no credentials.
    pub async fn from_parts(parts: &Parts, state: &AppState) -> Result<Caller, AppError> {
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let secret = authorization_secret(header.to_str().unwrap_or_default())?;
            return authenticate_key(state, &secret).await.map(Caller::ApiKey);
        }
        // OpenFeature's OFREP providers may send the key as `X-API-Key` instead.
        if let Some(header) = parts.headers.get("x-api-key") {
            return authenticate_key(state, header.to_str().unwrap_or_default().trim()).await.map(Caller::ApiKey);
        }
        let session = parts
            .extensions
            .get::<Session>()
            .ok_or_else(|| AppError::internal("session layer missing from the router"))?;
        session_user(state, session).await?.map(Caller::User).ok_or(AppError::Unauthenticated)
    }

    /// The caller behind an API key given some other way than a header (Segment's `writeKey` in the body).
    pub async fn from_secret(state: &AppState, secret: &str) -> Result<Caller, AppError> {
        authenticate_key(state, secret.trim()).await.map(Caller::ApiKey)
    }
}

/// A caller already checked for one kind of access, for handlers: `caller: Needs<level::Admin>`. As an extractor
/// it runs before the body is read, so someone without the access gets 401 or 403 — never a 400 about a body
/// they were not allowed to send. The services check again (server functions call them directly).
pub struct Needs<L> {
    caller: Caller,
    level: std::marker::PhantomData<L>,
}

/// The kinds of access a handler can require, as types for `Needs`.
pub mod level {
    use crate::domain::access::Access;

    pub trait Level: Send + Sync + 'static {
        const ACCESS: Access;
    }

    macro_rules! levels {
        ($($name:ident),+) => {$(
            pub struct $name;
            impl Level for $name {
                const ACCESS: Access = Access::$name;
            }
        )+};
    }
    levels!(Results, Read, Write, Admin, Assign, Ingest);
}

impl<L> std::ops::Deref for Needs<L> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<L: level::Level> FromRequestParts<AppState> for Needs<L> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_parts(parts, state).await?;
        caller.require(L::ACCESS)?;
        Ok(Needs { caller, level: std::marker::PhantomData })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Caller::from_parts(parts, state).await
    }
}

/// The key in an `Authorization` header: `Bearer <key>`, or HTTP Basic with the key as the user name (how
/// Segment's SDKs send their write key).
fn authorization_secret(header: &str) -> Result<String, AppError> {
    use base64::Engine;
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    let value = value.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" if !value.is_empty() => Ok(value.to_string()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| AppError::InvalidCredentials("the Basic credentials are not valid base64".into()))?;
            let user = decoded.split_once(':').map_or(decoded.as_str(), |(user, _)| user);
            Ok(user.trim().to_string())
        }
        _ => Err(AppError::InvalidCredentials(
            "the Authorization header must be 'Bearer <API key>' (or Basic with the key as user name)".into(),
        )),
    }
}

async fn authenticate_key(state: &AppState, secret: &str) -> Result<ApiKey, AppError> {
    let invalid = || AppError::InvalidCredentials("invalid or revoked API key".into());
    if !secret.starts_with(api_key::SECRET_PREFIX) {
        return Err(invalid());
    }
    let hash = api_key::hash_secret(secret);
    let key = match state.key_cache.get(&hash) {
        Some(key) => key,
        None => {
            let key = storage::api_keys::find_active_by_hash(&state.db, &hash).await?.ok_or_else(invalid)?;
            state.key_cache.insert(hash, key.clone());
            key
        }
    };
    let now = Utc::now();
    if state.key_usage.should_record(key.id, now) {
        // Off the request path: under heavy ingestion the write may queue behind the ingest writer's transaction.
        let (db, id) = (state.db.clone(), key.id);
        tokio::spawn(async move {
            if let Err(err) = storage::api_keys::touch_last_used(&db, id, now).await {
                tracing::debug!(error = ?err, "recording an API key's last use failed");
            }
        });
    }
    Ok(key)
}

/// The user signed in to this session, if any. The session is ended when its user is gone or disabled, when it
/// is older than the absolute lifetime (`session_max_age`), and when the user's sessions were revoked after it
/// began (a password reset, a lowered role). Sessions from before sign-in times were recorded count as old.
pub async fn session_user(state: &AppState, session: &Session) -> Result<Option<User>, AppError> {
    let user_id: Option<i64> = session.get(SESSION_USER_ID).await.map_err(AppError::internal)?;
    let Some(user_id) = user_id else { return Ok(None) };
    let signed_in_ms: i64 = session.get(SESSION_SIGNED_IN_AT).await.map_err(AppError::internal)?.unwrap_or(0);
    let current = |user: &User| {
        !user.disabled
            && Utc::now().timestamp_millis() - signed_in_ms < state.session_max_age.num_milliseconds()
            && user.sessions_valid_from.is_none_or(|from| signed_in_ms >= from.timestamp_millis())
    };
    match storage::users::find(&state.db, user_id).await? {
        Some(user) if current(&user) => Ok(Some(user)),
        _ => {
            session.flush().await.map_err(AppError::internal)?;
            Ok(None)
        }
    }
}
