//! The control loop: it owns the truth of what runs. Driven by the engine's
//! events (a process died, was OOM-killed, was removed), by its own tasks'
//! reports and by a periodic sweep, it compares what each app's live
//! deployment wants (PostgreSQL: the current release and the formation) with
//! what the engine runs, and acts:
//!
//! - a process that died or is missing is started anew on a fresh container,
//!   at once the first time, then after growing cool-offs (`backoff`); `ps`
//!   says `crashed (...)` with the reason while it waits;
//! - a running web process is checked over HTTP on an interval (liveness);
//!   one that fails too often is taken out of rotation at once, drained,
//!   stopped and started anew;
//! - the routing table always equals the set of healthy web processes of the
//!   live deployment (an app whose every web process is down answers 503);
//! - containers of no live deployment are removed once no operation of
//!   their app runs (the leftovers of a crash), those of destroyed apps at
//!   once.
//!
//! A pass reads the database and installs routes under the routing table's
//! change lock, the same lock a rollout's switch takes, so it never routes a
//! deployment older than the one a rollout just switched to. Rollouts in
//! progress are left alone; their own containers are theirs until they end.

mod addons;
mod backoff;
pub mod processes;
pub mod recover;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

pub use processes::{ProcessStatus, Processes};

use crate::db;
use crate::db::formation::Formation;
use crate::db::releases::Release;
use crate::deploy::formation::web_quantity;
use crate::deploy::health::{self, Liveness, Startup};
use crate::deploy::rollout::{container_spec, Extras};
use crate::router::{fleet, AppRoute, Backend};
use crate::runtime::{self, Container, ContainerEvent, Happened};
use crate::state::AppState;

/// How often the loop compares the world with the database unprompted.
const SWEEP: Duration = Duration::from_secs(2);

/// Requests from outside the loop, taken at its next turn.
#[derive(Default)]
pub struct Inbox {
    stops: std::sync::Mutex<Vec<Stop>>,
    wake: tokio::sync::Notify,
    /// Apps being renamed, old name to new: containers still labelled with
    /// the old name belong to the app (its processes until the rename's
    /// rollout replaces them), not to a destroyed one.
    renamed: std::sync::Mutex<HashMap<String, String>>,
}

/// Stop one process of a live deployment (`ps:stop web.2`, `ps:kill`): it
/// leaves rotation, is drained (unless killed) and stopped, and is started
/// anew at once; a stop asked for is not a crash.
#[derive(Debug, Clone)]
pub struct Stop {
    pub app: String,
    /// `web.2`.
    pub process: String,
    /// SIGKILL at once rather than SIGTERM after a drain.
    pub kill: bool,
}

impl Inbox {
    pub fn stop(&self, stop: Stop) {
        if let Ok(mut stops) = self.stops.lock() {
            stops.push(stop);
        }
        self.wake.notify_one();
    }

    /// Ask for a pass now (something it keeps changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn renaming(&self, old: &str, new: &str) {
        if let Ok(mut renamed) = self.renamed.lock() {
            renamed.insert(old.to_string(), new.to_string());
        }
    }

    /// Whether a name is still an app's former one (its containers remain).
    pub fn is_former_name(&self, name: &str) -> bool {
        self.renamed.lock().is_ok_and(|renamed| renamed.contains_key(name))
    }

    /// The former names of an app whose containers may remain.
    pub fn former_names(&self, app: &str) -> Vec<String> {
        let Ok(renamed) = self.renamed.lock() else { return Vec::new() };
        renamed.iter().filter(|(_, new)| *new == app).map(|(old, _)| old.clone()).collect()
    }

    fn current_name(&self, label: &str) -> Option<String> {
        self.renamed.lock().ok()?.get(label).cloned()
    }

    fn forget_former(&self, old: &str) {
        if let Ok(mut renamed) = self.renamed.lock() {
            renamed.remove(old);
        }
    }

    fn take(&self) -> Vec<Stop> {
        self.stops.lock().map(|mut stops| std::mem::take(&mut *stops)).unwrap_or_default()
    }
}

/// Start the loop (after `recover::recover`).
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let (tx, rx) = unbounded_channel();
        let mut keeper = Keeper {
            started: chrono::Utc::now(),
            state,
            slots: HashMap::new(),
            exits: HashMap::new(),
            removing: HashSet::new(),
            live: HashMap::new(),
            addons: HashMap::new(),
            stops: Vec::new(),
            tx,
        };
        keeper.run(rx).await;
    });
}

