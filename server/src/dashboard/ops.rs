//! Dashboard actions on an app: each checks the CSRF token and the role, then
//! starts the same operation as the REST API (`ops::*`), waits for its
//! outcome and redirects with it. A browser that goes away mid-way changes
//! nothing: the operation runs to its end.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{CsrfForm, DashError, DashUser};
use crate::auth::{app_access, Role};
use crate::db;
use crate::deploy::formation::{parse_limit, parse_memory, FormationChange};
use crate::error::AppError;
use crate::ops::{self, Actor};
use crate::state::AppState;

/// The outcome of an operation, or why it could not start.
pub(super) async fn outcome<T>(started: crate::error::AppResult<ops::Job<T>>) -> crate::error::AppResult<T> {
    started?.outcome().await
}

pub(super) fn actor(dash: &DashUser) -> Actor {
    Actor::new(dash.user.clone(), "dashboard")
}

pub(super) async fn app_for(
    state: &AppState,
    dash: &DashUser,
    csrf: &str,
    name: &str,
    needed: Role,
    action: &str,
) -> Result<db::apps::App, DashError> {
    dash.check_csrf(csrf)?;
    Ok(app_access(state, &dash.user, name, needed, action).await?.0)
}

#[derive(Debug, Deserialize)]
pub struct FormationForm {
    csrf: String,
    #[serde(rename = "type")]
    process_type: String,
    quantity: String,
    memory: String,
    cpus: String,
}

impl FormationForm {
    /// The form's text fields as a formation change. The limit fields show
    /// the limits set, so a field left as it was changes nothing, and one
    /// emptied (or `none`, `default`) goes back to the server's default.
    fn change(&self) -> Result<FormationChange, AppError> {
        let quantity = self
            .quantity
            .trim()
            .parse::<i32>()
            .map_err(|_| AppError::validation("quantity", "the quantity must be a number"))?;
        let memory_mb = match self.memory.trim() {
            "" => None,
            m => parse_limit(m, parse_memory).map_err(|e| AppError::validation("memory", e))?,
        };
        let cpus = match self.cpus.trim() {
            "" => None,
            c => parse_limit(c, |c| c.parse::<f64>().map_err(|e| e.to_string()))
                .map_err(|_| AppError::validation("cpus", "cpus must be a number like 0.5, or none"))?,
        };
        Ok(FormationChange { quantity: Some(quantity), memory_mb: Some(memory_mb), cpus: Some(cpus) })
    }
}

pub async fn update_formation(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<FormationForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "scaling").await?;
    let result = match form.change() {
        Ok(change) => {
            outcome(
                ops::formation::change(&state, &actor(&dash), &app, vec![(form.process_type.clone(), change)]).await,
            )
            .await
        }
        Err(err) => Err(err),
    };
    let message = result.map(|f| {
        let now: Vec<String> = f.iter().map(|f| format!("{}={}", f.process_type, f.quantity)).collect();
        format!("Scaled: now running {}.", now.join(", "))
    });
    dash.finish(&format!("/apps/{name}"), message).await
}

pub async fn restart(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "restarting").await?;
    let result = outcome(ops::formation::restart(&state, &actor(&dash), &app, None).await).await;
    dash.finish(&format!("/apps/{name}"), result.map(|()| "Restarted every process.".to_string())).await
}

#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    csrf: String,
    version: i32,
}

pub async fn rollback(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<RollbackForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "rolling back").await?;
    let result = outcome(ops::releases::rollback(&state, &actor(&dash), &app, Some(form.version)).await).await;
    let message = result.map(|r| format!("Rolled back to v{}: v{} is live.", form.version, r.version));
    dash.finish(&format!("/apps/{name}/releases"), message).await
}

#[derive(Debug, Deserialize)]
pub struct ConfigForm {
    csrf: String,
    key: String,
    /// Absent: unset the key.
    value: Option<String>,
}

/// Set (with a value) or unset (without) one config var.
pub async fn change_config(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<ConfigForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing config").await?;
    let key = form.key.trim().to_string();
    let what = if form.value.is_some() { format!("Set {key}") } else { format!("Removed {key}") };
    let changes = BTreeMap::from([(key, form.value)]);
    let result = outcome(ops::config::change(&state, &actor(&dash), &app, changes).await).await;
    let message = result.map(|release| match release {
        Some(r) => format!("{what}: v{} is live.", r.version),
        None => format!("{what}; it applies to the first deploy."),
    });
    dash.finish(&format!("/apps/{name}/config"), message).await
}

#[derive(Debug, Deserialize)]
pub struct DomainForm {
    csrf: String,
    hostname: String,
}

pub async fn add_domain(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<DomainForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "adding domains").await?;
    let result = outcome(ops::domains::add(&state, &actor(&dash), &app, &form.hostname).await).await;
    dash.finish(&format!("/apps/{name}/domains"), result.map(|d| format!("Added {}.", d.hostname))).await
}

pub async fn remove_domain(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<DomainForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "removing domains").await?;
    let result = outcome(ops::domains::remove(&state, &actor(&dash), &app, &form.hostname).await).await;
    dash.finish(&format!("/apps/{name}/domains"), result.map(|host| format!("Removed {host}."))).await
}

#[derive(Debug, Deserialize)]
pub struct HttpsForm {
    csrf: String,
    /// Checkboxes: present when ticked.
    redirect: Option<String>,
    hsts: Option<String>,
}

