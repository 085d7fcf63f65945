//! The live routing table: app name -> the healthy web processes of its live
//! deployment. Each entry carries the deployment it belongs to, and an entry
//! is only ever replaced by one of the same or a later deployment, so a
//! decision read from the database a moment ago can never undo a newer
//! switch. Whoever decides routes from the database holds `changing()` while
//! reading and switching. Every change is written to a snapshot file, from
//! which a restarted server serves again before its database is up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::metrics::AppTraffic;

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

    /// The backend of a web container: its published address.
    pub fn for_container(c: &crate::runtime::Container) -> Option<Arc<Self>> {
        c.addr.map(|addr| Self::new(addr, c.id.clone()))
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
    /// The deployment whose processes these are.
    pub deployment: i64,
    /// How many web processes the app's formation runs (0: none on purpose).
    pub wanted: usize,
    /// The healthy ones; empty while `wanted > 0` means none is (503).
    pub backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
    /// The app's request metrics, kept by the table across its routes.
    pub traffic: Arc<AppTraffic>,
}

impl AppRoute {
    pub fn new(deployment: i64, wanted: usize, backends: Vec<Arc<Backend>>) -> Self {
        Self { deployment, wanted, backends, next: AtomicUsize::new(0), traffic: Default::default() }
    }

    /// Backends in the order to try them: round robin, then the rest.
    pub fn pick_order(&self) -> impl ExactSizeIterator<Item = &Arc<Backend>> {
        let n = self.backends.len();
        let start = if n == 0 { 0 } else { self.next.fetch_add(1, Ordering::Relaxed) % n };
        (0..n).map(move |i| &self.backends[(start + i) % n])
    }

    pub fn has(&self, container_id: &str) -> bool {
        self.backends.iter().any(|b| b.container_id == container_id)
    }
}

#[derive(Default)]
pub struct RouteTable {
    apps: RwLock<HashMap<String, Arc<AppRoute>>>,
    /// Each routed app's request metrics, handed from route to route.
    traffic: RwLock<HashMap<String, Arc<AppTraffic>>>,
    /// Custom domain -> app name.
    domains: RwLock<HashMap<String, String>>,
    /// Apps' settings that change the router's answer (maintenance, HTTPS).
    pub policies: super::policy::Policies,
    /// Held while deciding routes from the database (see the module doc).
    changes: tokio::sync::Mutex<()>,
    /// Where the table is written after each change, with the installation id.
    snapshot: Option<(PathBuf, RwLock<String>)>,
    /// Counts the table's changes, for whoever publishes it.
    version: crate::changes::Changes,
    /// The last change published for routers apart, and its generation.
    pub published: tokio::sync::watch::Sender<(u64, i64)>,
}

impl RouteTable {
    /// A table that keeps a snapshot of itself in `path`.
    pub fn persisted(path: PathBuf) -> Self {
        Self { snapshot: Some((path, RwLock::new(String::new()))), ..Default::default() }
    }

    /// Serialize decisions about routes taken from the database.
    pub async fn changing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    pub fn get(&self, app: &str) -> Option<Arc<AppRoute>> {
        self.apps.read().ok()?.get(app).cloned()
    }

    /// Point an app at the backends of a deployment; returns the route it
    /// replaced, or `Err(current)` when the table already serves a later
    /// deployment of the app.
    pub fn switch(&self, app: &str, route: AppRoute) -> Result<Option<Arc<AppRoute>>, Arc<AppRoute>> {
        let replaced = {
            let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(current) = apps.get(app) {
                if current.deployment > route.deployment {
                    return Err(current.clone());
                }
            }
            apps.insert(app.to_string(), self.with_traffic(app, route))
        };
        self.persist();
        Ok(replaced)
    }

    /// The route, carrying the app's metrics (made on its first route).
    fn with_traffic(&self, app: &str, mut route: AppRoute) -> Arc<AppRoute> {
        let mut traffic = self.traffic.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        route.traffic = traffic.entry(app.to_string()).or_default().clone();
        Arc::new(route)
    }

    /// An app's request metrics, if it has had a route.
    pub fn traffic_of(&self, app: &str) -> Option<Arc<AppTraffic>> {
        self.traffic.read().ok()?.get(app).cloned()
    }

