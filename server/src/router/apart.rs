//! `paas router`: the router as a process of its own, apart from the
//! control plane, so that restarting or upgrading `paas serve` does not touch
//! app traffic, and so that any number of them can serve (one per edge
//! node). It is fed the table the control plane publishes in PostgreSQL
//! (`fleet.rs`), follows it with LISTEN/NOTIFY, and keeps the last one it
//! received in its data dir: with the database or the control plane down, or
//! after its own restart, it serves what it knew last.
//!
//! Every second it reports itself (`routers` table): the generation it
//! serves and the processes it may still send requests to, which is what
//! lets the control plane stop a replaced process only once no router uses
//! it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use super::table::{Backend, RouteTable};
use super::{fleet, RouterState, Workers};
use crate::config::RouterConfig;
use crate::crypto::Secrets;
use crate::db;
use crate::logs::{LogHub, LogLine};
use crate::metrics::Counts;

/// Where the last table received is kept: its generation, then the sealed
/// document, as published.
const SAVED: &str = "routes.sealed";

/// Access lines handed over at a time (every half second).
const HAND_MAX_LINES: usize = 5000;

pub async fn run(config: RouterConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let secrets = Secrets::existing(config.secret_key.as_deref(), config.secret_key_file.as_deref())?;
    let options = config.database_url.parse().context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let pool = db::pool(options, Duration::from_secs(30));

    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding the router to {}", config.listen))?;
    let addr = listener.local_addr()?;
    let https = match config.https_listen {
        Some(at) => {
            Some(std::net::TcpListener::bind(at).with_context(|| format!("binding the router's HTTPS to {at}"))?)
        }
        None => None,
    };
    let https_addr = https.as_ref().map(std::net::TcpListener::local_addr).transpose()?;
    let tls = Arc::new(crate::tls::Tls::new(
        pool.clone(),
        secrets.clone(),
        config.base_domain.clone(),
        None,
        https_addr.map(|a| a.port()),
    ));

    // The last routes first (certificates come with the database).
    let routes = Arc::new(RouteTable::default());
    let saved = config.data_dir.join(SAVED);
    let (mut applied, mut control_url) = (0, config.control_url.clone());
    match load(&saved, &secrets) {
        Ok(Some((generation, doc))) => {
            routes.replace(doc.table);
            applied = generation;
            control_url = control_url.or(doc.control_url);
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "cannot use the saved routes; waiting for the database")
        }
    }

    let (logs, lines) = LogHub::handing_on(HAND_MAX_LINES * 4);
    let state = RouterState::new(
        routes.clone(),
        Arc::new(logs),
        pool.clone(),
        config.base_domain.clone(),
        config.proxy.limits(),
        config.proxy.trusted_proxies.clone(),
        tls.clone(),
    );
    let https = https.map(|listener| (listener, crate::tls::server_config(tls.clone())));
    let workers = Workers::start(listener, https, state, config.proxy.workers()).context("starting the router")?;

    let me = Follower {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: config.name.clone().unwrap_or_else(hostname),
        listen: addr.to_string(),
        pool: pool.clone(),
        routes,
        tls: https_addr.is_some().then_some(tls),
        secrets,
        saved,
        seen: Mutex::new(Seen { applied, left: Vec::new() }),
        control_url: Mutex::new(control_url),
        control_url_given: config.control_url.is_some(),
        applied_now: tokio::sync::Notify::new(),
    };
    let me = Arc::new(me);
    match https_addr {
        Some(https) => println!("paas router is serving on {addr} and HTTPS on {https} (routes generation {applied})"),
        None => println!("paas router is serving on {addr} (routes generation {applied})"),
    }
    tracing::info!(router = %addr, https = ?https_addr, name = %me.name, generation = applied, "router serving");
    let following = tokio::spawn(me.clone().follow());
    let reporting = tokio::spawn(me.clone().report());
    let handing = tokio::spawn(me.clone().hand_on(lines));

    crate::serve::shutdown_signal().await;
    tracing::info!("shutting down");
    // Requests in flight finish on the table as it is, still reported (the
    // control plane must not stop a process they use) and still logged.
    following.abort();
    workers.shutdown(Duration::from_secs(10)).await;
    reporting.abort();
    handing.abort();
    if let Err(err) = db::routers::remove(&pool, &me.id).await {
        tracing::warn!(error = %err, "could not withdraw this router; it stops counting once it has not reported for a few seconds");
    }
    pool.close().await;
    Ok(())
}

struct Follower {
    id: String,
    name: String,
    listen: String,
    pool: PgPool,
    routes: Arc<RouteTable>,
    /// With HTTPS: its certificates, read again after each publication.
    tls: Option<Arc<crate::tls::Tls>>,
    secrets: Secrets,
    saved: PathBuf,
    seen: Mutex<Seen>,
    /// Wakes the report after a table was applied.
    applied_now: tokio::sync::Notify,
    /// Where to hand access lines and counts: as given, else as published.
    control_url: Mutex<Option<String>>,
    control_url_given: bool,
}

struct Seen {
    /// The generation served.
    applied: i64,
    /// Backends that left the table while requests to them were in flight.
    left: Vec<Arc<Backend>>,
}

