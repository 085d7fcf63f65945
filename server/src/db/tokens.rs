use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use utoipa::ToSchema;

use super::users::User;

/// A token as listed: never the secret, never its hash.
#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Store a token's hash (inside the caller's transaction).
pub async fn create(conn: &mut PgConnection, user_id: i64, name: &str, token_hash: &str) -> sqlx::Result<ApiToken> {
    sqlx::query_as(
        "INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3)
         RETURNING id, name, created_at, last_used_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .fetch_one(conn)
    .await
}

/// The owner of a live (not revoked) token, and the token's id.
pub async fn find_user(pool: &PgPool, token_hash: &str) -> sqlx::Result<Option<(User, i64)>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT user_id, id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
    let Some((user_id, token_id)) = row else { return Ok(None) };
    let user: Option<User> =
        sqlx::query_as("SELECT * FROM users WHERE id = $1").bind(user_id).fetch_optional(pool).await?;
    Ok(user.map(|u| (u, token_id)))
}

/// Record use, at most once a minute per token to spare writes.
pub async fn touch(pool: &PgPool, token_id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(token_id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn list(pool: &PgPool, user_id: i64) -> sqlx::Result<Vec<ApiToken>> {
    sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM api_tokens
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Revoke one of the user's tokens; false when there was no such live token.
pub async fn revoke(conn: &mut PgConnection, user_id: i64, token_id: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(token_id)
            .bind(user_id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}
