//! The route table published for routers apart, and those routers' reports.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use utoipa::ToSchema;

/// The channel a published table is announced on (its generation as payload).
pub const CHANNEL: &str = "paas_routes";

/// A router is live while it reported within this many seconds.
pub const LIVE_SECONDS: i32 = 5;

/// Publish the sealed table as the next generation and announce it; returns
/// the generation.
pub async fn publish(pool: &PgPool, sealed: &[u8]) -> sqlx::Result<i64> {
    let mut tx = pool.begin().await?;
    let generation: i64 = sqlx::query_scalar(
        "INSERT INTO published_routes (generation, sealed) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET generation = published_routes.generation + 1, \
         sealed = EXCLUDED.sealed, published_at = now() RETURNING generation",
    )
    .bind(sealed)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(generation.to_string()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(generation)
}

/// The table published last: (generation, sealed document).
pub async fn published(pool: &PgPool) -> sqlx::Result<Option<(i64, Vec<u8>)>> {
    sqlx::query_as("SELECT generation, sealed FROM published_routes").fetch_optional(pool).await
}

/// What a router reports of itself.
pub struct Report<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub listen: &'a str,
    pub applied: i64,
    pub busy: &'a [String],
}

pub async fn report(pool: &PgPool, r: &Report<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO routers (id, name, listen, applied_generation, busy) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = $2, listen = $3, applied_generation = $4, busy = $5, seen_at = now()",
    )
    .bind(r.id)
    .bind(r.name)
    .bind(r.listen)
    .bind(r.applied)
    .bind(r.busy)
    .execute(pool)
    .await?;
    Ok(())
}

/// A router that stops says so.
pub async fn remove(pool: &PgPool, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM routers WHERE id = $1").bind(id).execute(pool).await?;
    Ok(())
}

/// Live routers that have not yet applied `generation`, or may still send
/// requests to one of `containers`.
pub async fn still_using(pool: &PgPool, generation: i64, containers: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT name FROM routers WHERE seen_at > now() - make_interval(secs => $3) \
         AND (applied_generation < $1 OR busy && $2) ORDER BY name",
    )
    .bind(generation)
    .bind(containers)
    .bind(f64::from(LIVE_SECONDS))
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Router {
    pub name: String,
    /// The address it serves on, as it was started with.
    pub listen: String,
    /// The generation of the published routes it serves.
    pub applied_generation: i64,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// Whether it reported within the last few seconds.
    pub live: bool,
}

/// Every router that reported in the last hour, and the generation published
/// last.
pub async fn list(pool: &PgPool) -> sqlx::Result<(Vec<Router>, Option<i64>)> {
    let routers = sqlx::query_as(
        "SELECT name, listen, applied_generation, started_at, seen_at, \
         seen_at > now() - make_interval(secs => $1) AS live \
         FROM routers WHERE seen_at > now() - interval '1 hour' ORDER BY name, started_at",
    )
    .bind(f64::from(LIVE_SECONDS))
    .fetch_all(pool)
    .await?;
    let generation = sqlx::query_scalar("SELECT generation FROM published_routes").fetch_optional(pool).await?;
    Ok((routers, generation))
}
