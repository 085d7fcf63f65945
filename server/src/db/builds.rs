use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// A build as stored.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Build {
    pub id: i64,
    pub commit: String,
    /// building, succeeded or failed.
    pub status: String,
    pub image: Option<String>,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The whole build output (only on a single build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

pub async fn create(pool: &PgPool, app_id: i64, commit: &str, user_id: Option<i64>) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO builds (app_id, commit_sha, created_by) VALUES ($1, $2, $3) RETURNING id")
        .bind(app_id)
        .bind(commit)
        .bind(user_id)
        .fetch_one(pool)
        .await
}

/// Record the outcome and the whole build log.
pub async fn finish(pool: &PgPool, id: i64, succeeded: bool, image: Option<&str>, log: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE builds SET status = $2::build_status, image = $3, log = $4, finished_at = now() WHERE id = $1")
        .bind(id)
        .bind(if succeeded { "succeeded" } else { "failed" })
        .bind(image)
        .bind(log)
        .execute(pool)
        .await?;
    Ok(())
}

/// Builds left 'building' by a server that stopped mid-build.
pub async fn fail_unfinished(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE builds SET status = 'failed', finished_at = now(),
         log = log || E'\\n(interrupted: the server stopped during this build)\\n'
         WHERE status = 'building'",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

const COLUMNS: &str = "id, commit_sha AS commit, status::text AS status, image,
    (SELECT email FROM users WHERE users.id = builds.created_by) AS author, created_at, finished_at";

pub async fn list(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<Build>> {
    sqlx::query_as(&format!("SELECT {COLUMNS}, NULL::text AS log FROM builds WHERE app_id = $1 ORDER BY id DESC"))
        .bind(app_id)
        .fetch_all(pool)
        .await
}

pub async fn find(pool: &PgPool, app_id: i64, id: i64) -> sqlx::Result<Option<Build>> {
    sqlx::query_as(&format!("SELECT {COLUMNS}, log FROM builds WHERE app_id = $1 AND id = $2"))
        .bind(app_id)
        .bind(id)
        .fetch_optional(pool)
        .await
}
