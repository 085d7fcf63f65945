//! A push to an app's deploy branch, as an operation. The deploy itself is
//! `deploy::push`; this adds what makes the git side tell the same story as
//! what runs: the app's lock is held until git has updated (or refused) the
//! branch, and if the release went live but git never recorded the push
//! (the client went away mid-deploy), the branch is moved to it here. The
//! same rule settles a push cut short by a server crash on the next start
//! (`reconcile::recover`).

use std::time::Duration;

use tokio::sync::oneshot;

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::deploy::push::{deploy, Pushed};
use crate::error::{AppError, AppResult};
use crate::repos;
use crate::state::AppState;

/// How long git may take to update the branch after the verdict.
const GIT_FINISH: Duration = Duration::from_secs(120);

/// Deploy a pushed commit. `git_ended` fires when the push's git request is
/// over (the branch updated, refused, or the client gone).
pub async fn deploy_push(
    state: &AppState,
    actor: &Actor,
    app: &App,
    pushed: Pushed,
    git_ended: Option<oneshot::Receiver<()>>,
) -> AppResult<Job<()>> {
    let summary = format!("{} {}", pushed.refname, &pushed.new[..7.min(pushed.new.len())]);
    let refs = (pushed.refname.clone(), pushed.old.clone(), pushed.new.clone());
    let plan = Plan { action: "deploy", summary, push: Some(refs) };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let lock = op.lock().await?;
        let started = std::time::Instant::now();
        let result = deploy(state, &op.app, &pushed, op.actor.user.id, op.id, op.audit(""), &op.out).await;
        state.metrics.deploy(result.is_ok(), started.elapsed());
        if let Err(err) = &result {
            op.out.error(format!("Push rejected: {err:#}"));
            op.out.error(match db::releases::current(&state.db, op.app.id).await.ok().flatten() {
                Some(r) => format!("v{} keeps serving; nothing was changed", r.version),
                None => "nothing was changed".to_string(),
            });
        }
        let (state, app, live) = (state.clone(), op.app.clone(), result.is_ok());
        tokio::spawn(async move {
            if let Some(ended) = git_ended {
                let _ = tokio::time::timeout(GIT_FINISH, ended).await;
            }
            if live {
                settle_branch(&state, &app, &pushed.refname, &pushed.old, &pushed.new).await;
            }
            drop(lock);
        });
        result.map(|_| ()).map_err(|e| AppError::DeployFailed(format!("{e:#}")))
    })
    .await
}

/// A pushed commit went live: make sure the branch points at it. Moves it
/// only from where the push found it (`old`), and says so.
pub async fn settle_branch(state: &AppState, app: &App, refname: &str, old: &str, new: &str) {
    let dir = repos::path(&state.repos_dir(), &app.name);
    let (r, o, n) = (refname.to_string(), old.to_string(), new.to_string());
    match tokio::task::spawn_blocking(move || repos::move_branch(&dir, &r, &o, &n)).await {
        Ok(Ok(true)) => {
            let line = format!("{refname} moved to {}: its push went live, but git never recorded it", &new[..7]);
            tracing::warn!(app = %app.name, "{line}");
            state.logs.push(&app.name, "paas", &line);
        }
        Ok(Ok(false)) => {}
        Ok(Err(err)) => {
            tracing::error!(app = %app.name, error = %format!("{err:#}"), "could not move the deploy branch")
        }
        Err(err) => tracing::error!(app = %app.name, error = %err, "could not move the deploy branch"),
    }
}
