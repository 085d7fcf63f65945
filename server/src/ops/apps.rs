//! Creating and destroying apps.

use super::{launch, Actor, Job, Plan};
use crate::auth::{team_access, Role};
use crate::db;
use crate::db::apps::App;
use crate::db::audit::NewEvent;
use crate::deploy::destroy::destroy_app;
use crate::error::{AppError, AppResult};
use crate::names;
use crate::state::AppState;

/// Create an app in `team` (or the caller's only team where they may), with
/// its audit event in the same transaction.
pub async fn create(state: &AppState, actor: &Actor, name: &str, team: Option<String>) -> AppResult<App> {
    names::validate(name, "app")?;
    if state.reconcile.is_former_name(name) {
        return Err(AppError::Conflict(format!(
            "{name} was renamed a moment ago; its processes are moving, try again soon"
        )));
    }
    let team_name = match team.filter(|t| !t.is_empty()) {
        Some(team) => team,
        None => default_team(state, actor).await?,
    };
    let (team, _) = team_access(state, &actor.user, &team_name, Role::Developer, "creating apps").await?;
    let event = NewEvent {
        app: Some(name.to_string()),
        ..actor.team_event(team.id, "app.create", format!("in team {}", team.name))
    };
    let app = db::apps::create(&state.db, team.id, name, actor.user.id, &event).await?;
    tracing::info!(user = %actor.user.email, app = %app.name, team = %team.name, "created app");
    Ok(app)
}

/// Rename an app: its URL, repository, images, routes, custom domains, logs
/// and audit history follow at once (the old name stops routing), and its
/// processes are rolled onto the new name, health-gated, with no request
/// dropped. Git remotes must point to the new repository URL.
pub async fn rename(state: &AppState, actor: &Actor, app: &App, new: &str) -> AppResult<Job<App>> {
    let new = new.trim().to_string();
    names::validate(&new, "app")?;
    if new == app.name {
        return Err(AppError::validation("name", format!("the app is already named {new}")));
    }
    if db::apps::exists(&state.db, &new).await? || state.reconcile.is_former_name(&new) {
        return Err(AppError::Conflict(format!("the name {new} is taken")));
    }
    let plan = Plan { action: "app.rename", summary: format!("{} -> {new}", app.name), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let _lock = op.lock().await?;
        let old = op.app.name.clone();
        // The images get their new names first: every release can still be
        // rolled back to once the rows say `paas/NEW:SHA`.
        let prefix = format!("paas/{old}:");
        let mut images: Vec<String> = db::releases::list(&state.db, op.app.id)
            .await?
            .into_iter()
            .map(|r| r.image)
            .filter(|image| image.starts_with(&prefix))
            .collect();
        images.sort();
        images.dedup();
        for image in &images {
            let target = format!("paas/{new}:{}", &image[prefix.len()..]);
            if let Err(err) = state.runtime.tag_image(image, &target).await {
                // A release whose image was pruned cannot be rolled back to anyway.
                tracing::warn!(image = %image, error = %format!("{err:#}"), "could not rename an image");
            }
        }
        let current = db::releases::current(&state.db, op.app.id).await?;
        {
            let _changing = state.routes.changing().await;
            // (A server stopped from here on finishes moving the repository
            // at its next start: `reconcile::recover`.)
            // The rename takes effect here; moving the processes follows it.
            db::apps::rename(&state.db, op.app.id, &old, &new, &op.audit(""), Some(op.id)).await?;
            state.reconcile.renaming(&old, &new);
            state.routes.rename(&old, &new);
            state.routes.policies.forget(&old);
            state.tls.forget_app(&old);
        }
        let app = App { name: new.clone(), ..op.app.clone() };
        apply_policy(state, &app).await?;
        state.logs.rename(&old, &new);
        crate::repos::rename(&state.repos_dir(), &old, &new).await?;
        op.out.step(format!("{old} is now {new}: {}", state.app_url(&new)));
        if let Some(current) = db::releases::current(&state.db, op.app.id).await?.filter(|_| current.is_some()) {
            op.out.step("Moving its processes to the new name");
            let formation = db::formation::list(&state.db, op.app.id).await?;
            let change = crate::deploy::Change { operation: None, config: None, formation, audit: None };
            crate::deploy::rollout::rollout(state, &app, &current, &change, &op.out).await.map_err(|e| {
                AppError::DeployFailed(format!(
                    "{new} is renamed and its processes keep serving it, but starting them under the new name failed \
                     (`paas ps:restart` tries again): {e:#}"
                ))
            })?;
        }
        // The images keep their new names; the old ones go.
        if let Err(err) = state.runtime.remove_images(&old).await {
            tracing::warn!(app = %old, error = %format!("{err:#}"), "could not remove the old image names");
        }
        Ok(app)
    })
    .await
}

