//! At start: compare what Postgres says should run with what the engine runs.
//! Rollouts a previous process left half-done are undone (their push was
//! rejected when the server went away), stray containers are removed, and the
//! routing table is rebuilt from the live containers of current releases.

use std::net::SocketAddr;
use std::time::Duration;

use crate::db;
use crate::deploy::rollout;
use crate::router::{AppRoute, Backend};
use crate::runtime;
use crate::state::AppState;

pub async fn recover(state: &AppState) -> anyhow::Result<()> {
    let failed_builds = db::builds::fail_unfinished(&state.db).await?;
    if failed_builds > 0 {
        tracing::warn!(count = failed_builds, "marked builds interrupted by a stop as failed");
    }
    for deployment in db::deployments::unfinished(&state.db).await? {
        let Some(release) = db::releases::find(&state.db, deployment.release_id).await? else { continue };
        let current = db::releases::current(&state.db, deployment.app_id).await?;
        let went_live = current.as_ref().is_some_and(|c| c.id == release.id);
        tracing::warn!(deployment = deployment.id, phase = ?deployment.phase, went_live, "finishing an interrupted rollout");
        if went_live {
            // Traffic had switched: finish by stopping the other releases below.
            db::deployments::set_phase(&state.db, deployment.id, db::deployments::Phase::Succeeded).await?;
        } else {
            db::deployments::fail(&state.db, deployment.id, "interrupted: the server stopped during the rollout").await?;
            db::releases::mark_failed(&state.db, release.id).await?;
        }
    }

    // Every app container must belong to a current release.
    let served = db::apps::list_served(&state.db).await?;
    let containers = state.runtime.list(&[]).await?;
    let grace = Duration::from_secs(state.config.stop_grace);
    for container in containers.iter().filter(|c| c.label(runtime::LABEL_APP).is_some()) {
        let app = container.label(runtime::LABEL_APP).unwrap_or_default();
        let release = container.label(runtime::LABEL_RELEASE).unwrap_or_default();
        let wanted = match served.iter().find(|(_, name, _)| name == app) {
            Some((_, _, release_id)) => db::releases::find(&state.db, *release_id)
                .await?
                .is_some_and(|r| rollout::release_label(&r) == release),
            None => false,
        };
        if !wanted {
            tracing::info!(container = %container.name, "removing a container of no current release");
            state.runtime.stop_and_remove(&container.id, grace).await?;
        }
    }

    for (app_id, name, release_id) in served {
        let Some(release) = db::releases::find(&state.db, release_id).await? else { continue };
        let label = rollout::release_label(&release);
        let live = state
            .runtime
            .list(&[(runtime::LABEL_APP, &name), (runtime::LABEL_RELEASE, &label), (runtime::LABEL_PROCESS, "web")])
            .await?;
        let backends: Vec<_> = live
            .iter()
            .filter(|c| c.running)
            .filter_map(|c| c.host_port.map(|port| Backend::new(SocketAddr::from(([127, 0, 0, 1], port)), c.id.clone())))
            .collect();
        tracing::info!(app = %name, release = %label, backends = backends.len(), app_id, "routing restored");
        if !backends.is_empty() {
            state.routes.switch(&name, AppRoute::new(release.id, backends));
        }
    }
    Ok(())
}
