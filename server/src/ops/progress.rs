//! The progress of running operations, for watchers that come and go: the
//! push that started one, a CLI following it, the dashboard. Lines live here
//! while the operation runs; its whole output is stored with it when it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::progress::Output;

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    watchers: Vec<UnboundedSender<String>>,
}

type Shared = Arc<Mutex<Log>>;

#[derive(Default)]
pub struct Progress {
    running: Mutex<HashMap<i64, Shared>>,
}

impl Progress {
    /// Start collecting an operation's lines; the `Output` it writes to.
    pub(crate) fn open(&self, id: i64) -> Output {
        let log: Shared = Arc::default();
        if let Ok(mut running) = self.running.lock() {
            running.insert(id, log.clone());
        }
        Output::new(move |line| {
            if let Ok(mut log) = log.lock() {
                log.watchers.retain(|w| w.send(line.clone()).is_ok());
                log.lines.push(line);
            }
        })
    }

    /// The lines so far, then each new one, until the operation ends (the
    /// receiver then closes). None when it is not running here.
    pub fn follow(&self, id: i64) -> Option<UnboundedReceiver<String>> {
        let log = self.running.lock().ok()?.get(&id).cloned()?;
        let mut log = log.lock().ok()?;
        let (tx, rx) = unbounded_channel();
        for line in &log.lines {
            let _ = tx.send(line.clone());
        }
        log.watchers.push(tx);
        Some(rx)
    }

    /// Everything printed so far.
    pub(crate) fn text(&self, id: i64) -> String {
        let log = self.running.lock().ok().and_then(|r| r.get(&id).cloned());
        let Some(log) = log else { return String::new() };
        let Ok(log) = log.lock() else { return String::new() };
        log.lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// The operation ended (and is recorded): its watchers' streams close.
    pub(crate) fn close(&self, id: i64) {
        let Some(log) = self.running.lock().ok().and_then(|mut r| r.remove(&id)) else { return };
        if let Ok(mut log) = log.lock() {
            log.watchers.clear();
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_get_the_backlog_then_live_lines_until_the_end() {
        let progress = Progress::default();
        let out = progress.open(7);
        out.step("one");
        let mut rx = progress.follow(7).expect("running");
        out.line("two");
        assert_eq!(progress.text(7), "-----> one\n       two\n");
        progress.close(7);
        assert_eq!(rx.try_recv().as_deref(), Ok("-----> one"));
        assert_eq!(rx.try_recv().as_deref(), Ok("       two"));
        assert!(rx.try_recv().is_err(), "closed after the end");
        assert!(progress.follow(7).is_none());
        out.line("after the end goes nowhere");
    }
}
