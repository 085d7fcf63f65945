//! From a push to a running release: lock the app, build, record the
//! release, roll it out. Any failure leaves the running release untouched
//! and rejects the push.

pub mod app_json;
pub mod config;
pub mod destroy;
pub mod lock;
pub mod procfile;
pub mod release_phase;
pub mod releases;
pub mod rollout;

use std::collections::BTreeMap;
use std::path::Path;

use tokio::sync::mpsc::UnboundedSender;

use crate::db;
use crate::db::releases::{NewRelease, ProcessTypes};
use crate::git::hook::RefUpdate;
use crate::git::{repo, PushContext};
use crate::state::AppState;

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";
const DEPLOY_BRANCHES: &[&str] = &["refs/heads/main", "refs/heads/master"];

/// Where a pipeline reports progress: the push's `remote:` lines.
#[derive(Clone)]
pub struct Output(UnboundedSender<String>);

impl Output {
    pub fn new(tx: UnboundedSender<String>) -> Self {
        Self(tx)
    }

    /// An output nobody reads.
    pub fn discard() -> Self {
        Self(tokio::sync::mpsc::unbounded_channel().0)
    }

    /// A step heading: `-----> Building ...`.
    pub fn step(&self, text: impl AsRef<str>) {
        let _ = self.0.send(format!("-----> {}", text.as_ref()));
    }

    /// A detail line, indented under its step.
    pub fn line(&self, text: impl AsRef<str>) {
        let _ = self.0.send(format!("       {}", text.as_ref()));
    }

    pub fn error(&self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            let _ = self.0.send(format!(" !     {line}"));
        }
    }

    /// A raw sender for streamed tool output (docker build lines).
    pub fn raw(&self) -> UnboundedSender<String> {
        self.0.clone()
    }
}

/// Handle a push's ref updates: whether git should accept them, and the
/// app's deploy lock when one was taken (to hold until the ref is updated).
pub async fn handle_push(
    state: &AppState,
    push: &PushContext,
    updates: &[RefUpdate],
    quarantine: Option<&Path>,
    out: &Output,
) -> (bool, Option<lock::AppLock>) {
    let deploy = DEPLOY_BRANCHES.iter().find_map(|branch| updates.iter().find(|u| u.refname == *branch));
    for update in updates.iter().filter(|u| !DEPLOY_BRANCHES.contains(&u.refname.as_str())) {
        out.step(format!("Stored {} (only main or master deploys)", update.refname));
    }
    let Some(update) = deploy else { return (true, None) };
    if update.new == ZERO_SHA {
        out.error(format!("{} is the deploy branch of {}; it cannot be deleted", update.refname, push.app.name));
        return (false, None);
    }
    let lock = match lock::AppLock::acquire(&state.db, &push.app, out).await {
        Ok(lock) => lock,
        Err(err) => {
            out.error(format!("Push rejected: could not take the deploy lock: {err:#}"));
            return (false, None);
        }
    };
    let result = deploy_push(state, push, update, quarantine, out).await;
    let detail = format!("{} {}{}", update.refname, &update.new[..7], if result.is_ok() { "" } else { " (rejected)" });
    let event = db::audit::NewEvent {
        user_id: push.user.id,
        actor: &push.user.email,
        team_id: Some(push.app.team_id),
        app: Some(&push.app.name),
        action: "deploy",
        detail,
        source: "git",
    };
    if let Err(err) = db::audit::record(&state.db, event).await {
        tracing::error!(error = %err, "could not record the deploy in the audit log");
    }
    let accepted = match result {
        Ok(()) => true,
        Err(err) => {
            out.error(format!("Push rejected: {err:#}"));
            out.error(match release_version(state, push.app.id).await {
                Some(v) => format!("v{v} keeps serving; nothing was changed"),
                None => "nothing was changed".to_string(),
            });
            false
        }
    };
    (accepted, Some(lock))
}

async fn release_version(state: &AppState, app_id: i64) -> Option<i32> {
    db::releases::current(&state.db, app_id).await.ok().flatten().map(|r| r.version)
}

