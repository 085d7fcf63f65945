//! Builds: the pushed tree becomes an image `paas/APP:SHA`. A Dockerfile at
//! the repository root is built by the engine; otherwise buildpacks build it
//! (`buildpack.rs`, chosen by `detect.rs`). The whole log is kept with the
//! build record.

pub mod buildpack;
pub mod detect;
pub mod dockerfile;

use std::collections::BTreeMap;

use anyhow::bail;

use crate::db;
use crate::db::apps::App;
use crate::progress::Output;
use crate::repos::Source;
use crate::runtime::{BuildSpec, Payload};
use crate::state::AppState;

pub struct Built {
    pub build_id: i64,
    pub image: String,
    /// Process types the buildpack proposes (a Procfile overrides them).
    pub default_process_types: crate::db::releases::ProcessTypes,
}

/// What a build may use: the build memory limit, every core, more processes
/// than an app's.
pub fn build_limits(config: &crate::config::Config) -> crate::runtime::Limits {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::runtime::Limits { memory_mb: config.build_memory, cpus: cores as f64, pids: 4096 }
}

fn too_long(limit: std::time::Duration) -> anyhow::Error {
    anyhow::anyhow!("the build took longer than {} (the build timeout) and was stopped", crate::progress::span(limit))
}

pub fn image_tag(app: &str, sha: &str) -> String {
    format!("paas/{app}:{sha}")
}

#[tracing::instrument(skip_all, fields(app = %app.name))]
pub async fn build(
    state: &AppState,
    app: &App,
    sha: &str,
    source: Source,
    config: &BTreeMap<String, String>,
    user_id: Option<i64>,
    out: &Output,
) -> anyhow::Result<Built> {
    if !source.includes_file("Dockerfile") || config.contains_key("BUILDPACK_URL") {
        return build_with_buildpacks(state, app, sha, source, config, user_id, out).await;
    }
    out.step(format!("Building {}@{} from Dockerfile", app.name, &sha[..7]));
    if let Some(text) = &source.dockerfile {
        for image in dockerfile::images(text) {
            let info = state.runtime.image_info(&image).await?;
            dockerfile::check(&app.name, &image, info.as_ref()).map_err(|e| anyhow::anyhow!(e))?;
        }
    }
    let build_id = db::builds::create(&state.db, app.id, sha, user_id).await?;
    let image = image_tag(&app.name, sha);

    // Stream engine output to the push while keeping the whole log.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let forward = out.clone();
    let collector = tokio::spawn(async move {
        let mut log = String::new();
        while let Some(line) = rx.recv().await {
            log.push_str(&line);
            log.push('\n');
            forward.raw(line);
        }
        log
    });
    let spec = BuildSpec {
        tag: image.clone(),
        network: Some(crate::runtime::app_network(&app.name)),
        memory_mb: Some(state.config.build_memory),
        cache_from: Some(cache_sources(state, app).await?),
        ..Default::default()
    };
    let limit = std::time::Duration::from_secs(state.config.build_timeout);
    // Dropping the build's stream on timeout makes the engine cancel it.
    let result = tokio::time::timeout(limit, state.runtime.build_image(Payload::File(source.tar), spec, tx))
        .await
        .unwrap_or_else(|_| Err(too_long(limit)));
    let mut log = collector.await.unwrap_or_default();
    match result {
        Ok(()) => {
            db::builds::finish(&state.db, build_id, true, Some(&image), &log).await?;
            Ok(Built { build_id, image, default_process_types: Default::default() })
        }
        Err(err) => {
            log.push_str(&format!("build failed: {err:#}\n"));
            db::builds::finish(&state.db, build_id, false, None, &log).await?;
            bail!("the build failed: {err:#}")
        }
    }
}

/// What a Dockerfile build may take its cache from: the app's current
/// image (its layers and their parents). Never any image the engine has: a
/// step with the same text on the same parent would reuse another app's
/// layer, with whatever that app's build fetched or could reach. Before the
/// first release, a name no image has: no cache at all.
async fn cache_sources(state: &AppState, app: &App) -> anyhow::Result<Vec<String>> {
    Ok(match db::releases::current(&state.db, app.id).await? {
        Some(release) => vec![release.image],
        None => vec![format!("paas/{}:none", app.name)],
    })
}

async fn build_with_buildpacks(
    state: &AppState,
    app: &App,
    sha: &str,
    source: Source,
    config: &BTreeMap<String, String>,
    user_id: Option<i64>,
    out: &Output,
) -> anyhow::Result<Built> {
    let build_id = db::builds::create(&state.db, app.id, sha, user_id).await?;
    let image = image_tag(&app.name, sha);
    let mut log = String::new();
    match buildpack::build(state, app, sha, source, config, out, &mut log).await {
        Ok(compiled) => {
            db::builds::finish(&state.db, build_id, true, Some(&image), &log).await?;
            Ok(Built { build_id, image, default_process_types: compiled.default_process_types })
        }
        Err(err) => {
            log.push_str(&format!("build failed: {err:#}\n"));
            db::builds::finish(&state.db, build_id, false, None, &log).await?;
            bail!("the build failed: {err:#}")
        }
    }
}
