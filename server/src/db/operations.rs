//! Operations: one row per change to an app, written before the change
//! starts and finished (with its output) when it ends.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, FromRow)]
pub struct Operation {
    pub id: i64,
    pub app_id: Option<i64>,
    pub app: String,
    pub kind: String,
    pub summary: String,
    /// running, succeeded or failed.
    pub status: String,
    pub error: Option<String>,
    pub user_id: Option<i64>,
    pub team_id: Option<i64>,
    pub actor: String,
    pub source: String,
    pub release_id: Option<i64>,
    /// The release's version, if it made one.
    pub version: Option<i32>,
    pub refname: Option<String>,
    pub old_commit: Option<String>,
    pub new_commit: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Read only for a single operation.
    pub output: Option<String>,
}

const COLUMNS: &str = "o.id, o.app_id, o.app, o.kind, o.summary, o.status::text AS status, o.error, o.user_id,
    o.team_id, o.actor,
    o.source, o.release_id, (SELECT version FROM releases r WHERE r.id = o.release_id) AS version,
    o.refname, o.old_commit, o.new_commit, o.created_at, o.finished_at";

pub struct NewOperation<'a> {
    pub app_id: i64,
    pub app: &'a str,
    pub team_id: i64,
    pub kind: &'a str,
    pub summary: &'a str,
    pub user_id: i64,
    pub actor: &'a str,
    pub source: &'a str,
    /// A push: (branch, old commit, new commit).
    pub push: Option<(&'a str, &'a str, &'a str)>,
}

pub async fn create(pool: &PgPool, new: NewOperation<'_>) -> sqlx::Result<i64> {
    let (refname, old, new_commit) = match new.push {
        Some((r, o, n)) => (Some(r), Some(o), Some(n)),
        None => (None, None, None),
    };
    sqlx::query_scalar(
        "INSERT INTO operations (app_id, app, team_id, kind, summary, user_id, actor, source, refname, old_commit, new_commit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(new.app_id)
    .bind(new.app)
    .bind(new.team_id)
    .bind(new.kind)
    .bind(new.summary)
    .bind(new.user_id)
    .bind(new.actor)
    .bind(new.source)
    .bind(refname)
    .bind(old)
    .bind(new_commit)
    .fetch_one(pool)
    .await
}

/// The release an operation made (recorded as soon as it exists).
pub async fn set_release(pool: &PgPool, id: i64, release_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE operations SET release_id = $2 WHERE id = $1").bind(id).bind(release_id).execute(pool).await?;
    Ok(())
}

/// The operation's change took effect (inside the transaction that made
/// it): from here on it counts as succeeded, even if the server dies before
/// it finishes.
pub async fn commit(conn: &mut PgConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE operations SET status = 'succeeded' WHERE id = $1 AND status = 'running'")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// End an operation with its output. A committed one stays succeeded
/// whatever `succeeded` says; returns whether the row was still running (so
/// the failure is news).
pub async fn finish(
    conn: &mut PgConnection,
    id: i64,
    succeeded: bool,
    error: Option<&str>,
    output: &str,
) -> sqlx::Result<bool> {
    let was_running: Option<bool> = sqlx::query_scalar(
        "UPDATE operations o SET
             status = CASE WHEN o.status = 'running' THEN $2::operation_status ELSE o.status END,
             error = CASE WHEN o.status = 'running' THEN $3 ELSE o.error END,
             output = o.output || $4, finished_at = now()
         FROM (SELECT id, status = 'running' AS running FROM operations WHERE id = $1 FOR UPDATE) before
         WHERE o.id = before.id AND o.finished_at IS NULL
         RETURNING before.running",
    )
    .bind(id)
    .bind(if succeeded { "succeeded" } else { "failed" })
    .bind(error)
    .bind(output)
    .fetch_optional(conn)
    .await?;
    Ok(was_running.unwrap_or(false))
}

/// Operations a previous server process left unfinished: still running (cut
/// short before their change), or committed but not finished.
pub async fn unfinished(pool: &PgPool) -> sqlx::Result<Vec<Operation>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, NULL::text AS output FROM operations o WHERE o.finished_at IS NULL ORDER BY o.id"
    ))
    .fetch_all(pool)
    .await
}

/// For each app whose current release a push made, that push.
pub async fn live_pushes(pool: &PgPool) -> sqlx::Result<Vec<Operation>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, NULL::text AS output FROM operations o JOIN apps a ON a.id = o.app_id
         WHERE o.kind = 'deploy' AND o.status = 'succeeded' AND o.release_id = a.current_release_id
           AND o.refname IS NOT NULL"
    ))
    .fetch_all(pool)
    .await
}

/// Names of the apps with an operation under way (not finished).
pub async fn busy_apps(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    // By the app's name now (a rename runs as an operation of the old one).
    sqlx::query_scalar(
        "SELECT DISTINCT COALESCE(a.name, o.app) FROM operations o LEFT JOIN apps a ON a.id = o.app_id
         WHERE o.finished_at IS NULL",
    )
    .fetch_all(pool)
    .await
}

/// The latest operation of each of these apps among the given kinds.
pub async fn latest_of(
    pool: &PgPool,
    app_ids: &[i64],
    kinds: &[&str],
) -> sqlx::Result<std::collections::HashMap<i64, Operation>> {
    let rows: Vec<Operation> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (o.app_id) {COLUMNS}, NULL::text AS output FROM operations o
         WHERE o.app_id = ANY($1) AND o.kind = ANY($2) ORDER BY o.app_id, o.id DESC"
    ))
    .bind(app_ids)
    .bind(kinds)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|op| Some((op.app_id?, op))).collect())
}

/// An app's operations, newest first.
pub async fn list(pool: &PgPool, app_id: i64, limit: i64) -> sqlx::Result<Vec<Operation>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS}, NULL::text AS output FROM operations o WHERE o.app_id = $1 ORDER BY o.id DESC LIMIT $2"
    ))
    .bind(app_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub async fn find(pool: &PgPool, app_id: i64, id: i64) -> sqlx::Result<Option<Operation>> {
    sqlx::query_as(&format!("SELECT {COLUMNS}, o.output FROM operations o WHERE o.app_id = $1 AND o.id = $2"))
        .bind(app_id)
        .bind(id)
        .fetch_optional(pool)
        .await
}