#[tracing::instrument(skip_all, fields(app = %push.app.name, commit = %update.new))]
/// Build and roll out one pushed commit; the caller holds the app's lock.
async fn deploy_push(
    state: &AppState,
    push: &PushContext,
    update: &RefUpdate,
    quarantine: Option<&Path>,
    out: &Output,
) -> anyhow::Result<()> {
    let app = &push.app;

    // A push that waited must still apply to the branch as it is now.
    let repo_dir = repo::path(&state.repos_dir(), &app.name);
    let head = {
        let (dir, refname) = (repo_dir.clone(), update.refname.clone());
        tokio::task::spawn_blocking(move || repo::branch_head(&dir, &refname)).await??
    };
    let expected = (update.old != ZERO_SHA).then(|| update.old.clone());
    if head != expected {
        anyhow::bail!(
            "{} moved while this push waited (someone else pushed); fetch, merge and push again",
            update.refname
        );
    }

    let source = {
        let (dir, quarantine, sha) = (repo_dir.clone(), quarantine.map(Path::to_path_buf), update.new.clone());
        tokio::task::spawn_blocking(move || repo::read_commit(&dir, quarantine.as_deref(), &sha)).await??
    };
    let procfile_types: Option<ProcessTypes> = match &source.procfile {
        Some(text) => Some(procfile::parse(text).map_err(|e| anyhow::anyhow!("Procfile: {e}"))?),
        None => None,
    };
    let app_json = match &source.app_json {
        Some(text) => app_json::parse(text).map_err(|e| anyhow::anyhow!("app.json: {e}"))?,
        None => app_json::AppJson::default(),
    };
    let dockerfile = source.includes_file("Dockerfile");
    // Read the config once: the build sees it in clear, the release keeps it sealed.
    let sealed = db::config_vars::get(&state.db, app.id).await?;
    let clear = config::open(state, app, &sealed)?;
    let built = crate::build::build(state, app, &update.new, source, &clear, Some(push.user.id), out).await?;
    // The Procfile wins; else what the buildpack proposes; else the image's own command.
    let process_types = match procfile_types {
        Some(types) => types,
        None if !built.default_process_types.is_empty() => built.default_process_types.clone(),
        None if dockerfile => BTreeMap::from([("web".to_string(), None)]),
        None => anyhow::bail!("nothing says how to run this app: add a Procfile with a `web:` line"),
    };

    let short = &update.new[..7];
    let config = config::snapshot(&sealed);
    let release = db::releases::create(
        &state.db,
        NewRelease {
            app_id: app.id,
            build_id: Some(built.build_id),
            image: &built.image,
            commit_sha: Some(&update.new),
            description: &format!("Deploy {short}"),
            config,
            process_types,
            healthcheck: app_json.web_healthcheck(),
            created_by: Some(push.user.id),
        },
    )
    .await?;
    out.step(format!("Releasing v{} (image {})", release.version, built.image));
    for (process_type, defaults) in &app_json.formation {
        db::formation::insert_default(
            &state.db,
            app.id,
            process_type,
            defaults.quantity.unwrap_or(0),
            defaults.memory_mb()?,
        )
        .await?;
    }
    if let Err(err) = release_phase::run(state, app, &release, out).await {
        db::releases::mark_failed(&state.db, release.id).await?;
        return Err(err);
    }
    rollout::rollout(state, app, &release, out).await?;
    out.step(format!("Deployed v{} to {}", release.version, state.app_url(&app.name)));
    Ok(())
}

/// Record a release of the current image with a new config (or the same) and
/// roll it out; the caller holds the app's lock.
pub async fn release_from_current(
    state: &AppState,
    app: &crate::db::apps::App,
    user: &crate::db::users::User,
    description: &str,
    config: Option<BTreeMap<String, String>>,
    out: &Output,
) -> crate::error::AppResult<crate::db::releases::Release> {
    let current = db::releases::current(&state.db, app.id)
        .await?
        .ok_or_else(|| crate::error::AppError::validation("release", format!("{} has no release yet", app.name)))?;
    let release = db::releases::create(
        &state.db,
        NewRelease {
            app_id: app.id,
            build_id: current.build_id,
            image: &current.image,
            commit_sha: current.commit_sha.as_deref(),
            description,
            config: config.unwrap_or_else(|| current.config.0.clone()),
            process_types: current.process_types.0.clone(),
            healthcheck: current.healthcheck.as_ref().map(|h| h.0.clone()),
            created_by: Some(user.id),
        },
    )
    .await?;
    out.step(format!("Releasing v{}: {description}", release.version));
    rollout::rollout(state, app, &release, out)
        .await
        .map_err(|e| crate::error::AppError::DeployFailed(format!("{e:#}")))?;
    Ok(release)
}
