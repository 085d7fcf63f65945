//! Buildpack builds: detect, then run the buildpacks in a build container on
//! the build stack (source at /app, a per-app cache volume at /cache, config
//! vars as files in /env), and commit the compiled /app onto the run stack.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;

use super::{detect, stacks, trust};
use crate::db::apps::App;
use crate::db::releases::ProcessTypes;
use crate::progress::Output;
use crate::repos::Source;
use crate::runtime::{app_network, ImageConfig, Payload, TaskSpec, LABEL_APP};
use crate::state::AppState;

const RELEASE_MARKER: &str = "---paas-release---";
/// A built app's environment, as on Heroku: its home is /app, its own bin/,
/// a fetched Node.js and the virtualenv come first on PATH.
const ENV: &[&str] = &[
    "PATH=/app/.heroku/node/bin:/app/.venv/bin:/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/app/node_modules/.bin",
    "HOME=/app",
];
/// What starts each process of a built app (`buildpacks/launch`).
const LAUNCHER: (&str, &str) = ("paas/launch", include_str!("../../../buildpacks/launch"));

/// The shipped buildpacks and the driver, compiled into the binary.
const FILES: &[(&str, &str)] = &[
    ("build.sh", include_str!("../../../buildpacks/build.sh")),
    ("lib/buildpack.sh", include_str!("../../../buildpacks/lib/buildpack.sh")),
    ("python/bin/detect", include_str!("../../../buildpacks/python/bin/detect")),
    ("python/bin/compile", include_str!("../../../buildpacks/python/bin/compile")),
    ("python/bin/release", include_str!("../../../buildpacks/python/bin/release")),
    ("nodejs/bin/detect", include_str!("../../../buildpacks/nodejs/bin/detect")),
    ("nodejs/bin/compile", include_str!("../../../buildpacks/nodejs/bin/compile")),
    ("nodejs/bin/release", include_str!("../../../buildpacks/nodejs/bin/release")),
    ("go/bin/detect", include_str!("../../../buildpacks/go/bin/detect")),
    ("go/bin/compile", include_str!("../../../buildpacks/go/bin/compile")),
    ("go/bin/release", include_str!("../../../buildpacks/go/bin/release")),
    ("static/bin/detect", include_str!("../../../buildpacks/static/bin/detect")),
    ("static/bin/compile", include_str!("../../../buildpacks/static/bin/compile")),
    ("static/bin/release", include_str!("../../../buildpacks/static/bin/release")),
    ("generic/bin/detect", include_str!("../../../buildpacks/generic/bin/detect")),
    ("generic/bin/compile", include_str!("../../../buildpacks/generic/bin/compile")),
    ("generic/bin/release", include_str!("../../../buildpacks/generic/bin/release")),
];

pub struct Compiled {
    pub image: String,
    pub default_process_types: ProcessTypes,
}

