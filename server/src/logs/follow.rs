//! Follow one container's output into the hub until the container stops.
//! The engine never restarts a container (the reconcile loop replaces it
//! with a new one, followed anew), so one stream covers its whole life.

use futures_util::StreamExt;

use crate::state::AppState;

pub fn follow(state: &AppState, app: &str, process: &str, container_id: &str) {
    let mut stream = state.runtime.follow_logs(container_id, 0);
    let (logs, app, process) = (state.logs.clone(), app.to_string(), process.to_string());
    tokio::spawn(async move {
        while let Some(line) = stream.next().await {
            logs.push(&app, process.clone(), &line);
        }
    });
}
