//! `paas serve`: open the database (embedded or `DATABASE_URL`), create the
//! first admin, and run the control plane and the app router on their own
//! listeners until SIGTERM or SIGINT.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::password;
use crate::config::Config;
use crate::crypto::Secrets;
use crate::db;
use crate::db::embedded::EmbeddedPostgres;
use crate::runtime::DockerScheduler;
use crate::state::{AppState, Parts};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    config.data_dir = std::fs::canonicalize(&config.data_dir)?;

    let embedded = match &config.database_url {
        Some(_) => None,
        None => Some(EmbeddedPostgres::new(&config.data_dir, &config.pg_user)?),
    };
    let result = run_with_database(config, embedded.as_ref()).await;
    if let Some(pg) = &embedded {
        if let Err(err) = pg.stop().await {
            tracing::error!(error = %format!("{err:#}"), "stopping the embedded PostgreSQL failed");
        }
    }
    result
}

async fn run_with_database(config: Config, embedded: Option<&EmbeddedPostgres>) -> anyhow::Result<()> {
    let options = match (embedded, &config.database_url) {
        (Some(pg), _) => pg.start().await?,
        (None, Some(url)) => url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?,
        (None, None) => unreachable!("either embedded or DATABASE_URL"),
    };
    let pool = db::connect(options).await?;

    let control = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the control plane to {}", config.listen))?;
    let router = TcpListener::bind(config.router_listen)
        .await
        .with_context(|| format!("binding the router to {}", config.router_listen))?;
    let control_addr = control.local_addr()?;
    let router_addr = router.local_addr()?;
    let public_url = config.public_url(control_addr);

    bootstrap_admin(&pool, &config).await?;

    let instance = db::settings::instance_id(&pool).await?;
    let (config_data_dir, config_secret_key) = (config.data_dir.clone(), config.secret_key.clone());
    let runtime = DockerScheduler::connect(instance.clone()).await?;
    let internal_url = format!(
        "http://{}:{}",
        if control_addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { control_addr.ip().to_string() },
        control_addr.port()
    );
    let state = AppState::new(Parts {
        db: pool.clone(),
        config,
        public_url: public_url.clone(),
        internal_url,
        router_port: router_addr.port(),
        runtime: Arc::new(runtime),
        secrets: Secrets::load(&config_data_dir, config_secret_key.as_deref())?,
    });
    crate::logs::watch_crashes(state.clone());
    crate::reconcile::recover(&state).await.context("restoring apps from the database and the engine")?;
    let secure_cookies = state.public_url.starts_with("https://");
    let sessions = crate::dashboard::session_layer(pool.clone(), secure_cookies).await?;
    let control_app = with_request_ids(control_plane(state.clone(), sessions));
    let router_app = with_request_ids(crate::router::app(state.clone()));

    tracing::info!(control = %control_addr, router = %router_addr, url = %public_url, instance = %instance, "listening");
    println!("paas is running: dashboard and API at {public_url}, apps at {}", state.app_url("APP"));

    let shutdown = shutdown_signal();
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut rx_control = tx.subscribe();
    let mut rx_router = tx.subscribe();
    let control_task = tokio::spawn(async move {
        axum::serve(control, control_app)
            .with_graceful_shutdown(async move {
                let _ = rx_control.recv().await;
            })
            .await
    });
    let router_task = tokio::spawn(async move {
        axum::serve(router, router_app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = rx_router.recv().await;
            })
            .await
    });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = tx.send(());
    // In-flight requests get a grace period; long-lived streams do not hold
    // the shutdown hostage.
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        let _ = control_task.await;
        let _ = router_task.await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still open after 10 s; closing them");
    }
    pool.close().await;
    Ok(())
}

/// The control plane: REST API, git, dashboard (with cookie sessions), health check.
pub fn control_plane<S>(state: AppState, sessions: tower_sessions::SessionManagerLayer<S>) -> Router
where
    S: tower_sessions::SessionStore + Clone,
{
    Router::new()
        .route("/healthz", get(healthz))
        .merge(crate::api::router())
        .merge(crate::git::router())
        .merge(crate::dashboard::router().layer(sessions))
        .with_state(state)
}

async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, &'static str) {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => (axum::http::StatusCode::OK, "ok\n"),
        Err(_) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

/// Every request gets an `X-Request-Id` (kept if the client sent one), echoed
/// in the response and recorded on the request's tracing span.
fn with_request_ids(app: Router) -> Router {
    app.layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// On first start (no users yet) create the admin and a `main` team, and
/// print the credentials once. They are never printed again.
async fn bootstrap_admin(pool: &sqlx::PgPool, config: &Config) -> anyhow::Result<()> {
    if db::users::count(pool).await? > 0 {
        return Ok(());
    }
    let email = crate::api::users::normalize_email(&config.admin_email)
        .map_err(|e| anyhow::anyhow!("PAAS_ADMIN_EMAIL: {e}"))?;
    let (secret, generated) = match config.admin_password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() < password::MIN_LENGTH => {
            anyhow::bail!("PAAS_ADMIN_PASSWORD must be at least {} characters", password::MIN_LENGTH)
        }
        Some(p) => (p.to_string(), false),
        None => (password::generate(), true),
    };
    let hash = password::hash(secret.clone()).await?;
    let user = db::users::create(pool, &email, &hash, true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    db::teams::create(pool, "main", user.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(email = %email, "created the first admin user and team `main`");
    // Printed to stdout, outside the log stream, exactly once.
    println!();
    println!("  First start: created the admin user (shown only this once).");
    println!("    email:    {email}");
    if generated {
        println!("    password: {secret}");
    } else {
        println!("    password: (the one given in PAAS_ADMIN_PASSWORD)");
    }
    println!("  Log in with `paas login`.");
    println!();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
