//! Follow one container's output into the hub until it is removed. When the
//! process exits, say how (a crash, an OOM kill) and keep following if the
//! engine restarts it.

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
            let Ok(Some(container)) = state.runtime.inspect(&container_id).await else { return };
            if state.is_stopping(&container_id) {
                return;
            }
            if !container.running {
                let (how, short) = if container.oom_killed {
                    ("crashed: killed for exceeding its memory limit (OOM)".to_string(), "OOM".to_string())
                } else {
                    let code = container.exit_code.unwrap_or(-1);
                    (format!("crashed: exited with code {code}"), format!("exit {code}"))
                };
                state.logs.push(&app, "paas", &format!("{process} {how}"));
                if let Ok(mut crashes) = state.crashes.lock() {
                    crashes.insert(container_id.clone(), (chrono::Utc::now(), short));
                }
            }
            // The engine restarts crashed processes; wait for it, then follow again.
            let mut restarted = false;
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
