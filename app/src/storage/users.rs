//! Users: rows in `users`, read back as `model::User`.

use super::{on_pool, Db};
use crate::domain::access::Role;
use crate::domain::validate::Email;
use crate::error::AppError;
use crate::model::{User, UserId};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    role: String,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
    sessions_valid_from: Option<DateTime<Utc>>,
}

impl TryFrom<UserRow> for User {
    type Error = AppError;

    fn try_from(row: UserRow) -> Result<Self, AppError> {
        Ok(User {
            id: row.id,
            email: row.email,
            role: row.role.parse().map_err(AppError::internal)?,
            created_at: row.created_at,
            disabled: row.disabled_at.is_some(),
            sessions_valid_from: row.sessions_valid_from,
        })
    }
}

/// What signing in needs: the stored hash, and whether the account may sign in at all.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, email, role, created_at, disabled_at, sessions_valid_from";

pub async fn insert(
    db: &Db,
    email: &Email,
    password_hash: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let sql = format!(
        "INSERT INTO users (email, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING {COLUMNS}"
    );
    let row: Result<UserRow, sqlx::Error> = on_pool!(db, pool => {
        sqlx::query_as(&sql).bind(email.as_str()).bind(password_hash).bind(role.as_str()).bind(now).fetch_one(pool).await
    });
    match row {
        Ok(row) => row.try_into(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AppError::conflict(format!("a user with the email {email} already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn find(db: &Db, id: UserId) -> Result<Option<User>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row: Option<UserRow> = on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)?;
    row.map(User::try_from).transpose()
}

pub async fn credentials(db: &Db, email: &Email) -> Result<Option<Credentials>, AppError> {
    let sql = "SELECT id, password_hash, disabled_at FROM users WHERE email = $1";
    Ok(on_pool!(db, pool => sqlx::query_as(sql).bind(email.as_str()).fetch_optional(pool).await)?)
}

pub async fn list(db: &Db) -> Result<Vec<User>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY email");
    let rows: Vec<UserRow> = on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
    rows.into_iter().map(User::try_from).collect()
}

pub async fn count_active_admins(db: &Db) -> Result<i64, AppError> {
    let sql = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL";
    Ok(on_pool!(db, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?)
}

pub async fn update_role(db: &Db, id: UserId, role: Role, now: DateTime<Utc>) -> Result<(), AppError> {
    let sql = "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3";
    expect_one(
        on_pool!(db, pool => sqlx::query(sql).bind(role.as_str()).bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}

/// Disabling keeps the row (and everything the user created) but stops sign-in and ends existing sessions,
/// because every request re-reads the user.
pub async fn update_disabled(db: &Db, id: UserId, disabled: bool, now: DateTime<Utc>) -> Result<(), AppError> {
    let disabled_at = disabled.then_some(now);
    let sql = "UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3";
    expect_one(
        on_pool!(db, pool => sqlx::query(sql).bind(disabled_at).bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}

pub async fn update_password(db: &Db, id: UserId, password_hash: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    // A new password ends the sessions signed in with the old one.
    let sql = "UPDATE users SET password_hash = $1, updated_at = $2, sessions_valid_from = $2 WHERE id = $3";
    expect_one(
        on_pool!(db, pool => sqlx::query(sql).bind(password_hash).bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}

fn expect_one(rows_affected: u64) -> Result<(), AppError> {
    match rows_affected {
        0 => Err(AppError::not_found("no such user")),
        _ => Ok(()),
    }
}

/// Ends every session the user signed in to before `now`.
pub async fn end_sessions(db: &Db, id: UserId, now: DateTime<Utc>) -> Result<(), AppError> {
    let sql = "UPDATE users SET sessions_valid_from = $1 WHERE id = $2";
    expect_one(
        on_pool!(db, pool => sqlx::query(sql).bind(now).bind(id).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}
