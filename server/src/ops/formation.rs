//! Scaling, resizing and restarting processes. A scale changes the live
//! processes in place (new ones health-gated beside the running ones, or
//! the surplus drained and stopped); a resize and a restart are health-gated
//! rollouts of the current release. The formation asked for becomes the
//! app's only when the change goes live.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::db::formation::Formation;
use crate::deploy::formation::{check_change, plan, FormationChange};
use crate::deploy::{rollout, Change};
use crate::error::{AppError, AppResult};
use crate::progress::Output;
use crate::reconcile::processes::{self, Process};
use crate::reconcile::Stop;
use crate::runtime::RUN;
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

/// Restart processes. Every process, or those of web (a type or one
/// process): a rollout of the current release, rolling and health-gated, so
/// no web process stops before its replacement serves. Those of another
/// type (`worker`) or one of them (`worker.2`): those alone, one at a time,
/// by the reconcile loop (as `ps:stop` does), done once each is up again.
pub async fn restart(state: &AppState, actor: &Actor, app: &App, target: Option<&str>) -> AppResult<Job<()>> {
    if db::releases::current(&state.db, app.id).await?.is_none() {
        return Err(AppError::validation("release", format!("{} has no release to restart", app.name)));
    }
    let target = target.map(str::to_string);
    // `worker.2` is of type worker.
    let target_type = target.as_deref().map(|t| t.split_once('.').map_or(t, |(process_type, _)| process_type));
    if target_type == Some(RUN) {
        return Err(AppError::validation("type", "one-off processes are not restarted: `paas ps:stop run.N` ends one"));
    }
    let alone = match target.as_deref().filter(|_| target_type != Some("web")) {
        Some(target) => Some(restartable(state, app, target).await?),
        None => None,
    };
    let plan_op = Plan { action: "ps.restart", summary: target.clone().unwrap_or_else(|| "all".into()), push: None };
    launch(state, app, actor, plan_op, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        if let Some(names) = alone {
            restart_alone(state, &op.app, &names, &op.out).await?;
            let mut tx = state.db.begin().await?;
            db::audit::record(&mut tx, &op.audit("")).await?;
            db::operations::commit(&mut tx, op.id).await?;
            tx.commit().await?;
            return Ok(());
        }
        if let Some(web) = target {
            op.out.step(format!(
                "Restarting {web} by replacing the formation, rolling: no web process stops before its replacement serves"
            ));
        }
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

/// The names of the processes a restart of `target` (a type or a process) means.
async fn restartable(state: &AppState, app: &App, target: &str) -> AppResult<Vec<String>> {
    let chosen: Vec<String> = super::run::named(state, app, target).await?.into_iter().map(|p| p.name).collect();
    if chosen.is_empty() {
        return Err(AppError::NotFound(format!("{} runs no process {target}", app.name)));
    }
    Ok(chosen)
}

/// Restart the named processes through the reconcile loop, which stops and
/// starts them anew one at a time; done once each runs again with a
/// restart more than before, failed if one crashes or takes too long.
async fn restart_alone(state: &AppState, app: &App, names: &[String], out: &Output) -> AppResult<()> {
    let before = processes::view(state, app).await.map_err(AppError::Other)?;
    let before: Vec<Process> = before.into_iter().filter(|p| names.contains(&p.name)).collect();
    out.step(format!("Restarting {}, one at a time", names.join(", ")));
    for process in &before {
        state.reconcile.stop(Stop { app: app.name.clone(), process: process.name.clone(), kill: false });
    }
    // Each in turn: its grace to stop, then a start and a few seconds' check.
    let each = Duration::from_secs(state.config.stop_grace) + RESTART_ALLOWANCE;
    let deadline = tokio::time::Instant::now() + each * before.len() as u32;
    let mut waiting = before;
    loop {
        let now = processes::view(state, app).await.map_err(AppError::Other)?;
        let mut still = Vec::new();
        for old in waiting {
            match now.iter().find(|p| p.name == old.name) {
                Some(p) if p.restarts > old.restarts && p.state == "up" => {
                    out.step(format!("Restarting {} ... up", p.name))
                }
                Some(p) if p.last_crash.is_some() && p.last_crash != old.last_crash => {
                    return Err(AppError::DeployFailed(format!(
                        "{} crashed after its restart ({}); the platform keeps restarting it: `paas logs -p {}` tells why",
                        p.name,
                        p.last_crash.as_deref().unwrap_or_default(),
                        p.name
                    )));
                }
                _ => still.push(old),
            }
        }
        waiting = still;
        if waiting.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let names: Vec<&str> = waiting.iter().map(|p| p.name.as_str()).collect();
            return Err(AppError::DeployFailed(format!("{} did not come back up in time", names.join(", "))));
        }
        tokio::time::sleep(RESTART_POLL).await;
    }
}

/// What a restarted non-web process takes besides its stop grace: a start
/// and the check that it still runs after a moment, with room to spare.
const RESTART_ALLOWANCE: Duration = Duration::from_secs(30);
const RESTART_POLL: Duration = Duration::from_millis(200);
