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
use crate::health::Health;
use crate::logs::LogHub;
use crate::router::{RouteTable, RouterState};
use crate::runtime::DockerScheduler;
use crate::state::{AppState, Parts};
use crate::tls::Tls;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let began = std::time::Instant::now();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    config.data_dir = std::fs::canonicalize(&config.data_dir)?;
    let _lock = DataDirLock::take(&config.data_dir)?;

    let control = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the control plane to {}", config.listen))?;
    let router = std::net::TcpListener::bind(config.router_listen)
        .with_context(|| format!("binding the router to {}", config.router_listen))?;
    let https = match config.https_listen {
        Some(addr) => {
            Some(std::net::TcpListener::bind(addr).with_context(|| format!("binding the router's HTTPS to {addr}"))?)
        }
        None => None,
    };
    let control_addr = control.local_addr()?;
    let router_addr = router.local_addr()?;
    let https_addr = https.as_ref().map(std::net::TcpListener::local_addr).transpose()?;

    let embedded = match &config.database_url {
        Some(_) => None,
        None => Some(Arc::new(EmbeddedPostgres::new(&config.data_dir, &config.pg_user)?)),
    };
    let options = match (&embedded, &config.database_url) {
        (Some(pg), _) => pg.connect_options(),
        (None, Some(url)) => url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?,
        (None, None) => unreachable!("either embedded or DATABASE_URL"),
    };
    let pool = db::pool(options, Duration::from_secs(config.db_statement_timeout));

    // Serve what the last run routed, before anything else: app traffic is
    // back while the database and the rest come up.
    let routes = Arc::new(RouteTable::persisted(config.data_dir.join("routes.json")));
    let logs = Arc::new(LogHub::default());
    let restored_for = restore_routes(&config, &routes).await;
    let limits = config.proxy.limits();
    let secrets = Secrets::load(&config.data_dir, config.secret_key.as_deref())?;
    let acme = match config.acme_directory() {
        Some(directory) if https.is_some() => Some(crate::tls::acme::Acme::new(
            directory,
            config.acme_email.clone().filter(|e| !e.is_empty()),
            config.acme_ca_file.clone(),
            pool.clone(),
            secrets.clone(),
        )),
        Some(_) => {
            tracing::warn!("ACME is set but --https-listen is not: no certificates will be issued");
            None
        }
        None => None,
    };
    let tls = Arc::new(Tls::new(
        pool.clone(),
        secrets.clone(),
        config.base_domain.clone(),
        acme,
        https_addr.map(|a| a.port()),
    ));
    let router_state = RouterState::new(
        routes.clone(),
        logs.clone(),
        pool.clone(),
        config.base_domain.clone(),
        limits,
        config.proxy.trusted_proxies.clone(),
        tls.clone(),
    );
    let workers = config.proxy.workers();
    let https = https.map(|listener| (listener, crate::tls::server_config(tls.clone())));
    let router_workers =
        crate::router::Workers::start(router, https, router_state, workers).context("starting the router")?;
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    tracing::info!(router = %router_addr, https = ?https_addr, apps = routes.apps().len(), workers, ms = began.elapsed().as_millis() as u64, "router serving");

    let result = run_with_database(
        config,
        Listeners { control, control_addr, router_addr },
        Shared {
            pool: pool.clone(),
            routes,
            logs,
            tls,
            secrets,
            restored_for,
            embedded: embedded.clone(),
            shutdown: tx.clone(),
        },
    )
    .await;
    let _ = tx.send(());
    router_workers.shutdown(Duration::from_secs(10)).await;
    pool.close().await;
    if let Some(pg) = &embedded {
        if let Err(err) = pg.stop().await {
            tracing::error!(error = %format!("{err:#}"), "stopping the embedded PostgreSQL failed");
        }
    }
    result
}

struct Listeners {
    control: TcpListener,
    control_addr: std::net::SocketAddr,
    router_addr: std::net::SocketAddr,
}

/// What the early start hands to the rest.
struct Shared {
    pool: sqlx::PgPool,
    routes: Arc<RouteTable>,
    logs: Arc<LogHub>,
    tls: Arc<Tls>,
    secrets: Secrets,
    /// The installation the restored routes were written for.
    restored_for: Option<String>,
    embedded: Option<Arc<EmbeddedPostgres>>,
    shutdown: tokio::sync::broadcast::Sender<()>,
}

