//! Managing people: admins create users, set roles, disable accounts.

use crate::auth::password::hash_password;
use crate::auth::Caller;
use crate::domain::access::{Access, Role};
use crate::domain::validate::{Email, NewPassword};
use crate::error::AppError;
use crate::model::{NewUser, User, UserChange, UserId};
use crate::storage::{users, Db};
use chrono::Utc;

pub async fn list(db: &Db, caller: &Caller) -> Result<Vec<User>, AppError> {
    caller.require(Access::Admin)?;
    users::list(db).await
}

pub async fn create(db: &Db, caller: &Caller, input: NewUser) -> Result<User, AppError> {
    caller.require(Access::Admin)?;
    create_unchecked(db, input).await
}

/// Creates a user without an access check: for the `intentlab admin create` command, run by whoever operates
/// the server (and so already has the database).
pub async fn create_unchecked(db: &Db, input: NewUser) -> Result<User, AppError> {
    let email = Email::parse(&input.email).map_err(AppError::InvalidInput)?;
    let password = NewPassword::parse(&input.password).map_err(AppError::InvalidInput)?;
    let role: Role = input.role.parse().map_err(AppError::InvalidInput)?;
    let hash = hash_password(&password).await?;
    users::insert(db, &email, &hash, role, Utc::now()).await
}

/// Changes a user's role and/or disabled flag. Admins cannot demote or disable themselves, and the last active
/// admin cannot be removed: either would lock everyone out of user management.
pub async fn update(db: &Db, caller: &Caller, id: UserId, change: UserChange) -> Result<User, AppError> {
    caller.require(Access::Admin)?;
    let role: Option<Role> = change.role.as_deref().map(str::parse).transpose().map_err(AppError::InvalidInput)?;
    let user = users::find(db, id).await?.ok_or_else(|| AppError::not_found(format!("no user with id {id}")))?;

    let loses_admin = user.role == Role::Admin
        && !user.disabled
        && (role.is_some_and(|r| r != Role::Admin) || change.disabled == Some(true));
    if loses_admin {
        if caller.user().is_some_and(|me| me.id == id) {
            return Err(AppError::conflict("you cannot demote or disable your own account; ask another admin"));
        }
        if users::count_active_admins(db).await? <= 1 {
            return Err(AppError::conflict("this is the last active admin; promote someone else first"));
        }
    }

    let now = Utc::now();
    if let Some(role) = role {
        users::update_role(db, id, role, now).await?;
        // Fewer rights take effect in every open session at once: those sessions end.
        if role < user.role {
            users::end_sessions(db, id, now).await?;
        }
    }
    if let Some(disabled) = change.disabled {
        users::update_disabled(db, id, disabled, now).await?;
    }
    users::find(db, id).await?.ok_or_else(|| AppError::not_found(format!("no user with id {id}")))
}

/// Sets a new password (the CLI's `admin reset-password`, for an admin locked out).
pub async fn reset_password_unchecked(db: &Db, email: &str, password: &str) -> Result<(), AppError> {
    let email = Email::parse(email).map_err(AppError::InvalidInput)?;
    let password = NewPassword::parse(password).map_err(AppError::InvalidInput)?;
    let credentials = users::credentials(db, &email)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user with the email {email}")))?;
    let hash = hash_password(&password).await?;
    users::update_password(db, credentials.id, &hash, Utc::now()).await
}
