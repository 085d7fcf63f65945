//! The metrics history the server keeps itself, for the dashboard's Metrics
//! tab and `GET /apps/{app}/metrics`: no Prometheus needed. Every
//! `--metrics-interval` a sampler takes, per app, the router's counts since
//! the last sample (requests, 5xx, latency percentiles estimated from the
//! histogram) and, per process, the engine's CPU and memory; it writes one
//! row per app and per process type to PostgreSQL and keeps two days. The
//! latest use of each process is also what `GET /metrics` reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::{Totals, BUCKETS};
use crate::runtime::{LABEL_APP, LABEL_INDEX, LABEL_PROCESS};
use crate::state::AppState;

/// How long the history is kept.
const KEEP: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// A process's use at the last sample.
#[derive(Debug, Clone)]
pub struct ProcessUsage {
    pub app: String,
    /// `web.1`.
    pub process: String,
    /// CPU time since it started.
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
}

/// The latest sample of every process (for `GET /metrics`).
#[derive(Debug, Default)]
pub struct Latest(Mutex<Vec<ProcessUsage>>);

impl Latest {
    pub fn get(&self) -> Vec<ProcessUsage> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Sample every `every` until the server stops.
pub fn spawn(state: AppState, every: Duration) {
    tokio::spawn(async move {
        let mut sampler = Sampler::default();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = sampler.sample(&state, every).await {
                tracing::warn!(error = %format!("{err:#}"), "could not sample metrics");
            }
        }
    });
}

#[derive(Default)]
struct Sampler {
    /// Each app's traffic counts at the last sample.
    traffic: HashMap<String, (Instant, Totals)>,
    /// Each container's CPU time at the last sample.
    cpu: HashMap<String, (Instant, u64)>,
    pruned: Option<Instant>,
}

/// One process type's use, summed over its processes.
#[derive(Default)]
struct TypeUse {
    processes: i32,
    cpu_percent: f64,
    memory_bytes: u64,
    memory_limit_bytes: Option<u64>,
}