/// Load the routes snapshot, keeping the backends whose container still runs
/// on the same address. Returns the installation it belongs to.
async fn restore_routes(config: &Config, routes: &RouteTable) -> Option<String> {
    let instance = routes.saved_instance()?;
    // The engine gets a moment, not the router's start: without it the
    // router starts empty and the reconcile loop fills it.
    let listed = tokio::time::timeout(Duration::from_secs(2), async {
        connect_scheduler(config, instance.clone()).await?.list(&[]).await
    })
    .await;
    let alive: std::collections::HashMap<String, Option<std::net::SocketAddr>> = match listed {
        Ok(Ok(containers)) => containers.into_iter().filter(|c| c.running).map(|c| (c.id, c.addr)).collect(),
        Ok(Err(err)) => {
            tracing::warn!(error = %format!("{err:#}"), "cannot list containers; the router starts empty");
            return None;
        }
        Err(_) => {
            tracing::warn!("the engine did not answer within 2 s; the router starts empty");
            return None;
        }
    };
    routes.restore(|id, addr| alive.get(id).is_some_and(|published| *published == Some(addr)))
}

/// The scheduler `--scheduler` names.
async fn connect_scheduler(config: &Config, instance: String) -> anyhow::Result<Arc<dyn crate::runtime::Scheduler>> {
    Ok(match config.scheduler {
        crate::config::SchedulerKind::Docker => Arc::new(DockerScheduler::connect(instance).await?),
        crate::config::SchedulerKind::Swarm => {
            let grace = Duration::from_secs(config.stop_grace);
            Arc::new(
                crate::runtime::SwarmScheduler::connect(
                    instance,
                    config.registry.clone(),
                    config.node_engines.clone(),
                    grace,
                )
                .await?,
            )
        }
    })
}

async fn run_with_database(config: Config, listeners: Listeners, shared: Shared) -> anyhow::Result<()> {
    let Shared { pool, routes, logs, tls, secrets, restored_for, embedded, shutdown } = shared;
    if let Some(pg) = &embedded {
        pg.start().await?;
    }
    db::migrate(&pool, Duration::from_secs(30)).await?;
    let public_url = config.public_url(listeners.control_addr);
    bootstrap_admin(&pool, &config).await?;

    let instance = db::settings::instance_id(&pool).await?;
    if restored_for.as_deref().is_some_and(|i| i != instance) {
        tracing::warn!("the routes snapshot belongs to another installation; dropping it");
        routes.clear();
    }
    routes.set_instance(&instance);
    tls.load().await.context("loading the certificates")?;
    tls.spawn_renewals(
        Duration::from_secs(config.acme_check_interval.max(1)),
        Duration::from_secs(config.acme_renew_days * 86_400),
    );
    let runtime = connect_scheduler(&config, instance.clone()).await?;
    runtime.subnets().await.context("listing the apps' networks")?;
    let control_addr = listeners.control_addr;
    let internal_url = format!(
        "http://{}:{}",
        if control_addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { control_addr.ip().to_string() },
        control_addr.port()
    );
    let health = Arc::new(Health::default());
    let state = AppState::new(Parts {
        db: pool.clone(),
        config,
        public_url: public_url.clone(),
        internal_url,
        router_port: listeners.router_addr.port(),
        runtime: runtime.clone(),
        routes,
        logs,
        health: health.clone(),
        secrets,
        tls,
    });
    crate::spill::clear(&state.spill_dir());
    crate::ops::apps::load_policies(&state).await.context("loading the apps' router settings")?;
    // From here the table is whole: routers apart may be fed it.
    crate::router::fleet::spawn_publisher(
        state.routes.clone(),
        state.tls.clone(),
        state.db.clone(),
        state.secrets.clone(),
        state.public_url.clone(),
    );
    crate::reconcile::recover::recover(&state).await.context("settling what the last run left unfinished")?;
    crate::reconcile::spawn(state.clone());
    crate::ops::addons::spawn_schedule(state.clone());
    crate::metrics::history::spawn(state.clone(), Duration::from_secs(state.config.metrics_interval));
    let monitor = crate::health::monitor(health, pool.clone(), runtime, embedded);
    let secure_cookies = state.public_url.starts_with("https://");
    let sessions = crate::dashboard::session_layer(pool.clone(), secure_cookies).await?;
    let control_app = with_request_ids(control_plane(state.clone(), sessions));

    // Stdout first: whoever waits for the `listening` line finds it written.
    println!("paas is running: dashboard and API at {public_url}, apps at {}", state.app_url("APP"));
    tracing::info!(control = %control_addr, router = %listeners.router_addr, url = %public_url, instance = %instance, "listening");

    let control_task = tokio::spawn(serve_control(listeners.control, control_app, shutdown.subscribe()));
    shutdown_signal().await;
    tracing::info!("shutting down");
    // The supervisor must not restart the database being stopped.
    monitor.abort();
    let _ = shutdown.send(());
    // In-flight requests get a grace period; long-lived streams do not hold
    // the shutdown hostage.
    if tokio::time::timeout(Duration::from_secs(10), control_task).await.is_err() {
        tracing::warn!("requests still open after 10 s; closing them");
    }
    Ok(())
}

