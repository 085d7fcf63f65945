//! Persistent volumes: a named engine volume mounted at a path in every
//! process of one type (web by default; one-offs and the release phase get
//! web's). Its data outlives deploys, restarts, rollbacks and scaling, and
//! goes only with `volumes:destroy` or the app. Adding or removing one rolls
//! the current release out again (health-gated, as a restart), since a
//! container's mounts are fixed when it starts.

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::db::volumes::Volume;
use crate::deploy::rollout::{self, volume_name};
use crate::deploy::Change;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Paths a volume may not hide: the system's own directories.
const SYSTEM_PATHS: &[&str] = &["/bin", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr"];

pub async fn create(
    state: &AppState,
    actor: &Actor,
    app: &App,
    name: &str,
    mount: &str,
    process: &str,
) -> AppResult<Job<Volume>> {
    crate::names::validate(name, "volume")?;
    let mount = validate_mount(mount)?;
    if process.is_empty()
        || !process.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(AppError::validation("process", format!("{process:?} is not a process type")));
    }
    let (name, process) = (name.to_string(), process.to_string());
    let plan = Plan { action: "volume.create", summary: format!("{name} at {mount} in {process}"), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        state.runtime.create_volume(&volume_name(&op.app, &name)).await.map_err(AppError::Other)?;
        let mut tx = state.db.begin().await?;
        let volume = db::volumes::add(&mut tx, op.app.id, &name, &mount, &process).await?;
        let Some(current) = db::releases::current(&state.db, op.app.id).await? else {
            db::audit::record(&mut tx, &op.audit("")).await?;
            db::operations::commit(&mut tx, op.id).await?;
            tx.commit().await?;
            op.out.step(format!("{name} is mounted at {mount} in {process} processes from the first deploy"));
            return Ok(volume);
        };
        tx.commit().await?;
        op.out.step(format!("Mounting {name} at {mount} in {process} processes"));
        if let Err(err) = roll_out(&op, &current).await {
            // The processes keep running as they were, without it.
            let mut tx = state.db.begin().await?;
            db::volumes::remove(&mut tx, op.app.id, &name).await?;
            tx.commit().await?;
            return Err(err);
        }
        Ok(volume)
    })
    .await
}

/// Unmount and delete a volume and its data.
pub async fn destroy(state: &AppState, actor: &Actor, app: &App, name: &str) -> AppResult<Job<Volume>> {
    if !db::volumes::list(&state.db, app.id).await?.iter().any(|v| v.name == name) {
        return Err(AppError::not_found(format!("{} has no volume named {name}", app.name)));
    }
    let name = name.to_string();
    let plan = Plan { action: "volume.destroy", summary: name.clone(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        let mut tx = state.db.begin().await?;
        let Some(volume) = db::volumes::remove(&mut tx, op.app.id, &name).await? else {
            return Err(AppError::not_found(format!("{} has no volume named {name}", op.app.name)));
        };
        match db::releases::current(&state.db, op.app.id).await? {
            Some(current) => {
                tx.commit().await?;
                op.out.step(format!("Unmounting {name} from {} processes", volume.process_type));
                if let Err(err) = roll_out(&op, &current).await {
                    // Still mounted where it was: its row comes back, its data stays.
                    let mut tx = state.db.begin().await?;
                    db::volumes::add(&mut tx, op.app.id, &volume.name, &volume.mount_path, &volume.process_type)
                        .await?;
                    tx.commit().await?;
                    return Err(err);
                }
            }
            None => {
                db::audit::record(&mut tx, &op.audit("")).await?;
                db::operations::commit(&mut tx, op.id).await?;
                tx.commit().await?;
            }
        }
        // The replaced processes still mount it while they drain and stop
        // in the background; it goes once they have.
        let engine_name = volume_name(&op.app, &name);
        super::remove_once_retired(state, format!("the destroyed volume {engine_name}"), move |state| {
            let engine_name = engine_name.clone();
            async move { state.runtime.remove_volume(&engine_name).await }
        });
        op.out.step(format!("{name} and its data are deleted once the replaced processes have stopped"));
        Ok(volume)
    })
    .await
}

/// The current release again, with the app's volumes as they are now.
async fn roll_out(op: &super::Op, current: &db::releases::Release) -> AppResult<()> {
    let formation = db::formation::list(&op.state.db, op.app.id).await?;
    let change = Change { operation: Some(op.id), config: None, formation, audit: Some(op.audit("")) };
    rollout::rollout(&op.state, &op.app, current, &change, &op.out)
        .await
        .map_err(|e| AppError::DeployFailed(format!("{e:#}")))
}

/// An absolute, plain path that hides nothing the system needs.
fn validate_mount(mount: &str) -> AppResult<String> {
    let path = mount.trim().trim_end_matches('/');
    let fail = |why: &str| AppError::validation("mount", format!("{mount:?} cannot be a mount path: {why}"));
    if !path.starts_with('/') || path.len() < 2 {
        return Err(fail("it must be an absolute path below /, like /data"));
    }
    if path.len() > 200 || !path.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        return Err(fail("letters, digits, /, ., _ and - only, at most 200"));
    }
    if path.contains("//") || path.split('/').any(|part| part == "." || part == "..") {
        return Err(fail("no . or .. parts and no empty ones"));
    }
    if SYSTEM_PATHS.iter().any(|system| path == *system || path.starts_with(&format!("{system}/"))) {
        return Err(fail("it would hide a system directory"));
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::validate_mount;

    #[test]
    fn mount_paths_are_plain_absolute_and_leave_the_system_alone() {
        assert_eq!(validate_mount("/data/").unwrap(), "/data");
        assert_eq!(validate_mount("/www/data").unwrap(), "/www/data");
        for bad in ["data", "/", "/usr/lib", "/etc", "/data/../etc", "/a//b", "/da ta", "/proc/x"] {
            assert!(validate_mount(bad).is_err(), "{bad}");
        }
    }
}
