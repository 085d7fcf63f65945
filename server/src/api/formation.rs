//! Processes: list them (`ps`), scale and resize process types, restart.
//! Every change is a health-gated rollout.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{self, Source};
use super::ApiJson;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::apps::App;
use crate::db::users::User;
use crate::deploy::releases::{self, FormationChange};
use crate::deploy::Output;
use crate::error::{AppError, AppResult};
use crate::runtime;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_formation, update_formation))
        .routes(routes!(list_processes))
        .routes(routes!(restart_processes))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormationInfo {
    #[serde(rename = "type")]
    pub process_type: String,
    pub quantity: i32,
    /// Memory limit in MB; null: none.
    pub memory_mb: Option<i32>,
    /// CPU limit in cores; null: none.
    pub cpus: Option<f64>,
}

impl From<db::formation::Formation> for FormationInfo {
    fn from(f: db::formation::Formation) -> Self {
        Self { process_type: f.process_type, quantity: f.quantity, memory_mb: f.memory_mb, cpus: f.cpus }
    }
}

/// Process types with their quantity and limits.
#[utoipa::path(get, path = "/apps/{app}/formation", tag = "processes", params(("app" = String, Path)),
    responses((status = 200, body = Vec<FormationInfo>)))]
pub async fn list_formation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<FormationInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing processes").await?;
    Ok(Json(db::formation::list(&state.db, app.id).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FormationUpdate {
    #[serde(rename = "type")]
    pub process_type: String,
    pub quantity: Option<i32>,
    /// e.g. "512m", "1g".
    pub memory: Option<String>,
    pub cpus: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FormationUpdates {
    pub updates: Vec<FormationUpdate>,
}

/// Scale (quantity) and resize (memory, cpus) process types; the current
/// release rolls out with the new formation, or nothing changes (422).
#[utoipa::path(patch, path = "/apps/{app}/formation", tag = "processes", params(("app" = String, Path)), request_body = FormationUpdates,
    responses((status = 200, body = Vec<FormationInfo>), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_formation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<FormationUpdates>,
) -> AppResult<Json<Vec<FormationInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "scaling").await?;
    let mut changes = Vec::new();
    for u in &body.updates {
        let memory_mb = match &u.memory {
            Some(m) => Some(releases::parse_memory(m).map_err(|e| AppError::validation("memory", e))?),
            None => None,
        };
        changes.push((u.process_type.clone(), FormationChange { quantity: u.quantity, memory_mb, cpus: u.cpus }));
    }
    let formation = update(&state, &user, &app, &changes, source).await?;
    Ok(Json(formation.into_iter().map(Into::into).collect()))
}

/// Scale and resize, and record it. Shared by the API and the dashboard.
pub(crate) async fn update(
    state: &AppState,
    user: &User,
    app: &App,
    changes: &[(String, FormationChange)],
    source: &str,
) -> AppResult<Vec<db::formation::Formation>> {
    if changes.is_empty() {
        return Err(AppError::validation("updates", "nothing to change"));
    }
    let result = releases::change_formation(state, app, changes, &Output::discard()).await;
    let detail: Vec<String> = changes
        .iter()
        .map(|(process, c)| {
            let mut parts = vec![process.clone()];
            if let Some(q) = c.quantity {
                parts.push(format!("={q}"));
            }
            if let Some(m) = c.memory_mb {
                parts.push(format!(" memory {m}MB"));
            }
            if let Some(cpus) = c.cpus {
                parts.push(format!(" cpus {cpus}"));
            }
            parts.concat()
        })
        .collect();
    let outcome = if result.is_ok() { "" } else { " (failed, unchanged)" };
    let detail = format!("{}{outcome}", detail.join(", "));
    audit::record(state, user, Some(app.team_id), Some(&app.name), "formation.update", detail, source).await?;
    result
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessInfo {
    /// `web.1`.
    pub name: String,
    #[serde(rename = "type")]
    pub process_type: String,
    /// up, crashed (OOM), crashed (exit N), starting.
    pub state: String,
    pub release: String,
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: i64,
    /// The last crash seen, e.g. "OOM" or "exit 1".
    pub last_crash: Option<String>,
}

/// Every process of the app as the engine runs it now.
#[utoipa::path(get, path = "/apps/{app}/ps", tag = "processes", params(("app" = String, Path)),
    responses((status = 200, body = Vec<ProcessInfo>)))]
pub async fn list_processes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<ProcessInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing processes").await?;
    Ok(Json(processes(&state, &app).await?))
}

/// The app's processes as the engine runs them, sorted by name.
pub async fn processes(state: &AppState, app: &App) -> AppResult<Vec<ProcessInfo>> {
    let containers = state.runtime.list(&[(runtime::LABEL_APP, &app.name)]).await?;
    let crashes = state.crashes.lock().map(|c| c.clone()).unwrap_or_default();
    let mut processes: Vec<ProcessInfo> = containers
        .into_iter()
        .map(|c| {
            let process_type = c.label(runtime::LABEL_PROCESS).unwrap_or("?").to_string();
            let name = format!("{process_type}.{}", c.label(runtime::LABEL_INDEX).unwrap_or("?"));
            let started_at = c
                .started_at
                .as_deref()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            let crash = crashes.get(&c.id).map(|(at, why)| (*at, why.clone()));
            let oom_now = c.oom_killed.then(|| "OOM".to_string());
            let last_crash = oom_now.or(crash.as_ref().map(|(_, why)| why.clone()));
            let recent_crash = crash.as_ref().is_some_and(|(at, _)| Utc::now() - *at < chrono::Duration::seconds(60));
            let state = match (c.running, &last_crash) {
                (false, Some(why)) => format!("crashed ({why})"),
                (false, None) => format!("crashed (exit {})", c.exit_code.unwrap_or(-1)),
                (true, Some(why)) if recent_crash => format!("crashed ({why}), restarted"),
                (true, _) => "up".to_string(),
            };
            ProcessInfo {
                name,
                process_type,
                state,
                release: c.label(runtime::LABEL_RELEASE).unwrap_or("?").to_string(),
                started_at,
                restarts: c.restart_count,
                last_crash,
            }
        })
        .collect();
    processes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(processes)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Restart {
    /// Accepted for Heroku compatibility; every process type restarts, rolling.
    #[serde(rename = "type")]
    pub process_type: Option<String>,
}

/// Restart the app's processes with the rolling, health-gated path.
#[utoipa::path(post, path = "/apps/{app}/ps/restart", tag = "processes", params(("app" = String, Path)), request_body = Restart,
    responses((status = 200, body = Vec<ProcessInfo>), (status = 422, body = crate::error::ErrorBody)))]
pub async fn restart_processes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Restart>,
) -> AppResult<Json<Vec<ProcessInfo>>> {
    let (app, _) = app_access(&state, &user, &name, Role::Developer, "restarting").await?;
    restart(&state, &user, &app, body.process_type.as_deref(), source).await?;
    Ok(Json(processes(&state, &app).await?))
}

/// Restart every process and record it. Shared by the API and the dashboard.
pub(crate) async fn restart(
    state: &AppState,
    user: &User,
    app: &App,
    process_type: Option<&str>,
    source: &str,
) -> AppResult<()> {
    let result = releases::restart(state, app, &Output::discard()).await;
    let detail = format!("{}{}", process_type.unwrap_or("all"), if result.is_ok() { "" } else { " (failed)" });
    audit::record(state, user, Some(app.team_id), Some(&app.name), "ps.restart", detail, source).await?;
    result
}
