//! What the reconcile loop knows of each process it keeps, for `ps` and the
//! dashboard: its state in words, its restarts, its last crash.

use std::collections::HashMap;
use std::sync::Mutex;

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
