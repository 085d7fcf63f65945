//! The server's own health. A monitor asks the database and the engine every
//! second whether they answer (and restarts the embedded PostgreSQL if it
//! died); while the database is down the control plane answers 503
//! `database_unavailable` at once instead of hanging, and `/healthz` says
//! which part is unhealthy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::db::embedded::EmbeddedPostgres;
use crate::error::AppError;
use crate::runtime::Scheduler;
use crate::state::AppState;

const EVERY: Duration = Duration::from_secs(1);

pub struct Health {
    database: AtomicBool,
    engine: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Self { database: AtomicBool::new(true), engine: AtomicBool::new(true) }
    }
}

impl Health {
    pub fn database_up(&self) -> bool {
        self.database.load(Ordering::SeqCst)
    }

    pub fn engine_up(&self) -> bool {
        self.engine.load(Ordering::SeqCst)
    }
}

/// Watch the database and the engine until the returned task is aborted.
pub fn monitor(
    health: Arc<Health>,
    db: sqlx::PgPool,
    runtime: Arc<dyn Scheduler>,
    embedded: Option<Arc<EmbeddedPostgres>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            if let Some(pg) = &embedded {
                if !pg.is_alive() {
                    health.database.store(false, Ordering::SeqCst);
                    tracing::error!("the embedded PostgreSQL is not running; restarting it");
                    match pg.start().await {
                        Ok(_) => tracing::info!("the embedded PostgreSQL runs again"),
                        Err(err) => {
                            tracing::error!(error = %format!("{err:#}"), "restarting the embedded PostgreSQL failed; retrying")
                        }
                    }
                }
            }
            let database = tokio::time::timeout(EVERY, crate::db::locks::ping(&db)).await;
            set(&health.database, matches!(database, Ok(Ok(_))), "the database");
            let engine = tokio::time::timeout(EVERY, runtime.ping()).await;
            set(&health.engine, matches!(engine, Ok(Ok(()))), "the Docker engine");
        }
    })
}

fn set(flag: &AtomicBool, up: bool, what: &str) {
    let was = flag.swap(up, Ordering::SeqCst);
    match (was, up) {
        (true, false) => tracing::error!("{what} does not answer"),
        (false, true) => tracing::info!("{what} answers again"),
        _ => {}
    }
}

/// While the database is down, refuse at once what would need it: JSON for
/// the API, text for git, a page for the dashboard.
pub async fn fail_fast(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if state.health.database_up() || path == "/healthz" || path.starts_with("/static/") {
        return next.run(request).await;
    }
    let message = AppError::DatabaseUnavailable.to_string();
    let retry = [(axum::http::header::RETRY_AFTER, "2")];
    if path.starts_with("/api/") {
        (retry, AppError::DatabaseUnavailable).into_response()
    } else if path.starts_with("/git/") || path.starts_with("/internal/") {
        (StatusCode::SERVICE_UNAVAILABLE, retry, format!("{message}\n")).into_response()
    } else {
        let page = format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>paas: unavailable</title>\
             <link rel=\"stylesheet\" href=\"/static/style.css\"><main><h1>503</h1><p>{message}</p></main></html>"
        );
        (StatusCode::SERVICE_UNAVAILABLE, retry, axum::response::Html(page)).into_response()
    }
}

#[derive(Serialize)]
pub struct Report {
    /// ok, or unhealthy when any part is.
    status: &'static str,
    database: &'static str,
    engine: &'static str,
}

/// `GET /healthz`: 200 when every part answers, else 503; the body says which.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Report>) {
    let word = |up: bool| if up { "ok" } else { "unavailable" };
    let database = tokio::time::timeout(EVERY, crate::db::locks::ping(&state.db)).await;
    let database = matches!(database, Ok(Ok(_)));
    let engine = state.health.engine_up();
    let all = database && engine;
    let report =
        Report { status: if all { "ok" } else { "unhealthy" }, database: word(database), engine: word(engine) };
    (if all { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(report))
}