pub async fn build(
    state: &AppState,
    app: &App,
    source: Source,
    config: &BTreeMap<String, String>,
    out: &Output,
    log: &mut String,
) -> anyhow::Result<Compiled> {
    let sha = source.sha.clone();
    let sha = sha.as_str();
    let image = super::image_tag(&app.name, sha);
    let image = image.as_str();
    let names = detect::detect(&source, config.get("BUILDPACK_URL").map(String::as_str)).map_err(|e| anyhow!(e))?;
    out.step(format!("Building {}@{} with buildpacks: {}", app.name, &sha[..7], names.join(", ")));
    let stack = stacks::of_app(&state.config, app.stack.as_deref());
    // Buildpacks from git go in as custom-N, cloned by the driver inside the
    // build container (never by the server); the shipped ones by name.
    let mut fetches = Vec::new();
    let mut slots = Vec::new();
    for name in &names {
        if detect::is_git_url(name) {
            let slot = format!("custom-{}", fetches.len() + 1);
            fetches.push(format!("{slot} {name}"));
            slots.push(slot);
        } else {
            slots.push(name.clone());
        }
    }
    // Git buildpacks' slots (custom-N) get every runtime.
    let images = stacks::ensure(state, stack, &slots, out).await?;
    let mut uploads: Vec<(String, Payload)> = vec![
        ("/".into(), dir_tar("app")?.into()),
        ("/app".into(), Payload::File(source.tar)),
        ("/".into(), buildpacks_tar()?.into()),
        ("/".into(), env_tar(config)?.into()),
    ];
    let mut env = vec![
        ("PAAS_BUILDPACKS".to_string(), slots.join(" ")),
        ("PAAS_BUILDPACK_FETCH".to_string(), fetches.join("\n")),
        ("STACK".to_string(), stack.to_string()),
    ];
    if let Some(bundle) = trust::bundle(&state.config).await? {
        uploads.push(("/".into(), tar_of(&[(trust::BUNDLE_PATH.trim_start_matches('/'), &bundle, 0o644)])?.into()));
        env.extend(trust::ca_env());
    }
    env.extend(trust::proxy_env(&state.config));

    let task = TaskSpec {
        name: format!("paas-build-{}-{}", app.name, &sha[..12]),
        image: images.build,
        command: Some(vec!["/bin/sh".into(), "/buildpacks/build.sh".into()]),
        env,
        uploads,
        volumes: vec![(cache_volume(app), "/cache".into())],
        labels: HashMap::from([(LABEL_APP.to_string(), app.name.clone())]),
        network: app_network(&app.name),
        limits: Some(super::build_limits(&state.config)),
    };
    let id = state.runtime.create_task(task).await?;
    let limit = std::time::Duration::from_secs(state.config.build_timeout);
    // On timeout the container is stopped and removed below, like any failure.
    let result = tokio::time::timeout(limit, compile(state, &id, out, log))
        .await
        .unwrap_or_else(|_| Err(super::too_long(limit)));
    let slug = match &result {
        Ok(_) => state.runtime.download(&id, "/app", &state.spill_dir()).await,
        Err(_) => Ok(Bytes::new().into()),
    };
    if result.is_ok() {
        remove_later(state, id);
    } else {
        // A build cut short may still run: it must be gone before the next
        // build mounts the same cache.
        state.runtime.stop_and_remove(&id, std::time::Duration::from_secs(1)).await?;
    }
    let default_process_types = result?;
    let slug = slug.context("copying the compiled app out of the build container")?;

    // The compiled app on the run stack.
    let runner = state
        .runtime
        .create_task(TaskSpec {
            name: format!("paas-slug-{}-{}", app.name, &sha[..12]),
            image: images.run,
            // Never started; the commands come from the process types.
            command: Some(vec!["/bin/true".into()]),
            uploads: vec![
                ("/".into(), slug),
                ("/".into(), tar_of(&[(LAUNCHER.0, LAUNCHER.1.as_bytes(), 0o755)])?.into()),
            ],
            network: app_network(&app.name),
            ..Default::default()
        })
        .await?;
    let committed = state
        .runtime
        .commit(
            &runner,
            image,
            ImageConfig {
                cmd: None,
                entrypoint: Some(vec![format!("/{}", LAUNCHER.0)]),
                env: ENV.iter().map(|e| e.to_string()).collect(),
                working_dir: Some("/app".into()),
                labels: HashMap::from([
                    (LABEL_APP.to_string(), app.name.clone()),
                    ("paas.commit".to_string(), sha.to_string()),
                ]),
            },
        )
        .await;
    remove_later(state, runner);
    committed?;
    Ok(Compiled { image: image.to_string(), default_process_types })
}

/// Remove a container that has finished its part (an exited build, the
/// never-started container a slug was committed from) without making the
/// push wait: removing tens of megabytes of files takes the engine about a
/// second. A server that stops first leaves it to the reconcile loop, which
/// removes task containers of earlier runs.
fn remove_later(state: &AppState, id: String) {
    let runtime = state.runtime.clone();
    tokio::spawn(async move {
        if let Err(err) = runtime.stop_and_remove(&id, std::time::Duration::from_secs(1)).await {
            tracing::warn!(container = %id, error = %format!("{err:#}"), "could not remove a finished build container");
        }
    });
}

