//! `AppState`: what every handler can reach. Cheap to clone (one `Arc`).

use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use hyper_util::client::legacy::connect::HttpConnector;
use sqlx::PgPool;

use crate::config::Config;
use crate::crypto::Secrets;
use crate::git::Push;
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
    pub routes: RouteTable,
    pub proxy_client: hyper_util::client::legacy::Client<HttpConnector, Body>,
    /// Pushes in progress, by the one-time token their hook presents.
    pub pushes: Mutex<HashMap<String, Push>>,
    /// This binary, run by git hooks.
    pub paas_bin: PathBuf,
    /// The key config values are encrypted with.
    pub secrets: Secrets,
    pub logs: LogHub,
    /// Containers being stopped on purpose (their exit is not a crash).
    stopping: Mutex<HashSet<String>>,
    /// The last crash seen per container: when, and why ("OOM", "exit 1").
    pub crashes: Mutex<HashMap<String, (chrono::DateTime<chrono::Utc>, String)>>,
}

pub struct Parts {
    pub db: PgPool,
    pub config: Config,
    pub public_url: String,
    pub internal_url: String,
    pub router_port: u16,
    pub runtime: Arc<dyn Scheduler>,
    pub secrets: Secrets,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        let proxy_client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(HttpConnector::new());
        let paas_bin = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("paas"));
        Self(Arc::new(Inner {
            db: parts.db,
            config: parts.config,
            public_url: parts.public_url,
            internal_url: parts.internal_url,
            router_port: parts.router_port,
            runtime: parts.runtime,
            routes: RouteTable::default(),
            proxy_client,
            pushes: Mutex::new(HashMap::new()),
            paas_bin,
            secrets: parts.secrets,
            logs: LogHub::default(),
            stopping: Mutex::new(HashSet::new()),
            crashes: Mutex::new(HashMap::new()),
        }))
    }

    /// Stop and remove a container on purpose, so its exit is not logged as a crash.
    pub async fn stop_container(&self, id: &str, grace: std::time::Duration) -> anyhow::Result<()> {
        if let Ok(mut stopping) = self.stopping.lock() {
            stopping.insert(id.to_string());
        }
        let result = self.runtime.stop_and_remove(id, grace).await;
        // The engine's `die` event for it may arrive a little later.
        let (state, id) = (self.clone(), id.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            if let Ok(mut stopping) = state.stopping.lock() {
                stopping.remove(&id);
            }
        });
        result
    }

    pub fn is_stopping(&self, id: &str) -> bool {
        self.stopping.lock().map(|s| s.contains(id)).unwrap_or(false)
    }

    /// Where the router serves an app.
    pub fn app_url(&self, app: &str) -> String {
        let domain = &self.config.base_domain;
        match self.router_port {
            80 => format!("http://{app}.{domain}"),
            port => format!("http://{app}.{domain}:{port}"),
        }
    }

    pub fn repos_dir(&self) -> PathBuf {
        self.config.data_dir.join("repos")
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
