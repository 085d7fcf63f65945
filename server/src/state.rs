//! `AppState`: what every handler can reach. Cheap to clone (one `Arc`).

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    pub config: Config,
    /// The URL users reach the control plane at (for git remotes, links).
    pub public_url: String,
    /// The port the router listens on, for app URLs.
    pub router_port: u16,
}

impl AppState {
    pub fn new(db: PgPool, config: Config, public_url: String, router_port: u16) -> Self {
        Self(Arc::new(Inner { db, config, public_url, router_port }))
    }

    /// Where the router serves an app.
    pub fn app_url(&self, app: &str) -> String {
        let domain = &self.config.base_domain;
        match self.router_port {
            80 => format!("http://{app}.{domain}"),
            port => format!("http://{app}.{domain}:{port}"),
        }
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
