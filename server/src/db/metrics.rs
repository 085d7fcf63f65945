//! The metrics history (`metrics::history`): samples written per app and
//! per process type, read back in steps.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

/// One app's traffic over a sample's interval.
pub struct TrafficSample {
    pub app_id: i64,
    pub seconds: f32,
    pub requests: i64,
    pub errors: i64,
    pub p50_ms: Option<f32>,
    pub p95_ms: Option<f32>,
    pub p99_ms: Option<f32>,
}

/// One process type's use at a sample, summed over its processes.
pub struct ProcessSample<'a> {
    pub app_id: i64,
    pub process_type: &'a str,
    pub processes: i32,
    pub cpu_percent: f32,
    pub memory_mb: f32,
    pub memory_limit_mb: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TrafficPoint {
    /// The step's start.
    pub at: DateTime<Utc>,
    /// Requests per minute over the step.
    pub requests_per_minute: f64,
    /// The share of 5xx answers, in percent.
    pub errors_percent: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ProcessPoint {
    pub at: DateTime<Utc>,
    /// CPU of all its processes, in percent of one core.
    pub cpu_percent: f64,
    /// Memory of all its processes.
    pub memory_mb: f64,
    /// The sum of their memory limits.
    pub memory_limit_mb: Option<f64>,
}

pub async fn add_traffic(conn: &mut PgConnection, at: DateTime<Utc>, s: &TrafficSample) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO app_metrics (app_id, at, seconds, requests, errors, p50_ms, p95_ms, p99_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(s.app_id)
    .bind(at)
    .bind(s.seconds)
    .bind(s.requests)
    .bind(s.errors)
    .bind(s.p50_ms)
    .bind(s.p95_ms)
    .bind(s.p99_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_process(conn: &mut PgConnection, at: DateTime<Utc>, s: &ProcessSample<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO process_metrics (app_id, at, process_type, processes, cpu_percent, memory_mb, memory_limit_mb)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(s.app_id)
    .bind(at)
    .bind(s.process_type)
    .bind(s.processes)
    .bind(s.cpu_percent)
    .bind(s.memory_mb)
    .bind(s.memory_limit_mb)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forget the samples taken before `before`.
pub async fn prune(conn: &mut PgConnection, before: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM app_metrics WHERE at < $1").bind(before).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM process_metrics WHERE at < $1").bind(before).execute(&mut *conn).await?;
    Ok(())
}

/// An app's traffic since `since`, in steps aligned on the epoch; latency
/// percentiles weighted by their requests.
pub async fn traffic(
    pool: &PgPool,
    app_id: i64,
    since: DateTime<Utc>,
    step: chrono::TimeDelta,
) -> sqlx::Result<Vec<TrafficPoint>> {
    sqlx::query_as(
        "SELECT date_bin($3, at, 'epoch'::timestamptz) AS at,
                SUM(requests)::float8 * 60 / $4 AS requests_per_minute,
                CASE WHEN SUM(requests) = 0 THEN 0 ELSE SUM(errors)::float8 * 100 / SUM(requests) END AS errors_percent,
                (SUM(p50_ms * requests) / NULLIF(SUM(requests) FILTER (WHERE p50_ms IS NOT NULL), 0))::float8 AS p50_ms,
                (SUM(p95_ms * requests) / NULLIF(SUM(requests) FILTER (WHERE p95_ms IS NOT NULL), 0))::float8 AS p95_ms,
                MAX(p99_ms)::float8 AS p99_ms
         FROM app_metrics WHERE app_id = $1 AND at >= $2
         GROUP BY 1 ORDER BY 1",
    )
    .bind(app_id)
    .bind(since)
    .bind(step)
    .bind(step.num_seconds() as f64)
    .fetch_all(pool)
    .await
}

/// An app's process use since `since`, per process type (ordered by it),
/// in steps aligned on the epoch.
pub async fn processes(
    pool: &PgPool,
    app_id: i64,
    since: DateTime<Utc>,
    step: chrono::TimeDelta,
) -> sqlx::Result<Vec<(String, ProcessPoint)>> {
    type Row = (String, DateTime<Utc>, f64, f64, Option<f64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT process_type, date_bin($3, at, 'epoch'::timestamptz) AS at,
                AVG(cpu_percent)::float8, AVG(memory_mb)::float8, AVG(memory_limit_mb)::float8
         FROM process_metrics WHERE app_id = $1 AND at >= $2
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(app_id)
    .bind(since)
    .bind(step)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(process_type, at, cpu_percent, memory_mb, memory_limit_mb)| {
            (process_type, ProcessPoint { at, cpu_percent, memory_mb, memory_limit_mb })
        })
        .collect())
}
