//! One-off processes (`paas run`), commands inside running processes
//! (`paas ps:exec`) and stopping single processes (`ps:stop`, `ps:kill`).
//! A one-off runs the current release's image with its config and limits
//! on the app's own network, is `run.N` in `ps`, and goes when it ends; the
//! reconcile loop removes one a previous server left. Each is audited with
//! its command. None is an operation: nothing about the app changes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::db;
use crate::db::apps::App;
use crate::db::formation::Formation;
use crate::deploy::rollout::container_spec;
use crate::error::{AppError, AppResult};
use crate::ops::Actor;
use crate::reconcile::processes::Process;
use crate::runtime::{self, Container, Session, LABEL_COMMAND, RUN};
use crate::state::AppState;

/// What to run, and with what beyond the release's own.
#[derive(Debug, Clone, Default)]
pub struct OneOff {
    pub command: String,
    /// Added to (and winning over) the release's config.
    pub env: Vec<(String, String)>,
    pub memory_mb: Option<i32>,
    pub cpus: Option<f64>,
}

/// A one-off started with its terminal attached: `run.N`, its container and
/// the session.
pub async fn attached(
    state: &AppState,
    actor: &Actor,
    app: &App,
    one_off: &OneOff,
    tty: bool,
) -> AppResult<(String, Container, Session)> {
    let (spec, name) = prepare(state, app, one_off).await?;
    audit(state, actor, app, "run", format!("{name}: {}", one_off.command)).await?;
    let (container, session) = state.runtime.start_attached(spec, tty).await.map_err(AppError::Other)?;
    tracing::info!(app = %app.name, process = %name, user = %actor.user.email, "one-off started");
    Ok((name, container, session))
}

/// A one-off whose output goes to the app's logs as `run.N`; it is removed
/// once it exits.
pub async fn detached(state: &AppState, actor: &Actor, app: &App, one_off: &OneOff) -> AppResult<String> {
    let (spec, name) = prepare(state, app, one_off).await?;
    audit(state, actor, app, "run", format!("{name} (detached): {}", one_off.command)).await?;
    let container = state.runtime.start(spec).await.map_err(AppError::Other)?;
    crate::logs::follow(state, &app.name, &name, &container.id);
    let (state, app_name, process) = (state.clone(), app.name.clone(), name.clone());
    tokio::spawn(async move {
        let code = state.runtime.wait(&container.id).await;
        let text = match code {
            Ok(code) => format!("{process} exited with status {code}"),
            Err(err) => format!("{process} ended: {err:#}"),
        };
        state.logs.push(&app_name, "paas", text);
        end(&state, &container.id).await;
    });
    Ok(name)
}

/// A command (a shell when none) in a running process of the app, `web.1`
/// by default; returns the process's name and the session.
pub async fn exec(
    state: &AppState,
    actor: &Actor,
    app: &App,
    process: Option<&str>,
    command: Option<&str>,
    tty: bool,
) -> AppResult<(String, Session)> {
    let name = match process.unwrap_or("web") {
        p if p.contains('.') => p.to_string(),
        p => format!("{p}.1"),
    };
    let (process_type, index) = name.split_once('.').unwrap_or((&name, "1"));
    let labels = [
        (runtime::LABEL_APP, app.name.as_str()),
        (runtime::LABEL_PROCESS, process_type),
        (runtime::LABEL_INDEX, index),
    ];
    let containers = state.runtime.list(&labels).await.map_err(AppError::Other)?;
    // The live deployment's process, not one a rollout is retiring.
    let live = db::deployments::live(&state.db, app.id).await?.map(|d| d.id.to_string());
    let of_live = |c: &Container| live.is_some() && c.label(runtime::LABEL_DEPLOYMENT) == live.as_deref();
    let Some(target) = containers.into_iter().filter(|c| c.running).max_by_key(|c| (of_live(c), c.started_at)) else {
        return Err(AppError::NotFound(format!("{} has no running process {name}", app.name)));
    };
    let argv = match command.map(str::trim).filter(|c| !c.is_empty()) {
        Some(command) => vec!["/bin/sh".to_string(), "-c".to_string(), command.to_string()],
        None => vec!["/bin/sh".to_string()],
    };
    audit(state, actor, app, "ps.exec", format!("{name}: {}", command.unwrap_or("/bin/sh"))).await?;
    let session = state
        .runtime
        .exec(&target.id, argv, tty)
        .await
        .map_err(|e| AppError::Conflict(format!("could not run the command in {name}: {e:#}")))?;
    Ok((name, session))
}

