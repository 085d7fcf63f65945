//! Metrics in Prometheus' text format, served at `GET /metrics` to holders
//! of the metrics token (`--metrics-token`). Every metric's name is in this
//! file. Counters live in memory and start from zero with the server, as
//! Prometheus expects of counters.
//!
//! - Per app, from the router: requests by status class, a latency
//!   histogram (until the response headers), response bytes, requests in
//!   flight, connections to its processes that failed. Kept with the app's
//!   route (`AppTraffic`), so the router records without a lookup.
//! - Per app, from the reconcile loop: processes by state, restarts.
//! - Per process, from the engine (at the last `history` sample): CPU time,
//!   memory and its limit.
//! - Deploys and builds by result, with their durations.
//! - The control plane: requests by status class, the database pool.

pub mod history;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{self, StatusCode};

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Status classes, as labels: index 0 is 1xx.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_index(status: StatusCode) -> usize {
    (status.as_u16() / 100).clamp(1, 5) as usize - 1
}

/// What the router saw of one app's requests.
#[derive(Debug, Default)]
pub struct AppTraffic {
    requests: [AtomicU64; 5],
    /// Requests per latency bucket (not cumulative; the last one is +Inf).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    latency_micros: AtomicU64,
    bytes_out: AtomicU64,
    in_flight: AtomicI64,
    connect_errors: AtomicU64,
}

/// An app's traffic counts at one moment (see `history`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub buckets: [u64; BUCKETS.len() + 1],
}

impl AppTraffic {
    /// Count a request as in flight until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// A request answered: its status and time to the response headers.
    pub fn answered(&self, status: StatusCode, took: Duration) {
        self.requests[class_index(status)].fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|le| seconds <= *le).unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counts so far: requests, 5xx answers, and requests per latency
    /// bucket (the last is +Inf).
    pub fn totals(&self) -> Totals {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Totals {
            requests: self.requests.iter().map(load).sum(),
            errors: load(&self.requests[4]),
            buckets: std::array::from_fn(|i| load(&self.buckets[i])),
        }
    }

    pub fn connect_failed(&self) {
        self.connect_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts since the last take, set back to zero (a router apart
    /// hands them to the control plane).
    pub fn take(&self) -> Counts {
        let take = |n: &AtomicU64| n.swap(0, Ordering::Relaxed);
        Counts {
            requests: std::array::from_fn(|i| take(&self.requests[i])),
            buckets: std::array::from_fn(|i| take(&self.buckets[i])),
            latency_micros: take(&self.latency_micros),
            bytes_out: take(&self.bytes_out),
            connect_errors: take(&self.connect_errors),
        }
    }

    /// Add counts a router apart took.
    pub fn add(&self, counts: &Counts) {
        let add = |n: &AtomicU64, v: u64| n.fetch_add(v, Ordering::Relaxed);
        for (n, v) in self.requests.iter().zip(counts.requests) {
            add(n, v);
        }
        for (n, v) in self.buckets.iter().zip(counts.buckets) {
            add(n, v);
        }
        add(&self.latency_micros, counts.latency_micros);
        add(&self.bytes_out, counts.bytes_out);
        add(&self.connect_errors, counts.connect_errors);
    }
}

/// An app's traffic counts over a while, as a router apart hands them over.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub requests: [u64; 5],
    pub buckets: [u64; BUCKETS.len() + 1],
    pub latency_micros: u64,
    pub bytes_out: u64,
    pub connect_errors: u64,
}

impl Counts {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

pub struct InFlight(Arc<AppTraffic>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts and total seconds of something that ends succeeded or failed.
#[derive(Debug, Default)]
struct Outcomes {
    count: [AtomicU64; 2],
    micros: [AtomicU64; 2],
}

impl Outcomes {
    fn record(&self, succeeded: bool, took: Duration) {
        let i = usize::from(!succeeded);
        self.count[i].fetch_add(1, Ordering::Relaxed);
        self.micros[i].fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The control plane's own counters.
#[derive(Debug, Default)]
pub struct Metrics {
    deploys: Outcomes,
    builds: Outcomes,
    requests: [AtomicU64; 5],
    /// Each process's use at the last sample (`history`).
    pub processes: history::Latest,
}

impl Metrics {
    /// A push's deploy ended (from the push to live, or its failure).
    pub fn deploy(&self, succeeded: bool, took: Duration) {
        self.deploys.record(succeeded, took);
    }

    pub fn build(&self, succeeded: bool, took: Duration) {
        self.builds.record(succeeded, took);
    }

    /// A control-plane request answered.
    pub fn request(&self, status: StatusCode) {
        self.requests[class_index(status)].fetch_add(1, Ordering::Relaxed);
    }
}

/// Count every control-plane request by its status class.
pub async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    state.metrics.request(response.status());
    response
}

/// `GET /metrics`, for Prometheus: with `Authorization: Bearer` and the
/// metrics token; 404 while the server has none (metrics are off).
pub async fn serve_metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use sha2::{Digest, Sha256};
    let Some(token) = state.config.metrics_token.as_deref().filter(|t| !t.is_empty()) else {
        return (StatusCode::NOT_FOUND, "metrics are off: start the server with --metrics-token\n").into_response();
    };
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compared as digests: the time taken says nothing about the token.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(http::header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics token is needed: Authorization: Bearer TOKEN\n",
        )
            .into_response();
    }
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render(&state)).into_response()
}

/// One metric family: its help line and type.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(micros: &AtomicU64) -> f64 {
    micros.load(Ordering::Relaxed) as f64 / 1e6
}

