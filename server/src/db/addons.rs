//! Add-ons, their attachments to apps and their backups.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use utoipa::ToSchema;

use super::{conflict_on_unique, DbResult};

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Addon {
    #[serde(skip)]
    pub id: i64,
    /// Also its host name on its network (`postgres-7f3a2c`).
    pub name: String,
    #[serde(skip)]
    pub app_id: i64,
    /// The app it was created for (it goes with that app).
    #[serde(rename = "app")]
    pub app_name: String,
    #[serde(skip)]
    pub team_id: i64,
    /// `postgres`.
    pub service: String,
    pub version: String,
    /// Sealed; never shown.
    #[serde(skip)]
    pub password: Vec<u8>,
    pub memory_mb: i32,
    pub created_at: DateTime<Utc>,
    /// Backed up every day at this hour (UTC), if scheduled.
    pub backup_hour: Option<i16>,
    /// How many scheduled backups are kept.
    pub backup_keep: i32,
    /// Whose name scheduled backups are taken in.
    #[serde(skip)]
    pub backup_scheduled_by: Option<i64>,
}

const SELECT: &str = "SELECT d.id, d.name, d.app_id, a.name AS app_name, a.team_id, d.service, d.version,
                             d.password, d.memory_mb, d.created_at, d.backup_hour, d.backup_keep,
                             d.backup_scheduled_by
                      FROM addons d JOIN apps a ON a.id = d.app_id";

/// Schedule (Some(hour)) or stop (None) an add-on's daily backups.
pub async fn set_schedule(pool: &PgPool, id: i64, hour: Option<i16>, keep: i32, by: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE addons SET backup_hour = $2, backup_keep = $3, backup_scheduled_by = $4 WHERE id = $1")
        .bind(id)
        .bind(hour)
        .bind(keep)
        .bind(by)
        .execute(pool)
        .await?;
    Ok(())
}

/// The add-ons whose scheduled backup is due: scheduled at `hour` and with
/// no scheduled backup taken since `since` (the start of today, UTC).
pub async fn due_backups(pool: &PgPool, hour: i16, since: DateTime<Utc>) -> sqlx::Result<Vec<Addon>> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE d.backup_hour = $1 AND NOT EXISTS (
             SELECT 1 FROM addon_backups b WHERE b.addon_id = d.id AND b.scheduled AND b.created_at >= $2)"
    ))
    .bind(hour)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// An app an add-on is attached to, and under what name.
#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Attachment {
    #[serde(skip)]
    pub addon_id: i64,
    #[serde(skip)]
    pub app_id: i64,
    pub app: String,
    /// `DATABASE`: the app's config var is `DATABASE_URL`.
    pub name: String,
}

impl Attachment {
    /// The config var it sets.
    pub fn var(&self) -> String {
        var_of(&self.name)
    }
}

/// The config var an attachment named `name` sets.
pub fn var_of(name: &str) -> String {
    format!("{name}_URL")
}

pub struct NewAddon<'a> {
    pub name: &'a str,
    pub app_id: i64,
    pub service: &'a str,
    pub version: &'a str,
    pub password: &'a [u8],
    pub memory_mb: i32,
}

pub async fn create(conn: &mut PgConnection, new: NewAddon<'_>) -> DbResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO addons (name, app_id, service, version, password, memory_mb)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.name)
    .bind(new.app_id)
    .bind(new.service)
    .bind(new.version)
    .bind(new.password)
    .bind(new.memory_mb)
    .fetch_one(conn)
    .await
    .map_err(|e| conflict_on_unique(e, format!("an add-on named {} exists", new.name)))
}

pub async fn find(pool: &PgPool, name: &str) -> sqlx::Result<Option<Addon>> {
    sqlx::query_as(&format!("{SELECT} WHERE d.name = $1")).bind(name).fetch_optional(pool).await
}

pub async fn find_by_id(pool: &PgPool, id: i64) -> sqlx::Result<Option<Addon>> {
    sqlx::query_as(&format!("{SELECT} WHERE d.id = $1")).bind(id).fetch_optional(pool).await
}

/// Every add-on, for the reconcile loop.
pub async fn all(pool: &PgPool) -> sqlx::Result<Vec<Addon>> {
    sqlx::query_as(&format!("{SELECT} ORDER BY d.id")).fetch_all(pool).await
}

