//! What the reconcile loop knows of each process it keeps, and `ps`: the
//! engine's containers of an app with that knowledge (state in words,
//! restarts, last crash), for the API and the dashboard.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::db::apps::App;
use crate::runtime;
use crate::state::AppState;

/// One process (`web.1`) of an app's live deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStatus {
    /// The container that is (or was last) this process.
    pub container: Option<String>,
    /// `up`, `starting`, `crashed (exit 3), restarting in 8 s`,
    /// `unhealthy (GET / answered 500), restarting`.
    pub state: String,
    /// Restarts by the platform since the server started.
    pub restarts: u32,
    /// `exit 3`, `OOM`, `unhealthy: ...`.
    pub last_crash: Option<String>,
}

#[derive(Default)]
pub struct Processes(Mutex<HashMap<String, HashMap<String, ProcessStatus>>>);

impl Processes {
    /// An app's processes by name.
    pub fn of(&self, app: &str) -> HashMap<String, ProcessStatus> {
        self.0.lock().ok().and_then(|apps| apps.get(app).cloned()).unwrap_or_default()
    }

    /// Every app's processes, by app and process name.
    pub fn all(&self) -> std::collections::BTreeMap<String, HashMap<String, ProcessStatus>> {
        self.0.lock().map(|apps| apps.iter().map(|(a, p)| (a.clone(), p.clone())).collect()).unwrap_or_default()
    }

    pub(super) fn set(&self, app: &str, processes: HashMap<String, ProcessStatus>) {
        if let Ok(mut apps) = self.0.lock() {
            if processes.is_empty() {
                apps.remove(app);
            } else {
                apps.insert(app.to_string(), processes);
            }
        }
    }

    pub(super) fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut apps) = self.0.lock() {
            apps.retain(|app, _| keep(app));
        }
    }
}

/// One line of `ps`.
#[derive(Debug, Clone)]
pub struct Process {
    /// `web.1`.
    pub name: String,
    pub process_type: String,
    pub state: String,
    /// `v3`; empty for a process whose container is gone.
    pub release: String,
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: u32,
    pub last_crash: Option<String>,
    /// A one-off's command (`run.N`).
    pub command: Option<String>,
    /// The machine it runs on, in a cluster.
    pub node: Option<String>,
}

/// The app's processes, sorted by name: its containers, the processes the
/// loop is bringing back whose container is gone, and one-offs (`run.N`)
/// while they run.
pub async fn view(state: &AppState, app: &App) -> anyhow::Result<Vec<Process>> {
    let containers = state.runtime.list(&[(runtime::LABEL_APP, &app.name)]).await?;
    let mut known = state.processes.of(&app.name);
    let listed: HashSet<String> = containers.iter().map(|c| c.id.clone()).collect();
    let (one_offs, containers): (Vec<_>, Vec<_>) =
        containers.into_iter().partition(|c| c.label(runtime::LABEL_PROCESS) == Some(runtime::RUN));
    let mut processes: Vec<Process> = containers
        .into_iter()
        .filter(|c| c.label(runtime::LABEL_DEPLOYMENT).is_some())
        .map(|c| {
            let process_type = c.label(runtime::LABEL_PROCESS).unwrap_or("?").to_string();
            let name = format!("{process_type}.{}", c.label(runtime::LABEL_INDEX).unwrap_or("?"));
            // What the loop knows of this process, whose own container may
            // already be gone (a replacement starting in its place).
            let status = known
                .get(&name)
                .filter(|s| s.container.as_ref().is_none_or(|id| id == &c.id || !listed.contains(id)))
                .cloned();
            if status.is_some() {
                known.remove(&name);
            }
            let state = match (&status, c.running) {
                // Replaced by a rollout, draining then stopping.
                _ if state.retiring.contains(&c.id) => "stopping".to_string(),
                (Some(s), _) => s.state.clone(),
                (None, true) => "up".to_string(),
                (None, false) => format!("crashed (exit {})", c.exit_code.unwrap_or(-1)),
            };
            Process {
                name,
                process_type,
                state,
                release: c.label(runtime::LABEL_RELEASE).unwrap_or("?").to_string(),
                started_at: c.started_at,
                restarts: status.as_ref().map_or(0, |s| s.restarts),
                last_crash: status.and_then(|s| s.last_crash),
                command: None,
                node: c.node,
            }
        })
        .collect();
    processes.extend(one_offs.into_iter().filter(|c| c.running).map(|c| Process {
        name: format!("{}.{}", runtime::RUN, c.label(runtime::LABEL_INDEX).unwrap_or("?")),
        process_type: runtime::RUN.to_string(),
        state: "up".to_string(),
        release: c.label(runtime::LABEL_RELEASE).unwrap_or("?").to_string(),
        started_at: c.started_at,
        restarts: 0,
        last_crash: None,
        command: c.label(runtime::LABEL_COMMAND).map(str::to_string),
        node: c.node,
    }));
    for (name, status) in known {
        processes.push(Process {
            process_type: name.split('.').next().unwrap_or("?").to_string(),
            name,
            state: status.state,
            release: String::new(),
            started_at: None,
            restarts: status.restarts,
            last_crash: status.last_crash,
            command: None,
            node: None,
        });
    }
    processes.sort_by(|a, b| a.name.cmp(&b.name).then(b.started_at.cmp(&a.started_at)));
    Ok(processes)
}