/// The one team the user can create apps in, when no team was named.
async fn default_team(state: &AppState, actor: &Actor) -> AppResult<String> {
    let teams = db::teams::list_for_user(&state.db, actor.user.id, actor.user.is_admin).await?;
    let usable: Vec<_> = teams.into_iter().filter(|t| t.role >= Role::Developer).map(|t| t.name).collect();
    match usable.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(AppError::validation(
            "team",
            "you are in no team where you can create apps; create one with `paas teams:create`",
        )),
        many => Err(AppError::validation(
            "team",
            format!("name the team (--team): you can create apps in {}", many.join(", ")),
        )),
    }
}

/// Move an app to another stack: its next buildpack build uses it (the
/// running release stays as it is, as on Heroku).
pub async fn set_stack(state: &AppState, actor: &Actor, app: &App, stack: &str) -> AppResult<Job<App>> {
    let stack = crate::build::stacks::validate(stack.trim()).map_err(|e| AppError::validation("stack", e))?.name;
    let plan = Plan { action: "app.stack", summary: stack.to_string(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let _lock = op.lock().await?;
        db::apps::set(&op.state.db, op.app.id, db::apps::Setting::Stack(stack), &op.audit(""), op.id).await?;
        op.out.step(format!("{} builds on the {stack} stack from its next push", op.app.name));
        Ok(App { stack: Some(stack.to_string()), ..op.app.clone() })
    })
    .await
}

/// Put the app on its team's private network, or take it off, at once: its
/// running processes join (or leave) the network where they stay, its web
/// processes answering as `APP.internal` to the team's other apps that
/// opted in; new processes start that way.
pub async fn set_internal(state: &AppState, actor: &Actor, app: &App, on: bool) -> AppResult<Job<App>> {
    let plan = Plan { action: "app.internal", summary: if on { "on" } else { "off" }.to_string(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        // Serialized with rollouts: every process started after this sees it.
        let _lock = op.lock().await?;
        let app = App { internal: on, ..op.app.clone() };
        let network = crate::runtime::team_network(app.team_id);
        let containers = match state.runtime.joins_networks_live() {
            true => {
                state.runtime.list(&[(crate::runtime::LABEL_APP, app.name.as_str())]).await.map_err(AppError::Other)?
            }
            false => Vec::new(),
        };
        for c in containers.iter().filter(|c| c.running) {
            let changed = match on {
                true => {
                    let process = c.label(crate::runtime::LABEL_PROCESS).unwrap_or_default();
                    let aliases = crate::deploy::rollout::internal_networks(&app, process)
                        .into_iter()
                        .flat_map(|(_, aliases)| aliases)
                        .collect();
                    state.runtime.connect(&c.id, &network, aliases).await
                }
                false => state.runtime.disconnect(&c.id, &network).await,
            };
            if let Err(err) = changed {
                // One that stopped meanwhile (replaced by a rollout, a
                // one-off that ended) needs nothing.
                let still_runs =
                    state.runtime.inspect(&c.id).await.map_err(AppError::Other)?.is_some_and(|c| c.running);
                if still_runs {
                    return Err(AppError::Other(err));
                }
            }
        }
        db::apps::set(&state.db, app.id, db::apps::Setting::Internal(on), &op.audit(""), op.id).await?;
        if !state.runtime.joins_networks_live() {
            // Processes on a cluster take networks when they start: replace
            // them, rolling, as a restart does.
            if let Some(current) = db::releases::current(&state.db, app.id).await? {
                op.out.step("Replacing the processes, rolling, so that they start on the new network");
                let formation = db::formation::list(&state.db, app.id).await?;
                let change =
                    crate::deploy::rollout::Change { operation: Some(op.id), config: None, formation, audit: None };
                crate::deploy::rollout::rollout(state, &app, &current, &change, &op.out)
                    .await
                    .map_err(|e| AppError::DeployFailed(format!("{e:#}")))?;
            }
        }
        op.out.step(match on {
            true => format!(
                "{} is on the private network of team {}: http://{}:{} for its other apps that are on it",
                app.name,
                app.team_name,
                crate::runtime::internal_host(&app.name),
                crate::runtime::CONTAINER_PORT
            ),
            false => format!("{} is off its team's private network", app.name),
        });
        Ok(app)
    })
    .await
}

