//! Rollback: a new release with an earlier release's image and config,
//! rolled out like any deploy. The app's config becomes that release's only
//! when it goes live.

use std::collections::BTreeMap;

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::db::releases::Release;
use crate::deploy::config::{snapshot, unsnapshot};
use crate::deploy::formation::plan;
use crate::deploy::{self, Change, Derived};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The release to roll back to: `version`, or the newest succeeded one before
/// the current; refused with a reason when it cannot run.
async fn target(state: &AppState, app: &App, version: Option<i32>) -> AppResult<(Release, Release)> {
    let current = db::releases::current(&state.db, app.id)
        .await?
        .ok_or_else(|| AppError::validation("release", format!("{} has no release to roll back from", app.name)))?;
    let releases = db::releases::list(&state.db, app.id).await?;
    let target = match version {
        Some(v) => releases
            .into_iter()
            .find(|r| r.version == v)
            .ok_or_else(|| AppError::not_found(format!("{} has no release v{v}", app.name)))?,
        None => releases
            .into_iter()
            .find(|r| r.version < current.version && r.status == "succeeded")
            .ok_or_else(|| AppError::validation("release", "there is no earlier release that ran successfully"))?,
    };
    if target.status != "succeeded" {
        return Err(AppError::validation(
            "release",
            format!("v{} {}; roll back to a release that ran", target.version, target.status),
        ));
    }
    if target.id == current.id {
        return Err(AppError::validation("release", format!("v{} is already the current release", target.version)));
    }
    if !state.runtime.image_exists(&target.image).await? {
        return Err(AppError::validation(
            "release",
            format!("the image of v{} ({}) is gone; it cannot be rolled back to", target.version, target.image),
        ));
    }
    Ok((current, target))
}

/// Roll back to `version` (default: the previous release that ran).
pub async fn rollback(state: &AppState, actor: &Actor, app: &App, version: Option<i32>) -> AppResult<Job<Release>> {
    let (_, chosen) = target(state, app, version).await?;
    let plan_op = Plan { action: "release.rollback", summary: format!("to v{}", chosen.version), push: None };
    launch(state, app, actor, plan_op, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        let (_, target) = target(state, &op.app, Some(chosen.version)).await?;
        let now = db::formation::list(&state.db, op.app.id).await?;
        let formation = plan(&op.app.name, &now, &target.process_types.0, &BTreeMap::new(), &[])
            .map_err(|e| AppError::validation("release", e))?;
        // The app's add-ons stay as they are now.
        let mut config = unsnapshot(&target.config.0)?;
        super::addons::keep_attachment_vars(state, &op.app, &mut config).await?;
        let change =
            Change { operation: Some(op.id), config: Some(config.clone()), formation, audit: Some(op.audit("")) };
        op.out.step(format!("Rolling back to v{}", target.version));
        let derived = Derived {
            base: &target,
            description: format!("Rollback to v{}", target.version),
            config: snapshot(&config),
            created_by: op.actor.user.id,
        };
        let release = deploy::release_from(state, &op.app, derived, &change, &op.out)
            .await
            .map_err(|e| AppError::DeployFailed(format!("{e:#}")))?;
        Ok(db::releases::find(&state.db, release.id).await?.unwrap_or(release))
    })
    .await
}