/// (app, `web.1`)
type SlotKey = (String, String);

/// What runs in the background for a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Task {
    /// A running container we did not start being checked before routing it.
    Check,
    /// A new container being started (and checked) in place of the old one.
    Replace,
}

/// One process the live deployment wants (`web.1`), across its containers.
struct Slot {
    deployment: i64,
    process_type: String,
    index: i32,
    container: Option<String>,
    /// Where its `$PORT` is published.
    addr: Option<std::net::SocketAddr>,
    /// Since when it passed its check and may be routed.
    healthy_since: Option<Instant>,
    task: Option<Task>,
    /// The container whose end was recorded as a crash (once each).
    crashed: Option<String>,
    /// Consecutive crashes, for the backoff.
    crashes: u32,
    restarts: u32,
    last_crash: Option<String>,
    retry_at: Option<Instant>,
    /// Failed its liveness checks: out of rotation, to be replaced.
    unhealthy: Option<String>,
    probe: Option<tokio::task::AbortHandle>,
}

impl Slot {
    fn new(deployment: i64, process_type: &str, index: i32) -> Self {
        Self {
            deployment,
            process_type: process_type.to_string(),
            index,
            container: None,
            addr: None,
            healthy_since: None,
            task: None,
            crashed: None,
            crashes: 0,
            restarts: 0,
            last_crash: None,
            retry_at: None,
            unhealthy: None,
            probe: None,
        }
    }

    fn name(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }

    fn stop_probe(&mut self) {
        if let Some(probe) = self.probe.take() {
            probe.abort();
        }
    }

    /// `ps`'s words for it.
    fn status(&self, now: Instant) -> ProcessStatus {
        let crash = self.last_crash.clone().unwrap_or_default();
        let restarting = match self.retry_at.map(|t| t.saturating_duration_since(now)) {
            Some(wait) if wait >= Duration::from_secs(1) && self.task.is_none() => {
                format!("restarting in {} s", wait.as_secs())
            }
            _ => "restarting".to_string(),
        };
        let state = match (&self.unhealthy, self.healthy_since, &self.crashed) {
            (Some(why), _, _) => format!("unhealthy ({why}), {restarting}"),
            (None, Some(_), _) => "up".to_string(),
            (None, None, Some(_)) => format!("crashed ({crash}), {restarting}"),
            (None, None, None) => "starting".to_string(),
        };
        ProcessStatus {
            container: self.container.clone(),
            state,
            restarts: self.restarts,
            last_crash: self.last_crash.clone(),
        }
    }
}

/// Why a process ended: a short form for `ps`, a sentence for the log.
struct Crash {
    short: String,
    long: String,
}

impl Crash {
    fn from_exit(reason: &str) -> Self {
        match reason {
            "OOM" => Crash { short: "OOM".into(), long: "killed for exceeding its memory limit (OOM)".into() },
            other => match other.strip_prefix("exit ") {
                Some(code) => Crash { short: other.into(), long: format!("exited with code {code}") },
                None => Crash { short: other.into(), long: other.into() },
            },
        }
    }
}

/// The live deployment of an app as the last pass saw it.
struct Live {
    deployment: i64,
    release: Arc<Release>,
    formation: Vec<Formation>,
    startup: Startup,
    liveness: Option<Liveness>,
    /// Web processes the formation runs.
    wanted_web: usize,
}

/// What background tasks tell the loop.
enum Report {
    Checked {
        key: SlotKey,
        container: String,
        result: Result<(), String>,
    },
    Replaced {
        key: SlotKey,
        deployment: i64,
        result: Result<(String, Option<std::net::SocketAddr>), (Option<String>, String)>,
    },
    Unhealthy {
        key: SlotKey,
        container: String,
        reason: String,
    },
    Removed {
        container: String,
    },
    Addon(addons::AddonReport),
}

/// Whether a time the engine's listing gives (whole seconds) is the second
/// `instant` falls in: whether what it dates came before or after that
/// instant, only the engine's exact time says.
fn same_second(listed: chrono::DateTime<chrono::Utc>, instant: chrono::DateTime<chrono::Utc>) -> bool {
    listed <= instant && instant < listed + chrono::TimeDelta::seconds(1)
}