/// Turn the HTTPS redirect and HSTS on or off.
pub async fn set_https(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<HttpsForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing apps").await?;
    let (redirect, hsts) = (form.redirect.is_some(), form.hsts.is_some());
    let result = outcome(ops::certs::set_https(&state, &actor(&dash), &app, Some(redirect), Some(hsts)).await).await;
    let onoff = |on: bool| if on { "on" } else { "off" };
    let message = result.map(|_| format!("HTTP to HTTPS redirect {}, HSTS {}.", onoff(redirect), onoff(hsts)));
    dash.finish(&format!("/apps/{name}/domains"), message).await
}

#[derive(Debug, Deserialize)]
pub struct CertForm {
    csrf: String,
    chain: String,
    key: String,
}

/// Serve an uploaded certificate for the names it covers.
pub async fn add_cert(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<CertForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "adding certificates").await?;
    let result = outcome(ops::certs::add(&state, &actor(&dash), &app, &form.chain, &form.key).await).await;
    let message = result.map(|names| format!("Serving the uploaded certificate for {}.", names.join(", ")));
    dash.finish(&format!("/apps/{name}/domains"), message).await
}

/// Ask ACME again for the names without a certificate.
pub async fn refresh_certs(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "requesting certificates").await?;
    let result = ops::certs::refresh(&state, &app).await;
    dash.finish(&format!("/apps/{name}/domains"), result.map(|_| "Certificates requested again.".to_string())).await
}

#[derive(Debug, Deserialize)]
pub struct DestroyForm {
    csrf: String,
    confirm: String,
}

pub async fn destroy(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<DestroyForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Admin, "deleting apps").await?;
    if form.confirm.trim() != app.name {
        let err = AppError::validation("confirm", format!("type {} to confirm; nothing was destroyed", app.name));
        return dash.finish(&format!("/apps/{name}/settings"), Err(err)).await;
    }
    ops::apps::destroy(&state, &actor(&dash), &app).await?.outcome().await?;
    dash.finish("/", Ok(format!("Destroyed {}.", app.name))).await
}

#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    csrf: String,
    /// `on` or `off`.
    on: String,
}

/// Turn maintenance mode on or off.
pub async fn set_maintenance(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<SwitchForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing apps").await?;
    let on = form.on == "on";
    let result = outcome(ops::apps::set_maintenance(&state, &actor(&dash), &app, on).await).await;
    let message = result.map(|_| format!("Maintenance mode {}.", if on { "on" } else { "off" }));
    dash.finish(&format!("/apps/{name}/settings"), message).await
}

/// Put the app on its team's private network or take it off.
pub async fn set_internal(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<SwitchForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing apps").await?;
    let on = form.on == "on";
    let result = outcome(ops::apps::set_internal(&state, &actor(&dash), &app, on).await).await;
    let message = result.map(|app| match on {
        true => {
            format!("{} is on the team's private network as {}.", app.name, crate::runtime::internal_host(&app.name))
        }
        false => format!("{} is off the team's private network.", app.name),
    });
    dash.finish(&format!("/apps/{name}/settings"), message).await
}

#[derive(Debug, Deserialize)]
pub struct VolumeForm {
    csrf: String,
    name: String,
    mount: String,
    process: String,
}

/// Create a volume (the current release rolls out again to mount it).
pub async fn create_volume(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<VolumeForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "creating volumes").await?;
    let process = if form.process.trim().is_empty() { "web" } else { form.process.trim() };
    let job = ops::volumes::create(&state, &actor(&dash), &app, form.name.trim(), &form.mount, process).await;
    let result = outcome(job).await;
    let message =
        result.map(|v| format!("Volume {} is mounted at {} in {} processes.", v.name, v.mount_path, v.process_type));
    dash.finish(&format!("/apps/{name}/settings"), message).await
}

#[derive(Debug, Deserialize)]
pub struct VolumeDestroyForm {
    csrf: String,
    name: String,
    confirm: String,
}

/// Unmount a volume and delete its data, once its name was typed again.
pub async fn destroy_volume(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<VolumeDestroyForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "destroying volumes").await?;
    let result = if form.confirm.trim() != form.name {
        Err(AppError::validation("confirm", format!("type {} to confirm; nothing was deleted", form.name)))
    } else {
        outcome(ops::volumes::destroy(&state, &actor(&dash), &app, &form.name).await).await
    };
    let message = result.map(|v| format!("Volume {} is unmounted; its data is deleted.", v.name));
    dash.finish(&format!("/apps/{name}/settings"), message).await
}

#[derive(Debug, Deserialize)]
pub struct StackForm {
    csrf: String,
    stack: String,
}

/// Build the app on another stack from its next push.
pub async fn set_stack(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<StackForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing apps").await?;
    let result = outcome(ops::apps::set_stack(&state, &actor(&dash), &app, &form.stack).await).await;
    let message = result.map(|_| format!("{name} builds on the {} stack from its next push.", form.stack.trim()));
    dash.finish(&format!("/apps/{name}/settings"), message).await
}

/// Empty the app's build cache.
pub async fn purge_build_cache(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "purging the build cache").await?;
    let result = outcome(ops::builds::purge_cache(&state, &actor(&dash), &app).await).await;
    let message = result.map(|()| "Build cache purged: the next build installs everything anew.".to_string());
    dash.finish(&format!("/apps/{name}/settings"), message).await
}

#[derive(Debug, Deserialize)]
pub struct CreateAppForm {
    csrf: String,
    name: String,
    team: Option<String>,
}

pub async fn create_app(
    State(state): State<AppState>,
    dash: DashUser,
    Form(form): Form<CreateAppForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    match ops::apps::create(&state, &actor(&dash), form.name.trim(), form.team).await {
        Ok(app) => {
            dash.finish(&format!("/apps/{}", app.name), Ok(format!("Created {}. Push to it to deploy.", app.name)))
                .await
        }
        Err(err) => dash.finish("/", Err(err)).await,
    }
}