/// Stop processes by name (`web.2`) or type (`web`): one of the formation
/// is started anew by the reconcile loop (as on Heroku: `ps:stop` is a
/// restart of that one process, not a crash), a one-off ends. `kill`: at
/// once, without draining or a grace period. Returns the names stopped.
pub async fn stop(state: &AppState, actor: &Actor, app: &App, target: &str, kill: bool) -> AppResult<Vec<String>> {
    let chosen = named(state, app, target).await?;
    if chosen.is_empty() {
        return Err(AppError::NotFound(format!("{} has no process {target}", app.name)));
    }
    let action = if kill { "ps.kill" } else { "ps.stop" };
    let names: Vec<String> = chosen.iter().map(|p| p.name.clone()).collect();
    audit(state, actor, app, action, names.join(", ")).await?;
    for process in chosen {
        if process.process_type != RUN {
            let stop = crate::reconcile::Stop { app: app.name.clone(), process: process.name, kill };
            state.reconcile.stop(stop);
            continue;
        }
        let index = process.name.rsplit('.').next().unwrap_or_default().to_string();
        let labels =
            [(runtime::LABEL_APP, app.name.as_str()), (runtime::LABEL_PROCESS, RUN), (runtime::LABEL_INDEX, &index)];
        let grace = Duration::from_secs(if kill { 0 } else { state.config.stop_grace });
        for container in state.runtime.list(&labels).await.map_err(AppError::Other)? {
            state.runtime.stop_and_remove(&container.id, grace).await.map_err(AppError::Other)?;
        }
    }
    tracing::info!(app = %app.name, processes = %names.join(", "), kill, user = %actor.user.email, "processes stopped on request");
    Ok(names)
}

/// The app's processes a name means: one process (`web.2`) or every one
/// of a type (`web`).
pub(super) async fn named(state: &AppState, app: &App, target: &str) -> AppResult<Vec<Process>> {
    let processes = crate::reconcile::processes::view(state, app).await.map_err(AppError::Other)?;
    Ok(processes.into_iter().filter(|p| p.name == target || p.process_type == target).collect())
}

/// Remove a one-off's container once it is done with (or its client left).
pub async fn end(state: &AppState, container: &str) {
    if let Err(err) = state.runtime.stop_and_remove(container, Duration::from_secs(1)).await {
        tracing::warn!(container, error = %format!("{err:#}"), "could not remove a one-off");
    }
}

/// The one-off's container: the current release with its config, the limits
/// of its web processes (or those asked), named by the lowest free `run.N`.
async fn prepare(state: &AppState, app: &App, one_off: &OneOff) -> AppResult<(runtime::ContainerSpec, String)> {
    let command = one_off.command.trim();
    if command.is_empty() {
        return Err(AppError::validation("command", "name a command to run, e.g. `paas run sh`"));
    }
    if command.contains('\0') {
        return Err(AppError::validation("command", "a command cannot contain a NUL character"));
    }
    for (key, value) in &one_off.env {
        crate::deploy::config::validate_key(key)?;
        if value.contains('\0') {
            return Err(AppError::validation("env", format!("the value of {key} contains a NUL character")));
        }
    }
    let Some(release) = db::releases::current(&state.db, app.id).await? else {
        return Err(AppError::validation("app", format!("{} has no release yet: push it first", app.name)));
    };
    let formation = db::formation::list(&state.db, app.id).await?;
    let web = formation.into_iter().find(|f| f.process_type == "web");
    let size = Formation {
        process_type: RUN.into(),
        quantity: 1,
        memory_mb: one_off.memory_mb.or(web.as_ref().and_then(|w| w.memory_mb)),
        cpus: one_off.cpus.or(web.as_ref().and_then(|w| w.cpus)),
    };
    let running = state
        .runtime
        .list(&[(runtime::LABEL_APP, app.name.as_str()), (runtime::LABEL_PROCESS, RUN)])
        .await
        .map_err(AppError::Other)?;
    let taken: BTreeSet<i32> = running.iter().filter_map(|c| c.label(runtime::LABEL_INDEX)?.parse().ok()).collect();
    let index = (1..).find(|i| !taken.contains(i)).unwrap_or(1);
    let extras = crate::deploy::rollout::Extras::of(&state.db, app.id).await?;
    let mut spec = container_spec(state, app, &release, None, RUN, index, &size, &extras)?;
    spec.command = Some(vec!["/bin/sh".to_string(), "-c".to_string(), command.to_string()]);
    for (key, value) in &one_off.env {
        spec.env.retain(|(k, _)| k != key);
        spec.env.push((key.clone(), value.clone()));
    }
    spec.labels.insert(LABEL_COMMAND.to_string(), command.to_string());
    Ok((spec, format!("{RUN}.{index}")))
}

pub(super) async fn audit(state: &AppState, actor: &Actor, app: &App, action: &str, detail: String) -> AppResult<()> {
    let mut conn = state.db.acquire().await?;
    db::audit::record(&mut conn, &actor.event(app, action, detail)).await?;
    Ok(())
}
