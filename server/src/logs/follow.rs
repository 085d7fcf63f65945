//! Follow one container's output into the hub until the container stops.
//! The engine never restarts a container (the reconcile loop replaces it
//! with a new one, followed anew), so one stream covers its whole life; one
//! still running when the server restarts is followed again once the
//! reconcile loop adopts it.

use futures_util::StreamExt;

use crate::state::AppState;

pub fn follow(state: &AppState, app: &str, process: &str, container_id: &str) {
    follow_since(state, app, process, container_id, 0);
}

/// Follow a container that was already running when this server started
/// (adopted after a restart): its last ten minutes first, so what it said
/// while the server was away is not lost, then on.
pub fn follow_adopted(state: &AppState, app: &str, process: &str, container_id: &str) {
    let since = chrono::Utc::now().timestamp() - ADOPTED_BACKLOG_SECS;
    follow_since(state, app, process, container_id, since);
}

/// How far back an adopted container's output is collected.
const ADOPTED_BACKLOG_SECS: i64 = 600;

fn follow_since(state: &AppState, app: &str, process: &str, container_id: &str, since: i64) {
    // One reader per container: its lines once.
    if !state.logs.set_following(container_id, true) {
        return;
    }
    let mut stream = state.runtime.follow_logs(container_id, since);
    let (logs, app, process, id) = (state.logs.clone(), app.to_string(), process.to_string(), container_id.to_string());
    tokio::spawn(async move {
        while let Some(line) = stream.next().await {
            logs.push(&app, process.clone(), &line);
        }
        logs.set_following(&id, false);
    });
}
