//! Dashboard actions on an app: each checks the CSRF token and the role,
//! calls the same domain function as the API, records the audit event, and
//! redirects with the outcome.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{CsrfForm, DashError, DashUser};
use crate::api::audit;
use crate::auth::{app_access, Role};
use crate::db;
use crate::deploy::releases::{self, FormationChange};
use crate::deploy::{config, Output};
use crate::error::AppError;
use crate::state::AppState;

const SOURCE: &str = "dashboard";

async fn app_for(
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

pub async fn update_formation(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<FormationForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "scaling").await?;
    let back = format!("/apps/{name}");
    let parsed = (|| -> Result<FormationChange, AppError> {
        let quantity = form
            .quantity
            .trim()
            .parse::<i32>()
            .map_err(|_| AppError::validation("quantity", "the quantity must be a number"))?;
        let memory_mb = match form.memory.trim() {
            "" => None,
            m => Some(releases::parse_memory(m).map_err(|e| AppError::validation("memory", e))?),
        };
        let cpus = match form.cpus.trim() {
            "" => None,
            c => Some(c.parse::<f64>().map_err(|_| AppError::validation("cpus", "cpus must be a number like 0.5"))?),
        };
        Ok(FormationChange { quantity: Some(quantity), memory_mb, cpus })
    })();
    let change = match parsed {
        Ok(change) => change,
        Err(err) => return Ok(dash.redirect(&back, Err(err)).await),
    };
    let detail = format!("{}={} {} {}", form.process_type, form.quantity.trim(), form.memory.trim(), form.cpus.trim());
    let result =
        releases::change_formation(&state, &app, &[(form.process_type.clone(), change)], &Output::discard()).await;
    audit::record(
        &state,
        &dash.user,
        Some(app.team_id),
        Some(&app.name),
        "formation.update",
        detail.trim().to_string(),
        SOURCE,
    )
    .await?;
    let message = result.map(|f| {
        let now: Vec<String> = f.iter().map(|f| format!("{}={}", f.process_type, f.quantity)).collect();
        format!("Scaled: now running {}.", now.join(", "))
    });
    Ok(dash.redirect(&back, message).await)
}

pub async fn restart(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "restarting").await?;
    let result = releases::restart(&state, &app, &Output::discard()).await;
    audit::record(&state, &dash.user, Some(app.team_id), Some(&app.name), "ps.restart", "all".into(), SOURCE).await?;
    Ok(dash.redirect(&format!("/apps/{name}"), result.map(|()| "Restarted every process.".to_string())).await)
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
    let result = releases::rollback(&state, &app, &dash.user, Some(form.version), &Output::discard()).await;
    let detail = match &result {
        Ok(r) => format!("{} as v{}", r.description, r.version),
        Err(e) => format!("to v{} failed: {e}", form.version),
    };
    audit::record(&state, &dash.user, Some(app.team_id), Some(&app.name), "release.rollback", detail, SOURCE).await?;
    let message = result.map(|r| format!("Rolled back to v{}: v{} is live.", form.version, r.version));
    Ok(dash.redirect(&format!("/apps/{name}/releases"), message).await)
}

#[derive(Debug, Deserialize)]
pub struct ConfigForm {
    csrf: String,
    key: String,
    value: String,
}

pub async fn set_config(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<ConfigForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing config").await?;
    let key = form.key.trim().to_string();
    let changes = BTreeMap::from([(key.clone(), Some(form.value))]);
    change_config(&state, &dash, &app, changes, &format!("Set {key}")).await
}

#[derive(Debug, Deserialize)]
pub struct UnsetForm {
    csrf: String,
    key: String,
}

pub async fn unset_config(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<UnsetForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "changing config").await?;
    let changes = BTreeMap::from([(form.key.clone(), None)]);
    change_config(&state, &dash, &app, changes, &format!("Removed {}", form.key)).await
}

