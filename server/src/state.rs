//! `AppState`: what every handler can reach. Cheap to clone (one `Arc`).

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use hyper_util::client::legacy::connect::HttpConnector;
use sqlx::PgPool;

use crate::config::Config;
use crate::git::Push;
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
}

pub struct Parts {
    pub db: PgPool,
    pub config: Config,
    pub public_url: String,
    pub internal_url: String,
    pub router_port: u16,
    pub runtime: Arc<dyn Scheduler>,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        let proxy_client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new());
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
        }))
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
