//! Processes: list them (`ps`), scale and resize process types, restart.
//! Every change is a health-gated rollout.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operations::{accepted, Prefer};
use super::ApiJson;
use super::Path;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::deploy::formation::{parse_limit, parse_memory, FormationChange};
use crate::error::{AppError, AppResult};
use crate::ops::{self, Actor};
use crate::reconcile::processes;
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
    /// Memory limit in MB of each process.
    pub memory_mb: i32,
    /// Whether that is the server's default (no `ps:resize` set one).
    pub memory_default: bool,
    /// CPU quota in cores of each process.
    pub cpus: f64,
    pub cpus_default: bool,
    /// How many processes and threads each may run (the server's setting).
    pub pids: i64,
}

impl FormationInfo {
    fn new(config: &crate::config::Config, f: db::formation::Formation) -> Self {
        let limits = crate::deploy::rollout::limits(config, &f);
        Self {
            memory_default: f.memory_mb.is_none(),
            cpus_default: f.cpus.is_none(),
            process_type: f.process_type,
            quantity: f.quantity,
            memory_mb: limits.memory_mb,
            cpus: limits.cpus,
            pids: limits.pids,
        }
    }
}

/// A limit's value: a number, or "default" for the server's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CpuLimit {
    Cores(f64),
    /// "default"
    Keyword(String),
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
    let rows = db::formation::list(&state.db, app.id).await?;
    Ok(Json(rows.into_iter().map(|f| FormationInfo::new(&state.config, f)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationUpdate {
    #[serde(rename = "type")]
    pub process_type: String,
    #[serde(default, deserialize_with = "super::whole")]
    pub quantity: Option<i32>,
    /// e.g. "512m", "1g", or "default" (the server's).
    pub memory: Option<String>,
    /// Cores, e.g. 0.5, or "default" (the server's).
    pub cpus: Option<CpuLimit>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormationUpdates {
    pub updates: Vec<FormationUpdate>,
}

/// Scale (quantity) and resize (memory, cpus) process types; the current
/// release rolls out with the new formation, or nothing changes (422). With
/// `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(patch, path = "/apps/{app}/formation", tag = "processes", params(("app" = String, Path)), request_body = FormationUpdates,
    responses((status = 200, body = Vec<FormationInfo>), (status = 202, body = super::operations::OperationInfo),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_formation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<FormationUpdates>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "scaling").await?;
    let mut changes = Vec::new();
    for u in &body.updates {
        let memory_mb = match &u.memory {
            Some(m) => Some(parse_limit(m, parse_memory).map_err(|e| AppError::validation("memory", e))?),
            None => None,
        };
        let cpus = match &u.cpus {
            Some(CpuLimit::Cores(c)) => Some(Some(*c)),
            Some(CpuLimit::Keyword(k)) if k.eq_ignore_ascii_case("default") => Some(None),
            Some(CpuLimit::Keyword(k)) => {
                return Err(AppError::validation("cpus", format!("cpus must be a number or \"default\", not {k:?}")));
            }
            None => None,
        };
        changes.push((u.process_type.clone(), FormationChange { quantity: u.quantity, memory_mb, cpus }));
    }
    let job = ops::formation::change(&state, &Actor::new(user, "api"), &app, changes).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    let formation = job.outcome().await?;
    let rows: Vec<FormationInfo> = formation.into_iter().map(|f| FormationInfo::new(&state.config, f)).collect();
    Ok(Json(rows).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessInfo {
    /// `web.1`.
    pub name: String,
    #[serde(rename = "type")]
    pub process_type: String,
    /// up, starting, crashed (OOM|exit N|...), restarting [in N s],
    /// unhealthy (why), stopping (replaced by a rollout: draining, then
    /// stopped).
    pub state: String,
    pub release: String,
    pub started_at: Option<DateTime<Utc>>,
    /// Restarts by the platform since the server started.
    pub restarts: i64,
    /// The last crash seen: "OOM", "exit 1", "unhealthy", "gone".
    pub last_crash: Option<String>,
    /// A one-off's command (`run.N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The node it runs on, on a swarm (absent on the one engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl From<processes::Process> for ProcessInfo {
    fn from(p: processes::Process) -> Self {
        Self {
            name: p.name,
            process_type: p.process_type,
            state: p.state,
            release: p.release,
            started_at: p.started_at,
            restarts: i64::from(p.restarts),
            last_crash: p.last_crash,
            command: p.command,
            node: p.node,
        }
    }
}

/// Every process of the app: the engine's containers with what the reconcile
/// loop knows of them (state, restarts, last crash), and the processes it
/// is bringing back.
#[utoipa::path(get, path = "/apps/{app}/ps", tag = "processes", params(("app" = String, Path)),
    responses((status = 200, body = Vec<ProcessInfo>)))]
pub async fn list_processes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<ProcessInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing processes").await?;
    Ok(Json(processes::view(&state, &app).await?.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// A process type or one process (`worker`, `worker.2`): those alone
    /// restart, one at a time. Left out, or web: every process, rolling.
    #[serde(rename = "type")]
    pub process_type: Option<String>,
}

/// Restart the app's processes: all of them (or for `web`) with the
/// rolling, health-gated path; another type's, or one such process, alone,
/// each stopped and started anew in turn. With `Prefer: respond-async`: 202
/// and the operation.
#[utoipa::path(post, path = "/apps/{app}/ps/restart", tag = "processes", params(("app" = String, Path)), request_body = Restart,
    responses((status = 200, body = Vec<ProcessInfo>), (status = 202, body = super::operations::OperationInfo),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn restart_processes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Restart>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &name, Role::Developer, "restarting").await?;
    let job = ops::formation::restart(&state, &Actor::new(user, "api"), &app, body.process_type.as_deref()).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    let list: Vec<ProcessInfo> = processes::view(&state, &app).await?.into_iter().map(Into::into).collect();
    Ok(Json(list).into_response())
}