    /// Every routed app's request metrics, by app name.
    pub fn traffic(&self) -> Vec<(String, Arc<AppTraffic>)> {
        let traffic = self.traffic.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut all: Vec<_> = traffic.iter().map(|(app, t)| (app.clone(), t.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The app a custom domain points at.
    pub fn app_for_domain(&self, host: &str) -> Option<String> {
        self.domains.read().ok()?.get(host).cloned()
    }

    pub fn add_domain(&self, host: &str, app: &str) {
        {
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            domains.insert(host.to_string(), app.to_string());
        }
        self.persist();
    }

    pub fn remove_domain(&self, host: &str) {
        {
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            domains.remove(host);
        }
        self.persist();
    }

    /// Replace every custom domain (from the database, at start).
    pub fn set_domains(&self, all: impl IntoIterator<Item = (String, String)>) {
        {
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            *domains = all.into_iter().collect();
        }
        self.persist();
    }

    /// Forget an app entirely: its backends and its domains.
    pub fn forget_app(&self, app: &str) -> Option<Arc<AppRoute>> {
        let removed = {
            let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let removed = apps.remove(app);
            self.traffic.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(app);
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            domains.retain(|_, owner| owner != app);
            removed
        };
        self.persist();
        removed
    }

    /// Serve an app's route and custom domains under its new name; the old
    /// name routes nowhere.
    pub fn rename(&self, old: &str, new: &str) {
        {
            let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(route) = apps.remove(old) {
                let moved = AppRoute::new(route.deployment, route.wanted, route.backends.clone());
                apps.insert(new.to_string(), self.with_traffic(new, moved));
            }
            self.traffic.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(old);
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            for owner in domains.values_mut().filter(|owner| *owner == old) {
                *owner = new.to_string();
            }
        }
        self.persist();
    }

    /// Every app in the table.
    pub fn apps(&self) -> Vec<String> {
        self.apps.read().map(|apps| apps.keys().cloned().collect()).unwrap_or_default()
    }

    /// Drop everything (the snapshot belonged to another installation).
    pub fn clear(&self) {
        if let Ok(mut apps) = self.apps.write() {
            apps.clear();
        }
        if let Ok(mut traffic) = self.traffic.write() {
            traffic.clear();
        }
        if let Ok(mut domains) = self.domains.write() {
            domains.clear();
        }
        self.persist();
    }

    /// Which installation's containers the snapshot names.
    pub fn set_instance(&self, instance: &str) {
        if let Some((_, owner)) = &self.snapshot {
            if let Ok(mut owner) = owner.write() {
                *owner = instance.to_string();
            }
        }
        self.persist();
    }

    /// The count of changes so far, and a way to wait for the next one.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn version(&self) -> u64 {
        self.version.current()
    }

    /// The whole table, as published for routers apart: with the apps'
    /// router settings, which the snapshot on disk leaves out.
    pub fn export(&self) -> Snapshot {
        Snapshot { policies: self.policies.export(), ..self.saved() }
    }

    /// Serve exactly `doc` (a router apart, fed what the control plane
    /// published). Backends that stay keep their counts of requests in
    /// flight; returns those that left.
    pub fn replace(&self, doc: Snapshot) -> Vec<Arc<Backend>> {
        let mut left = Vec::new();
        {
            let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut current: HashMap<(String, SocketAddr), Arc<Backend>> = apps
                .values()
                .flat_map(|route| route.backends.iter())
                .map(|b| ((b.container_id.clone(), b.addr), b.clone()))
                .collect();
            let mut next = HashMap::with_capacity(doc.apps.len());
            for (name, route) in doc.apps {
                let backends = route
                    .backends
                    .into_iter()
                    .map(|b| {
                        let key = (b.container, b.addr);
                        current.remove(&key).unwrap_or_else(|| Backend::new(key.1, key.0))
                    })
                    .collect();
                let route = AppRoute::new(route.deployment, route.wanted, backends);
                next.insert(name.clone(), self.with_traffic(&name, route));
            }
            *apps = next;
            left.extend(current.into_values());
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            *domains = doc.domains;
        }
        self.policies.replace(doc.policies);
        if let Some((_, instance)) = &self.snapshot {
            if let Ok(mut owner) = instance.write() {
                *owner = doc.instance;
            }
        }
        self.persist();
        left
    }

    fn saved(&self) -> Snapshot {
        let instance = match &self.snapshot {
            Some((_, instance)) => instance.read().map(|i| i.clone()).unwrap_or_default(),
            None => String::new(),
        };
        Snapshot {
            instance,
            apps: self
                .apps
                .read()
                .map(|apps| {
                    apps.iter()
                        .map(|(name, route)| {
                            let backends = route
                                .backends
                                .iter()
                                .map(|b| SavedBackend { addr: b.addr, container: b.container_id.clone() })
                                .collect();
                            let saved = SavedRoute { deployment: route.deployment, wanted: route.wanted, backends };
                            (name.clone(), saved)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            domains: self.domains.read().map(|d| d.clone()).unwrap_or_default(),
            policies: HashMap::new(),
        }
    }

    /// Write the snapshot (a small file, replaced atomically), and tell the
    /// publisher.
    fn persist(&self) {
        self.version.bump();
        let Some((path, _)) = &self.snapshot else { return };
        let snapshot = self.saved();
        if snapshot.instance.is_empty() {
            return;
        }
        let write = || -> std::io::Result<()> {
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(&snapshot)?)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(err) = write() {
            tracing::warn!(path = %path.display(), error = %err, "could not write the routes snapshot");
        }
    }

    /// The installation the snapshot on disk was written for, if there is one.
    pub fn saved_instance(&self) -> Option<String> {
        let (path, _) = self.snapshot.as_ref()?;
        let saved: Snapshot = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        Some(saved.instance)
    }

    /// Load a snapshot written by an earlier run, keeping only backends whose
    /// container `alive` says still runs on that address. Returns the
    /// installation id it was written for.
    pub fn restore(&self, alive: impl Fn(&str, SocketAddr) -> bool) -> Option<String> {
        let (path, instance) = self.snapshot.as_ref()?;
        let saved: Snapshot = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        {
            let mut apps = self.apps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (name, route) in saved.apps {
                let backends = route
                    .backends
                    .into_iter()
                    .filter(|b| alive(&b.container, b.addr))
                    .map(|b| Backend::new(b.addr, b.container))
                    .collect();
                let route = self.with_traffic(&name, AppRoute::new(route.deployment, route.wanted, backends));
                apps.insert(name, route);
            }
            let mut domains = self.domains.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            *domains = saved.domains;
        }
        if let Ok(mut owner) = instance.write() {
            owner.clone_from(&saved.instance);
        }
        Some(saved.instance)
    }
}

/// The table as written to disk and published for routers apart.
#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    instance: String,
    apps: HashMap<String, SavedRoute>,
    domains: HashMap<String, String>,
    /// Only in what is published (a maintenance page is an app's config).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    policies: HashMap<String, super::policy::Policy>,
}

#[derive(Serialize, Deserialize)]
struct SavedRoute {
    deployment: i64,
    wanted: usize,
    backends: Vec<SavedBackend>,
}

#[derive(Serialize, Deserialize)]
struct SavedBackend {
    addr: SocketAddr,
    container: String,
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

    fn backend(port: u16) -> Arc<Backend> {
        Backend::new(SocketAddr::from(([127, 0, 0, 1], port)), format!("c{port}"))
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let route = AppRoute::new(1, 3, (0..3).map(|i| backend(1000 + i)).collect());
        let firsts: Vec<u16> = (0..3).map(|_| route.pick_order().next().unwrap().addr.port()).collect();
        assert_eq!(firsts, vec![1000, 1001, 1002]);
        assert_eq!(route.pick_order().len(), 3);
    }

    #[test]
    fn an_older_deployment_never_replaces_a_newer_one() {
        let table = RouteTable::default();
        assert!(table.switch("a", AppRoute::new(5, 1, vec![backend(1)])).is_ok());
        let refused = table.switch("a", AppRoute::new(4, 1, vec![backend(2)]));
        assert_eq!(refused.err().map(|r| r.deployment), Some(5));
        assert!(table.get("a").is_some_and(|r| r.has("c1")));
        assert!(table.switch("a", AppRoute::new(5, 1, vec![])).is_ok(), "the same deployment may change");
        assert!(table.switch("a", AppRoute::new(6, 1, vec![backend(3)])).is_ok());
    }

    #[test]
    fn a_snapshot_restores_only_live_backends() {
        let dir = tempfile_dir();
        let path = dir.join("routes.json");
        let table = RouteTable::persisted(path.clone());
        table.set_instance("inst");
        table.switch("a", AppRoute::new(3, 2, vec![backend(10), backend(11)])).unwrap();
        table.add_domain("www.example.com", "a");
        let restored = RouteTable::persisted(path);
        assert_eq!(restored.restore(|id, _| id == "c11").as_deref(), Some("inst"));
        let route = restored.get("a").unwrap();
        assert_eq!(route.deployment, 3);
        assert_eq!(route.backends.iter().map(|b| b.addr.port()).collect::<Vec<_>>(), vec![11]);
        assert_eq!(restored.app_for_domain("www.example.com").as_deref(), Some("a"));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("paas-routes-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn drain_waits_for_in_flight_requests() {
        let backend = backend(1);
        let guard = backend.enter();
        assert!(!drain(std::slice::from_ref(&backend), Duration::from_millis(60)).await);
        drop(guard);
        assert!(drain(&[backend], Duration::from_millis(60)).await);
    }
}
