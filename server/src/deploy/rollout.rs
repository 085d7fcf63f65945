//! The zero-downtime rollout of a release. A rollout (a push, a config
//! change, a restart, a rollback, a resize) starts a fresh set of containers
//! for the release and its formation, labelled with the deployment id, all
//! at once, and health-checks them together.
//!
//! Phases, each written before it is taken: starting -> health_checking ->
//! switching -> draining -> stopping_old -> succeeded. Going live is one
//! transaction (the release becomes current, with the config, formation and
//! audit event of the change) taken under the routing table's change lock,
//! then the table switches. Before that, a failure removes this deployment's
//! containers and leaves everything else as it was; after it, nothing undoes
//! the release. The rollout is done once traffic has switched: the replaced
//! processes are drained and stopped in the background (`Retiring` keeps
//! the reconcile loop off them meanwhile); a failure there is logged and the
//! reconcile loop removes what is left.
//!
//! A change of quantities alone (`scale`) keeps the live deployment: it
//! starts only the new processes, beside the running ones, or drains and
//! stops only the surplus.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;

use super::health;
use crate::db;
use crate::db::apps::App;
use crate::db::audit::NewEvent;
use crate::db::config_vars::Sealed;
use crate::db::deployments::Phase;
use crate::db::formation::Formation;
use crate::db::releases::Release;
use crate::db::volumes::Volume;
use crate::progress::Output;
use crate::router::{fleet, AppRoute, Backend};
use crate::runtime::{self, Container, ContainerSpec, CONTAINER_PORT};
use crate::state::AppState;

const LOG_LINES_ON_FAILURE: usize = 20;

/// What a rollout makes true when it goes live, besides its release.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// The operation the rollout belongs to.
    pub operation: Option<i64>,
    /// Becomes the app's config vars (a config change, a rollback).
    pub config: Option<Sealed>,
    /// The formation to run, stored as the app's when it goes live.
    pub formation: Vec<Formation>,
    /// The audit event of the change, written in the same transaction.
    pub audit: Option<NewEvent>,
}

pub fn release_label(release: &Release) -> String {
    format!("v{}", release.version)
}

#[tracing::instrument(skip_all, fields(app = %app.name, release = release.version))]
pub async fn rollout(
    state: &AppState,
    app: &App,
    release: &Release,
    change: &Change,
    out: &Output,
) -> anyhow::Result<()> {
    let deployment = db::deployments::create(&state.db, app.id, release.id, change.operation).await?;
    state.logs.push(&app.name, "paas", format!("Rolling out v{}: {}", release.version, release.description));
    let live = match start_and_check(state, app, release, deployment, &change.formation, out).await {
        Ok(started) => go_live(state, app, release, deployment, change, &started, out).await,
        Err(err) => Err(err),
    };
    let old = match live {
        Ok(old) => old,
        Err(err) => {
            state.logs.push(&app.name, "paas", format!("Rollout of v{} failed: {err:#}", release.version));
            undo(state, app, deployment).await;
            db::deployments::fail(&state.db, deployment, &format!("{err:#}")).await?;
            return Err(err);
        }
    };
    state.logs.push(&app.name, "paas", format!("v{} is live", release.version));
    let (state, app) = (state.clone(), app.clone());
    tokio::spawn(async move { retire(&state, &app, deployment, old).await });
    Ok(())
}