/// Serve the control plane's router on `listener` until `stop`, then let
/// open requests finish. What `axum::serve` does, but on `http1::serve`,
/// which answers half-closed clients and sets TCP_NODELAY.
async fn serve_control(listener: TcpListener, app: Router, mut stop: tokio::sync::broadcast::Receiver<()>) {
    let connections = tokio_util::task::TaskTracker::new();
    let (closing, closed) = tokio::sync::watch::channel(false);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(error = %err, "could not accept a control plane connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.recv() => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            tower::Service::call(&mut app.clone(), request)
        });
        let _ = stream.set_nodelay(true);
        connections.spawn(crate::http1::serve(stream, service, closed.clone()));
    }
    let _ = closing.send(true);
    connections.close();
    connections.wait().await;
}

/// The control plane: REST API, git, dashboard (with cookie sessions), health check.
pub fn control_plane<S>(state: AppState, sessions: tower_sessions::SessionManagerLayer<S>) -> Router
where
    S: tower_sessions::SessionStore + Clone,
{
    Router::new()
        .route("/healthz", get(crate::health::healthz))
        .route("/metrics", get(crate::metrics::serve_metrics))
        .route(crate::router::fleet::HAND_PATH, axum::routing::post(crate::api::platform::receive_handed))
        .merge(crate::api::router())
        .merge(crate::git::router())
        .merge(crate::dashboard::router().layer(sessions))
        .fallback(crate::dashboard::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::count_requests))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::health::fail_fast))
        .layer(axum::middleware::from_fn(crate::guard::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), refuse_app_networks))
        .with_state(state)
}

/// App containers do not reach the control plane (unless the server allows
/// it): a request from one of the apps' networks is refused.
async fn refuse_app_networks(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let from_app = peer.is_some_and(|ip| state.runtime.known_subnets().iter().any(|net| net.contains(ip)));
    if from_app && !state.config.apps_reach_control_plane {
        return (axum::http::StatusCode::FORBIDDEN, "the control plane is not reachable from app containers\n")
            .into_response();
    }
    next.run(request).await
}

/// One server per data dir: a lock file held for the process's life.
struct DataDirLock(#[allow(dead_code)] std::fs::File);

impl DataDirLock {
    fn take(data_dir: &std::path::Path) -> anyhow::Result<Self> {
        use std::io::{Read, Seek, Write};
        let path = data_dir.join("paas.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if file.try_lock().is_err() {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            anyhow::bail!(
                "another paas server (pid {}) is running on the data dir {}; stop it first, or give this one \
                 another --data-dir",
                pid.trim(),
                data_dir.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(Self(file))
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
    let email = crate::names::email(&config.admin_email).map_err(|e| anyhow::anyhow!("PAAS_ADMIN_EMAIL: {e}"))?;
    let (secret, generated) = match config.admin_password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if p.chars().count() < password::MIN_LENGTH => {
            anyhow::bail!("PAAS_ADMIN_PASSWORD must be at least {} characters", password::MIN_LENGTH)
        }
        Some(p) => (p.to_string(), false),
        None => (password::generate(), true),
    };
    let hash = password::hash(secret.clone()).await?;
    let mut tx = pool.begin().await?;
    let user = db::users::create(&mut tx, &email, &hash, true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    db::teams::create(&mut tx, "main", user.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
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

pub(crate) async fn shutdown_signal() {
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
