//! The zero-downtime rollout of a release. Every rollout (a push, a config
//! change, a scale, a restart, a rollback) starts a fresh set of containers
//! for the release and the app's formation, labelled with the deployment id.
//! Phases (persisted before each step): starting -> health_checking ->
//! switching -> draining (the switch and the new current release are one
//! transaction) -> stopping_old -> succeeded; or failed, with this
//! deployment's containers removed and the serving ones untouched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine;

use super::Output;
use crate::db;
use crate::db::apps::App;
use crate::db::deployments::Phase;
use crate::db::releases::Release;
use crate::router::{table, AppRoute, Backend};
use crate::runtime::{self, Container, ContainerSpec, CONTAINER_PORT};
use crate::state::AppState;

/// Non-web processes count as up when still running after this long.
const SETTLE: Duration = Duration::from_secs(2);
const LOG_LINES_ON_FAILURE: usize = 20;

pub fn release_label(release: &Release) -> String {
    format!("v{}", release.version)
}

#[tracing::instrument(skip_all, fields(app = %app.name, release = release.version))]
pub async fn rollout(state: &AppState, app: &App, release: &Release, out: &Output) -> anyhow::Result<()> {
    let deployment = db::deployments::create(&state.db, app.id, release.id).await?;
    state.logs.push(&app.name, "paas", &format!("Rolling out v{}: {}", release.version, release.description));
    match run(state, app, release, deployment, out).await {
        Ok(()) => {
            db::deployments::set_phase(&state.db, deployment, Phase::Succeeded).await?;
            state.logs.push(&app.name, "paas", &format!("v{} is live", release.version));
            Ok(())
        }
        Err(err) => {
            state.logs.push(&app.name, "paas", &format!("Rollout of v{} failed: {err:#}", release.version));
            undo(state, app, deployment).await;
            db::deployments::fail(&state.db, deployment, &format!("{err:#}")).await?;
            db::releases::mark_failed(&state.db, release.id).await?;
            Err(err)
        }
    }
}

/// Remove every container of a deployment that did not go live.
pub async fn undo(state: &AppState, app: &App, deployment: i64) {
    let label = deployment.to_string();
    let grace = Duration::from_secs(1);
    match state.runtime.list(&[(runtime::LABEL_APP, &app.name), (runtime::LABEL_DEPLOYMENT, &label)]).await {
        Ok(containers) => {
            for container in containers {
                if let Err(err) = state.stop_container(&container.id, grace).await {
                    tracing::error!(container = %container.name, error = %err, "could not remove a failed container");
                }
            }
        }
        Err(err) => tracing::error!(error = %err, "could not list containers to undo a rollout"),
    }
}