async fn change_config(
    state: &AppState,
    dash: &DashUser,
    app: &db::apps::App,
    changes: BTreeMap<String, Option<String>>,
    what: &str,
) -> Result<Response, DashError> {
    let result = config::change(state, app, &dash.user, &changes, &Output::discard()).await;
    let keys: Vec<String> = changes.iter().map(|(k, v)| format!("{}{k}", if v.is_some() { "" } else { "-" })).collect();
    let outcome = if result.is_ok() { "" } else { " (failed, unchanged)" };
    audit::record(
        state,
        &dash.user,
        Some(app.team_id),
        Some(&app.name),
        "config.update",
        format!("{}{outcome}", keys.join(" ")),
        SOURCE,
    )
    .await?;
    let message = result.map(|release| match release {
        Some(r) => format!("{what}: v{} is live.", r.version),
        None => format!("{what}; it applies to the first deploy."),
    });
    Ok(dash.redirect(&format!("/apps/{}/config", app.name), message).await)
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
    let back = format!("/apps/{name}/domains");
    let result = async {
        let host = crate::api::domains::validate_hostname(&form.hostname, &state.config.base_domain)?;
        db::domains::add(&state.db, app.id, &host).await?;
        if let Ok(mut domains) = state.domains.write() {
            domains.insert(host.clone(), app.name.clone());
        }
        audit::record(&state, &dash.user, Some(app.team_id), Some(&app.name), "domain.add", host.clone(), SOURCE)
            .await?;
        Ok::<_, AppError>(format!("Added {host}."))
    }
    .await;
    Ok(dash.redirect(&back, result).await)
}

pub async fn remove_domain(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<DomainForm>,
) -> Result<Response, DashError> {
    let app = app_for(&state, &dash, &form.csrf, &name, Role::Developer, "removing domains").await?;
    let host = form.hostname.trim().to_ascii_lowercase();
    let result = async {
        if !db::domains::remove(&state.db, app.id, &host).await? {
            return Err(AppError::not_found(format!("{host} is not a domain of {}", app.name)));
        }
        if let Ok(mut domains) = state.domains.write() {
            domains.remove(&host);
        }
        audit::record(&state, &dash.user, Some(app.team_id), Some(&app.name), "domain.remove", host.clone(), SOURCE)
            .await?;
        Ok(format!("Removed {host}."))
    }
    .await;
    Ok(dash.redirect(&format!("/apps/{name}/domains"), result).await)
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
        return Ok(dash.redirect(&format!("/apps/{name}/settings"), Err(err)).await);
    }
    crate::deploy::destroy::destroy_app(&state, &app).await?;
    state.logs.forget(&app.name);
    audit::record(&state, &dash.user, Some(app.team_id), Some(&app.name), "app.destroy", String::new(), SOURCE).await?;
    Ok(dash.redirect("/", Ok(format!("Destroyed {}.", app.name))).await)
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
    let name = form.name.trim().to_string();
    let result = async {
        crate::names::validate(&name, "app")?;
        let team_name = match form.team.filter(|t| !t.is_empty()) {
            Some(team) => team,
            None => crate::api::apps::default_team(&state, &dash.user).await?,
        };
        let (team, _) =
            crate::auth::team_access(&state, &dash.user, &team_name, Role::Developer, "creating apps").await?;
        db::apps::create(&state.db, team.id, &name, dash.user.id).await?;
        audit::record(
            &state,
            &dash.user,
            Some(team.id),
            Some(&name),
            "app.create",
            format!("in team {}", team.name),
            SOURCE,
        )
        .await?;
        Ok::<_, AppError>(())
    }
    .await;
    match result {
        Ok(()) => {
            Ok(dash.redirect(&format!("/apps/{name}"), Ok(format!("Created {name}. Push to it to deploy."))).await)
        }
        Err(err) => Ok(dash.redirect("/", Err(err)).await),
    }
}
