//! Follow one container's output into the hub until it is removed, again
//! after each restart by the engine; and watch the engine's events to log
//! (and remember, for `ps`) how processes crash.

use std::time::Duration;

use futures_util::StreamExt;

use crate::state::AppState;

pub fn follow(state: AppState, app: String, process: String, container_id: String) {
    tokio::spawn(async move {
        let mut since = 0i64;
        loop {
            let mut stream = state.runtime.follow_logs(&container_id, since);
            while let Some(line) = stream.next().await {
                state.logs.push(&app, &process, &line);
            }
            since = chrono::Utc::now().timestamp();
            if state.is_stopping(&container_id) {
                return;
            }
            // The engine restarts crashed processes; wait for it, then follow again.
            let mut restarted = false;
            // Lines printed between the exit and now were already read.
            since = since.max(chrono::Utc::now().timestamp());
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if state.is_stopping(&container_id) {
                    return;
                }
                match state.runtime.inspect(&container_id).await {
                    Ok(Some(c)) if c.running => {
                        restarted = true;
                        break;
                    }
                    Ok(Some(_)) => continue,
                    _ => return,
                }
            }
            if !restarted {
                return;
            }
            state.logs.push(&app, "paas", &format!("{process} restarted"));
        }
    });
}

/// Log crashes as the engine reports them: an `oom` event, then its `die`.
pub fn watch_crashes(state: AppState) {
    tokio::spawn(async move {
        let mut events = state.runtime.events();
        let mut oom_seen = std::collections::HashSet::new();
        while let Some(event) = events.next().await {
            if state.is_stopping(&event.id) {
                continue;
            }
            let Some(app) = event.labels.get(crate::runtime::LABEL_APP) else { continue };
            let process = format!(
                "{}.{}",
                event.labels.get(crate::runtime::LABEL_PROCESS).map(String::as_str).unwrap_or("?"),
                event.labels.get(crate::runtime::LABEL_INDEX).map(String::as_str).unwrap_or("?")
            );
            let (how, short) = match event.action.as_str() {
                "oom" => {
                    oom_seen.insert(event.id.clone());
                    ("crashed: killed for exceeding its memory limit (OOM)".to_string(), "OOM".to_string())
                }
                "die" if oom_seen.remove(&event.id) => continue,
                "die" => {
                    let code = event.exit_code.unwrap_or(-1);
                    (format!("crashed: exited with code {code}"), format!("exit {code}"))
                }
                _ => continue,
            };
            state.logs.push(app, "paas", &format!("{process} {how}"));
            if let Ok(mut crashes) = state.crashes.lock() {
                crashes.insert(event.id.clone(), (chrono::Utc::now(), short));
            }
        }
    });
}
