//! The zero-downtime rollout of a release. Every rollout (a push, a config
//! change, a scale, a restart, a rollback) starts a fresh set of containers
//! for the release and its formation, labelled with the deployment id.
//!
//! Phases, each written before it is taken: starting -> health_checking ->
//! switching -> draining -> stopping_old -> succeeded. Going live is one
//! transaction (the release becomes current, with the config, formation and
//! audit event of the change) taken under the routing table's change lock,
//! then the table switches. Before that, a failure removes this deployment's
//! containers and leaves everything else as it was; after it, nothing undoes
//! the release: a failure to stop old processes is logged and the reconcile
//! loop removes them later.

use std::collections::HashMap;
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
use crate::progress::Output;
use crate::router::{table, AppRoute, Backend};
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
    state.logs.push(&app.name, "paas", &format!("Rolling out v{}: {}", release.version, release.description));
    let live = match start_and_check(state, app, release, deployment, &change.formation, out).await {
        Ok(started) => go_live(state, app, release, deployment, change, &started, out).await,
        Err(err) => Err(err),
    };
    let old = match live {
        Ok(old) => old,
        Err(err) => {
            state.logs.push(&app.name, "paas", &format!("Rollout of v{} failed: {err:#}", release.version));
            undo(state, app, deployment).await;
            db::deployments::fail(&state.db, deployment, &format!("{err:#}")).await?;
            return Err(err);
        }
    };
    state.logs.push(&app.name, "paas", &format!("v{} is live", release.version));
    retire(state, app, deployment, old).await;
    Ok(())
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
    let mut started: Vec<(String, i32, Container)> = Vec::new();
    let runs = |f: &&Formation| {
        f.quantity > 0 && f.process_type != "release" && release.process_types.0.contains_key(&f.process_type)
    };
    for f in formation.iter().filter(runs) {
        for index in 1..=f.quantity {
            let spec = container_spec(state, app, release, Some(deployment), &f.process_type, index, f)?;
            let container = state.runtime.start(spec).await?;
            crate::logs::follow(state, &app.name, &format!("{}.{index}", f.process_type), &container.id);
            started.push((f.process_type.clone(), index, container));
        }
    }

    db::deployments::set_phase(&state.db, deployment, Phase::HealthChecking).await?;
    let (startup, _) = health::checks(&state.config, release);
    let checks = started.iter().map(|(process, _, container)| {
        let startup = &startup;
        async move {
            let began = Instant::now();
            if process == "web" {
                health::startup(state.runtime.as_ref(), container, startup)
                    .await
                    .map(|checks| format!("healthy ({checks} checks, {:.1} s)", began.elapsed().as_secs_f64()))
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
    Ok(started)
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
) -> anyhow::Result<Option<std::sync::Arc<AppRoute>>> {
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

/// After the switch: drain the replaced backends, then stop every other
/// deployment's containers. Failures here are logged; they never touch the
/// live processes.
async fn retire(state: &AppState, app: &App, deployment: i64, old: Option<std::sync::Arc<AppRoute>>) {
    if let Some(old) = old {
        if !table::drain(&old.backends, Duration::from_secs(state.config.drain_timeout)).await {
            tracing::warn!("old backends still had requests after the drain timeout");
        }
    }
    if let Err(err) = db::deployments::set_phase(&state.db, deployment, Phase::StoppingOld).await {
        tracing::warn!(error = %err, "could not record the stopping_old phase");
    }
    if let Err(err) = stop_others(state, app, deployment).await {
        tracing::warn!(app = %app.name, error = %format!("{err:#}"), "could not stop every old process; the reconcile loop removes them");
    }
    if let Err(err) = db::deployments::set_phase(&state.db, deployment, Phase::Succeeded).await {
        tracing::warn!(error = %err, "could not record the end of a rollout; the next start settles it");
    }
}

/// Remove every container of a deployment that did not go live.
pub async fn undo(state: &AppState, app: &App, deployment: i64) {
    let label = deployment.to_string();
    let grace = Duration::from_secs(1);
    match state.runtime.list(&[(runtime::LABEL_APP, &app.name), (runtime::LABEL_DEPLOYMENT, &label)]).await {
        Ok(containers) => {
            let stops = containers.iter().map(|c| state.runtime.stop_and_remove(&c.id, grace));
            for (container, result) in containers.iter().zip(futures_util::future::join_all(stops).await) {
                if let Err(err) = result {
                    tracing::error!(container = %container.name, error = %err, "could not remove a failed container");
                }
            }
        }
        Err(err) => tracing::error!(error = %err, "could not list containers to undo a rollout"),
    }
}

/// Stop and remove the app's containers that belong to any other deployment.
async fn stop_others(state: &AppState, app: &App, keep_deployment: i64) -> anyhow::Result<()> {
    let keep = keep_deployment.to_string();
    let grace = Duration::from_secs(state.config.stop_grace);
    let containers = state.runtime.list(&[(runtime::LABEL_APP, &app.name)]).await?;
    let stops = containers
        .into_iter()
        .filter(|c| c.label(runtime::LABEL_DEPLOYMENT).is_some_and(|d| d != keep))
        .map(|c| async move { state.runtime.stop_and_remove(&c.id, grace).await });
    for result in futures_util::future::join_all(stops).await {
        result?;
    }
    Ok(())
}

/// The container for one process of a release; config values are decrypted
/// here. One-off processes (the release phase) belong to no deployment.
pub fn container_spec(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: Option<i64>,
    process: &str,
    index: i32,
    size: &Formation,
) -> anyhow::Result<ContainerSpec> {
    let mut env = Vec::new();
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
    })
}

/// A process type's limits: what its formation sets, else the server's defaults.
pub fn limits(config: &crate::config::Config, size: &Formation) -> runtime::Limits {
    runtime::Limits {
        memory_mb: size.memory_mb.unwrap_or(config.default_memory),
        cpus: size.cpus.unwrap_or(config.default_cpus),
        pids: config.default_pids,
    }
}
