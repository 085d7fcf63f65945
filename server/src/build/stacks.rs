//! Stacks: the OS images buildpack builds run in and apps run on, as on
//! Heroku. Each stack is a Debian release (its runtimes come from its
//! packages); an app is on the server's default stack until `stack:set`
//! moves it, from its next build on. Stack images are built locally on
//! first use from the Dockerfiles in `buildpacks/stacks` on the stack's base
//! image, and tagged by a hash of what they are made from, so a change
//! builds new ones:
//! - the build stack (`paas/stack-build`): every runtime and the compilers;
//! - run stacks (`paas/stack-run`): only the runtimes an app's buildpacks
//!   need (Python, Node.js, or both);
//! - the minimal stack (`paas/stack-min`): a static busybox and the CA
//!   certificates, for static sites and Go binaries.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::progress::Output;
use crate::runtime::BuildSpec;
use crate::state::AppState;

const RUN: &str = include_str!("../../../buildpacks/stacks/run.Dockerfile");
const MIN: &str = include_str!("../../../buildpacks/stacks/min.Dockerfile");
const BUILD: &str = include_str!("../../../buildpacks/stacks/build.Dockerfile");

/// A stack users can choose.
#[derive(Debug)]
pub struct Stack {
    pub name: &'static str,
    /// What it brings, for `paas stack`.
    pub description: &'static str,
}

pub const STACKS: &[Stack] = &[
    Stack { name: "trixie", description: "Debian 13: Python 3.13, Node.js 20, Go 1.24" },
    Stack { name: "bookworm", description: "Debian 12: Python 3.11, Node.js 18, Go 1.19" },
];

/// A stack name users may set, or why not.
pub fn validate(name: &str) -> Result<&'static Stack, String> {
    STACKS.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = STACKS.iter().map(|s| s.name).collect();
        format!("there is no stack named {name:?}; the stacks are {}", names.join(", "))
    })
}

/// The stack an app builds on: its own, else the server's default.
pub fn of_app<'a>(config: &'a Config, app_stack: Option<&'a str>) -> &'a str {
    app_stack.unwrap_or(&config.default_stack)
}

/// The image a stack's images are built on.
pub fn base<'a>(config: &'a Config, stack: &str) -> &'a str {
    match stack {
        "trixie" => &config.trixie_stack_base,
        _ => &config.stack_base,
    }
}

/// What a buildpack's apps need at run time: the OS packages of their
/// runtime, or `None` when it cannot be known (a Procfile-only app, a
/// buildpack from git), which gets every runtime.
pub fn runtime_packages(buildpack: &str) -> Option<&'static [&'static str]> {
    match buildpack {
        "python" => Some(&["python3"]),
        "nodejs" => Some(&["nodejs"]),
        "go" | "static" => Some(&[]),
        _ => None,
    }
}

const EVERY_RUNTIME: &[&str] = &["python3", "nodejs"];

/// The run image for an app built with these buildpacks: the packages all
/// of them need, on the stack's run image, or the minimal one for none.
fn run_packages(buildpacks: &[String]) -> BTreeSet<&'static str> {
    let mut packages = BTreeSet::new();
    for buildpack in buildpacks {
        packages.extend(runtime_packages(buildpack).unwrap_or(EVERY_RUNTIME).iter().copied());
    }
    packages
}

/// An image tag named by a hash of what the image is made from.
pub fn tag(repository: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("{repository}:{}", hex::encode(&hash.finalize()[..6]))
}

/// The images one build needs.
pub struct Images {
    pub build: String,
    pub run: String,
}

/// Make sure the stack's build image and the run image for these
/// buildpacks exist, building what is missing (the first build of its kind
/// only).
pub async fn ensure(state: &AppState, stack: &str, buildpacks: &[String], out: &Output) -> anyhow::Result<Images> {
    let base = base(&state.config, stack);
    let every = EVERY_RUNTIME.join(" ");
    let full = ensure_run(state, stack, base, &every, out).await?;
    let build = tag("paas/stack-build", &[BUILD, &full]);
    if !state.runtime.image_exists(&build).await? {
        out.step(format!("Preparing the {stack} build stack (first build only)"));
        build_image(state, BUILD, &build, &[("RUN_IMAGE", &full)], out).await?;
    }
    let packages = run_packages(buildpacks);
    let run = if packages.is_empty() {
        let min = tag("paas/stack-min", &[MIN, &full]);
        if !state.runtime.image_exists(&min).await? {
            out.step(format!("Preparing the minimal {stack} run stack (first build only)"));
            build_image(state, MIN, &min, &[("RUN_IMAGE", &full)], out).await?;
        }
        min
    } else {
        let packages: Vec<&str> = packages.into_iter().collect();
        ensure_run(state, stack, base, &packages.join(" "), out).await?
    };
    Ok(Images { build, run })
}

async fn ensure_run(state: &AppState, stack: &str, base: &str, packages: &str, out: &Output) -> anyhow::Result<String> {
    let run = tag("paas/stack-run", &[RUN, base, packages]);
    if !state.runtime.image_exists(&run).await? {
        out.step(format!("Preparing the {stack} run stack with {packages} on {base} (first build only)"));
        build_image(state, RUN, &run, &[("BASE", base), ("PACKAGES", packages)], out).await?;
    }
    Ok(run)
}

async fn build_image(
    state: &AppState,
    dockerfile: &str,
    tag: &str,
    args: &[(&str, &str)],
    out: &Output,
) -> anyhow::Result<()> {
    build_local_image(state, &[("Dockerfile", dockerfile.as_bytes(), 0o644)], tag, args, out).await
}

/// Build an image the platform makes itself (a stack, an add-on's) from
/// these files (a Dockerfile among them), streaming the engine's output.
pub async fn build_local_image(
    state: &AppState,
    files: &[(&str, &[u8], u32)],
    tag: &str,
    args: &[(&str, &str)],
    out: &Output,
) -> anyhow::Result<()> {
    let context = super::buildpack::tar_of(files)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let forward = out.clone();
    let printer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            forward.line(line);
        }
    });
    let build_args: HashMap<String, String> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let spec = BuildSpec { tag: tag.to_string(), build_args, ..Default::default() };
    let result = state.runtime.build_image(context.into(), spec, tx).await;
    let _ = printer.await;
    result.with_context(|| format!("building the image {tag}"))
}

#[cfg(test)]
mod tests {
    use super::{run_packages, validate};

    fn packs(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn apps_run_with_only_the_runtimes_their_buildpacks_need() {
        assert!(run_packages(&packs(&["static"])).is_empty());
        assert!(run_packages(&packs(&["go"])).is_empty());
        assert_eq!(run_packages(&packs(&["python"])).into_iter().collect::<Vec<_>>(), ["python3"]);
        assert_eq!(run_packages(&packs(&["nodejs", "python"])).into_iter().collect::<Vec<_>>(), ["nodejs", "python3"]);
        // A buildpack from git may need anything.
        assert_eq!(run_packages(&packs(&["custom-1"])).len(), 2);
        assert_eq!(run_packages(&packs(&["generic"])).len(), 2);
    }

    #[test]
    fn only_known_stacks_can_be_set() {
        assert_eq!(validate("trixie").unwrap().name, "trixie");
        assert!(validate("heroku-24").unwrap_err().contains("trixie, bookworm"));
    }
}