/// Everything, in Prometheus' text exposition format.
pub fn render(state: &AppState) -> String {
    let mut out = String::new();
    let traffic = state.routes.traffic();
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);

    family(
        &mut out,
        "paas_router_requests_total",
        "counter",
        "Requests the router answered for an app, by status class.",
    );
    for (app, t) in &traffic {
        for (class, n) in CLASSES.iter().zip(&t.requests) {
            let _ =
                writeln!(out, "paas_router_requests_total{{app=\"{}\",status=\"{class}\"}} {}", label(app), load(n));
        }
    }
    family(
        &mut out,
        "paas_router_request_duration_seconds",
        "histogram",
        "Time from a request's arrival to its response headers, per app.",
    );
    for (app, t) in &traffic {
        let app = label(app);
        let mut cumulative = 0;
        for (i, n) in t.buckets.iter().enumerate() {
            cumulative += load(n);
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ =
                writeln!(out, "paas_router_request_duration_seconds_bucket{{app=\"{app}\",le=\"{le}\"}} {cumulative}");
        }
        let _ =
            writeln!(out, "paas_router_request_duration_seconds_sum{{app=\"{app}\"}} {}", seconds(&t.latency_micros));
        let _ = writeln!(out, "paas_router_request_duration_seconds_count{{app=\"{app}\"}} {cumulative}");
    }
    family(&mut out, "paas_router_response_bytes_total", "counter", "Response body bytes the router sent for an app.");
    for (app, t) in &traffic {
        let _ = writeln!(out, "paas_router_response_bytes_total{{app=\"{}\"}} {}", label(app), load(&t.bytes_out));
    }
    family(
        &mut out,
        "paas_router_requests_in_flight",
        "gauge",
        "Requests of an app waiting for their response headers.",
    );
    for (app, t) in &traffic {
        let _ = writeln!(
            out,
            "paas_router_requests_in_flight{{app=\"{}\"}} {}",
            label(app),
            t.in_flight.load(Ordering::Relaxed).max(0)
        );
    }
    family(
        &mut out,
        "paas_router_backend_connect_errors_total",
        "counter",
        "Connections to an app's processes that could not be made.",
    );
    for (app, t) in &traffic {
        let _ = writeln!(
            out,
            "paas_router_backend_connect_errors_total{{app=\"{}\"}} {}",
            label(app),
            load(&t.connect_errors)
        );
    }

    let processes = state.processes.all();
    family(
        &mut out,
        "paas_processes",
        "gauge",
        "An app's processes the platform keeps, by state (up, starting, crashed, unhealthy).",
    );
    for (app, by_name) in &processes {
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for status in by_name.values() {
            let state = status.state.split([' ', ',', '(']).next().unwrap_or_default();
            *counts.entry(state).or_default() += 1;
        }
        for (state, n) in counts {
            let _ = writeln!(out, "paas_processes{{app=\"{}\",state=\"{}\"}} {n}", label(app), label(state));
        }
    }
    family(
        &mut out,
        "paas_process_restarts_total",
        "counter",
        "Processes of an app the platform restarted since the server started.",
    );
    for (app, by_name) in &processes {
        let restarts: u64 = by_name.values().map(|s| u64::from(s.restarts)).sum();
        let _ = writeln!(out, "paas_process_restarts_total{{app=\"{}\"}} {restarts}", label(app));
    }

    let usage = state.metrics.processes.get();
    type Value = fn(&history::ProcessUsage) -> Option<f64>;
    let per_process: [(&str, &str, &str, Value); 3] = [
        ("paas_process_cpu_seconds_total", "counter", "CPU time a process used since it started.", |p| {
            Some(p.cpu_seconds)
        }),
        ("paas_process_memory_bytes", "gauge", "Memory a process uses (page cache it could free left out).", |p| {
            Some(p.memory_bytes as f64)
        }),
        ("paas_process_memory_limit_bytes", "gauge", "A process's memory limit (processes with one).", |p| {
            p.memory_limit_bytes.map(|l| l as f64)
        }),
    ];
    for (name, kind, help, value) in per_process {
        family(&mut out, name, kind, help);
        for p in &usage {
            if let Some(v) = value(p) {
                let (app, process) = (label(&p.app), label(&p.process));
                let _ = writeln!(out, "{name}{{app=\"{app}\",process=\"{process}\"}} {v}");
            }
        }
    }

    for (name, what, outcomes) in [
        ("paas_deploys", "Pushes deployed, by result", &state.metrics.deploys),
        ("paas_builds", "Builds, by result", &state.metrics.builds),
    ] {
        family(&mut out, &format!("{name}_total"), "counter", &format!("{what}."));
        for (result, n) in ["succeeded", "failed"].iter().zip(&outcomes.count) {
            let _ = writeln!(out, "{name}_total{{result=\"{result}\"}} {}", load(n));
        }
        family(&mut out, &format!("{name}_seconds_total"), "counter", &format!("{what}: the time they took."));
        for (result, micros) in ["succeeded", "failed"].iter().zip(&outcomes.micros) {
            let _ = writeln!(out, "{name}_seconds_total{{result=\"{result}\"}} {}", seconds(micros));
        }
    }

    family(&mut out, "paas_http_requests_total", "counter", "Requests the control plane answered, by status class.");
    for (class, n) in CLASSES.iter().zip(&state.metrics.requests) {
        let _ = writeln!(out, "paas_http_requests_total{{status=\"{class}\"}} {}", load(n));
    }
    family(&mut out, "paas_db_pool_connections", "gauge", "The control plane's database connections, by state.");
    let (size, idle) = (state.db.size() as usize, state.db.num_idle());
    let _ = writeln!(out, "paas_db_pool_connections{{state=\"idle\"}} {idle}");
    let _ = writeln!(out, "paas_db_pool_connections{{state=\"used\"}} {}", size.saturating_sub(idle));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_taken_from_one_router_add_up_in_another() {
        let apart = super::AppTraffic::default();
        apart.answered(StatusCode::OK, std::time::Duration::from_millis(3));
        apart.answered(StatusCode::BAD_GATEWAY, std::time::Duration::from_millis(30));
        apart.sent(100);
        let counts = apart.take();
        assert!(apart.take().is_empty(), "taking sets them back to zero");
        let control = super::AppTraffic::default();
        control.answered(StatusCode::OK, std::time::Duration::from_millis(1));
        control.add(&counts);
        let totals = control.totals();
        assert_eq!((totals.requests, totals.errors), (3, 1));
        assert_eq!(totals.buckets[0], 2, "two under 5 ms");
        assert_eq!(control.bytes_out.load(std::sync::atomic::Ordering::Relaxed), 100);
    }

    use super::*;

    #[test]
    fn latency_lands_in_its_bucket_and_status_in_its_class() {
        let t = AppTraffic::default();
        t.answered(StatusCode::OK, Duration::from_millis(3));
        t.answered(StatusCode::MOVED_PERMANENTLY, Duration::from_millis(30));
        t.answered(StatusCode::BAD_GATEWAY, Duration::from_secs(60));
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        assert_eq!(t.requests.iter().map(load).collect::<Vec<_>>(), [0, 1, 1, 0, 1]);
        assert_eq!(load(&t.buckets[0]), 1, "3 ms: le 0.005");
        assert_eq!(load(&t.buckets[3]), 1, "30 ms: le 0.05");
        assert_eq!(load(&t.buckets[BUCKETS.len()]), 1, "60 s: +Inf");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
