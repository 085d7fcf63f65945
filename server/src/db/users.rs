use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::{conflict_on_unique, DbResult};

#[derive(Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Refused unless a server admin: "only server admins can {what}".
    pub fn require_admin(&self, what: &str) -> Result<(), crate::error::AppError> {
        match self.is_admin {
            true => Ok(()),
            false => Err(crate::error::AppError::Forbidden(format!("only server admins can {what}"))),
        }
    }
}

/// Create a user (inside the caller's transaction).
/// The password hash stays out of logs.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

pub async fn create(conn: &mut PgConnection, email: &str, password_hash: &str, is_admin: bool) -> DbResult<User> {
    sqlx::query_as("INSERT INTO users (email, password_hash, is_admin) VALUES ($1, $2, $3) RETURNING *")
        .bind(email)
        .bind(password_hash)
        .bind(is_admin)
        .fetch_one(conn)
        .await
        .map_err(|e| conflict_on_unique(e, format!("a user with email {email} already exists")))
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT * FROM users WHERE email = $1").bind(email).fetch_optional(pool).await
}

pub async fn count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(pool).await
}

pub async fn find_by_id(pool: &PgPool, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(pool).await
}
