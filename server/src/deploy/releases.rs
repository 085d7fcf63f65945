//! Rollback, scaling, resizing and restarts: each a health-gated rollout of
//! a release, undone (formation, config) if the new processes don't come up.

use super::{config, lock::AppLock, Output};
use crate::db;
use crate::db::apps::App;
use crate::db::releases::Release;
use crate::db::users::User;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub const MAX_QUANTITY: i32 = 50;

/// Roll back to `target` (default: the newest succeeded release before the
/// current one) as a new release with its image and config.
pub async fn rollback(
    state: &AppState,
    app: &App,
    user: &User,
    target: Option<i32>,
    out: &Output,
) -> AppResult<Release> {
    let _lock = AppLock::acquire(&state.db, app, out).await?;
    let current = db::releases::current(&state.db, app.id)
        .await?
        .ok_or_else(|| AppError::validation("release", format!("{} has no release to roll back from", app.name)))?;
    let releases = db::releases::list(&state.db, app.id).await?;
    let target = match target {
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
    let old_config = db::config_vars::get(&state.db, app.id).await?;
    db::config_vars::replace(&state.db, app.id, &config::unsnapshot(&target.config.0)?).await?;
    let new = db::releases::create(
        &state.db,
        db::releases::NewRelease {
            app_id: app.id,
            build_id: target.build_id,
            image: &target.image,
            commit_sha: target.commit_sha.as_deref(),
            description: &format!("Rollback to v{}", target.version),
            config: target.config.0.clone(),
            process_types: target.process_types.0.clone(),
            healthcheck: target.healthcheck.as_ref().map(|h| h.0.clone()),
            created_by: Some(user.id),
        },
    )
    .await?;
    out.step(format!("Rolling back to v{} as v{}", target.version, new.version));
    match super::rollout::rollout(state, app, &new, out).await {
        Ok(()) => Ok(new),
        Err(err) => {
            db::config_vars::replace(&state.db, app.id, &old_config).await?;
            Err(AppError::DeployFailed(format!("{err:#}")))
        }
    }
}

/// What a formation change asks for, per process type.
#[derive(Debug, Clone, Default)]
pub struct FormationChange {
    pub quantity: Option<i32>,
    pub memory_mb: Option<i32>,
    pub cpus: Option<f64>,
}

/// Scale or resize process types, then roll out the current release with
/// the new formation; the old formation comes back if that fails.
pub async fn change_formation(
    state: &AppState,
    app: &App,
    changes: &[(String, FormationChange)],
    out: &Output,
) -> AppResult<Vec<db::formation::Formation>> {
    let _lock = AppLock::acquire(&state.db, app, out).await?;
    let current = db::releases::current(&state.db, app.id)
        .await?
        .ok_or_else(|| AppError::validation("formation", format!("{} has no release yet; push first", app.name)))?;
    for (process, change) in changes {
        if process == "release" {
            return Err(AppError::validation("type", "the release process runs once per deploy; it cannot be scaled"));
        }
        if !current.process_types.0.contains_key(process) {
            let known: Vec<&str> = current.process_types.0.keys().map(String::as_str).collect();
            return Err(AppError::validation(
                "type",
                format!("no process type {process:?} in v{} (it has {})", current.version, known.join(", ")),
            ));
        }
        if change.quantity.is_some_and(|q| !(0..=MAX_QUANTITY).contains(&q)) {
            return Err(AppError::validation("quantity", format!("quantity must be 0 to {MAX_QUANTITY}")));
        }
        if change.memory_mb.is_some_and(|m| !(6..=1024 * 1024).contains(&m)) {
            return Err(AppError::validation("memory", "memory must be at least 6 MB"));
        }
        if change.cpus.is_some_and(|c| !(c > 0.0 && c <= 256.0)) {
            return Err(AppError::validation("cpus", "cpus must be above 0"));
        }
    }
    let types: Vec<String> = current.process_types.0.keys().cloned().collect();
    db::formation::ensure_defaults(&state.db, app.id, &types).await?;
    let old = db::formation::list(&state.db, app.id).await?;
    for (process, change) in changes {
        db::formation::update(&state.db, app.id, process, change.quantity, change.memory_mb, change.cpus).await?;
    }
    match super::rollout::rollout(state, app, &current, out).await {
        Ok(()) => Ok(db::formation::list(&state.db, app.id).await?),
        Err(err) => {
            db::formation::restore(&state.db, app.id, &old).await?;
            Err(AppError::DeployFailed(format!("{err:#}")))
        }
    }
}

/// Replace every process of the current release with fresh ones.
pub async fn restart(state: &AppState, app: &App, out: &Output) -> AppResult<()> {
    let _lock = AppLock::acquire(&state.db, app, out).await?;
    let current = db::releases::current(&state.db, app.id)
        .await?
        .ok_or_else(|| AppError::validation("release", format!("{} has no release to restart", app.name)))?;
    super::rollout::rollout(state, app, &current, out).await.map_err(|e| AppError::DeployFailed(format!("{e:#}")))
}

/// Memory as `512m`, `1g`, `256` (MB).
pub fn parse_memory(text: &str) -> Result<i32, String> {
    let t = text.trim().to_ascii_lowercase();
    let (number, factor) = match t.strip_suffix("gb").or_else(|| t.strip_suffix('g')) {
        Some(n) => (n, 1024),
        None => (t.strip_suffix("mb").or_else(|| t.strip_suffix('m')).unwrap_or(&t), 1),
    };
    number
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("cannot read {text:?} as memory (e.g. 512m, 1g)"))
}

#[cfg(test)]
mod tests {
    use super::parse_memory;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512m"), Ok(512));
        assert_eq!(parse_memory("1G"), Ok(1024));
        assert_eq!(parse_memory("64"), Ok(64));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("0m").is_err());
    }
}