struct Keeper {
    state: AppState,
    /// When this server started: one-off containers older than that, of an
    /// app with no operation running, were left by a crash.
    started: chrono::DateTime<chrono::Utc>,
    slots: HashMap<SlotKey, Slot>,
    /// Why containers ended, from the engine's events.
    exits: HashMap<String, String>,
    /// Stray containers being removed.
    removing: HashSet<String>,
    live: HashMap<String, Live>,
    /// The add-ons kept running, by id.
    addons: HashMap<i64, addons::AddonSlot>,
    /// Stops asked for, with when, until the process they name is known.
    stops: Vec<(Stop, Instant)>,
    tx: UnboundedSender<Report>,
}

/// How long a stop waits for the process it names (one a scale is adding).
const STOP_PATIENCE: Duration = Duration::from_secs(10);

impl Keeper {
    async fn run(&mut self, mut reports: UnboundedReceiver<Report>) {
        let mut events = self.state.runtime.events();
        let mut next_pass = Instant::now();
        let mut failing = false;
        loop {
            let wake = self.next_retry().map_or(next_pass, |t| t.min(next_pass));
            let mut due = false;
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => due = true,
                Some(event) = events.next() => {
                    self.on_event(event);
                    due = true;
                }
                Some(report) = reports.recv() => self.on_report(report).await,
                _ = self.state.reconcile.wake.notified() => due = true,
            }
            let asked = self.state.reconcile.take();
            // Stops waiting for a replacement go on as soon as one reports.
            due |= !asked.is_empty() || !self.stops.is_empty();
            self.stops.extend(asked.into_iter().map(|stop| (stop, Instant::now())));
            // Take whatever else is already queued before acting.
            while let Some(Some(event)) = events.next().now_or_never() {
                self.on_event(event);
                due = true;
            }
            while let Ok(report) = reports.try_recv() {
                self.on_report(report).await;
            }
            if !due && Instant::now() < next_pass {
                continue;
            }
            match self.pass().await {
                Ok(()) if failing => {
                    tracing::info!("the reconcile loop works again");
                    failing = false;
                }
                Ok(()) => {}
                Err(err) if !failing => {
                    tracing::warn!(error = %format!("{err:#}"), "a reconcile pass failed; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
            next_pass = Instant::now() + SWEEP;
            // After a pass, which knows every process of the live deployments
            // (one a scale just added included).
            // An app's processes stop one at a time (the next once the last
            // one's replacement is up), so `ps:stop web` keeps serving.
            for (stop, asked) in std::mem::take(&mut self.stops) {
                let known = self.slots.contains_key(&(stop.app.clone(), stop.process.clone()));
                let replacing = self.slots.iter().any(|((a, _), s)| *a == stop.app && s.task == Some(Task::Replace));
                match known {
                    true if stop.kill || !replacing => self.on_stop(stop),
                    true => self.stops.push((stop, asked)),
                    false if asked.elapsed() < STOP_PATIENCE => self.stops.push((stop, asked)),
                    false => {}
                }
            }
        }
    }

    fn next_retry(&self) -> Option<Instant> {
        self.slots.values().filter(|s| s.task.is_none()).filter_map(|s| s.retry_at).min()
    }

    fn on_event(&mut self, event: ContainerEvent) {
        match event.what {
            Happened::OutOfMemory => {
                self.exits.insert(event.id, "OOM".into());
            }
            Happened::Exited(code) => {
                let code = code.unwrap_or(-1);
                self.exits.entry(event.id).or_insert_with(|| format!("exit {code}"));
            }
            Happened::Removed => {}
        }
    }

    /// Compare and act, for every app.
    async fn pass(&mut self) -> anyhow::Result<()> {
        let state = self.state.clone();
        let _changing = state.routes.changing().await;
        let desired = db::deployments::desired(&state.db).await?;
        let max_deployment = db::deployments::max_id(&state.db).await?;
        let names: HashSet<String> = db::apps::names(&state.db).await?.into_iter().collect();
        let busy: HashSet<String> = db::operations::busy_apps(&state.db).await?.into_iter().collect();
        let ids: Vec<i64> = desired.iter().map(|d| d.app_id).collect();
        let mut releases = db::releases::current_of(&state.db, &ids).await?;
        let mut formations = db::formation::all(&state.db).await?;
        // The routing lock is held: an engine that hangs must not hold it long.
        let mut containers = tokio::time::timeout(Duration::from_secs(10), state.runtime.list(&[]))
            .await
            .map_err(|_| anyhow::anyhow!("the engine did not list containers within 10 s"))??;
        self.exact_starts(&mut containers).await;
        let now = Instant::now();

        let wanted_addons = db::addons::all(&state.db).await?;
        let (addon_containers, containers): (Vec<Container>, Vec<Container>) =
            containers.into_iter().partition(|c| c.label(runtime::LABEL_ADDON).is_some());
        let mut by_app: HashMap<String, Vec<Container>> = HashMap::new();
        let mut former_in_use = HashSet::new();
        for c in containers {
            if let Some(label) = c.label(runtime::LABEL_APP) {
                let app = match state.reconcile.current_name(label) {
                    Some(current) => {
                        former_in_use.insert(label.to_string());
                        current
                    }
                    None => label.to_string(),
                };
                by_app.entry(app).or_default().push(c);
            }
        }
        // A former name no container carries any more is done with.
        let formers: Vec<String> =
            state.reconcile.renamed.lock().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        for old in formers.into_iter().filter(|old| !former_in_use.contains(old)) {
            state.reconcile.forget_former(&old);
            let runtime = state.runtime.clone();
            tokio::spawn(async move {
                if let Err(err) = runtime.remove_network(&runtime::app_network(&old)).await {
                    tracing::warn!(app = %old, error = %format!("{err:#}"), "could not remove a renamed app's old network");
                }
            });
        }
        // Forget what ended events told about containers that are gone.
        let known: HashSet<&str> = by_app.values().flatten().chain(&addon_containers).map(|c| c.id.as_str()).collect();
        self.exits.retain(|id, _| known.contains(id.as_str()));

        let mut strays: Vec<Container> = Vec::new();
        let mut kept_apps = HashSet::new();
        for want in &desired {
            let (Some(deployment), Some(release)) = (want.deployment_id, releases.remove(&want.app_id)) else {
                continue;
            };
            kept_apps.insert(want.app.clone());
            let formation = formations.remove(&want.app_id).unwrap_or_default();
            let (startup, liveness) = health::checks(&state.config, &release);
            let wanted_web = web_quantity(&formation, &release.process_types.0);
            let live = Live { deployment, release: Arc::new(release), formation, startup, liveness, wanted_web };
            let containers = by_app.remove(&want.app).unwrap_or_default();
            let route = state.routes.get(&want.app);
            // Until the table serves this deployment, what it serves stays.
            let settled = route.as_ref().is_none_or(|r| r.deployment == deployment);
            let cleanable = settled && !busy.contains(&want.app);
            let (ours, others): (Vec<Container>, Vec<Container>) = containers
                .into_iter()
                .partition(|c| c.label(runtime::LABEL_DEPLOYMENT) == Some(deployment.to_string().as_str()));
            for c in others {
                if cleanable && self.is_leftover(&c, max_deployment) {
                    strays.push(c);
                }
            }
            let extra = self.keep_app(&want.app, &live, ours, route.as_deref(), now);
            if cleanable {
                strays.extend(extra);
            }
            self.live.insert(want.app.clone(), live);
            self.route(&want.app, true);
        }
        // Apps with nothing live: a destroyed app's containers go at once;
        // those of an app that has not gone live yet only once no operation
        // of it runs.
        for (app, containers) in by_app {
            let gone = !names.contains(&app);
            if !gone && busy.contains(&app) {
                continue;
            }
            strays.extend(containers.into_iter().filter(|c| gone || self.is_leftover(c, max_deployment)));
        }
        self.slots.retain(|(app, _), slot| {
            let keep = kept_apps.contains(app);
            if !keep {
                slot.stop_probe();
            }
            keep
        });
        self.live.retain(|app, _| kept_apps.contains(app));
        for app in state.routes.apps() {
            if !names.contains(&app) {
                state.routes.forget_app(&app);
            }
        }
        state.processes.retain(|app| kept_apps.contains(app));
        for c in strays {
            self.remove(c);
        }
        self.keep_addons(wanted_addons, addon_containers, now);
        Ok(())
    }

    /// The one-offs listed as started in this server's first second, with
    /// the engine's exact start (none when it cannot say: not left behind,
    /// this pass). Only those can be one a previous server left as well as
    /// one this server has just started.
    async fn exact_starts(&self, containers: &mut [Container]) {
        for c in containers.iter_mut() {
            let one_off = c.label(runtime::LABEL_DEPLOYMENT).is_none();
            if one_off && c.started_at.is_some_and(|t| same_second(t, self.started)) {
                c.started_at =
                    self.state.runtime.inspect(&c.id).await.ok().flatten().and_then(|exact| exact.started_at);
            }
        }
    }

    /// Whether a container that is not of a live deployment was left behind:
    /// of a deployment that ended (not one newer than this pass knows), or a
    /// one-off created before this server started.
    fn is_leftover(&self, c: &Container, max_deployment: i64) -> bool {
        match c.label(runtime::LABEL_DEPLOYMENT).map(str::parse::<i64>) {
            Some(Ok(d)) => d <= max_deployment,
            Some(Err(_)) => true,
            None => c.started_at.is_some_and(|t| t < self.started),
        }
    }

    /// Keep one app's live deployment whole; returns its containers nothing wants.
    fn keep_app(
        &mut self,
        app: &str,
        live: &Live,
        ours: Vec<Container>,
        route: Option<&AppRoute>,
        now: Instant,
    ) -> Vec<Container> {
        let mut ours: HashMap<(String, i32), Container> = ours
            .into_iter()
            .filter_map(|c| {
                let process = c.label(runtime::LABEL_PROCESS)?.to_string();
                let index = c.label(runtime::LABEL_INDEX)?.parse().ok()?;
                Some(((process, index), c))
            })
            .collect();
        let mut wanted = HashSet::new();
        for f in &live.formation {
            if f.process_type == "release" || !live.release.process_types.0.contains_key(&f.process_type) {
                continue;
            }
            for index in 1..=f.quantity {
                let key = (app.to_string(), format!("{}.{index}", f.process_type));
                wanted.insert(key.1.clone());
                let slot =
                    self.slots.entry(key.clone()).or_insert_with(|| Slot::new(live.deployment, &f.process_type, index));
                if slot.deployment != live.deployment {
                    slot.stop_probe();
                    *slot = Slot::new(live.deployment, &f.process_type, index);
                }
                let container = ours.remove(&(f.process_type.clone(), index));
                self.keep_slot(&key, container, live, f, route, now);
            }
        }
        let mut statuses = HashMap::new();
        for ((a, name), slot) in self.slots.iter_mut() {
            if a == app && !wanted.contains(name) {
                slot.stop_probe();
            }
        }
        self.slots.retain(|(a, name), _| a != app || wanted.contains(name));
        for ((a, name), slot) in &self.slots {
            if a == app {
                statuses.insert(name.clone(), slot.status(now));
            }
        }
        self.state.processes.set(app, statuses);
        ours.into_values().collect()
    }

    fn keep_slot(
        &mut self,
        key: &SlotKey,
        container: Option<Container>,
        live: &Live,
        size: &Formation,
        route: Option<&AppRoute>,
        now: Instant,
    ) {
        enum Act {
            Nothing,
            Check(Container),
            Probe(String, std::net::SocketAddr, Liveness),
            Replace(Option<String>),
        }
        let act = {
            let Some(slot) = self.slots.get_mut(key) else { return };
            if slot.task == Some(Task::Replace) {
                return;
            }
            // A container the engine said died is dead, even if a listing
            // taken a moment later still shows it running.
            let died = container.as_ref().is_some_and(|c| self.exits.contains_key(&c.id));
            match container {
                Some(c) if c.running && !died && slot.unhealthy.is_none() => {
                    if slot.container.as_deref() != Some(c.id.as_str()) {
                        // Not the container we knew: adopt it. A web process the
                        // table routes was checked (by its rollout, or before
                        // the server restarted); another running process is up.
                        slot.stop_probe();
                        slot.container = Some(c.id.clone());
                        slot.crashed = None;
                        let checked = slot.process_type != "web" || route.is_some_and(|r| r.has(&c.id));
                        slot.healthy_since = checked.then_some(now);
                        // Not followed by this server (a previous one started
                        // it): its recent output is read back, then on. One
                        // this server started is followed since its start.
                        if !self.state.logs.is_following(&c.id) {
                            crate::logs::follow_adopted(&self.state, &key.0, &key.1, &c.id);
                        }
                    }
                    slot.addr = c.addr;
                    if slot.healthy_since.is_none() && slot.task.is_none() {
                        slot.task = Some(Task::Check);
                        Act::Check(c)
                    } else if slot.healthy_since.is_some() && slot.probe.is_none() && slot.process_type == "web" {
                        match (&live.liveness, c.addr) {
                            (Some(liveness), Some(addr)) => Act::Probe(c.id.clone(), addr, liveness.clone()),
                            _ => Act::Nothing,
                        }
                    } else {
                        Act::Nothing
                    }
                }
                container => {
                    if slot.task.is_some() {
                        return;
                    }
                    let id = container.as_ref().map(|c| c.id.clone()).or_else(|| slot.container.clone());
                    let marker = id.clone().unwrap_or_else(|| "(none)".into());
                    if slot.crashed.as_deref() != Some(marker.as_str()) {
                        let crash = match &container {
                            Some(c) => Crash::from_exit(
                                &self
                                    .exits
                                    .get(&c.id)
                                    .cloned()
                                    .unwrap_or_else(|| format!("exit {}", c.exit_code.unwrap_or(-1))),
                            ),
                            None => Crash { short: "gone".into(), long: "its container disappeared".into() },
                        };
                        record_crash(&self.state, &key.0, slot, &marker, crash, now);
                    }
                    if slot.retry_at.is_none_or(|t| now >= t) {
                        slot.task = Some(Task::Replace);
                        Act::Replace(id)
                    } else {
                        Act::Nothing
                    }
                }
            }
        };
        match act {
            Act::Nothing => {}
            Act::Check(c) => self.check(key.clone(), c, live),
            Act::Probe(id, addr, liveness) => {
                let handle = self.probe(key.clone(), id, addr, liveness);
                if let Some(slot) = self.slots.get_mut(key) {
                    slot.probe = Some(handle);
                }
            }
            Act::Replace(old) => self.replace(key.clone(), live, size.clone(), old),
        }
    }

    /// Stop a process as asked and start it anew, not counted as a crash.
    fn on_stop(&mut self, stop: Stop) {
        let key = (stop.app.clone(), stop.process.clone());
        let (Some(live), Some(slot)) = (self.live.get(&stop.app), self.slots.get(&key)) else { return };
        if slot.task == Some(Task::Replace) {
            return;
        }
        let Some(size) = live.formation.iter().find(|f| f.process_type == slot.process_type).cloned() else { return };
        let old = slot.container.clone();
        // The backend to drain is taken from the table before the process
        // leaves rotation.
        self.replace_with(key.clone(), live, size, old, !stop.kill);
        if let Some(slot) = self.slots.get_mut(&key) {
            slot.task = Some(Task::Replace);
            slot.stop_probe();
        }
        let how = if stop.kill { "killed" } else { "stopped" };
        self.state.logs.push(&stop.app, "paas", format!("{} {how} on request; starting it anew", stop.process));
        self.route(&stop.app, false);
    }

    /// Check a running container we did not start ourselves.
    fn check(&self, key: SlotKey, container: Container, live: &Live) {
        let (state, tx, startup) = (self.state.clone(), self.tx.clone(), live.startup.clone());
        let web = container.label(runtime::LABEL_PROCESS) == Some("web");
        tokio::spawn(async move {
            let result = if web {
                health::startup(state.runtime.as_ref(), &container, &startup).await.map(|_| ())
            } else {
                health::settled(state.runtime.as_ref(), &container).await
            };
            let result = result.map_err(|e| format!("{e:#}"));
            let _ = tx.send(Report::Checked { key, container: container.id, result });
        });
    }

    /// Start a process anew: drain and stop the old container if it still
    /// runs, start a fresh one, check it.
    fn replace(&self, key: SlotKey, live: &Live, size: Formation, old: Option<String>) {
        self.replace_with(key, live, size, old, true);
    }

    /// `replace`; `gently`: drain the old process and give it its grace, else
    /// kill it at once.
    fn replace_with(&self, key: SlotKey, live: &Live, size: Formation, old: Option<String>, gently: bool) {
        let (state, tx) = (self.state.clone(), self.tx.clone());
        let (release, deployment, startup) = (live.release.clone(), live.deployment, live.startup.clone());
        let backend = old.as_ref().and_then(|id| {
            state.routes.get(&key.0).and_then(|r| r.backends.iter().find(|b| &b.container_id == id).cloned())
        });
        let Some(slot) = self.slots.get(&key) else { return };
        let (process, index) = (slot.process_type.clone(), slot.index);
        tokio::spawn(async move {
            let result = async {
                if let Some(old) = old {
                    if let Some(backend) = backend.filter(|_| gently) {
                        fleet::drain(
                            &state.routes,
                            &state.db,
                            &[backend],
                            Duration::from_secs(state.config.drain_timeout),
                        )
                        .await;
                    }
                    let grace = Duration::from_secs(if gently { state.config.stop_grace } else { 0 });
                    state.runtime.stop_and_remove(&old, grace).await.map_err(|e| (None, format!("{e:#}")))?;
                }
                let app = db::apps::find_by_name(&state.db, &key.0)
                    .await
                    .map_err(|e| (None, e.to_string()))?
                    .ok_or((None, "the app is gone".to_string()))?;
                let extras = Extras::of(&state.db, app.id).await.map_err(|e| (None, e.to_string()))?;
                let spec = container_spec(&state, &app, &release, Some(deployment), &process, index, &size, &extras)
                    .map_err(|e| (None, format!("{e:#}")))?;
                let container = state.runtime.start(spec).await.map_err(|e| (None, format!("{e:#}")))?;
                crate::logs::follow(&state, &app.name, &key.1, &container.id);
                let checked = if process == "web" {
                    health::startup(state.runtime.as_ref(), &container, &startup).await.map(|_| ())
                } else {
                    health::settled(state.runtime.as_ref(), &container).await
                };
                match checked {
                    Ok(()) => Ok((container.id, container.addr)),
                    Err(e) => Err((Some(container.id), format!("{e:#}"))),
                }
            }
            .await;
            let _ = tx.send(Report::Replaced { key, deployment, result });
        });
    }

    /// Check a routed web process on an interval until it fails too often.
    fn probe(
        &self,
        key: SlotKey,
        container: String,
        addr: std::net::SocketAddr,
        check: Liveness,
    ) -> tokio::task::AbortHandle {
        let tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let client = health::client(check.timeout);
            let mut failures = 0;
            loop {
                tokio::time::sleep(check.interval).await;
                match health::probe(&client, addr, &check.path).await {
                    Ok(()) => failures = 0,
                    Err(why) => {
                        failures += 1;
                        if failures >= check.failures {
                            let reason = format!("{why}, {failures} checks in a row");
                            let _ = tx.send(Report::Unhealthy { key, container, reason });
                            return;
                        }
                    }
                }
            }
        });
        task.abort_handle()
    }

