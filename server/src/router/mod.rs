//! The app router: a reverse proxy on its own listener. It routes by `Host`
//! (`APP.BASE_DOMAIN`) to the app's healthy web containers, round robin,
//! streaming bodies both ways over pooled connections. It needs only the
//! routing table, the log hub and (for 404 versus 503) the database, so it
//! serves from the moment the process starts.

mod proxy;
pub mod table;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;

pub use table::{AppRoute, Backend, RouteTable};

use crate::logs::LogHub;

/// What the router reaches.
#[derive(Clone)]
pub struct RouterState(Arc<Inner>);

pub struct Inner {
    pub routes: Arc<RouteTable>,
    pub logs: Arc<LogHub>,
    pub db: sqlx::PgPool,
    pub base_domain: String,
    /// How long an app may take to start answering a request.
    pub response_timeout: Duration,
    client: hyper_util::client::legacy::Client<HttpConnector, Body>,
}

/// How long the router waits, and keeps idle connections to processes.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Until a process starts answering (its response headers).
    pub response: Duration,
    /// An idle pooled connection to a process is closed after this.
    pub idle: Duration,
}

/// Idle pooled connections kept per process at most.
const MAX_IDLE_PER_BACKEND: usize = 64;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl RouterState {
    pub fn new(
        routes: Arc<RouteTable>,
        logs: Arc<LogHub>,
        db: sqlx::PgPool,
        base_domain: String,
        timeouts: Timeouts,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(timeouts.idle)
            .pool_max_idle_per_host(MAX_IDLE_PER_BACKEND)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector);
        Self(Arc::new(Inner { routes, logs, db, base_domain, response_timeout: timeouts.response, client }))
    }
}

impl std::ops::Deref for RouterState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub fn app(state: RouterState) -> Router {
    Router::new().fallback(proxy::forward).with_state(state)
}

/// The app a `Host` header names, if it is `APP.BASE_DOMAIN[:port]`.
pub fn app_for_host(host: &str, base_domain: &str) -> Option<String> {
    let host =
        host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h);
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let app = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    (!app.is_empty() && !app.contains('.')).then(|| app.to_string())
}

#[cfg(test)]
mod tests {
    use super::app_for_host;

    #[test]
    fn hosts_map_to_apps() {
        assert_eq!(app_for_host("hello.paas.test", "paas.test").as_deref(), Some("hello"));
        assert_eq!(app_for_host("Hello.PAAS.test:8080", "paas.test").as_deref(), Some("hello"));
        assert_eq!(app_for_host("paas.test", "paas.test"), None);
        assert_eq!(app_for_host("a.b.paas.test", "paas.test"), None);
        assert_eq!(app_for_host("hellopaas.test", "paas.test"), None);
    }
}
