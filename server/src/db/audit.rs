use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use utoipa::ToSchema;

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The acting user's email.
    pub actor: String,
    pub app: Option<String>,
    /// e.g. `app.create`, `config.set`, `ps.scale`, `deploy`.
    pub action: String,
    pub detail: String,
    /// api, dashboard or git: the interface the change came through.
    pub source: String,
}

/// One event to record. Details never hold secret values.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// None once the user was deleted.
    pub user_id: Option<i64>,
    pub actor: String,
    pub team_id: Option<i64>,
    pub app: Option<String>,
    /// The app's id, when the event is about an app that exists.
    pub app_id: Option<i64>,
    pub action: String,
    pub detail: String,
    pub source: String,
}

/// Record an event inside the caller's transaction, beside the change it describes.
pub async fn record(conn: &mut PgConnection, event: &NewEvent) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (user_id, actor, team_id, app, action, detail, source, app_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(event.user_id)
    .bind(&event.actor)
    .bind(event.team_id)
    .bind(&event.app)
    .bind(&event.action)
    .bind(&event.detail)
    .bind(&event.source)
    .bind(event.app_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Newest first. `teams`: only events of these teams (None: all, for server
/// admins); `app_id`: only this app's (by id: a reused name has none of the
/// old app's history).
pub async fn list(
    pool: &PgPool,
    teams: Option<&[i64]>,
    app_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEvent>> {
    sqlx::query_as(
        "SELECT id, at, actor, app, action, detail, source FROM audit_events
         WHERE ($1::bigint[] IS NULL OR team_id = ANY($1)) AND ($2::bigint IS NULL OR app_id = $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(teams)
    .bind(app_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