/// The per-app build cache (CACHE_DIR), kept between builds: named by the
/// app's id, which a rename keeps.
pub fn cache_volume(app: &App) -> String {
    cache_volume_of(app.id)
}

pub fn cache_volume_of(app_id: i64) -> String {
    format!("cache-{app_id}")
}

/// Run the driver, streaming its output; the release YAML after the marker
/// is kept out of the push and parsed.
async fn compile(state: &AppState, id: &str, out: &Output, log: &mut String) -> anyhow::Result<ProcessTypes> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let forward = out.clone();
    let collector = tokio::spawn(async move {
        let (mut log, mut release, mut in_release) = (String::new(), String::new(), false);
        while let Some(line) = rx.recv().await {
            if line.trim() == RELEASE_MARKER {
                in_release = true;
                continue;
            }
            if in_release {
                release.push_str(&line);
                release.push('\n');
            } else {
                log.push_str(&line);
                log.push('\n');
                forward.raw(line);
            }
        }
        (log, release)
    });
    let exit = state.runtime.run_task(id, tx).await;
    let (text, release) = collector.await.unwrap_or_default();
    log.push_str(&text);
    match exit? {
        0 => Ok(parse_release(&release)),
        code => bail!("the buildpack failed (exit code {code})"),
    }
}

/// `default_process_types` from bin/release's YAML (a flat map is all it holds).
pub fn parse_release(yaml: &str) -> ProcessTypes {
    let mut types = ProcessTypes::new();
    let mut inside = false;
    for line in yaml.lines() {
        if line.trim_start() == line {
            inside = line.trim_end() == "default_process_types:";
            continue;
        }
        if inside {
            if let Some((name, command)) = line.trim().split_once(':') {
                types.insert(name.trim().to_string(), Some(command.trim().to_string()));
            }
        }
    }
    types
}

fn buildpacks_tar() -> anyhow::Result<Bytes> {
    let files: Vec<(String, &[u8], u32)> =
        FILES.iter().map(|(path, text)| (format!("buildpacks/{path}"), text.as_bytes(), 0o755)).collect();
    let refs: Vec<(&str, &[u8], u32)> = files.iter().map(|(p, t, m)| (p.as_str(), *t, *m)).collect();
    tar_of(&refs)
}

/// Config vars as files in /env, as the buildpack API passes them.
fn env_tar(config: &BTreeMap<String, String>) -> anyhow::Result<Bytes> {
    let files: Vec<(String, &[u8], u32)> =
        config.iter().map(|(k, v)| (format!("env/{k}"), v.as_bytes(), 0o600)).collect();
    let mut refs: Vec<(&str, &[u8], u32)> = files.iter().map(|(p, t, m)| (p.as_str(), *t, *m)).collect();
    if refs.is_empty() {
        refs.push(("env/.keep", b"", 0o600));
    }
    tar_of(&refs)
}

/// An empty directory, to unpack a tar into.
fn dir_tar(path: &str) -> anyhow::Result<Bytes> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    builder.append_data(&mut header, format!("{path}/"), std::io::empty())?;
    Ok(Bytes::from(builder.into_inner()?))
}

pub(super) fn tar_of(files: &[(&str, &[u8], u32)]) -> anyhow::Result<Bytes> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        builder.append_data(&mut header, path, *content)?;
    }
    Ok(Bytes::from(builder.into_inner()?))
}

#[cfg(test)]
mod tests {
    use super::parse_release;

    #[test]
    fn reads_default_process_types() {
        let types = parse_release(
            "---\ndefault_process_types:\n  web: python3 app.py\n  worker: python3 worker.py\naddons: []\n",
        );
        assert_eq!(types["web"].as_deref(), Some("python3 app.py"));
        assert_eq!(types.len(), 2);
        assert!(parse_release("---\n").is_empty());
    }
}