/// A change of quantities alone, for the live deployment (`deployment`) of
/// the current release: the new processes start beside the running ones and
/// join the route once healthy; the surplus leaves the route, drains and
/// stops. Nothing else is touched. A new process that fails is removed and
/// the formation stays as it was. `now` is the app's formation as it is.
#[tracing::instrument(skip_all, fields(app = %app.name, deployment = deployment))]
pub async fn scale(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: i64,
    now: &[Formation],
    change: &Change,
    out: &Output,
) -> anyhow::Result<()> {
    let runs = |f: &&Formation| f.process_type != "release" && release.process_types.0.contains_key(&f.process_type);
    let quantity_now = |process: &str| now.iter().find(|f| f.process_type == process).map_or(0, |f| f.quantity);
    // Slots up to today's quantity are the reconcile loop's, running or not.
    let wanted: Vec<(&Formation, i32)> = change
        .formation
        .iter()
        .filter(runs)
        .flat_map(|f| (quantity_now(&f.process_type) + 1..=f.quantity).map(move |index| (f, index)))
        .collect();
    let ours = deployment.to_string();
    let surplus: Vec<Container> = state
        .runtime
        .list(&[(runtime::LABEL_APP, &app.name), (runtime::LABEL_DEPLOYMENT, &ours)])
        .await?
        .into_iter()
        .filter(|c| {
            let (Some(process), Some(index)) = (c.label(runtime::LABEL_PROCESS), c.label(runtime::LABEL_INDEX)) else {
                return false;
            };
            let keep = change.formation.iter().find(|f| f.process_type == process).map_or(0, |f| f.quantity);
            index.parse::<i32>().is_ok_and(|index| index > keep)
        })
        .collect();

    let started = start_all(state, app, release, deployment, &wanted).await?;
    if let Err(err) = check_all(state, release, &started, out).await {
        remove(state, started.iter().map(|(_, _, c)| c)).await;
        return Err(err);
    }
    let leaving: Vec<Arc<Backend>> = {
        let _changing = state.routes.changing().await;
        if let Err(err) =
            db::deployments::rescale(&state.db, app.id, &change.formation, change.audit.as_ref(), change.operation)
                .await
        {
            remove(state, started.iter().map(|(_, _, c)| c)).await;
            return Err(anyhow::Error::new(err).context("recording the new formation"));
        }
        let route = state.routes.get(&app.name);
        let (mut backends, leaving): (Vec<Arc<Backend>>, Vec<Arc<Backend>>) = route
            .map(|r| r.backends.clone())
            .unwrap_or_default()
            .into_iter()
            .partition(|b| !surplus.iter().any(|c| c.id == b.container_id));
        backends
            .extend(started.iter().filter(|(p, _, _)| p == "web").filter_map(|(_, _, c)| Backend::for_container(c)));
        let wanted_web = super::formation::web_quantity(&change.formation, &release.process_types.0);
        if let Err(newer) = state.routes.switch(&app.name, AppRoute::new(deployment, wanted_web, backends)) {
            tracing::error!(newer = newer.deployment, "the routing table already serves a later deployment");
        }
        leaving
    };
    if surplus.is_empty() {
        return Ok(());
    }
    if !fleet::drain(&state.routes, &state.db, &leaving, Duration::from_secs(state.config.drain_timeout)).await {
        tracing::warn!(app = %app.name, "surplus processes still had requests after the drain timeout");
    }
    for (container, result) in stop_all(state, &surplus, Duration::from_secs(state.config.stop_grace)).await {
        let name = format!(
            "{}.{}",
            container.label(runtime::LABEL_PROCESS).unwrap_or("?"),
            container.label(runtime::LABEL_INDEX).unwrap_or("?")
        );
        match result {
            Ok(()) => out.step(format!("Stopping {name} ... done")),
            // The formation no longer has it: the reconcile loop removes it.
            Err(err) => {
                tracing::warn!(container = %container.name, error = %format!("{err:#}"), "could not stop a surplus process")
            }
        }
    }
    Ok(())
}

/// Containers being drained and stopped in the background after their
/// deployment was replaced: the reconcile loop leaves them to it.
#[derive(Debug, Default)]
pub struct Retiring(Mutex<HashSet<String>>);

impl Retiring {
    pub fn contains(&self, container: &str) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(container))
    }

    /// Take charge of the containers no one retires yet; returns those.
    fn claim(&self, containers: Vec<Container>) -> Vec<Container> {
        let Ok(mut set) = self.0.lock() else { return Vec::new() };
        containers.into_iter().filter(|c| set.insert(c.id.clone())).collect()
    }

    fn release(&self, container: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(container);
        }
    }
}

/// Start the formation's containers and health-check them all at once.
async fn start_and_check(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: i64,
    formation: &[Formation],
    out: &Output,
) -> anyhow::Result<Vec<(String, i32, Container)>> {
    let runs = |f: &&Formation| {
        f.quantity > 0 && f.process_type != "release" && release.process_types.0.contains_key(&f.process_type)
    };
    let wanted: Vec<(&Formation, i32)> =
        formation.iter().filter(runs).flat_map(|f| (1..=f.quantity).map(move |index| (f, index))).collect();
    let started = start_all(state, app, release, deployment, &wanted).await?;
    db::deployments::set_phase(&state.db, deployment, Phase::HealthChecking).await?;
    check_all(state, release, &started, out).await?;
    Ok(started)
}