impl Follower {
    /// Listen for publications; on each (and on every reconnection, and
    /// every few seconds in case one was missed) apply the newest table.
    async fn follow(self: Arc<Self>) {
        let mut listener: Option<PgListener> = None;
        loop {
            if listener.is_none() {
                match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => match l.listen(db::routers::CHANNEL).await {
                        Ok(()) => listener = Some(l),
                        Err(err) => tracing::warn!(error = %err, "cannot listen for routes; serving the last ones"),
                    },
                    Err(err) => tracing::warn!(error = %err, "cannot reach the database; serving the last routes"),
                }
            }
            if let Err(err) = self.catch_up().await {
                tracing::warn!(error = %format!("{err:#}"), "cannot read the published routes; serving the last ones");
            }
            match listener.as_mut() {
                Some(l) => match tokio::time::timeout(Duration::from_secs(5), l.try_recv()).await {
                    // A publication, a lost connection (reconnected on the
                    // next call), or a quiet while: read the table again.
                    Ok(Ok(_)) | Err(_) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "lost the database; serving the last routes");
                        listener = None;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    async fn catch_up(&self) -> anyhow::Result<()> {
        let Some((generation, sealed)) = db::routers::published(&self.pool).await? else { return Ok(()) };
        let applied = self.seen.lock().unwrap_or_else(|p| p.into_inner()).applied;
        // The row is always the latest publication: any other generation
        // than the one served is newer (or the database was restored from a
        // backup, and its table is the one to serve).
        if generation == applied {
            return Ok(());
        }
        let doc = fleet::open(&self.secrets, &sealed)
            .context("opening the published routes (is this the control plane's secret key?)")?;
        if let Some(tls) = &self.tls {
            tls.load().await.context("reading the certificates")?;
            tls.challenges.replace(doc.challenges);
        }
        if !self.control_url_given {
            *self.control_url.lock().unwrap_or_else(|p| p.into_inner()) = doc.control_url;
        }
        let left = self.routes.replace(doc.table);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.applied = generation;
            seen.left.extend(left);
        }
        if let Err(err) = save(&self.saved, generation, &sealed) {
            tracing::warn!(path = %self.saved.display(), error = %err, "could not keep the routes for a restart");
        }
        tracing::info!(generation, apps = self.routes.apps().len(), "routes applied");
        self.applied_now.notify_one();
        Ok(())
    }

    /// Report every second, and at once after a table was applied.
    async fn report(self: Arc<Self>) {
        loop {
            let (applied, busy) = self.busy();
            let report =
                db::routers::Report { id: &self.id, name: &self.name, listen: &self.listen, applied, busy: &busy };
            if let Err(err) = db::routers::report(&self.pool, &report).await {
                tracing::debug!(error = %err, "could not report this router");
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.applied_now.notified()).await;
        }
    }

    /// The generation served, and the processes this router may still send
    /// requests to: those in its table, and those that left it with requests
    /// still in flight.
    fn busy(&self) -> (i64, Vec<String>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.left.retain(|b| b.inflight() > 0);
        let mut busy: Vec<String> = seen.left.iter().map(|b| b.container_id.clone()).collect();
        for app in self.routes.apps() {
            if let Some(route) = self.routes.get(&app) {
                busy.extend(route.backends.iter().map(|b| b.container_id.clone()));
            }
        }
        busy.sort();
        busy.dedup();
        (seen.applied, busy)
    }
}

impl Follower {
    /// Every half second, hand the access lines and request counts since the
    /// last time to the control plane. While it cannot take them, the counts
    /// wait and the lines are dropped (at most a few thousand are held).
    async fn hand_on(self: Arc<Self>, mut lines: tokio::sync::mpsc::Receiver<(String, LogLine)>) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        let mut every = tokio::time::interval(Duration::from_millis(500));
        let mut failing = false;
        loop {
            every.tick().await;
            let mut batch = Vec::new();
            while batch.len() < HAND_MAX_LINES {
                match lines.try_recv() {
                    Ok(line) => batch.push(line),
                    Err(_) => break,
                }
            }
            let traffic: HashMap<String, Counts> = self
                .routes
                .traffic()
                .into_iter()
                .map(|(app, traffic)| (app, traffic.take()))
                .filter(|(_, counts)| !counts.is_empty())
                .collect();
            if batch.is_empty() && traffic.is_empty() {
                continue;
            }
            let url = self.control_url.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let handed = fleet::Handed { sent_at: chrono::Utc::now(), lines: batch, traffic };
            let result = match (url, fleet::seal_handed(&self.secrets, &handed)) {
                (Some(url), Ok(sealed)) => {
                    let url = format!("{}{}", url.trim_end_matches('/'), fleet::HAND_PATH);
                    match client.post(url).body(sealed).send().await {
                        Ok(answer) if answer.status().is_success() => Ok(()),
                        Ok(answer) => Err(format!("the control plane answered {}", answer.status())),
                        Err(err) => Err(err.to_string()),
                    }
                }
                (None, _) => Err("no control plane URL yet".to_string()),
                (_, Err(err)) => Err(format!("{err:#}")),
            };
            match result {
                Ok(()) if failing => {
                    tracing::info!("handing access lines and counts to the control plane again");
                    failing = false;
                }
                Ok(()) => {}
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "cannot hand access lines and counts to the control plane; keeping the counts");
                        failing = true;
                    }
                    for (app, counts) in &handed.traffic {
                        if let Some(traffic) = self.routes.traffic_of(app) {
                            traffic.add(counts);
                        }
                    }
                }
            }
        }
    }
}

fn load(path: &Path, secrets: &Secrets) -> anyhow::Result<Option<(i64, fleet::Published)>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let (generation, sealed) = bytes.split_at_checked(8).context("the saved routes are truncated")?;
    let generation = i64::from_be_bytes(generation.try_into()?);
    let doc =
        fleet::open(secrets, sealed).context("opening the saved routes (is this the control plane's secret key?)")?;
    Ok(Some((generation, doc)))
}

fn save(path: &Path, generation: i64, sealed: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, [generation.to_be_bytes().as_slice(), sealed].concat())?;
    std::fs::rename(&tmp, path)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "router".into())
}
