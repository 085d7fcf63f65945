use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

use super::{conflict_on_unique, DbResult};

/// An app row joined with its team's name.
#[derive(Debug, Clone, FromRow)]
pub struct App {
    pub id: i64,
    pub name: String,
    pub team_id: i64,
    pub team_name: String,
    pub created_at: DateTime<Utc>,
    /// Its stack (`stack:set`); None: the server's default.
    pub stack: Option<String>,
    /// Plain HTTP answered with a redirect to HTTPS.
    pub https_redirect: bool,
    /// HSTS sent over HTTPS.
    pub hsts: bool,
    /// In maintenance mode.
    pub maintenance: bool,
    /// On its team's private network (`APP.internal`).
    pub internal: bool,
}

const SELECT: &str = "SELECT a.id, a.name, a.team_id, t.name AS team_name, a.created_at, a.stack,
                             a.https_redirect, a.hsts, a.maintenance, a.internal
                      FROM apps a JOIN teams t ON t.id = a.team_id";

/// Create an app, with the audit event saying so (its `app` is the new name).
pub async fn create(
    pool: &PgPool,
    team_id: i64,
    name: &str,
    created_by: i64,
    audit: &super::audit::NewEvent,
) -> DbResult<App> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar("INSERT INTO apps (team_id, name, created_by) VALUES ($1, $2, $3) RETURNING id")
        .bind(team_id)
        .bind(name)
        .bind(created_by)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, format!("the name {name} is already taken")))?;
    let audit = super::audit::NewEvent { app_id: Some(id), ..audit.clone() };
    super::audit::record(&mut tx, &audit).await?;
    let app = sqlx::query_as(&format!("{SELECT} WHERE a.id = $1")).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(app)
}

pub async fn find_by_name(pool: &PgPool, name: &str) -> sqlx::Result<Option<App>> {
    sqlx::query_as(&format!("{SELECT} WHERE a.name = $1")).bind(name).fetch_optional(pool).await
}

/// Apps in the user's teams; server admins see all.
pub async fn list_visible(pool: &PgPool, user_id: i64, is_admin: bool) -> sqlx::Result<Vec<App>> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE $2 OR a.team_id IN (SELECT team_id FROM memberships WHERE user_id = $1)
         ORDER BY a.name"
    ))
    .bind(user_id)
    .bind(is_admin)
    .fetch_all(pool)
    .await
}

/// Delete an app and everything that references it, with its audit event
/// and the operation that does it committing.
pub async fn delete(pool: &PgPool, id: i64, audit: &super::audit::NewEvent, operation: i64) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    super::audit::record(&mut tx, audit).await?;
    super::operations::commit(&mut tx, operation).await?;
    sqlx::query("DELETE FROM apps WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await
}

/// Rename an app: its row, and its releases' and builds' image names
/// (`paas/OLD:SHA` -> `paas/NEW:SHA`, tags the caller made), with the audit
/// event and, when given, the commit of the operation that does it.
pub async fn rename(
    pool: &PgPool,
    id: i64,
    old: &str,
    new: &str,
    audit: &super::audit::NewEvent,
    operation: Option<i64>,
) -> super::DbResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE apps SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(new)
        .execute(&mut *tx)
        .await
        .map_err(|e| super::conflict_on_unique(e, format!("an app named {new} exists")))?;
    let (from, to) = (format!("paas/{old}:"), format!("paas/{new}:"));
    for table in ["releases", "builds"] {
        sqlx::query(&format!(
            "UPDATE {table} SET image = $3 || substr(image, length($2) + 1) WHERE app_id = $1 AND starts_with(image, $2)"
        ))
        .bind(id)
        .bind(&from)
        .bind(&to)
        .execute(&mut *tx)
        .await?;
    }
    super::audit::record(&mut tx, audit).await?;
    if let Some(operation) = operation {
        super::operations::commit(&mut tx, operation).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The names of every app.
pub async fn names(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT name FROM apps").fetch_all(pool).await
}

/// Every app's id, by name.
pub async fn ids(pool: &PgPool) -> sqlx::Result<std::collections::HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, id FROM apps").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// One of an app's settings, as `set` changes it.
pub enum Setting<'a> {
    /// The stack its next buildpack build uses.
    Stack(&'a str),
    Https {
        redirect: bool,
        hsts: bool,
    },
    Maintenance(bool),
    /// On its team's private network.
    Internal(bool),
}

/// Change one of the app's settings, with the audit event and the end of
/// the operation that does it, in one transaction.
pub async fn set(
    pool: &PgPool,
    id: i64,
    setting: Setting<'_>,
    audit: &super::audit::NewEvent,
    operation: i64,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let update = match setting {
        Setting::Stack(stack) => sqlx::query("UPDATE apps SET stack = $2 WHERE id = $1").bind(id).bind(stack),
        Setting::Https { redirect, hsts } => {
            sqlx::query("UPDATE apps SET https_redirect = $2, hsts = $3 WHERE id = $1")
                .bind(id)
                .bind(redirect)
                .bind(hsts)
        }
        Setting::Maintenance(on) => sqlx::query("UPDATE apps SET maintenance = $2 WHERE id = $1").bind(id).bind(on),
        Setting::Internal(on) => sqlx::query("UPDATE apps SET internal = $2 WHERE id = $1").bind(id).bind(on),
    };
    update.execute(&mut *tx).await?;
    super::audit::record(&mut tx, audit).await?;
    super::operations::commit(&mut tx, operation).await?;
    tx.commit().await
}

/// The apps with a setting the router applies (maintenance, HTTPS).
pub async fn with_policies(pool: &PgPool) -> sqlx::Result<Vec<App>> {
    sqlx::query_as(&format!("{SELECT} WHERE a.https_redirect OR a.hsts OR a.maintenance")).fetch_all(pool).await
}

pub async fn exists(pool: &PgPool, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM apps WHERE name = $1)").bind(name).fetch_one(pool).await
}
