use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use utoipa::ToSchema;

use super::{conflict_on_unique, DbResult};

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Domain {
    pub hostname: String,
    pub created_at: DateTime<Utc>,
}

pub async fn list(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<Domain>> {
    sqlx::query_as("SELECT hostname, created_at FROM domains WHERE app_id = $1 ORDER BY hostname")
        .bind(app_id)
        .fetch_all(pool)
        .await
}

/// Every domain and its app's name, for the router.
pub async fn all(pool: &PgPool) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT d.hostname, a.name FROM domains d JOIN apps a ON a.id = d.app_id").fetch_all(pool).await
}

pub async fn add(conn: &mut PgConnection, app_id: i64, hostname: &str) -> DbResult<Domain> {
    sqlx::query_as("INSERT INTO domains (hostname, app_id) VALUES ($1, $2) RETURNING hostname, created_at")
        .bind(hostname)
        .bind(app_id)
        .fetch_one(conn)
        .await
        .map_err(|e| conflict_on_unique(e, format!("{hostname} is already attached to an app")))
}

pub async fn remove(conn: &mut PgConnection, app_id: i64, hostname: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM domains WHERE app_id = $1 AND hostname = $2")
        .bind(app_id)
        .bind(hostname)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
