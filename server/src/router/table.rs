//! The live routing table: app name -> the backends of its current release.
//! A switch replaces an app's entry in one step; in-flight counters let a
//! rollout wait for the old backends to drain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Backend {
    pub addr: SocketAddr,
    pub container_id: String,
    inflight: AtomicUsize,
}

impl Backend {
    pub fn new(addr: SocketAddr, container_id: String) -> Arc<Self> {
        Arc::new(Self { addr, container_id, inflight: AtomicUsize::new(0) })
    }

    /// Backends for the web processes among `containers` (their published ports on 127.0.0.1).
    pub fn for_web<'a>(containers: impl IntoIterator<Item = &'a crate::runtime::Container>) -> Vec<Arc<Self>> {
        containers
            .into_iter()
            .filter(|c| c.label(crate::runtime::LABEL_PROCESS) == Some("web"))
            .filter_map(|c| c.host_port.map(|port| Self::new(SocketAddr::from(([127, 0, 0, 1], port)), c.id.clone())))
            .collect()
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::SeqCst)
    }

    /// Count a request until the guard is dropped (after its response body).
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

pub struct InFlight(Arc<Backend>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug)]
pub struct AppRoute {
    pub release_id: i64,
    pub backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
}

impl AppRoute {
    pub fn new(release_id: i64, backends: Vec<Arc<Backend>>) -> Self {
        Self { release_id, backends, next: AtomicUsize::new(0) }
    }

    /// Backends in the order to try them: round robin, then the rest.
    pub fn pick_order(&self) -> Vec<Arc<Backend>> {
        let n = self.backends.len();
        if n == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n).map(|i| self.backends[(start + i) % n].clone()).collect()
    }
}

#[derive(Default)]
pub struct RouteTable {
    apps: RwLock<HashMap<String, Arc<AppRoute>>>,
    /// Custom domain -> app name.
    domains: RwLock<HashMap<String, String>>,
}

impl RouteTable {
    pub fn get(&self, app: &str) -> Option<Arc<AppRoute>> {
        self.apps.read().ok()?.get(app).cloned()
    }

    /// Point an app at new backends; returns the route it replaced.
    pub fn switch(&self, app: &str, route: AppRoute) -> Option<Arc<AppRoute>> {
        let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        apps.insert(app.to_string(), Arc::new(route))
    }

    pub fn remove(&self, app: &str) -> Option<Arc<AppRoute>> {
        let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        apps.remove(app)
    }

    /// The app a custom domain points at.
    pub fn app_for_domain(&self, host: &str) -> Option<String> {
        self.domains.read().ok()?.get(host).cloned()
    }

    pub fn add_domain(&self, host: &str, app: &str) {
        let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        domains.insert(host.to_string(), app.to_string());
    }

    pub fn remove_domain(&self, host: &str) {
        let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        domains.remove(host);
    }

    /// Forget an app entirely: its backends and its domains.
    pub fn forget_app(&self, app: &str) {
        self.remove(app);
        let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        domains.retain(|_, owner| owner != app);
    }
}

/// Wait until no request is in flight on any of the backends, or the timeout.
/// Returns whether they drained.
pub async fn drain(backends: &[Arc<Backend>], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if backends.iter().all(|b| b.inflight() == 0) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_backend() {
        let backends: Vec<_> =
            (0..3).map(|i| Backend::new(SocketAddr::from(([127, 0, 0, 1], 1000 + i)), format!("c{i}"))).collect();
        let route = AppRoute::new(1, backends);
        let firsts: Vec<u16> = (0..3).map(|_| route.pick_order()[0].addr.port()).collect();
        assert_eq!(firsts, vec![1000, 1001, 1002]);
        assert_eq!(route.pick_order().len(), 3);
    }

    #[tokio::test]
    async fn drain_waits_for_in_flight_requests() {
        let backend = Backend::new(SocketAddr::from(([127, 0, 0, 1], 1)), "c".into());
        let guard = backend.enter();
        assert!(!drain(std::slice::from_ref(&backend), Duration::from_millis(60)).await);
        drop(guard);
        assert!(drain(&[backend], Duration::from_millis(60)).await);
    }
}
