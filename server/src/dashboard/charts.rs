//! The Metrics tab: an app's history drawn as server-rendered SVG line
//! charts (no script, no chart library).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::apps::{frame, AppFrame};
use super::{render, DashError, DashUser, Layout};
use crate::metrics::history::{self, History};
use crate::state::AppState;

/// A named series of (time, value) points.
type Series = (String, Vec<(DateTime<Utc>, f64)>);

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;

/// One chart: lines over the period, with its largest value and latest.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub unit: &'static str,
    pub lines: Vec<Line>,
    /// The top of the y axis.
    pub top: f64,
    /// "peak 52 req/min · now 3 req/min", or that there is no data yet.
    pub caption: String,
}

pub struct Line {
    pub name: String,
    /// SVG polyline points.
    pub points: String,
    /// The same points, as dots (a lone point draws no line).
    pub dots: Vec<(f64, f64)>,
    /// Its colour class (`c0`..`c3`).
    pub class: String,
}

impl Chart {
    /// `series`: (name, points); the x axis runs over `[start, end]`.
    fn new(
        id: &'static str,
        title: impl Into<String>,
        unit: &'static str,
        series: Vec<Series>,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Self {
        let values = || series.iter().flat_map(|(_, points)| points.iter().map(|p| p.1));
        let peak = values().fold(0.0_f64, f64::max);
        let top = nice_top(peak);
        let span = (end - start).num_milliseconds().max(1) as f64;
        let lines = series
            .iter()
            .enumerate()
            .map(|(i, (name, points))| {
                let dots: Vec<(f64, f64)> = points
                    .iter()
                    .map(|(at, v)| {
                        let x = (*at - start).num_milliseconds() as f64 / span * WIDTH;
                        let y = HEIGHT - v / top * HEIGHT;
                        ((x.clamp(0.0, WIDTH) * 10.0).round() / 10.0, (y.clamp(0.0, HEIGHT) * 10.0).round() / 10.0)
                    })
                    .collect();
                Line {
                    name: name.clone(),
                    class: format!("c{}", i % 4),
                    points: dots.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" "),
                    dots,
                }
            })
            .collect();
        let latest: Vec<String> = series
            .iter()
            .filter_map(|(name, points)| points.last().map(|p| format!("{name} {}", shown(p.1))))
            .collect();
        let caption = match values().next() {
            None => "no data yet".to_string(),
            Some(_) => format!("peak {} {unit} · latest {}", shown(peak), latest.join(", ")),
        };
        Self { id, title: title.into(), unit, lines, top, caption }
    }

    pub fn top_label(&self) -> String {
        shown(self.top)
    }
}

/// A value as people read it: whole numbers whole, small ones to two
/// significant digits.
fn shown(v: f64) -> String {
    match v {
        v if v >= 10.0 || v.fract() == 0.0 => format!("{v:.0}"),
        v if v >= 1.0 => format!("{v:.1}"),
        v if v >= 0.1 => format!("{v:.2}"),
        v => format!("{v:.3}"),
    }
}

/// The y axis' top: the peak rounded up to 1, 2 or 5 times a power of ten.
fn nice_top(peak: f64) -> f64 {
    if peak <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(peak.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|t| *t >= peak).unwrap_or(10.0 * magnitude)
}

/// The charts of an app's history.
pub fn charts(history: &History, now: DateTime<Utc>) -> Vec<Chart> {
    let length = history::PERIODS.iter().find(|p| p.0 == history.period).map_or(3600, |p| p.1);
    let range = (now - chrono::TimeDelta::seconds(length), now);
    let traffic = |f: fn(&history::TrafficPoint) -> Option<f64>| -> Vec<(DateTime<Utc>, f64)> {
        history.traffic.iter().filter_map(|p| f(p).map(|v| (p.at, v))).collect()
    };
    let per_type = |f: fn(&history::ProcessPoint) -> f64| -> Vec<Series> {
        history
            .processes
            .iter()
            .map(|s| (s.process_type.clone(), s.points.iter().map(|p| (p.at, f(p))).collect()))
            .collect()
    };
    vec![
        Chart::new(
            "requests",
            "Requests",
            "req/min",
            vec![("requests".into(), traffic(|p| Some(p.requests_per_minute)))],
            range,
        ),
        Chart::new(
            "latency",
            "Latency (until the response headers)",
            "ms",
            vec![
                ("p50".into(), traffic(|p| p.p50_ms)),
                ("p95".into(), traffic(|p| p.p95_ms)),
                ("p99".into(), traffic(|p| p.p99_ms)),
            ],
            range,
        ),
        Chart::new("errors", "5xx answers", "%", vec![("5xx".into(), traffic(|p| Some(p.errors_percent)))], range),
        Chart::new("memory", "Memory per process type", "MB", per_type(|p| p.memory_mb), range),
        Chart::new("cpu", "CPU per process type (100 = one core)", "%", per_type(|p| p.cpu_percent), range),
    ]
}

#[derive(Template)]
#[template(path = "apps/metrics.html")]
struct MetricsPage {
    layout: Layout,
    app: AppFrame,
    period: &'static str,
    charts: Vec<Chart>,
    /// The memory limits per type, as text.
    limits: Vec<String>,
    /// Seconds between samples.
    interval: u64,
}

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    period: Option<String>,
}

pub async fn show_metrics(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "metrics").await?;
    let period = if query.period.as_deref() == Some("day") { "day" } else { "hour" };
    let history = history::history(&state.db, app.id, period).await?.unwrap_or(History {
        period: period.to_string(),
        step_seconds: 60,
        traffic: Vec::new(),
        processes: Vec::new(),
    });
    let limits = history
        .processes
        .iter()
        .filter_map(|s| {
            let limit = s.points.last()?.memory_limit_mb?;
            Some(format!("{}: {} MB", s.process_type, shown(limit)))
        })
        .collect();
    render(&MetricsPage {
        layout: dash.layout(format!("{} metrics", app.name)).await,
        app: frame,
        period,
        charts: charts(&history, Utc::now()),
        limits,
        interval: state.config.metrics_interval,
    })
}

#[cfg(test)]
mod tests {
    use super::nice_top;

    #[test]
    fn the_axis_top_is_a_round_number_above_the_peak() {
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(3.2), 5.0);
        assert_eq!(nice_top(52.0), 100.0);
        assert_eq!(nice_top(20.0), 20.0);
        assert_eq!(nice_top(0.3), 0.5);
    }
}
