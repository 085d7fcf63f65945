//! Keeping add-ons running: every add-on the database has runs one
//! container. One that died or is missing is started anew (at once the first
//! time, then with the processes' backoff); a running one is checked with its
//! service's ready command (every 2 s until it first serves, then every
//! 10 s; each check first joins it to any attachment's network it is not on)
//! and restarted after three failures in a row, or when it never
//! serves within a minute of starting. Containers of add-ons the database no
//! longer has are removed. Starts and checks run in tasks of their own that
//! report back to the loop. An add-on's output goes to its app's log,
//! as the process named after it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{backoff, Keeper, Report};
use crate::addons;
use crate::db::addons::Addon;
use crate::progress::Output;
use crate::runtime::{self, Container};

const CHECK_UP: Duration = Duration::from_secs(10);
const CHECK_STARTING: Duration = Duration::from_secs(2);
const FAILURES: u32 = 3;
/// How long a started add-on may take to serve (a first start makes its data).
const STARTUP: Duration = Duration::from_secs(60);

/// One add-on as the loop keeps it.
#[derive(Debug)]
pub(super) struct AddonSlot {
    container: Option<String>,
    /// A start or a check runs.
    busy: bool,
    started: Instant,
    up_since: Option<Instant>,
    failures: u32,
    next_check: Instant,
    crashes: u32,
    retry_at: Option<Instant>,
}

impl AddonSlot {
    fn new(now: Instant) -> Self {
        Self {
            container: None,
            busy: false,
            started: now,
            up_since: None,
            failures: 0,
            next_check: now,
            crashes: 0,
            retry_at: None,
        }
    }
}

/// What an add-on task tells the loop.
pub(super) enum AddonReport {
    Started { addon: i64, result: Result<String, String> },
    Checked { addon: i64, container: String, result: Result<(), String> },
}

impl Keeper {
    /// Compare the add-ons the database has with their containers, and act.
    pub(super) fn keep_addons(&mut self, wanted: Vec<Addon>, containers: Vec<Container>, now: Instant) {
        let mut by_addon: HashMap<i64, Vec<Container>> = HashMap::new();
        for c in containers {
            match c.label(runtime::LABEL_ADDON).and_then(|id| id.parse::<i64>().ok()) {
                Some(id) if wanted.iter().any(|a| a.id == id) => by_addon.entry(id).or_default().push(c),
                _ => self.remove(c),
            }
        }
        self.addons.retain(|id, _| wanted.iter().any(|a| a.id == *id));
        for addon in wanted {
            let mut list = by_addon.remove(&addon.id).unwrap_or_default();
            let slot = self.addons.entry(addon.id).or_insert_with(|| AddonSlot::new(now));
            if slot.busy {
                continue;
            }
            let ours = slot.container.clone();
            let alive = |c: &Container| c.running && !self.exits.contains_key(&c.id);
            let running = list.iter().position(alive).map(|i| list.remove(i));
            let mut ended = Vec::new();
            // A new container starts once the old ones are gone (they share
            // its name and its data).
            let clearing = !list.is_empty();
            for c in list {
                if ours.as_deref() == Some(c.id.as_str()) {
                    let code = c.exit_code.unwrap_or(-1);
                    ended.push(self.exits.get(&c.id).cloned().unwrap_or_else(|| format!("exit {code}")));
                }
                self.remove(c);
            }
            let Some(slot) = self.addons.get_mut(&addon.id) else { continue };
            match running {
                Some(c) => {
                    if slot.container.as_deref() != Some(c.id.as_str()) {
                        // One we did not start (before a server restart): check it.
                        slot.container = Some(c.id.clone());
                        slot.failures = 0;
                        slot.started = now;
                        slot.next_check = now;
                        if c.started_at.is_some_and(|t| t < self.started) {
                            crate::logs::follow_adopted(&self.state, &addon.app_name, &addon.name, &c.id);
                        }
                    }
                    if now >= slot.next_check {
                        slot.busy = true;
                        self.check_addon(addon, c.id);
                    }
                }
                None => {
                    if slot.container.take().is_some() {
                        let why = ended.pop().unwrap_or_else(|| "its container disappeared".into());
                        crashed(&self.state, &addon, slot, &why, now);
                    }
                    if !clearing && slot.retry_at.is_none_or(|t| now >= t) {
                        slot.busy = true;
                        self.start_addon(addon);
                    }
                }
            }
        }
    }

