use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};

/// Process type -> command (`None`: the image's own command).
pub type ProcessTypes = BTreeMap<String, Option<String>>;

/// How a release's web processes are checked (app.json `healthchecks.web`):
/// when they start, and while they run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheck {
    /// Path to GET; default `/`.
    pub path: Option<String>,
    /// Consecutive non-5xx answers needed; default from the server config.
    pub attempts: Option<u32>,
    /// Seconds allowed; default from the server config.
    pub timeout: Option<u64>,
    /// The check of running processes; absent: the server's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Liveness>,
}

/// A liveness check (app.json `healthchecks.web` entry of `"type": "liveness"`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Liveness {
    /// Path to GET; default: the startup check's path.
    pub path: Option<String>,
    /// Seconds between checks; 0 turns liveness checks off.
    pub interval: Option<u64>,
    /// Seconds one check may take.
    pub timeout: Option<u64>,
    /// Consecutive failures that take a process out of rotation and restart it.
    pub attempts: Option<u32>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Release {
    pub id: i64,
    pub app_id: i64,
    pub version: i32,
    pub build_id: Option<i64>,
    pub image: String,
    pub commit_sha: Option<String>,
    pub description: String,
    pub config: Json<BTreeMap<String, String>>,
    pub process_types: Json<ProcessTypes>,
    pub healthcheck: Option<Json<HealthCheck>>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Email of who made it.
    pub author: Option<String>,
}

const COLUMNS: &str =
    "id, app_id, version, build_id, image, commit_sha, description, config, process_types, healthcheck,
                       status::text AS status, created_at,
                       (SELECT email FROM users WHERE users.id = releases.created_by) AS author";

pub struct NewRelease<'a> {
    pub app_id: i64,
    pub build_id: Option<i64>,
    pub image: &'a str,
    pub commit_sha: Option<&'a str>,
    pub description: &'a str,
    pub config: BTreeMap<String, String>,
    pub process_types: ProcessTypes,
    pub healthcheck: Option<HealthCheck>,
    pub created_by: Option<i64>,
}

/// Record a pending release with the next version number. Callers hold the
/// app's deploy lock, so versions cannot collide.
pub async fn create(pool: &PgPool, new: NewRelease<'_>) -> sqlx::Result<Release> {
    sqlx::query_as(&format!(
        "INSERT INTO releases (app_id, version, build_id, image, commit_sha, description, config, process_types, created_by, healthcheck)
         VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE app_id = $1), $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    ))
    .bind(new.app_id)
    .bind(new.build_id)
    .bind(new.image)
    .bind(new.commit_sha)
    .bind(new.description)
    .bind(Json(new.config))
    .bind(Json(new.process_types))
    .bind(new.created_by)
    .bind(new.healthcheck.map(Json))
    .fetch_one(pool)
    .await
}

pub async fn find(pool: &PgPool, id: i64) -> sqlx::Result<Option<Release>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM releases WHERE id = $1")).bind(id).fetch_optional(pool).await
}

pub async fn list(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<Release>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM releases WHERE app_id = $1 ORDER BY version DESC"))
        .bind(app_id)
        .fetch_all(pool)
        .await
}

/// The release an app serves now, if any.
pub async fn current(pool: &PgPool, app_id: i64) -> sqlx::Result<Option<Release>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM releases WHERE id = (SELECT current_release_id FROM apps WHERE id = $1)"
    ))
    .bind(app_id)
    .fetch_optional(pool)
    .await
}

/// A pending release that will never run (its deploy failed or was cut short).
/// Keep what the release phase printed.
pub async fn set_output(pool: &sqlx::PgPool, release_id: i64, output: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE releases SET release_output = $2 WHERE id = $1")
        .bind(release_id)
        .bind(output)
        .execute(pool)
        .await?;
    Ok(())
}

/// The release phase's output of the app's release vN: None without such a
/// release, Some(None) when it ran no release phase.
pub async fn output(pool: &sqlx::PgPool, app_id: i64, version: i64) -> sqlx::Result<Option<Option<String>>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT release_output FROM releases WHERE app_id = $1 AND version = $2")
            .bind(app_id)
            .bind(version)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(output,)| output))
}

pub async fn mark_failed<'e>(db: impl sqlx::PgExecutor<'e>, release_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE releases SET status = 'failed', finished_at = now() WHERE id = $1 AND status = 'pending'")
        .bind(release_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Releases a previous server process left pending: none of them can go live
/// any more. Returns how many.
pub async fn fail_pending(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query("UPDATE releases SET status = 'failed', finished_at = now() WHERE status = 'pending'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The current releases of several apps in one query, by app id.
pub async fn current_of(pool: &PgPool, app_ids: &[i64]) -> sqlx::Result<std::collections::HashMap<i64, Release>> {
    let rows: Vec<Release> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM releases WHERE id IN (SELECT current_release_id FROM apps WHERE id = ANY($1))"
    ))
    .bind(app_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.app_id, r)).collect())
}