/// The add-ons created for an app.
pub async fn owned_by(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<Addon>> {
    sqlx::query_as(&format!("{SELECT} WHERE d.app_id = $1 ORDER BY d.name")).bind(app_id).fetch_all(pool).await
}

/// The add-ons attached to an app, with the attachment's name, by name.
pub async fn attached_to(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<(Addon, String)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        addon: Addon,
        attachment: String,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT x.*, t.name AS attachment FROM ({SELECT}) x
         JOIN addon_attachments t ON t.addon_id = x.id WHERE t.app_id = $1 ORDER BY t.name"
    ))
    .bind(app_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.addon, r.attachment)).collect())
}

/// The add-ons attached to an app, by id, with each attachment's name (the
/// networks its processes join).
pub async fn ids_attached_to(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT addon_id, name FROM addon_attachments WHERE app_id = $1 ORDER BY addon_id")
        .bind(app_id)
        .fetch_all(pool)
        .await
}

/// The apps an add-on is attached to.
pub async fn attachments(pool: &PgPool, addon_id: i64) -> sqlx::Result<Vec<Attachment>> {
    sqlx::query_as(
        "SELECT t.addon_id, t.app_id, a.name AS app, t.name FROM addon_attachments t
         JOIN apps a ON a.id = t.app_id WHERE t.addon_id = $1 ORDER BY a.name",
    )
    .bind(addon_id)
    .fetch_all(pool)
    .await
}

/// Every attachment's config var name of an app (the vars the platform sets).
pub async fn vars_of(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<String>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM addon_attachments WHERE app_id = $1").bind(app_id).fetch_all(pool).await?;
    Ok(names.iter().map(|n| var_of(n)).collect())
}

pub async fn attach(conn: &mut PgConnection, addon_id: i64, app_id: i64, name: &str) -> DbResult<()> {
    sqlx::query("INSERT INTO addon_attachments (addon_id, app_id, name) VALUES ($1, $2, $3)")
        .bind(addon_id)
        .bind(app_id)
        .bind(name)
        .execute(conn)
        .await
        .map_err(|e| conflict_on_unique(e, format!("the app already has an add-on attached as {name}, or this one")))?;
    Ok(())
}

pub async fn detach(conn: &mut PgConnection, addon_id: i64, app_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("DELETE FROM addon_attachments WHERE addon_id = $1 AND app_id = $2 RETURNING name")
        .bind(addon_id)
        .bind(app_id)
        .fetch_optional(conn)
        .await
}

pub async fn delete(conn: &mut PgConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM addons WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Backup {
    pub id: i64,
    #[serde(skip)]
    pub addon_id: i64,
    /// running, completed or failed.
    pub status: String,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Taken by the schedule rather than asked for.
    pub scheduled: bool,
}

impl Backup {
    /// Its name, as Heroku spells them: `b001`.
    pub fn name(&self) -> String {
        format!("b{:03}", self.id)
    }
}

const BACKUP: &str =
    "SELECT id, addon_id, status, size_bytes, error, created_at, finished_at, scheduled FROM addon_backups";

pub async fn start_backup(pool: &PgPool, addon_id: i64, scheduled: bool) -> sqlx::Result<Backup> {
    sqlx::query_as(
        "INSERT INTO addon_backups (addon_id, scheduled) VALUES ($1, $2)
         RETURNING id, addon_id, status, size_bytes, error, created_at, finished_at, scheduled",
    )
    .bind(addon_id)
    .bind(scheduled)
    .fetch_one(pool)
    .await
}

pub async fn finish_backup(conn: impl sqlx::PgExecutor<'_>, id: i64, result: Result<i64, String>) -> sqlx::Result<()> {
    let (status, size, error) = match result {
        Ok(size) => ("completed", Some(size), None),
        Err(error) => ("failed", None, Some(error)),
    };
    sqlx::query("UPDATE addon_backups SET status = $2, size_bytes = $3, error = $4, finished_at = now() WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(size)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// Backups cut short by a crash: failed.
pub async fn fail_running_backups(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE addon_backups SET status = 'failed', error = 'the server stopped during the backup',
         finished_at = now() WHERE status = 'running'",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn backups(pool: &PgPool, addon_id: i64) -> sqlx::Result<Vec<Backup>> {
    sqlx::query_as(&format!("{BACKUP} WHERE addon_id = $1 ORDER BY id DESC")).bind(addon_id).fetch_all(pool).await
}

/// Every backup's id (to find files no backup names).
pub async fn backup_ids(pool: &PgPool) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM addon_backups").fetch_all(pool).await
}

pub async fn find_backup(pool: &PgPool, addon_id: i64, id: i64) -> sqlx::Result<Option<Backup>> {
    sqlx::query_as(&format!("{BACKUP} WHERE addon_id = $1 AND id = $2"))
        .bind(addon_id)
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn delete_backup(pool: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM addon_backups WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}
