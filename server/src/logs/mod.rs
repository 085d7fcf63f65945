//! Runtime logs: every app's container output, router access lines and
//! deploy events, timestamped and tagged (`app[web.1]:`). The last
//! `KEEP_LINES` lines per app stay in memory (as Heroku keeps 1,500), so lines
//! of replaced or crashed containers can still be read; live readers get a
//! broadcast. Nothing here is written to the server's own log.

mod follow;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

pub use follow::{follow, follow_adopted};

pub const KEEP_LINES: usize = 1500;

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `web.1`, `worker.2`, `router` or `paas` (deploy events).
    #[schema(value_type = String)]
    pub source: Cow<'static, str>,
    pub text: String,
}

impl LogLine {
    /// Heroku's format: `2026-11-27T01:02:03.456Z app[web.1]: text`.
    pub fn render(&self) -> String {
        let origin = if self.source == "router" || self.source == "paas" { "paas" } else { "app" };
        format!("{} {origin}[{}]: {}", self.at.format("%Y-%m-%dT%H:%M:%S%.3fZ"), self.source, self.text)
    }

    /// Whether the line belongs to a process type filter (`web` matches `web.1`).
    pub fn matches(&self, process: Option<&str>) -> bool {
        match process {
            None => true,
            Some(p) => self.source == p || self.source.split('.').next() == Some(p),
        }
    }
}

/// One app's lines, each shared by the rings and the live readers.
struct AppLog {
    lines: VecDeque<Arc<LogLine>>,
    /// The same without the router's access lines, which under traffic
    /// would push a crash or a deploy event out of `lines` in seconds: what
    /// a reader filtering by process type (`-p web`) is given.
    quiet: VecDeque<Arc<LogLine>>,
    /// The platform's own lines (deploys, crashes, restarts), which an app
    /// that logs every request would push out of `quiet` as fast: what
    /// `-p paas` is given.
    platform: VecDeque<Arc<LogLine>>,
    live: broadcast::Sender<Arc<LogLine>>,
}

impl AppLog {
    fn new() -> Self {
        Self {
            lines: VecDeque::new(),
            quiet: VecDeque::new(),
            platform: VecDeque::new(),
            live: broadcast::channel(1024).0,
        }
    }
}

/// Add a line to a ring of at most `KEEP_LINES`.
fn keep(ring: &mut VecDeque<Arc<LogLine>>, line: Arc<LogLine>) {
    if ring.len() >= KEEP_LINES {
        ring.pop_front();
    }
    ring.push_back(line);
}

#[derive(Default)]
pub struct LogHub {
    apps: Mutex<HashMap<String, AppLog>>,
    /// Containers whose output is being read into the hub.
    following: Mutex<std::collections::HashSet<String>>,
    /// A router apart's hub keeps nothing: it hands every line on.
    handed: Option<tokio::sync::mpsc::Sender<(String, LogLine)>>,
}

impl LogHub {
    /// Whether a container's output is being read in (by this server).
    pub fn is_following(&self, container: &str) -> bool {
        self.following.lock().is_ok_and(|f| f.contains(container))
    }

    /// Note a container as followed (true) or no longer (false); whether it
    /// was not followed already, when noting it.
    fn set_following(&self, container: &str, on: bool) -> bool {
        let Ok(mut following) = self.following.lock() else { return true };
        match on {
            true => following.insert(container.to_string()),
            false => following.remove(container),
        }
    }

    /// A hub that hands every line to the receiver (at most `capacity`
    /// waiting; more are dropped) instead of keeping it.
    pub fn handing_on(capacity: usize) -> (Self, tokio::sync::mpsc::Receiver<(String, LogLine)>) {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        (Self { handed: Some(tx), ..Default::default() }, rx)
    }

    /// Add a line (trailing whitespace dropped); a `&'static str` source
    /// (`router`, `paas`) and an owned text are taken without a copy.
    pub fn push(&self, app: &str, source: impl Into<Cow<'static, str>>, text: impl Into<String>) {
        self.push_at(app, source, text, Utc::now());
    }

    /// The same, of a line written `at` (the router, which has read the
    /// clock already).
    pub fn push_at(&self, app: &str, source: impl Into<Cow<'static, str>>, text: impl Into<String>, at: DateTime<Utc>) {
        let mut text = text.into();
        text.truncate(text.trim_end().len());
        let line = LogLine { at, source: source.into(), text };
        if let Some(handed) = &self.handed {
            let _ = handed.try_send((app.to_string(), line));
            return;
        }
        self.keep(app, line);
    }