/// Start processes (`(size, index)` each) of a deployment, all at once. If
/// one cannot start, those that did are removed.
async fn start_all(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: i64,
    wanted: &[(&Formation, i32)],
) -> anyhow::Result<Vec<(String, i32, Container)>> {
    let extras = &Extras::of(&state.db, app.id).await?;
    let starts = wanted.iter().map(|&(f, index)| async move {
        let spec = container_spec(state, app, release, Some(deployment), &f.process_type, index, f, extras)?;
        let container = state.runtime.start(spec).await?;
        crate::logs::follow(state, &app.name, &format!("{}.{index}", f.process_type), &container.id);
        anyhow::Ok((f.process_type.clone(), index, container))
    });
    let (mut started, mut failure) = (Vec::new(), None);
    for result in futures_util::future::join_all(starts).await {
        match result {
            Ok(process) => started.push(process),
            Err(err) => failure = failure.or(Some(err)),
        }
    }
    if let Some(err) = failure {
        remove(state, started.iter().map(|(_, _, c)| c)).await;
        return Err(err);
    }
    Ok(started)
}

/// Health-check started processes together (web: HTTP; others: still
/// running after a moment); the first failure is told with the process's
/// last log lines.
async fn check_all(
    state: &AppState,
    release: &Release,
    started: &[(String, i32, Container)],
    out: &Output,
) -> anyhow::Result<()> {
    let (startup, _) = health::checks(&state.config, release);
    let checks = started.iter().map(|(process, _, container)| {
        let startup = &startup;
        async move {
            let began = Instant::now();
            if process == "web" {
                health::startup(state.runtime.as_ref(), container, startup)
                    .await
                    .map(|checks| format!("healthy ({checks} checks, {:.2} s)", began.elapsed().as_secs_f64()))
            } else {
                health::settled(state.runtime.as_ref(), container).await.map(|()| "up".to_string())
            }
        }
    });
    let results = futures_util::future::join_all(checks).await;
    for ((process, index, container), result) in started.iter().zip(results) {
        match result {
            Ok(verdict) => out.step(format!("Starting {process}.{index} ... {verdict}")),
            Err(reason) => {
                out.step(format!("Starting {process}.{index} ... failed"));
                out.error(format!("{reason:#}"));
                let lines = state.runtime.logs_tail(&container.id, LOG_LINES_ON_FAILURE).await.unwrap_or_default();
                if lines.is_empty() {
                    out.error("(the process printed nothing)");
                } else {
                    out.error(format!("last {} log lines of {process}.{index}:", lines.len()));
                    for line in lines {
                        out.error(format!("  {line}"));
                    }
                }
                bail!("{process}.{index} of v{} did not become healthy", release.version);
            }
        }
    }
    Ok(())
}

/// Stop and remove containers, all at once; each with its outcome.
async fn stop_all<'a>(
    state: &AppState,
    containers: impl IntoIterator<Item = &'a Container>,
    grace: Duration,
) -> Vec<(&'a Container, anyhow::Result<()>)> {
    let stops = containers.into_iter().map(|c| async move { (c, state.runtime.stop_and_remove(&c.id, grace).await) });
    futures_util::future::join_all(stops).await
}

/// Remove containers nothing routes to (a short grace), logging failures.
async fn remove<'a>(state: &AppState, containers: impl IntoIterator<Item = &'a Container>) {
    for (container, result) in stop_all(state, containers, Duration::from_secs(1)).await {
        if let Err(err) = result {
            tracing::error!(container = %container.name, error = %format!("{err:#}"), "could not remove a container");
        }
    }
}

/// The switch: the database first (one transaction), then the routing table,
/// both under the table's change lock. Returns the route it replaced.
async fn go_live(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: i64,
    change: &Change,
    started: &[(String, i32, Container)],
    out: &Output,
) -> anyhow::Result<Option<Arc<AppRoute>>> {
    db::deployments::set_phase(&state.db, deployment, Phase::Switching).await?;
    out.step(format!("Switching traffic to v{}", release.version));
    let backends =
        started.iter().filter(|(p, _, _)| p == "web").filter_map(|(_, _, c)| Backend::for_container(c)).collect();
    let _changing = state.routes.changing().await;
    db::deployments::go_live(
        &state.db,
        db::deployments::GoLive {
            deployment,
            release_id: release.id,
            app_id: app.id,
            config: change.config.as_ref(),
            formation: &change.formation,
            audit: change.audit.as_ref(),
            operation: change.operation,
        },
    )
    .await
    .context("recording the switch")?;
    let wanted = super::formation::web_quantity(&change.formation, &release.process_types.0);
    Ok(match state.routes.switch(&app.name, AppRoute::new(deployment, wanted, backends)) {
        Ok(old) => old,
        Err(newer) => {
            tracing::error!(newer = newer.deployment, "the routing table already serves a later deployment");
            None
        }
    })
}

