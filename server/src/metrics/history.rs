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

use chrono::Utc;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::{Totals, BUCKETS};
use crate::db;
pub use crate::db::metrics::{ProcessPoint, TrafficPoint};
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
        let ids = db::apps::ids(&state.db).await?;
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
            let sample = db::metrics::TrafficSample {
                app_id: *app_id,
                seconds: (now - then).as_secs_f32(),
                requests: requests as i64,
                errors: totals.errors.saturating_sub(before.errors) as i64,
                p50_ms: quantile(0.5),
                p95_ms: quantile(0.95),
                p99_ms: quantile(0.99),
            };
            db::metrics::add_traffic(&mut tx, at, &sample).await?;
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
            let sample = db::metrics::ProcessSample {
                app_id: *app_id,
                process_type: &process_type,
                processes: used.processes,
                cpu_percent: used.cpu_percent as f32,
                memory_mb: mb(used.memory_bytes) as f32,
                memory_limit_mb: used.memory_limit_bytes.map(|l| mb(l) as f32),
            };
            db::metrics::add_process(&mut tx, at, &sample).await?;
        }
        if self.pruned.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            db::metrics::prune(&mut tx, at - KEEP).await?;
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessSeries {
    pub process_type: String,
    pub points: Vec<ProcessPoint>,
}

/// The periods there are: name, length, step.
pub const PERIODS: [(&str, i64, i64); 2] = [("hour", 3600, 60), ("day", 86_400, 600)];

/// An app's history over `period` (`hour` or `day`).
pub async fn history(pool: &PgPool, app_id: i64, period: &str) -> sqlx::Result<Option<History>> {
    let Some(&(name, length, step)) = PERIODS.iter().find(|p| p.0 == period) else { return Ok(None) };
    let since = Utc::now() - chrono::TimeDelta::seconds(length);
    let step_interval = chrono::TimeDelta::seconds(step);
    let traffic = db::metrics::traffic(pool, app_id, since, step_interval).await?;
    let mut processes: Vec<ProcessSeries> = Vec::new();
    for (process_type, point) in db::metrics::processes(pool, app_id, since, step_interval).await? {
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