async fn run(state: &AppState, app: &App, release: &Release, deployment: i64, out: &Output) -> anyhow::Result<()> {
    let types: Vec<String> = release.process_types.0.keys().cloned().collect();
    db::formation::ensure_defaults(&state.db, app.id, &types).await?;
    let formation = db::formation::list(&state.db, app.id).await?;

    // starting
    let mut started: Vec<(String, i32, Container)> = Vec::new();
    let runs = |f: &&db::formation::Formation| {
        f.quantity > 0 && f.process_type != "release" && release.process_types.0.contains_key(&f.process_type)
    };
    for f in formation.iter().filter(runs) {
        for index in 1..=f.quantity {
            let spec = container_spec(state, app, release, deployment, &f.process_type, index, f.memory_mb, f.cpus)?;
            let container = state.runtime.start(spec).await?;
            crate::logs::follow(
                state.clone(),
                app.name.clone(),
                format!("{}.{index}", f.process_type),
                container.id.clone(),
            );
            started.push((f.process_type.clone(), index, container));
        }
    }

    // health_checking
    db::deployments::set_phase(&state.db, deployment, Phase::HealthChecking).await?;
    let check = release.healthcheck.as_ref().map(|h| h.0.clone()).unwrap_or_default();
    let timeout = Duration::from_secs(check.timeout.unwrap_or(state.config.health_timeout));
    let path = check.path.clone().unwrap_or_else(|| "/".to_string());
    let attempts = check.attempts.unwrap_or(state.config.health_checks);
    for (process, index, container) in &started {
        let began = Instant::now();
        let result = if process == "web" {
            check_web(state, container, &path, attempts, timeout)
                .await
                .map(|checks| format!("healthy ({checks} checks, {:.1} s)", began.elapsed().as_secs_f64()))
        } else {
            check_settled(state, container).await.map(|()| "up".to_string())
        };
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

    // switching
    db::deployments::set_phase(&state.db, deployment, Phase::Switching).await?;
    let backends = Backend::for_web(started.iter().map(|(_, _, c)| c));
    out.step(format!("Switching traffic to v{}", release.version));
    let old_route = if backends.is_empty() {
        state.routes.remove(&app.name)
    } else {
        state.routes.switch(&app.name, AppRoute::new(release.id, backends))
    };
    // draining
    db::deployments::go_live(&state.db, deployment, release.id, app.id).await?;
    if let Some(old) = old_route {
        if !table::drain(&old.backends, Duration::from_secs(state.config.drain_timeout)).await {
            tracing::warn!("old backends still had requests after the drain timeout");
        }
    }

    // stopping_old
    db::deployments::set_phase(&state.db, deployment, Phase::StoppingOld).await?;
    stop_others(state, app, deployment).await?;
    Ok(())
}

/// Stop and remove the app's containers that belong to any other deployment.
pub async fn stop_others(state: &AppState, app: &App, keep_deployment: i64) -> anyhow::Result<()> {
    let keep = keep_deployment.to_string();
    let grace = Duration::from_secs(state.config.stop_grace);
    let containers = state.runtime.list(&[(runtime::LABEL_APP, &app.name)]).await?;
    let stops = containers
        .into_iter()
        .filter(|c| c.label(runtime::LABEL_DEPLOYMENT) != Some(keep.as_str()))
        .map(|c| async move { state.stop_container(&c.id, grace).await });
    for result in futures_util::future::join_all(stops).await {
        result?;
    }
    Ok(())
}

/// The container for one process of a release; config values are decrypted here.
#[allow(clippy::too_many_arguments)]
pub fn container_spec(
    state: &AppState,
    app: &App,
    release: &Release,
    deployment: i64,
    process: &str,
    index: i32,
    memory_mb: Option<i32>,
    cpus: Option<f64>,
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
    Ok(ContainerSpec {
        name: format!("paas-{}-{}-{process}-{index}-d{deployment}", app.name, release_label(release)),
        image: release.image.clone(),
        command,
        env,
        labels: HashMap::from([
            (runtime::LABEL_APP.to_string(), app.name.clone()),
            (runtime::LABEL_RELEASE.to_string(), release_label(release)),
            (runtime::LABEL_PROCESS.to_string(), process.to_string()),
            (runtime::LABEL_INDEX.to_string(), index.to_string()),
            (runtime::LABEL_DEPLOYMENT.to_string(), deployment.to_string()),
        ]),
        publish_port: process == "web",
        memory_mb,
        cpus,
        one_off: false,
    })
}

/// Poll the web process over HTTP until enough consecutive non-5xx answers;
/// returns the number of checks made.
async fn check_web(
    state: &AppState,
    container: &Container,
    path: &str,
    needed: u32,
    timeout: Duration,
) -> anyhow::Result<u32> {
    let port = match container.host_port {
        Some(port) => port,
        // The process may have died before the engine reported its port.
        None => match state.runtime.inspect(&container.id).await? {
            Some(c) if !c.running => bail!(
                "the process exited (code {}) before passing its health check on GET {path}",
                c.exit_code.unwrap_or(-1)
            ),
            Some(Container { host_port: Some(port), .. }) => port,
            _ => bail!("the container has no published port"),
        },
    };
    let url = format!("http://127.0.0.1:{port}{path}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let needed = needed.max(1);
    let deadline = Instant::now() + timeout;
    let (mut checks, mut streak) = (0u32, 0u32);
    let mut last = String::from("no answer yet");
    loop {
        if let Some(current) = state.runtime.inspect(&container.id).await? {
            if !current.running {
                bail!(
                    "the process exited (code {}{}) before passing its health check on GET {path}",
                    current.exit_code.unwrap_or(-1),
                    if current.oom_killed { ", killed for exceeding its memory limit" } else { "" }
                );
            }
        }
        checks += 1;
        match client.get(&url).send().await {
            Ok(response) if !response.status().is_server_error() => {
                streak += 1;
                if streak >= needed {
                    return Ok(checks);
                }
            }
            Ok(response) => {
                streak = 0;
                last = format!("GET {path} answered {}", response.status());
            }
            Err(err) => {
                streak = 0;
                last = format!(
                    "GET {path} on $PORT failed: {}",
                    if err.is_connect() { "connection refused".to_string() } else { err.to_string() }
                );
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "health check failed: no {needed} consecutive non-5xx answers within {} s (last: {last})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(if streak > 0 { 100 } else { 250 })).await;
    }
}

async fn check_settled(state: &AppState, container: &Container) -> anyhow::Result<()> {
    tokio::time::sleep(SETTLE).await;
    match state.runtime.inspect(&container.id).await? {
        Some(c) if c.running => Ok(()),
        Some(c) => {
            bail!("the process exited (code {}) within {} s of starting", c.exit_code.unwrap_or(-1), SETTLE.as_secs())
        }
        None => bail!("the container disappeared"),
    }
}
