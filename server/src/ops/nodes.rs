//! Taking a node out of service with no downtime, and back.

use std::collections::BTreeSet;

use crate::db;
use crate::error::{AppError, AppResult};
use crate::ops::Actor;
use crate::runtime::LABEL_APP;
use crate::state::AppState;

/// Move every process off `node` (its id or host name), then leave it
/// running none: it takes no new processes, each app with a process there
/// rolls onto fresh ones (health-gated, switched, drained, as a restart is;
/// they land on the other nodes), and the node is set to drain. Returns the
/// apps moved. A failed move leaves the node paused and names the app.
pub async fn drain(state: &AppState, actor: &Actor, node: &str) -> AppResult<Vec<String>> {
    let nodes = state.runtime.nodes().await?;
    let found = nodes
        .iter()
        .find(|n| n.id == node || n.name == node)
        .ok_or_else(|| AppError::NotFound(format!("there is no node {node} (`paas nodes` lists them)")))?;
    let name = found.name.clone();
    state.runtime.set_availability(&found.id, "pause").await.map_err(|e| AppError::Conflict(format!("{e:#}")))?;
    let placed = state.runtime.list(&[]).await?;
    let apps: BTreeSet<String> = placed
        .iter()
        .filter(|c| c.running && c.node.as_deref() == Some(name.as_str()))
        .filter_map(|c| c.label(LABEL_APP).map(str::to_string))
        .collect();
    for app in &apps {
        let Some(app) = db::apps::find_by_name(&state.db, app).await? else { continue };
        let moved = crate::ops::formation::restart(state, actor, &app, None).await?.outcome().await;
        if let Err(err) = moved {
            return Err(AppError::Conflict(format!(
                "moving {} off {name} failed, so {name} stays paused (it takes no new processes): {err}",
                app.name
            )));
        }
    }
    state.runtime.set_availability(&found.id, "drain").await?;
    tracing::info!(node = %name, apps = apps.len(), "node drained");
    Ok(apps.into_iter().collect())
}

/// Let a drained or paused node take processes again (those moved off it
/// stay where they are).
pub async fn activate(state: &AppState, node: &str) -> AppResult<()> {
    state.runtime.set_availability(node, "active").await.map_err(|e| AppError::Conflict(format!("{e:#}")))
}
