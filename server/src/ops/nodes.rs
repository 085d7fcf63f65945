//! Taking a node out of service with no downtime, and back.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::{AppError, AppResult};
use crate::ops::Actor;
use crate::runtime::{self, LABEL_APP};
use crate::state::AppState;

/// What a finished drain says, in the CLI and the dashboard alike.
pub fn drained_sentence(node: &str, moved: &[&str]) -> String {
    match moved.is_empty() {
        true => format!("{node} runs no processes now and takes none."),
        false => format!("Moved {} off {node}; it runs no processes now and takes none.", moved.join(", ")),
    }
}

/// What a finished activation says.
pub fn activated_sentence(node: &str) -> String {
    format!("{node} takes processes again (those moved off it stay where they are).")
}

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
    // The replaced processes retire in the background (their requests
    // drained first): the node is drained once they are gone, so that Swarm
    // stops nothing that still serves.
    let retiring = Duration::from_secs(state.config.drain_timeout + state.config.stop_grace + 10);
    let deadline = tokio::time::Instant::now() + retiring;
    while tokio::time::Instant::now() < deadline {
        let left = state.runtime.list(&[]).await?;
        if !left.iter().any(|c| c.running && c.node.as_deref() == Some(name.as_str()) && c.label(LABEL_APP).is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
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

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    #[serde(flatten)]
    pub node: crate::runtime::Node,
    /// Memory the processes placed on it ask for (their limits).
    pub memory_reserved_bytes: i64,
    /// CPUs they ask for.
    pub cpus_reserved: f64,
    /// Apps with processes on it.
    pub apps: i64,
}

/// The machines processes run on, with what is placed on each: on the one
/// engine, every live formation; on a cluster, the processes running on
/// each node at their formation's size.
pub async fn view(state: &AppState) -> AppResult<Vec<NodeView>> {
    let mut nodes = state.runtime.nodes().await?;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    if nodes.len() == 1 {
        // One engine holds every process.
        let (memory_mb, cpus, apps) =
            db::formation::reserved(&state.db, state.config.default_memory, state.config.default_cpus).await?;
        let views = nodes.into_iter().map(|node| NodeView {
            node,
            memory_reserved_bytes: memory_mb * 1024 * 1024,
            cpus_reserved: cpus,
            apps,
        });
        return Ok(views.collect());
    }
    // A cluster: what runs on each node, at its formation's size.
    let mut placed: HashMap<String, (i64, f64, BTreeSet<String>)> = HashMap::new();
    let mut sizes: HashMap<String, Vec<db::formation::Formation>> = HashMap::new();
    for process in state.runtime.list(&[]).await?.into_iter().filter(|c| c.running) {
        let (Some(node), Some(app)) = (process.node.clone(), process.label(runtime::LABEL_APP)) else { continue };
        if !sizes.contains_key(app) {
            let formation = match db::apps::find_by_name(&state.db, app).await? {
                Some(found) => db::formation::list(&state.db, found.id).await?,
                None => Vec::new(),
            };
            sizes.insert(app.to_string(), formation);
        }
        let size = sizes[app].iter().find(|f| Some(f.process_type.as_str()) == process.label(runtime::LABEL_PROCESS));
        let entry = placed.entry(node).or_default();
        entry.0 += i64::from(size.and_then(|f| f.memory_mb).unwrap_or(state.config.default_memory));
        entry.1 += size.and_then(|f| f.cpus).unwrap_or(state.config.default_cpus);
        entry.2.insert(app.to_string());
    }
    Ok(nodes
        .into_iter()
        .map(|node| {
            let (memory_mb, cpus, apps) = placed.remove(&node.name).unwrap_or_default();
            NodeView {
                node,
                memory_reserved_bytes: memory_mb * 1024 * 1024,
                cpus_reserved: cpus,
                apps: apps.len() as i64,
            }
        })
        .collect())
}
