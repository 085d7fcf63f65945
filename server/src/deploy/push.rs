//! From a pushed commit to a running release: check the branch did not move,
//! read the commit, build it, record the release, keep the pushed objects,
//! run the release phase and roll out. Any failure leaves the running
//! release untouched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};

use super::formation::{self, Default as FormationDefault};
use super::rollout::Change;
use super::{app_json, config, procfile, release_phase, rollout};
use crate::build::Builder;
use crate::db;
use crate::db::apps::App;
use crate::db::audit::NewEvent;
use crate::db::releases::{NewRelease, ProcessTypes, Release};
use crate::progress::Output;
use crate::repos;
use crate::state::AppState;

pub const ZERO_SHA: &str = "0000000000000000000000000000000000000000";
pub const DEPLOY_BRANCHES: &[&str] = &["refs/heads/main", "refs/heads/master"];

/// A push to an app's deploy branch.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub refname: String,
    pub old: String,
    pub new: String,
    /// Where git keeps the push's objects until it accepts it.
    pub quarantine: Option<PathBuf>,
}

/// Build and roll out one pushed commit; the caller holds the app's lock.
#[tracing::instrument(skip_all, fields(app = %app.name, commit = %pushed.new))]
pub async fn deploy(
    state: &AppState,
    app: &App,
    pushed: &Pushed,
    user_id: i64,
    operation: i64,
    audit: NewEvent,
    out: &Output,
) -> anyhow::Result<Release> {
    // A push that waited must still apply to the branch as it is now.
    let repo_dir = repos::path(&state.repos_dir(), &app.name);
    let head = {
        let (dir, refname) = (repo_dir.clone(), pushed.refname.clone());
        tokio::task::spawn_blocking(move || repos::branch_head(&dir, &refname)).await??
    };
    let expected = (pushed.old != ZERO_SHA).then(|| pushed.old.clone());
    if head != expected {
        bail!("{} moved while this push waited (someone else pushed); fetch, merge and push again", pushed.refname);
    }

    let source = {
        let (dir, quarantine, sha, spill) =
            (repo_dir.clone(), pushed.quarantine.clone(), pushed.new.clone(), state.spill_dir());
        tokio::task::spawn_blocking(move || repos::read_commit(&dir, quarantine.as_deref(), &sha, &spill)).await??
    };
    let procfile_types: Option<ProcessTypes> = match &source.procfile {
        Some(text) => Some(procfile::parse(text).map_err(|e| anyhow!("Procfile: {e}"))?),
        None => None,
    };
    let app_json = match &source.app_json {
        Some(text) => app_json::parse(text).map_err(|e| anyhow!("app.json: {e}"))?,
        None => app_json::AppJson::default(),
    };
    let mut defaults = BTreeMap::new();
    for (process_type, d) in &app_json.formation {
        let default = FormationDefault { quantity: d.quantity.unwrap_or(0), memory_mb: d.memory_mb()? };
        defaults.insert(process_type.clone(), default);
    }
    // Read the config once: the build sees it in clear, the release keeps it sealed.
    let sealed = db::config_vars::get(&state.db, app.id).await?;
    let clear = config::open(state, app, &sealed)?;
    let (builder, why) = crate::build::choose(source.includes_file("Dockerfile"), &clear, app_json.builder.as_deref())
        .map_err(|e| anyhow!(e))?;
    out.step(format!("Building with {builder}: {why}"));
    let started = std::time::Instant::now();
    let built = crate::build::build(state, app, source, builder, &clear, Some(user_id), out).await;
    state.metrics.build(built.is_ok(), started.elapsed());
    let built = built?;
    // The Procfile wins; else what the buildpack proposes; else the image's own command.
    let process_types = match procfile_types {
        Some(types) => types,
        None if !built.default_process_types.is_empty() => built.default_process_types.clone(),
        None if builder == Builder::Dockerfile => BTreeMap::from([("web".to_string(), None)]),
        None => bail!("nothing says how to run this app: add a Procfile with a `web:` line"),
    };
    let current = db::formation::list(&state.db, app.id).await?;
    let formation = formation::plan(&app.name, &current, &process_types, &defaults, &[]).map_err(|e| anyhow!(e))?;

    let short = &pushed.new[..7];
    let release = db::releases::create(
        &state.db,
        NewRelease {
            app_id: app.id,
            build_id: Some(built.build_id),
            image: &built.image,
            commit_sha: Some(&pushed.new),
            description: &format!("Deploy {short}"),
            config: config::snapshot(&sealed),
            process_types,
            healthcheck: app_json.web_healthcheck(),
            created_by: Some(user_id),
        },
    )
    .await?;
    db::operations::set_release(&state.db, operation, release.id).await?;
    out.step(format!("Releasing v{} (image {})", release.version, built.image));
    // Once the release can go live, its commit must outlive the push: git
    // drops the pushed objects if the push fails after that (a server that
    // dies right after the switch), and the branch is then moved to it.
    keep_objects(&repo_dir, pushed.quarantine.as_deref()).await?;
    if let Err(err) = release_phase::run(state, app, &release, out).await {
        db::releases::mark_failed(&state.db, release.id).await?;
        return Err(err);
    }
    let change = Change { operation: Some(operation), config: None, formation, audit: Some(audit) };
    rollout::rollout(state, app, &release, &change, out).await?;
    if !release.process_types.0.contains_key("web") {
        out.step(format!(
            "v{} has no web process; scale what it runs with `paas ps:scale TYPE=N -a {}`",
            release.version, app.name
        ));
    }
    out.step(format!("Deployed v{} to {}", release.version, state.app_url(&app.name)));
    Ok(release)
}

async fn keep_objects(repo_dir: &Path, quarantine: Option<&Path>) -> anyhow::Result<()> {
    let Some(quarantine) = quarantine else { return Ok(()) };
    let (repo_dir, quarantine) = (repo_dir.to_path_buf(), quarantine.to_path_buf());
    tokio::task::spawn_blocking(move || repos::keep_objects(&repo_dir, &quarantine)).await?
}
