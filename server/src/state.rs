//! `AppState`: what every handler can reach. Cheap to clone (one `Arc`). It
//! holds handles, not logic.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;
use crate::crypto::Secrets;
use crate::health::Health;
use crate::logs::LogHub;
use crate::router::RouteTable;
use crate::runtime::Scheduler;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    pub config: Config,
    /// The URL users reach the control plane at (for git remotes, links).
    pub public_url: String,
    /// Where git hooks call back to (loopback when listening on all addresses).
    pub internal_url: String,
    /// The port the router listens on, for app URLs.
    pub router_port: u16,
    pub runtime: Arc<dyn Scheduler>,
    pub routes: Arc<RouteTable>,
    pub logs: Arc<LogHub>,
    /// Pushes in progress (the git layer's registry).
    pub pushes: crate::git::Pushes,
    /// Running operations' progress lines.
    pub progress: crate::ops::Progress,
    /// What the reconcile loop knows of each process.
    pub processes: crate::reconcile::Processes,
    /// Requests for the reconcile loop (`ps:stop`).
    pub reconcile: crate::reconcile::Inbox,
    /// Replaced processes a rollout drains and stops in the background.
    pub retiring: crate::deploy::rollout::Retiring,
    /// Whether the database and the engine answer.
    pub health: Arc<Health>,
    /// The password throttle.
    pub throttle: crate::auth::throttle::Throttle,
    /// This binary, run by git hooks.
    pub paas_bin: PathBuf,
    /// The key config values are encrypted with.
    pub secrets: Secrets,
    /// Certificates and HTTPS settings, shared with the router.
    pub tls: Arc<crate::tls::Tls>,
    /// The control plane's counters (the router's live in the route table).
    pub metrics: crate::metrics::Metrics,
}

pub struct Parts {
    pub db: PgPool,
    pub config: Config,
    pub public_url: String,
    pub internal_url: String,
    pub router_port: u16,
    pub runtime: Arc<dyn Scheduler>,
    pub routes: Arc<RouteTable>,
    pub logs: Arc<LogHub>,
    pub health: Arc<Health>,
    pub secrets: Secrets,
    pub tls: Arc<crate::tls::Tls>,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        let paas_bin = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("paas"));
        Self(Arc::new(Inner {
            db: parts.db,
            config: parts.config,
            public_url: parts.public_url,
            internal_url: parts.internal_url,
            router_port: parts.router_port,
            runtime: parts.runtime,
            routes: parts.routes,
            logs: parts.logs,
            pushes: Default::default(),
            progress: Default::default(),
            processes: Default::default(),
            reconcile: Default::default(),
            retiring: Default::default(),
            health: parts.health,
            throttle: Default::default(),
            paas_bin,
            secrets: parts.secrets,
            tls: parts.tls,
            metrics: Default::default(),
        }))
    }

    /// Where the router serves an app: over HTTPS when its name has (or
    /// gets on demand) a certificate.
    pub fn app_url(&self, app: &str) -> String {
        let domain = &self.config.base_domain;
        if let Some(port) = self.tls.https_port {
            let host = format!("{app}.{domain}");
            if self.tls.acme_enabled() || self.tls.resolve(&host).is_some() {
                return match port {
                    443 => format!("https://{host}"),
                    port => format!("https://{host}:{port}"),
                };
            }
        }
        match self.router_port {
            80 => format!("http://{app}.{domain}"),
            port => format!("http://{app}.{domain}:{port}"),
        }
    }

    pub fn repos_dir(&self) -> PathBuf {
        self.config.data_dir.join("repos")
    }

    /// Where large transient files go (`spill`).
    pub fn spill_dir(&self) -> PathBuf {
        self.config.data_dir.join("tmp")
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
