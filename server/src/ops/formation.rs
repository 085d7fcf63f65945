//! Scaling, resizing and restarting processes. A scale changes the live
//! processes in place (new ones health-gated beside the running ones, or
//! the surplus drained and stopped); a resize and a restart are health-gated
//! rollouts of the current release. The formation asked for becomes the
//! app's only when the change goes live.

use std::collections::BTreeMap;

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::db::formation::Formation;
use crate::deploy::formation::{check_change, plan, FormationChange};
use crate::deploy::{rollout, Change};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Scale or resize process types; the job's outcome is the app's formation after.
pub async fn change(
    state: &AppState,
    actor: &Actor,
    app: &App,
    changes: Vec<(String, FormationChange)>,
) -> AppResult<Job<Vec<Formation>>> {
    if changes.is_empty() {
        return Err(AppError::validation("updates", "nothing to change"));
    }
    for (process, change) in &changes {
        if process == "release" {
            return Err(AppError::validation("type", "the release process runs once per deploy; it cannot be scaled"));
        }
        check_change(change).map_err(|(field, message)| AppError::validation(field, message))?;
    }
    // Refuse what cannot apply before recording anything.
    let current = db::releases::current(&state.db, app.id)
        .await?
        .ok_or_else(|| AppError::validation("formation", format!("{} has no release yet; push first", app.name)))?;
    let formation = db::formation::list(&state.db, app.id).await?;
    plan(&app.name, &formation, &current.process_types.0, &BTreeMap::new(), &changes)
        .map_err(|e| AppError::validation("type", format!("{e} in v{}", current.version)))?;

    let summary = changes.iter().map(|(process, c)| describe(process, c)).collect::<Vec<_>>().join(", ");
    let plan_op = Plan { action: "formation.update", summary, push: None };
    launch(state, app, actor, plan_op, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        let current = db::releases::current(&state.db, op.app.id)
            .await?
            .ok_or_else(|| AppError::validation("formation", "the app has no release any more"))?;
        let now = db::formation::list(&state.db, op.app.id).await?;
        let formation = plan(&op.app.name, &now, &current.process_types.0, &BTreeMap::new(), &changes)
            .map_err(|e| AppError::validation("type", e))?;
        // Quantities alone change in place; a new size means new processes.
        let same_sizes = formation.iter().all(|f| {
            now.iter()
                .find(|n| n.process_type == f.process_type)
                .is_none_or(|n| n.memory_mb == f.memory_mb && n.cpus == f.cpus)
        });
        let live = db::deployments::live(&state.db, op.app.id).await?.filter(|d| d.release_id == current.id);
        let change = Change { operation: Some(op.id), config: None, formation, audit: Some(op.audit("")) };
        match live {
            Some(live) if same_sizes => rollout::scale(state, &op.app, &current, live.id, &now, &change, &op.out).await,
            _ => rollout::rollout(state, &op.app, &current, &change, &op.out).await,
        }
        .map_err(|e| AppError::DeployFailed(format!("{e:#}")))?;
        Ok(db::formation::list(&state.db, op.app.id).await?)
    })
    .await
}

/// `web=2 memory 512MB cpus 0.5`.
fn describe(process: &str, c: &FormationChange) -> String {
    let mut parts = vec![process.to_string()];
    if let Some(q) = c.quantity {
        parts.push(format!("={q}"));
    }
    match c.memory_mb {
        Some(Some(m)) => parts.push(format!(" memory {m}MB")),
        Some(None) => parts.push(" memory default".into()),
        None => {}
    }
    match c.cpus {
        Some(Some(cpus)) => parts.push(format!(" cpus {cpus}")),
        Some(None) => parts.push(" cpus default".into()),
        None => {}
    }
    parts.concat()
}

/// Replace every process of the current release with fresh ones, rolling.
pub async fn restart(state: &AppState, actor: &Actor, app: &App, process_type: Option<&str>) -> AppResult<Job<()>> {
    if db::releases::current(&state.db, app.id).await?.is_none() {
        return Err(AppError::validation("release", format!("{} has no release to restart", app.name)));
    }
    let plan_op = Plan { action: "ps.restart", summary: process_type.unwrap_or("all").to_string(), push: None };
    launch(state, app, actor, plan_op, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        let current = db::releases::current(&state.db, op.app.id)
            .await?
            .ok_or_else(|| AppError::validation("release", "the app has no release any more"))?;
        let formation = db::formation::list(&state.db, op.app.id).await?;
        let change = Change { operation: Some(op.id), config: None, formation, audit: Some(op.audit("")) };
        rollout::rollout(state, &op.app, &current, &change, &op.out)
            .await
            .map_err(|e| AppError::DeployFailed(format!("{e:#}")))
    })
    .await
}