    fn remove(&mut self, c: Container) {
        if self.state.retiring.contains(&c.id) || !self.removing.insert(c.id.clone()) {
            return;
        }
        tracing::info!(container = %c.name, "removing a container of no live deployment");
        let (state, tx) = (self.state.clone(), self.tx.clone());
        let grace = Duration::from_secs(if c.running { state.config.stop_grace } else { 1 });
        tokio::spawn(async move {
            if let Err(err) = state.runtime.stop_and_remove(&c.id, grace).await {
                tracing::warn!(container = %c.name, error = %format!("{err:#}"), "could not remove a stray container");
            }
            let _ = tx.send(Report::Removed { container: c.id });
        });
    }

    async fn on_report(&mut self, report: Report) {
        let report = match report {
            Report::Addon(report) => return self.on_addon_report(report).await,
            other => other,
        };
        let now = Instant::now();
        let app = match &report {
            Report::Checked { key, .. } | Report::Replaced { key, .. } | Report::Unhealthy { key, .. } => key.0.clone(),
            Report::Removed { container } => {
                self.removing.remove(container);
                // What waited for it to be gone (an add-on's next container) goes on.
                self.state.reconcile.wake();
                return;
            }
            Report::Addon(_) => return,
        };
        match report {
            Report::Checked { key, container, result } => {
                let Some(slot) = self.slots.get_mut(&key) else { return };
                if slot.task == Some(Task::Check) {
                    slot.task = None;
                }
                if slot.container.as_deref() != Some(container.as_str()) {
                    return;
                }
                match result {
                    Ok(()) => slot.healthy_since = Some(now),
                    Err(why) => {
                        let crash =
                            Crash { short: "unhealthy".into(), long: format!("failed its health check: {why}") };
                        record_crash(&self.state, &key.0, slot, &container, crash, now);
                        slot.unhealthy = Some(why);
                    }
                }
            }
            Report::Replaced { key, deployment, result } => {
                let Some(slot) = self.slots.get_mut(&key) else { return };
                if slot.deployment != deployment {
                    return;
                }
                slot.task = None;
                slot.unhealthy = None;
                slot.stop_probe();
                match result {
                    Ok((id, addr)) => {
                        slot.container = Some(id.clone());
                        slot.addr = addr;
                        slot.crashed = None;
                        slot.retry_at = None;
                        slot.healthy_since = Some(now);
                        slot.restarts += 1;
                        let line = format!("{} restarted", key.1);
                        tracing::info!(app = %key.0, process = %key.1, "restarted a process");
                        self.state.logs.push(&key.0, "paas", &line);
                    }
                    Err((id, why)) => {
                        slot.container = id.clone();
                        slot.healthy_since = None;
                        let marker = id.unwrap_or_else(|| "(none)".into());
                        let crash =
                            Crash { short: "failed to start".into(), long: format!("could not be started: {why}") };
                        record_crash(&self.state, &key.0, slot, &marker, crash, now);
                    }
                }
            }
            Report::Unhealthy { key, container, reason } => {
                let Some(slot) = self.slots.get_mut(&key) else { return };
                if slot.container.as_deref() != Some(container.as_str()) || slot.crashed.as_deref() == Some(&container)
                {
                    return;
                }
                slot.probe = None;
                let crash = Crash {
                    short: "unhealthy".into(),
                    long: format!("failed its liveness check ({reason}): out of rotation, restarting"),
                };
                record_crash(&self.state, &key.0, slot, &container, crash, now);
                slot.unhealthy = Some(reason);
            }
            Report::Removed { .. } | Report::Addon(_) => {}
        }
        self.route(&app, false);
        let statuses = self.slots.iter().filter(|((a, _), _)| *a == app).map(|((_, n), s)| (n.clone(), s.status(now)));
        self.state.processes.set(&app, statuses.collect());
    }

