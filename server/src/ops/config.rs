//! Setting and unsetting config vars. With a release running, the change is
//! a new release of the same image with the new config, rolled out; the
//! app's stored config becomes the new one only when that release goes live.
//! Before the first deploy the config is simply stored for it.

use std::collections::BTreeMap;

use super::{launch, Actor, Job, Plan};
use crate::crypto::config_context;
use crate::db;
use crate::db::apps::App;
use crate::db::releases::Release;
use crate::deploy::config::{describe, snapshot, validate_key, MAX_VALUE_BYTES};
use crate::deploy::{self, Change, Derived};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Apply `changes` (key -> Some(value) to set, None to unset). The job's
/// outcome is the new release, or None when the app has no release yet.
pub async fn change(
    state: &AppState,
    actor: &Actor,
    app: &App,
    changes: BTreeMap<String, Option<String>>,
) -> AppResult<Job<Option<Release>>> {
    if changes.is_empty() {
        return Err(AppError::validation("config", "no config vars given"));
    }
    for (key, value) in &changes {
        validate_key(key)?;
        if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_BYTES) {
            return Err(AppError::validation(
                "value",
                format!("the value of {key} is larger than {MAX_VALUE_BYTES} bytes"),
            ));
        }
    }
    let managed = db::addons::vars_of(&state.db, app.id).await?;
    if let Some(key) = changes.keys().find(|key| managed.contains(key)) {
        return Err(AppError::validation(
            "key",
            format!("{key} is set by an add-on attached to {}; it changes with the add-on (addons:detach)", app.name),
        ));
    }
    // Names only, never values: `A B -C` sets A and B, unsets C.
    let summary =
        changes.iter().map(|(k, v)| format!("{}{k}", if v.is_some() { "" } else { "-" })).collect::<Vec<_>>().join(" ");
    let plan = Plan { action: "config.update", summary, push: None };
    let page_changed = changes.contains_key(super::apps::MAINTENANCE_PAGE);
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        // A new maintenance page is shown at once (the stored config is
        // the new one by the time this runs).
        let refresh_page = || async {
            if page_changed {
                if let Some(app) = db::apps::find_by_name(&state.db, &op.app.name).await? {
                    super::apps::apply_policy(state, &app).await?;
                }
            }
            AppResult::Ok(())
        };
        let _lock = op.lock().await?;
        let release = apply(&op, &changes).await?;
        refresh_page().await?;
        Ok(release)
    })
    .await
}

/// Apply config changes for an operation that holds the app's lock: with a
/// release running, a new release with them rolls out (the stored config
/// changes when it goes live); before the first deploy they are stored, the
/// operation's audit event with them. The new release, if any.
pub(super) async fn apply(op: &super::Op, changes: &BTreeMap<String, Option<String>>) -> AppResult<Option<Release>> {
    let state = &op.state;
    let mut config = db::config_vars::get(&state.db, op.app.id).await?;
    for (key, value) in changes {
        match value {
            Some(v) => {
                config.insert(key.clone(), state.secrets.seal(&config_context(op.app.id, key), v)?);
            }
            None => {
                config.remove(key);
            }
        }
    }
    let Some(current) = db::releases::current(&state.db, op.app.id).await? else {
        // Nothing runs yet: the config waits for the first deploy.
        let mut tx = state.db.begin().await?;
        db::config_vars::replace(&mut tx, op.app.id, &config).await?;
        db::audit::record(&mut tx, &op.audit("")).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        return Ok(None);
    };
    let formation = db::formation::list(&state.db, op.app.id).await?;
    let change = Change { operation: Some(op.id), formation, audit: Some(op.audit("")), config: Some(config.clone()) };
    let derived = Derived {
        base: &current,
        description: describe(changes),
        config: snapshot(&config),
        created_by: op.actor.user.id,
    };
    let release = deploy::release_from(state, &op.app, derived, &change, &op.out)
        .await
        .map_err(|e| AppError::DeployFailed(format!("{e:#}")))?;
    Ok(Some(release))
}
