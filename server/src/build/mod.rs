//! Builds: the pushed tree becomes an image `paas/APP:SHA`. A Dockerfile at
//! the repository root is built by the engine; otherwise buildpacks build it
//! (`buildpack.rs`, chosen by `detect.rs`); BUILDER overrides the choice
//! (`choose`). The whole log is kept with the build record.

pub mod buildpack;
pub mod detect;
pub mod dockerfile;
pub mod stacks;
pub mod trust;

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

/// How a commit is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    Dockerfile,
    Buildpacks,
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Builder::Dockerfile => "the Dockerfile",
            Builder::Buildpacks => "buildpacks",
        })
    }
}

/// Which builder builds a commit, and why (the push says it): BUILDER, the
/// config var, else app.json's `builder`, when set; else buildpacks when
/// BUILDPACK_URL names one; else the Dockerfile at the root when there is
/// one; else buildpacks.
pub fn choose(
    has_dockerfile: bool,
    config: &BTreeMap<String, String>,
    app_json_builder: Option<&str>,
) -> Result<(Builder, String), String> {
    let chosen = match (config.get("BUILDER"), app_json_builder) {
        (Some(value), _) => Some((value.as_str(), "the BUILDER config var says so")),
        (None, Some(value)) => Some((value, "app.json's builder says so")),
        (None, None) => None,
    };
    if let Some((value, why)) = chosen {
        return match value.trim().to_ascii_lowercase().as_str() {
            "dockerfile" if has_dockerfile => Ok((Builder::Dockerfile, why.to_string())),
            "dockerfile" => Err(format!("{why} (dockerfile), but the commit has no Dockerfile at its root")),
            "buildpacks" | "buildpack" => Ok((Builder::Buildpacks, why.to_string())),
            other => Err(format!("builder {other:?} ({why}) is neither `dockerfile` nor `buildpacks`")),
        };
    }
    Ok(if config.contains_key("BUILDPACK_URL") {
        (Builder::Buildpacks, "the BUILDPACK_URL config var names a buildpack".into())
    } else if has_dockerfile {
        (Builder::Dockerfile, "a Dockerfile is at the root (set BUILDER=buildpacks to use buildpacks)".into())
    } else {
        (Builder::Buildpacks, "there is no Dockerfile at the root".into())
    })
}

pub fn image_tag(app: &str, sha: &str) -> String {
    format!("paas/{app}:{sha}")
}

/// Build a pushed commit with the chosen builder.
#[tracing::instrument(skip_all, fields(app = %app.name))]
pub async fn build(
    state: &AppState,
    app: &App,
    source: Source,
    builder: Builder,
    config: &BTreeMap<String, String>,
    user_id: Option<i64>,
    out: &Output,
) -> anyhow::Result<Built> {
    let sha = source.sha.clone();
    let sha = sha.as_str();
    if builder == Builder::Buildpacks {
        return build_with_buildpacks(state, app, source, config, user_id, out).await;
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
        // HTTP_PROXY and the like are build arguments every Dockerfile
        // build knows, kept out of the image's history.
        build_args: trust::proxy_env(&state.config).into_iter().collect(),
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
    source: Source,
    config: &BTreeMap<String, String>,
    user_id: Option<i64>,
    out: &Output,
) -> anyhow::Result<Built> {
    let build_id = db::builds::create(&state.db, app.id, &source.sha, user_id).await?;
    let image = image_tag(&app.name, &source.sha);
    let mut log = String::new();
    match buildpack::build(state, app, source, config, out, &mut log).await {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{choose, Builder};

    fn config(vars: &[(&str, &str)]) -> BTreeMap<String, String> {
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_dockerfile_wins_unless_builder_or_a_buildpack_url_says_otherwise() {
        assert_eq!(choose(true, &config(&[]), None).unwrap().0, Builder::Dockerfile);
        assert_eq!(choose(false, &config(&[]), None).unwrap().0, Builder::Buildpacks);
        assert_eq!(choose(true, &config(&[("BUILDPACK_URL", "python")]), None).unwrap().0, Builder::Buildpacks);
        assert_eq!(choose(true, &config(&[("BUILDER", "buildpacks")]), None).unwrap().0, Builder::Buildpacks);
        assert_eq!(choose(true, &config(&[]), Some("buildpacks")).unwrap().0, Builder::Buildpacks);
        // The config var beats app.json.
        let (builder, why) = choose(true, &config(&[("BUILDER", "Dockerfile")]), Some("buildpacks")).unwrap();
        assert_eq!(builder, Builder::Dockerfile);
        assert!(why.contains("BUILDER config var"), "{why}");
    }

    #[test]
    fn an_impossible_or_unknown_builder_is_refused() {
        let err = choose(false, &config(&[("BUILDER", "dockerfile")]), None).unwrap_err();
        assert!(err.contains("no Dockerfile"), "{err}");
        let err = choose(true, &config(&[]), Some("nixpacks")).unwrap_err();
        assert!(err.contains("\"nixpacks\"") && err.contains("app.json"), "{err}");
    }
}