    /// Point the app's route at its healthy web processes, if that changes it;
    /// never for a deployment older than the table's. Outside a pass (which
    /// read the database under the change lock) only an app the table has is
    /// touched, so a destroyed app is never routed again.
    fn route(&self, app: &str, may_add: bool) {
        let Some(live) = self.live.get(app) else { return };
        let current = self.state.routes.get(app);
        if current.as_ref().is_some_and(|r| r.deployment > live.deployment) || (current.is_none() && !may_add) {
            return;
        }
        let mut backends: Vec<Arc<Backend>> = Vec::new();
        for ((a, _), slot) in &self.slots {
            let healthy = slot.healthy_since.is_some() && slot.unhealthy.is_none() && slot.task != Some(Task::Replace);
            if a != app || slot.process_type != "web" || !healthy || slot.deployment != live.deployment {
                continue;
            }
            let (Some(id), Some(addr)) = (&slot.container, slot.addr) else { continue };
            let kept = current.as_ref().and_then(|r| r.backends.iter().find(|b| &b.container_id == id).cloned());
            backends.push(kept.filter(|b| b.addr == addr).unwrap_or_else(|| Backend::new(addr, id.clone())));
        }
        backends.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        let same = current.as_ref().is_some_and(|r| {
            r.deployment == live.deployment
                && r.wanted == live.wanted_web
                && r.backends.len() == backends.len()
                && backends.iter().all(|b| r.has(&b.container_id))
        });
        if !same {
            let _ = self.state.routes.switch(app, AppRoute::new(live.deployment, live.wanted_web, backends));
        }
    }
}