impl Sampler {
    async fn sample(&mut self, state: &AppState, every: Duration) -> anyhow::Result<()> {
        let (at, now) = (Utc::now(), Instant::now());
        let ids: HashMap<String, i64> = sqlx::query_as("SELECT name, id FROM apps")
            .fetch_all(&state.db)
            .await?
            .into_iter()
            .collect::<HashMap<String, i64>>();
        let mut tx = state.db.begin().await?;
        for (app, traffic) in state.routes.traffic() {
            let totals = traffic.totals();
            // Counters start at zero with the server (and with an app's first
            // route): no earlier sample means a zero one, `every` ago.
            let (then, before) =
                self.traffic.insert(app.clone(), (now, totals)).unwrap_or((now - every, Totals::default()));
            let before = if totals.requests < before.requests { Totals::default() } else { before };
            let Some(app_id) = ids.get(&app) else { continue };
            let requests = totals.requests - before.requests;
            let buckets: [u64; BUCKETS.len() + 1] =
                std::array::from_fn(|i| totals.buckets[i].saturating_sub(before.buckets[i]));
            let quantile = |q: f64| (requests > 0).then(|| quantile_ms(&buckets, q));
            sqlx::query(
                "INSERT INTO app_metrics (app_id, at, seconds, requests, errors, p50_ms, p95_ms, p99_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .bind(app_id)
            .bind(at)
            .bind((now - then).as_secs_f32())
            .bind(requests as i64)
            .bind(totals.errors.saturating_sub(before.errors) as i64)
            .bind(quantile(0.5))
            .bind(quantile(0.95))
            .bind(quantile(0.99))
            .execute(&mut *tx)
            .await?;
        }

        let mut types: BTreeMap<(String, String), TypeUse> = BTreeMap::new();
        let mut latest = Vec::new();
        let mut seen = HashSet::new();
        for c in state.runtime.list(&[]).await?.into_iter().filter(|c| c.running) {
            let (Some(app), Some(process_type)) = (c.label(LABEL_APP), c.label(LABEL_PROCESS)) else { continue };
            let Some(usage) = state.runtime.usage(&c.id).await? else { continue };
            seen.insert(c.id.clone());
            let cpu_percent = match self.cpu.insert(c.id.clone(), (now, usage.cpu_ns)) {
                Some((then, before)) if usage.cpu_ns >= before && now > then => {
                    (usage.cpu_ns - before) as f64 / (now - then).as_nanos() as f64 * 100.0
                }
                _ => 0.0,
            };
            let sum = types.entry((app.to_string(), process_type.to_string())).or_default();
            sum.processes += 1;
            sum.cpu_percent += cpu_percent;
            sum.memory_bytes += usage.memory_bytes;
            sum.memory_limit_bytes = match (sum.memory_limit_bytes, usage.memory_limit_bytes) {
                (Some(total), Some(limit)) => Some(total + limit),
                (None, limit) if sum.processes == 1 => limit,
                _ => None,
            };
            latest.push(ProcessUsage {
                app: app.to_string(),
                process: format!("{process_type}.{}", c.label(LABEL_INDEX).unwrap_or("1")),
                cpu_seconds: usage.cpu_ns as f64 / 1e9,
                memory_bytes: usage.memory_bytes,
                memory_limit_bytes: usage.memory_limit_bytes,
            });
        }
        self.cpu.retain(|id, _| seen.contains(id));
        if let Ok(mut shared) = state.metrics.processes.0.lock() {
            *shared = latest;
        }
        let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        for ((app, process_type), used) in types {
            let Some(app_id) = ids.get(&app) else { continue };
            sqlx::query(
                "INSERT INTO process_metrics (app_id, at, process_type, processes, cpu_percent, memory_mb, memory_limit_mb)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(app_id)
            .bind(at)
            .bind(&process_type)
            .bind(used.processes)
            .bind(used.cpu_percent as f32)
            .bind(mb(used.memory_bytes) as f32)
            .bind(used.memory_limit_bytes.map(|l| mb(l) as f32))
            .execute(&mut *tx)
            .await?;
        }
        if self.pruned.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            sqlx::query("DELETE FROM app_metrics WHERE at < $1").bind(at - KEEP).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM process_metrics WHERE at < $1").bind(at - KEEP).execute(&mut *tx).await?;
            self.pruned = Some(now);
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The `q` quantile of a latency histogram (per-bucket counts, seconds
/// bounds; the last bucket +Inf), in milliseconds: linear within its bucket,
/// as Prometheus' `histogram_quantile`.
pub fn quantile_ms(buckets: &[u64], q: f64) -> f32 {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in buckets.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
            // Beyond the last bound there is no upper one: say the bound.
            let Some(&upper) = BUCKETS.get(i) else { return (lower * 1000.0) as f32 };
            let within = (rank - below as f64) / n as f64;
            return ((lower + (upper - lower) * within) * 1000.0) as f32;
        }
        below += n;
    }
    (BUCKETS[BUCKETS.len() - 1] * 1000.0) as f32
}

/// An app's history over a period, in steps.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// `hour` or `day`.
    pub period: String,
    /// Seconds each point stands for.
    pub step_seconds: i64,
    pub traffic: Vec<TrafficPoint>,
    /// Per process type.
    pub processes: Vec<ProcessSeries>,
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessSeries {
    pub process_type: String,
    pub points: Vec<ProcessPoint>,
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

/// The periods there are: name, length, step.
pub const PERIODS: [(&str, i64, i64); 2] = [("hour", 3600, 60), ("day", 86_400, 600)];

/// An app's history over `period` (`hour` or `day`).
pub async fn history(db: &PgPool, app_id: i64, period: &str) -> sqlx::Result<Option<History>> {
    let Some(&(name, length, step)) = PERIODS.iter().find(|p| p.0 == period) else { return Ok(None) };
    let since = Utc::now() - chrono::TimeDelta::seconds(length);
    let step_interval = chrono::TimeDelta::seconds(step);
    // Steps aligned on the epoch; percentiles weighted by their requests.
    let traffic: Vec<TrafficPoint> = sqlx::query_as(
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
    .bind(step_interval)
    .bind(step as f64)
    .fetch_all(db)
    .await?;
    type Row = (String, DateTime<Utc>, f64, f64, Option<f64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT process_type, date_bin($3, at, 'epoch'::timestamptz) AS at,
                AVG(cpu_percent)::float8, AVG(memory_mb)::float8, AVG(memory_limit_mb)::float8
         FROM process_metrics WHERE app_id = $1 AND at >= $2
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(app_id)
    .bind(since)
    .bind(step_interval)
    .fetch_all(db)
    .await?;
    let mut processes: Vec<ProcessSeries> = Vec::new();
    for (process_type, at, cpu_percent, memory_mb, memory_limit_mb) in rows {
        let point = ProcessPoint { at, cpu_percent, memory_mb, memory_limit_mb };
        match processes.last_mut() {
            Some(series) if series.process_type == process_type => series.points.push(point),
            _ => processes.push(ProcessSeries { process_type, points: vec![point] }),
        }
    }
    Ok(Some(History { period: name.to_string(), step_seconds: step, traffic, processes }))
}

#[cfg(test)]
mod tests {
    use super::quantile_ms;

    #[test]
    fn quantiles_come_from_the_histogram() {
        // 100 requests: 90 under 5 ms, 9 in 5-10 ms, 1 in 0.5-1 s.
        let mut buckets = [0u64; 12];
        buckets[0] = 90;
        buckets[1] = 9;
        buckets[7] = 1;
        assert!((quantile_ms(&buckets, 0.5) - 2.78).abs() < 0.01, "{}", quantile_ms(&buckets, 0.5));
        assert!((quantile_ms(&buckets, 0.95) - 7.78).abs() < 0.01, "{}", quantile_ms(&buckets, 0.95));
        assert!((quantile_ms(&buckets, 0.999) - 950.0).abs() < 0.01, "{}", quantile_ms(&buckets, 0.999));
        assert_eq!(quantile_ms(&[0; 12], 0.5), 0.0);
    }
}