/// After the switch, in the background: drain the replaced backends, then
/// stop the containers of every earlier deployment that no one else retires.
/// Failures here are logged; they never touch the live processes.
async fn retire(state: &AppState, app: &App, deployment: i64, old: Option<Arc<AppRoute>>) {
    // Its processes from before a rename carry its former name.
    let names: Vec<String> = std::iter::once(app.name.clone()).chain(state.reconcile.former_names(&app.name)).collect();
    let listed = async {
        let mut all = Vec::new();
        for name in &names {
            all.extend(state.runtime.list(&[(runtime::LABEL_APP, name)]).await?);
        }
        anyhow::Ok(all)
    }
    .await;
    let older = match listed {
        Ok(containers) => containers
            .into_iter()
            .filter(|c| {
                c.label(runtime::LABEL_DEPLOYMENT).and_then(|d| d.parse::<i64>().ok()).is_some_and(|d| d < deployment)
            })
            .collect(),
        Err(err) => {
            tracing::warn!(app = %app.name, error = %format!("{err:#}"), "could not list the old processes; the reconcile loop removes them");
            Vec::new()
        }
    };
    let older = state.retiring.claim(older);
    if let Some(old) = old {
        if !fleet::drain(&state.routes, &state.db, &old.backends, Duration::from_secs(state.config.drain_timeout)).await
        {
            tracing::warn!(app = %app.name, "old backends still had requests after the drain timeout");
        }
    }
    if let Err(err) = db::deployments::set_phase(&state.db, deployment, Phase::StoppingOld).await {
        tracing::warn!(error = %err, "could not record the stopping_old phase");
    }
    for (container, result) in stop_all(state, &older, Duration::from_secs(state.config.stop_grace)).await {
        if let Err(err) = result {
            tracing::warn!(container = %container.name, error = %format!("{err:#}"), "could not stop an old process; the reconcile loop removes it");
        }
        state.retiring.release(&container.id);
    }
    if let Err(err) = db::deployments::set_phase(&state.db, deployment, Phase::Succeeded).await {
        tracing::warn!(error = %err, "could not record the end of a rollout; the next start settles it");
    }
    super::images::prune(state, app).await;
}

/// Remove every container of a deployment that did not go live.
pub async fn undo(state: &AppState, app: &App, deployment: i64) {
    let label = deployment.to_string();
    match state.runtime.list(&[(runtime::LABEL_APP, &app.name), (runtime::LABEL_DEPLOYMENT, &label)]).await {
        Ok(containers) => remove(state, &containers).await,
        Err(err) => tracing::error!(error = %err, "could not list containers to undo a rollout"),
    }
}