/// A process ended (or cannot serve): count it for the backoff, say so in the
/// app's log, and take it out of rotation.
fn record_crash(state: &AppState, app: &str, slot: &mut Slot, marker: &str, crash: Crash, now: Instant) {
    let ran_for = slot.healthy_since.map(|t| now.saturating_duration_since(t));
    let (count, wait) = backoff::after_crash(slot.crashes, ran_for);
    slot.crashes = count;
    slot.retry_at = Some(now + wait);
    slot.crashed = Some(marker.to_string());
    slot.last_crash = Some(crash.short.clone());
    slot.healthy_since = None;
    slot.stop_probe();
    let when =
        if wait.is_zero() { "restarting now".to_string() } else { format!("restarting in {} s", wait.as_secs()) };
    let name = slot.name();
    tracing::warn!(app = %app, process = %name, reason = %crash.long, "a process crashed");
    state.logs.push(app, "paas", format!("{name} crashed: {}; {when}", crash.long));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_time_listed_in_the_servers_first_second_is_in_doubt() {
        let at = |text: &str| chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        let start = at("2026-12-06T09:48:49.600Z");
        // Listed as 09:48:49, it may have been 09:48:49.900, after the start.
        assert!(same_second(at("2026-12-06T09:48:49Z"), start));
        assert!(!same_second(at("2026-12-06T09:48:48Z"), start), "before it, surely");
        assert!(!same_second(at("2026-12-06T09:48:50Z"), start), "after it, surely");
    }
}
