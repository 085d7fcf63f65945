use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection, PgPool};
use utoipa::ToSchema;

use super::{conflict_on_unique, DbResult};

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Volume {
    pub name: String,
    /// Where it is mounted in the container.
    #[serde(rename = "mount")]
    pub mount_path: String,
    /// The process type whose processes mount it.
    pub process_type: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "name, mount_path, process_type, created_at";

/// The app's volumes, by name.
pub async fn list(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<Volume>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM volumes WHERE app_id = $1 ORDER BY name"))
        .bind(app_id)
        .fetch_all(pool)
        .await
}

/// Every app's volumes: (app id, name).
pub async fn all(pool: &PgPool) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT app_id, name FROM volumes").fetch_all(pool).await
}

pub async fn add(conn: &mut PgConnection, app_id: i64, name: &str, mount: &str, process: &str) -> DbResult<Volume> {
    sqlx::query_as(&format!(
        "INSERT INTO volumes (app_id, name, mount_path, process_type) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(app_id)
    .bind(name)
    .bind(mount)
    .bind(process)
    .fetch_one(conn)
    .await
    .map_err(|e| {
        conflict_on_unique(e, format!("a volume named {name} exists, or another is mounted at {mount} in {process}"))
    })
}

pub async fn remove(conn: &mut PgConnection, app_id: i64, name: &str) -> sqlx::Result<Option<Volume>> {
    sqlx::query_as(&format!("DELETE FROM volumes WHERE app_id = $1 AND name = $2 RETURNING {COLUMNS}"))
        .bind(app_id)
        .bind(name)
        .fetch_optional(conn)
        .await
}
