//! The app router: a reverse proxy on its own listener. It routes by `Host`
//! (`APP.BASE_DOMAIN`) to the app's healthy web containers, round robin,
//! streaming bodies both ways over pooled connections. It needs only the
//! routing table and the log hub (and, to tell 404 from 503, a database
//! query run on the main runtime), so it serves from the moment the process
//! starts.
//!
//! It runs on worker threads of its own (`workers.rs`), each a single-
//! threaded event loop with its own connection pool, as nginx's worker
//! processes are: a request is read, proxied and answered on one thread.

pub mod apart;
mod body;
pub mod fleet;
mod passthrough;
pub mod policy;
mod pool;
mod proxy;
pub mod table;
mod workers;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

pub use table::{AppRoute, Backend, RouteTable};
pub use workers::{prepare_process, Workers};

use crate::logs::LogHub;

/// What every router worker shares.
#[derive(Clone)]
pub struct RouterState(Arc<Inner>);

pub struct Inner {
    pub routes: Arc<RouteTable>,
    pub logs: Arc<LogHub>,
    pub db: sqlx::PgPool,
    pub base_domain: String,
    pub limits: Limits,
    /// Proxies in front of the router whose X-Forwarded-* headers are kept.
    pub trusted_proxies: Vec<crate::runtime::Subnet>,
    /// Certificates, ACME challenges and apps' HTTPS settings.
    pub tls: Arc<crate::tls::Tls>,
    /// The main runtime, where database queries run.
    main: tokio::runtime::Handle,
}

/// How long the router waits, and what it keeps, for connections to processes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Until a process starts answering (its response headers).
    pub response: Duration,
    /// An idle pooled connection to a process is closed after this.
    pub idle: Duration,
    /// Idle pooled connections kept per process, over all workers.
    pub max_idle: usize,
}

impl RouterState {
    /// Call from within the main runtime.
    pub fn new(
        routes: Arc<RouteTable>,
        logs: Arc<LogHub>,
        db: sqlx::PgPool,
        base_domain: String,
        limits: Limits,
        trusted_proxies: Vec<crate::runtime::Subnet>,
        tls: Arc<crate::tls::Tls>,
    ) -> Self {
        let main = tokio::runtime::Handle::current();
        Self(Arc::new(Inner { routes, logs, db, base_domain, limits, trusted_proxies, tls, main }))
    }

    /// The app a `Host` header names: `APP.BASE_DOMAIN` or a custom domain.
    fn app_named_by<'a>(&self, host: &'a str) -> Option<Cow<'a, str>> {
        app_for_host(host, &self.base_domain).or_else(|| {
            let bare = without_port(host).trim_end_matches('.').to_ascii_lowercase();
            self.routes.app_for_domain(&bare).map(Cow::Owned)
        })
    }

    /// Whether an app exists, asked on the main runtime (the pool's
    /// connections belong to it); `None` when the database cannot say.
    async fn app_exists(&self, app: &str) -> Option<bool> {
        let (db, app) = (self.db.clone(), app.to_string());
        self.main.spawn(async move { crate::db::apps::exists(&db, &app).await.ok() }).await.ok().flatten()
    }
}

impl std::ops::Deref for RouterState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A `Host` header's name, without its `:port`.
pub fn without_port(host: &str) -> &str {
    host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h)
}

/// The app a `Host` header names, if it is `APP.BASE_DOMAIN[:port]`.
pub fn app_for_host<'a>(host: &'a str, base_domain: &str) -> Option<Cow<'a, str>> {
    let host = without_port(host).trim_end_matches('.');
    // Hosts come lowercase almost always: no copy for them.
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return app_for_host(&host.to_ascii_lowercase(), base_domain).map(|app| Cow::Owned(app.into_owned()));
    }
    let app = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    (!app.is_empty() && !app.contains('.')).then_some(Cow::Borrowed(app))
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