/// The container for one process of a release; config values are decrypted
/// here. One-off processes (the release phase, `run`) belong to no
/// deployment. It mounts the app's volumes of its process type (one-offs
/// those of `web`) and joins the networks of the add-ons attached to it.
#[allow(clippy::too_many_arguments)]
pub fn container_spec(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: Option<i64>,
    process: &str,
    index: i32,
    size: &Formation,
    extras: &Extras,
) -> anyhow::Result<ContainerSpec> {
    // The trust settings first: the app's own config vars win over them.
    let (bundle, mut env) = crate::build::trust::for_apps(&state.config);
    for (key, sealed) in release.config.0.iter() {
        let bytes = base64::engine::general_purpose::STANDARD.decode(sealed)?;
        env.push((key.clone(), state.secrets.open(&crate::crypto::config_context(app.id, key), &bytes)?));
    }
    env.push(("PAAS_APP".into(), app.name.clone()));
    env.push(("PAAS_RELEASE".into(), release_label(release)));
    env.push(("DYNO".into(), format!("{process}.{index}")));
    if process == "web" {
        env.push(("PORT".into(), CONTAINER_PORT.to_string()));
    }
    let command = release
        .process_types
        .0
        .get(process)
        .cloned()
        .flatten()
        .map(|cmd| vec!["/bin/sh".to_string(), "-c".to_string(), cmd]);
    let mut labels = HashMap::from([
        (runtime::LABEL_APP.to_string(), app.name.clone()),
        (runtime::LABEL_RELEASE.to_string(), release_label(release)),
        (runtime::LABEL_PROCESS.to_string(), process.to_string()),
        (runtime::LABEL_INDEX.to_string(), index.to_string()),
    ]);
    let name = match deployment {
        Some(d) => {
            labels.insert(runtime::LABEL_DEPLOYMENT.to_string(), d.to_string());
            format!("paas-{}-{}-{process}-{index}-d{d}", app.name, release_label(release))
        }
        None => format!(
            "paas-{}-{}-{process}-{}",
            app.name,
            release_label(release),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
    };
    Ok(ContainerSpec {
        name,
        image: release.image.clone(),
        command,
        env,
        labels,
        publish_port: process == "web",
        network: runtime::app_network(&app.name),
        limits: limits(&state.config, size),
        read_only_files: bundle.map(|file| (file, crate::build::trust::BUNDLE_PATH.to_string())).into_iter().collect(),
        aliases: Vec::new(),
        volumes: mounts(app, process, deployment.is_none(), &extras.volumes),
        extra_networks: internal_networks(app, process)
            .into_iter()
            .chain(extras.addon_networks_for(release).map(|network| (network, Vec::new())))
            .collect(),
    })
}

/// What an app's processes get besides their release: the app's volumes and
/// its attachments to add-ons, as they are when a process starts.
#[derive(Debug, Default)]
pub struct Extras {
    pub volumes: Vec<Volume>,
    /// Its attachments to add-ons: the add-on's id and the attachment's name.
    pub attachments: Vec<(i64, String)>,
    pub app_id: i64,
}

impl Extras {
    pub async fn of(db: &sqlx::PgPool, app_id: i64) -> sqlx::Result<Self> {
        Ok(Self {
            volumes: crate::db::volumes::list(db, app_id).await?,
            attachments: crate::db::addons::ids_attached_to(db, app_id).await?,
            app_id,
        })
    }

    /// The networks of the attachments whose config var the release has: a
    /// release made to end an attachment (its var unset) starts its
    /// processes off that network, which can then go once the replaced
    /// processes have stopped, though the attachment ends only when the
    /// release is live.
    fn addon_networks_for<'a>(&'a self, release: &'a Release) -> impl Iterator<Item = String> + 'a {
        self.attachments
            .iter()
            .filter(|(_, name)| release.config.0.contains_key(&crate::db::addons::var_of(name)))
            .map(|(addon, _)| runtime::attachment_network(*addon, self.app_id))
    }
}

/// An app on its team's private network joins it with every process; its
/// web processes answer there as `APP.internal`.
pub fn internal_networks(app: &App, process: &str) -> Vec<(String, Vec<String>)> {
    if !app.internal {
        return Vec::new();
    }
    let aliases = if process == "web" { vec![runtime::internal_host(&app.name)] } else { Vec::new() };
    vec![(runtime::team_network(app.team_id), aliases)]
}

/// The engine's name of an app's volume: by the app's id, which a rename keeps.
pub fn volume_name(app: &App, volume: &str) -> String {
    volume_name_of(app.id, volume)
}

pub fn volume_name_of(app_id: i64, volume: &str) -> String {
    format!("vol-{app_id}-{volume}")
}

/// The volumes a process mounts: its type's; a one-off those of web.
fn mounts(app: &App, process: &str, one_off: bool, volumes: &[Volume]) -> Vec<(String, String)> {
    let process = if one_off { "web" } else { process };
    volumes
        .iter()
        .filter(|v| v.process_type == process)
        .map(|v| (volume_name(app, &v.name), v.mount_path.clone()))
        .collect()
}

/// A process type's limits: what its formation sets, else the server's defaults.
pub fn limits(config: &crate::config::Config, size: &Formation) -> runtime::Limits {
    runtime::Limits {
        memory_mb: size.memory_mb.unwrap_or(config.default_memory),
        cpus: size.cpus.unwrap_or(config.default_cpus),
        pids: config.default_pids,
    }
}