    /// Add a line as it was, with its own time (from a router apart).
    pub fn keep(&self, app: &str, line: LogLine) {
        let line = Arc::new(line);
        let Ok(mut apps) = self.apps.lock() else { return };
        let log = match apps.get_mut(app) {
            Some(log) => log,
            None => apps.entry(app.to_string()).or_insert_with(AppLog::new),
        };
        if line.source != "router" {
            keep(&mut log.quiet, line.clone());
        }
        if line.source == "paas" {
            keep(&mut log.platform, line.clone());
        }
        keep(&mut log.lines, line.clone());
        if log.live.receiver_count() > 0 {
            let _ = log.live.send(line);
        }
    }

    /// The last `n` lines, oldest first, optionally for one process type
    /// (for any but the router's, from the ring without access lines).
    pub fn recent(&self, app: &str, n: usize, process: Option<&str>) -> Vec<Arc<LogLine>> {
        let Ok(apps) = self.apps.lock() else { return Vec::new() };
        let Some(log) = apps.get(app) else { return Vec::new() };
        let ring = match process {
            Some("paas") => &log.platform,
            Some(p) if p != "router" => &log.quiet,
            _ => &log.lines,
        };
        let mut matching: Vec<_> = ring.iter().rev().filter(|l| l.matches(process)).take(n).cloned().collect();
        matching.reverse();
        matching
    }

    /// Lines from now on.
    pub fn subscribe(&self, app: &str) -> broadcast::Receiver<Arc<LogLine>> {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        apps.entry(app.to_string()).or_insert_with(AppLog::new).live.subscribe()
    }

    /// The last `backlog` lines, then live ones, for one process filter; the
    /// feeding task ends when the receiver is dropped.
    pub fn stream(
        &self,
        app: &str,
        backlog: usize,
        process: Option<String>,
    ) -> tokio::sync::mpsc::Receiver<Arc<LogLine>> {
        let mut live = self.subscribe(app);
        let recent = self.recent(app, backlog, process.as_deref());
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            for line in recent {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
            loop {
                match live.recv().await {
                    Ok(line) if line.matches(process.as_deref()) => {
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        rx
    }

    /// Keep an app's lines under its new name.
    pub fn rename(&self, old: &str, new: &str) {
        if let Ok(mut apps) = self.apps.lock() {
            if let Some(log) = apps.remove(old) {
                apps.insert(new.to_string(), log);
            }
        }
    }

    pub fn forget(&self, app: &str) {
        if let Ok(mut apps) = self.apps.lock() {
            apps.remove(app);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_filters_by_process_type() {
        let hub = LogHub::default();
        for i in 0..KEEP_LINES + 10 {
            hub.push("a", if i % 2 == 0 { "web.1" } else { "worker.1" }, format!("line {i}"));
        }
        let all = hub.recent("a", usize::MAX, None);
        assert_eq!(all.len(), KEEP_LINES);
        assert_eq!(all.last().unwrap().text, format!("line {}", KEEP_LINES + 9));
        let web = hub.recent("a", 3, Some("web"));
        assert_eq!(web.len(), 3);
        assert!(web.iter().all(|l| l.source == "web.1"));
        assert!(web[0].render().contains(" app[web.1]: line "));
        assert!(hub.recent("b", 10, None).is_empty());
    }

    #[test]
    fn a_flood_of_access_lines_leaves_the_processes_and_platform_lines() {
        let hub = LogHub::default();
        hub.push("a", "paas", "web.1 crashed: exit 3; restarting now");
        hub.push("a", "web.1", "Traceback: boom");
        for i in 0..KEEP_LINES * 2 {
            hub.push("a", "router", format!("GET /{i} 200 1ms"));
        }
        assert!(
            hub.recent("a", usize::MAX, None).iter().all(|l| l.source == "router"),
            "the ring has only the last lines"
        );
        assert_eq!(hub.recent("a", 10, Some("paas"))[0].text, "web.1 crashed: exit 3; restarting now");
        assert_eq!(hub.recent("a", 10, Some("web"))[0].text, "Traceback: boom");
        assert_eq!(hub.recent("a", 3, Some("router")).len(), 3);

        // An app that logs each request as well (busybox httpd -v) pushes
        // older process lines out; the platform's stay.
        for i in 0..KEEP_LINES * 2 {
            hub.push("a", "web.2", format!("GET /{i}"));
        }
        assert!(hub.recent("a", usize::MAX, Some("web")).iter().all(|l| l.source == "web.2"));
        assert_eq!(hub.recent("a", 10, Some("paas"))[0].text, "web.1 crashed: exit 3; restarting now");
    }
}