/// The config var whose value is the app's maintenance page (HTML).
pub const MAINTENANCE_PAGE: &str = "MAINTENANCE_PAGE_HTML";

/// Turn maintenance mode on or off: the router answers every request with
/// the maintenance page (503) while the processes keep running.
pub async fn set_maintenance(state: &AppState, actor: &Actor, app: &App, on: bool) -> AppResult<Job<App>> {
    let plan = Plan { action: "app.maintenance", summary: if on { "on" } else { "off" }.to_string(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        db::apps::set(&op.state.db, op.app.id, db::apps::Setting::Maintenance(on), &op.audit(""), op.id).await?;
        let app = App { maintenance: on, ..op.app.clone() };
        apply_policy(&op.state, &app).await?;
        op.out.step(match on {
            true => format!("{} is in maintenance: every request gets its maintenance page (503)", app.name),
            false => format!("{} is out of maintenance: requests reach it again", app.name),
        });
        Ok(app)
    })
    .await
}

/// Give the router the app's settings as stored: maintenance (with the page
/// from its config, or the default one), the HTTPS redirect, HSTS.
pub async fn apply_policy(state: &AppState, app: &App) -> AppResult<()> {
    let page: Option<std::sync::Arc<str>> = match app.maintenance {
        false => None,
        true => {
            let config = crate::deploy::config::reveal(state, app).await?;
            let page = config.get(MAINTENANCE_PAGE).cloned().filter(|p| !p.trim().is_empty());
            Some(page.unwrap_or_else(|| crate::router::policy::default_maintenance_page(&app.name)).into())
        }
    };
    state.routes.policies.update(&app.name, |policy| {
        policy.redirect = app.https_redirect;
        policy.hsts = app.hsts;
        policy.maintenance = page;
    });
    Ok(())
}

/// At start: every app's settings, for the router.
pub async fn load_policies(state: &AppState) -> AppResult<()> {
    for app in db::apps::with_policies(&state.db).await? {
        apply_policy(state, &app).await?;
    }
    Ok(())
}

/// Destroy an app: once a deploy in progress finished, its rows go (the
/// reconcile loop stops keeping it alive), then its containers, images,
/// build cache and repository.
pub async fn destroy(state: &AppState, actor: &Actor, app: &App) -> AppResult<Job<()>> {
    for addon in db::addons::owned_by(&state.db, app.id).await? {
        super::addons::refuse_if_shared(state, &addon).await?;
    }
    let plan = Plan { action: "app.destroy", summary: String::new(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let _lock = op.lock().await?;
        // Its add-ons go with it (their rows with the app's).
        let mut owned = Vec::new();
        for addon in db::addons::owned_by(&op.state.db, op.app.id).await? {
            super::addons::refuse_if_shared(&op.state, &addon).await?;
            let backups = db::addons::backups(&op.state.db, addon.id).await?;
            let attached = db::addons::attachments(&op.state.db, addon.id).await?;
            owned.push((addon, backups, attached));
        }
        destroy_app(&op.state, &op.app, &op.audit(""), op.id).await?;
        for (addon, backups, attached) in owned {
            super::addons::clear(&op.state, &addon, &backups, &attached).await;
        }
        tracing::info!(user = %op.actor.user.email, app = %op.app.name, "destroyed app");
        Ok(())
    })
    .await
}
