//! At start: compare what Postgres says should run with what the engine runs.
//! Rollouts a previous process left half-done are finished if traffic had
//! switched, else undone (their push was rejected when the server went away);
//! containers of no live deployment are removed; the routing table is rebuilt
//! from the live deployments' running web containers.

use std::time::Duration;

use crate::db;
use crate::db::deployments::Phase;
use crate::router::{AppRoute, Backend};
use crate::runtime;
use crate::state::AppState;

pub async fn recover(state: &AppState) -> anyhow::Result<()> {
    let failed_builds = db::builds::fail_unfinished(&state.db).await?;
    if failed_builds > 0 {
        tracing::warn!(count = failed_builds, "marked builds interrupted by a stop as failed");
    }
    for deployment in db::deployments::unfinished(&state.db).await? {
        let went_live = matches!(deployment.phase, Phase::Draining | Phase::StoppingOld);
        tracing::warn!(deployment = deployment.id, phase = ?deployment.phase, went_live, "settling an interrupted rollout");
        if went_live {
            db::deployments::set_phase(&state.db, deployment.id, Phase::Succeeded).await?;
        } else {
            db::deployments::fail(&state.db, deployment.id, "interrupted: the server stopped during the rollout")
                .await?;
            db::releases::mark_failed(&state.db, deployment.release_id).await?;
        }
    }

    // Every app container must belong to its app's live deployment.
    let grace = Duration::from_secs(state.config.stop_grace);
    let served = db::apps::list_served(&state.db).await?;
    let mut live = std::collections::HashMap::new();
    for (app_id, name, _) in &served {
        if let Some(d) = db::deployments::live(&state.db, *app_id).await? {
            live.insert(name.clone(), d.id.to_string());
        }
    }
    // One look at the engine: stray containers go, the rest are grouped by app.
    let mut kept: std::collections::HashMap<String, Vec<runtime::Container>> = std::collections::HashMap::new();
    for container in state.runtime.list(&[]).await? {
        let Some(app) = container.label(runtime::LABEL_APP).map(str::to_string) else { continue };
        if live.get(&app).map(String::as_str) != container.label(runtime::LABEL_DEPLOYMENT) {
            tracing::info!(container = %container.name, "removing a container of no live deployment");
            state.stop_container(&container.id, grace).await?;
        } else {
            kept.entry(app).or_default().push(container);
        }
    }

    for (_, name, release_id) in served {
        let containers = kept.remove(&name).unwrap_or_default();
        for c in &containers {
            let process = format!(
                "{}.{}",
                c.label(runtime::LABEL_PROCESS).unwrap_or("?"),
                c.label(runtime::LABEL_INDEX).unwrap_or("?")
            );
            crate::logs::follow(state.clone(), name.clone(), process, c.id.clone());
        }
        let backends = Backend::for_web(containers.iter().filter(|c| c.running));
        tracing::info!(app = %name, backends = backends.len(), "routing restored");
        if !backends.is_empty() {
            state.routes.switch(&name, AppRoute::new(release_id, backends));
        }
    }
    for (hostname, app) in db::domains::all(&state.db).await? {
        state.routes.add_domain(&hostname, &app);
    }
    Ok(())
}