    fn start_addon(&self, addon: Addon) {
        let (state, tx) = (self.state.clone(), self.tx.clone());
        tokio::spawn(async move {
            // Destroyed since the pass read it: nothing to start.
            if !matches!(crate::db::addons::find_by_id(&state.db, addon.id).await, Ok(Some(_))) {
                let result = Err("the add-on is gone".to_string());
                let _ = tx.send(Report::Addon(AddonReport::Started { addon: addon.id, result }));
                return;
            }
            let result = match addons::start(&state, &addon, &Output::discard()).await {
                Ok(c) => {
                    crate::logs::follow(&state, &addon.app_name, &addon.name, &c.id);
                    Ok(c.id)
                }
                Err(err) => Err(format!("{err:#}")),
            };
            let _ = tx.send(Report::Addon(AddonReport::Started { addon: addon.id, result }));
        });
    }

    fn check_addon(&self, addon: Addon, container: String) {
        let (state, tx) = (self.state.clone(), self.tx.clone());
        tokio::spawn(async move {
            // On every attachment's network, whatever an attach racing a
            // start missed.
            if let Err(err) = addons::connect_attachments(&state, &addon, &container).await {
                tracing::warn!(addon = %addon.name, error = %format!("{err:#}"), "could not join an attachment's network");
            }
            let result = addons::serves(&state, &addon, &container).await;
            let _ = tx.send(Report::Addon(AddonReport::Checked { addon: addon.id, container, result }));
        });
    }

    pub(super) async fn on_addon_report(&mut self, report: AddonReport) {
        let now = Instant::now();
        match report {
            AddonReport::Started { addon, result } => {
                let Some(slot) = self.addons.get_mut(&addon) else { return };
                slot.busy = false;
                slot.started = now;
                slot.up_since = None;
                slot.failures = 0;
                slot.next_check = now + CHECK_STARTING;
                match result {
                    Ok(id) => slot.container = Some(id),
                    Err(why) => {
                        let (count, wait) = backoff::after_crash(slot.crashes, None);
                        slot.crashes = count;
                        slot.retry_at = Some(now + wait);
                        tracing::warn!(addon, error = %why, "could not start an add-on");
                    }
                }
            }
            AddonReport::Checked { addon, container, result } => {
                let Some(slot) = self.addons.get_mut(&addon) else { return };
                slot.busy = false;
                if slot.container.as_deref() != Some(container.as_str()) {
                    return;
                }
                match result {
                    Ok(()) => {
                        slot.failures = 0;
                        slot.up_since.get_or_insert(now);
                        slot.next_check = now + CHECK_UP;
                    }
                    Err(why) => {
                        slot.failures += 1;
                        let given_up = match slot.up_since {
                            Some(_) => slot.failures >= FAILURES,
                            None => now.saturating_duration_since(slot.started) >= STARTUP,
                        };
                        slot.next_check = now + if slot.up_since.is_some() { CHECK_UP } else { CHECK_STARTING };
                        if given_up {
                            // Stopped here; the next pass records the crash and starts it anew.
                            tracing::warn!(addon, reason = %why, "an add-on failed its checks; restarting it");
                            let (state, id) = (self.state.clone(), container.clone());
                            self.exits.insert(container, format!("unhealthy: {why}"));
                            tokio::spawn(async move {
                                let _ = state.runtime.stop_and_remove(&id, Duration::from_secs(10)).await;
                                state.reconcile.wake();
                            });
                        }
                    }
                }
            }
        }
    }
}

/// An add-on's container ended: count it for the backoff, say so in its app's log.
fn crashed(state: &crate::state::AppState, addon: &Addon, slot: &mut AddonSlot, why: &str, now: Instant) {
    let ran_for = slot.up_since.map(|t| now.saturating_duration_since(t));
    let (count, wait) = backoff::after_crash(slot.crashes, ran_for);
    slot.crashes = count;
    slot.retry_at = Some(now + wait);
    slot.up_since = None;
    let when =
        if wait.is_zero() { "restarting now".to_string() } else { format!("restarting in {} s", wait.as_secs()) };
    tracing::warn!(addon = %addon.name, reason = %why, "an add-on stopped");
    state.logs.push(&addon.app_name, "paas", format!("{} stopped ({why}); {when}", addon.name));
}
