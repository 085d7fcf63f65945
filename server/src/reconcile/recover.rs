//! At start, before the loop runs: settle what a previous server process
//! left half-done, so the database tells one story again.
//!
//! - A build still `building` failed (its output ends with a note).
//! - A rollout that had switched traffic (draining, stopping_old) succeeded;
//!   any other unfinished rollout failed, and its release with it.
//! - A release still `pending` (cut short in its build or release phase)
//!   failed: nothing can take it live any more.
//! - An operation still `running` never reached its commit point: it failed
//!   ("interrupted"), with an audit event saying nothing changed. One that
//!   committed (went live) but did not finish is finished; a destroy that
//!   committed removes the app's images, network and repository.
//! - The consistency rule for git: if an app's current release was made by a
//!   push, its branch points at that push's commit. A push that went live as
//!   the server died was rejected by git, which kept the branch where it
//!   was; the branch is moved to the live commit here, with a log line.
//! - A rename that committed has its repository moved, if it was not yet.
//! - Add-on attachments cut short are ended, add-ons cut short removed
//!   (`ops::addons::settle`).
//! - Engine volumes of app volumes and add-ons without a row (a destroy cut
//!   short) go; backups that were running when the server stopped failed.
//!
//! The containers such work left behind are the reconcile loop's: it
//! removes them in the background once the router serves again.

use crate::db;
use crate::state::AppState;

pub async fn recover(state: &AppState) -> anyhow::Result<()> {
    let failed_builds = db::builds::fail_unfinished(&state.db).await?;
    if failed_builds > 0 {
        tracing::warn!(count = failed_builds, "marked builds interrupted by a stop as failed");
    }
    for deployment in db::deployments::unfinished(&state.db).await? {
        let went_live = deployment.phase.went_live();
        tracing::warn!(deployment = deployment.id, phase = ?deployment.phase, went_live, "settling an interrupted rollout");
        if went_live {
            db::deployments::set_phase(&state.db, deployment.id, db::deployments::Phase::Succeeded).await?;
        } else {
            db::deployments::fail(&state.db, deployment.id, "interrupted: the server stopped during the rollout")
                .await?;
        }
    }
    let pending = db::releases::fail_pending(&state.db).await?;
    if pending > 0 {
        tracing::warn!(count = pending, "marked releases interrupted before going live as failed");
    }
    for op in db::operations::unfinished(&state.db).await? {
        let committed = op.status == "succeeded";
        tracing::warn!(operation = op.id, app = %op.app, kind = %op.kind, committed, "settling an interrupted operation");
        let note = if committed {
            "(the server stopped after this change took effect)\n"
        } else {
            "(interrupted: the server stopped before this change took effect; nothing changed)\n"
        };
        let mut tx = state.db.begin().await?;
        db::operations::finish(
            &mut tx,
            op.id,
            committed,
            (!committed).then_some("interrupted: the server stopped"),
            note,
        )
        .await?;
        if !committed {
            let event = db::audit::NewEvent {
                user_id: op.user_id,
                actor: op.actor.clone(),
                team_id: op.team_id,
                app: Some(op.app.clone()),
                app_id: op.app_id,
                action: op.kind.clone(),
                detail: format!("{} (interrupted, unchanged)", op.summary).trim_start().to_string(),
                source: op.source.clone(),
            };
            db::audit::record(&mut tx, &event).await?;
        }
        tx.commit().await?;
        // A destroy that committed (the rows are gone) finishes its cleanup;
        // the reconcile loop removes the containers.
        if committed && op.kind == "app.destroy" {
            if let Err(err) = state.runtime.remove_images(&op.app).await {
                tracing::warn!(app = %op.app, error = %format!("{err:#}"), "could not remove a destroyed app's images");
            }
            if let Err(err) = state.runtime.remove_network(&crate::runtime::app_network(&op.app)).await {
                tracing::warn!(app = %op.app, error = %format!("{err:#}"), "could not remove a destroyed app's network");
            }
            crate::repos::remove(&state.repos_dir(), &op.app).await?;
        }
        // A rename that committed moves the repository if it had not yet.
        if committed && op.kind == "app.rename" {
            if let Some((old, new)) = op.summary.split_once(" -> ") {
                let (from, to) =
                    (crate::repos::path(&state.repos_dir(), old), crate::repos::path(&state.repos_dir(), new));
                if from.exists() && !to.exists() {
                    crate::repos::rename(&state.repos_dir(), old, new).await?;
                }
            }
        }
    }
    for push in db::operations::live_pushes(&state.db).await? {
        if let (Some(app), Some(refname), Some(old), Some(new)) =
            (db::apps::find_by_name(&state.db, &push.app).await?, &push.refname, &push.old_commit, &push.new_commit)
        {
            crate::ops::push::settle_branch(state, &app, refname, old, new).await;
        }
    }
    state.routes.set_domains(db::domains::all(&state.db).await?);
    crate::ops::addons::settle(state).await?;
    remove_unknown_volumes(state).await?;
    let cut_short = db::addons::fail_running_backups(&state.db).await?;
    if cut_short > 0 {
        tracing::warn!(backups = cut_short, "backups cut short by the last stop are marked failed");
    }
    Ok(())
}

/// Engine volumes of apps' volumes, build caches and add-ons that have no
/// row any more (a destroy cut short after its rollout; a build cache under
/// the name-and-id of earlier versions) go; one still mounted stays for the
/// next start.
async fn remove_unknown_volumes(state: &AppState) -> anyhow::Result<()> {
    let mut known: std::collections::HashSet<String> = db::volumes::all(&state.db)
        .await?
        .into_iter()
        .map(|(app_id, name)| crate::deploy::rollout::volume_name_of(app_id, &name))
        .collect();
    known.extend(db::addons::all(&state.db).await?.iter().map(|a| crate::addons::volume_name(a.id)));
    known.extend(db::apps::ids(&state.db).await?.into_values().map(crate::build::buildpack::cache_volume_of));
    for volume in state.runtime.volumes().await? {
        let ours = ["vol-", "addon-", "cache-"].iter().any(|prefix| volume.starts_with(prefix));
        if ours && !known.contains(&volume) {
            match state.runtime.remove_volume(&volume).await {
                Ok(()) => tracing::warn!(volume = %volume, "removed a volume whose app or record is gone"),
                Err(err) => {
                    tracing::warn!(volume = %volume, error = %format!("{err:#}"), "could not remove an unknown volume")
                }
            }
        }
    }
    Ok(())
}
