//! The platform's machines for server admins: the nodes processes run on,
//! and the routers apart (`paas router`) as they report themselves.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::CurrentUser;
use crate::db;
use crate::db::routers::Router;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_routers)).routes(routes!(list_nodes)).routes(routes!(join_command))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Routers {
    /// The generation of the route table published last (none before the
    /// first publication).
    pub generation: Option<i64>,
    /// Routers that reported within the last hour.
    pub routers: Vec<Router>,
}

/// Routers running apart from the control plane (server admins only).
#[utoipa::path(get, path = "/routers", tag = "platform",
    responses((status = 200, body = Routers), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_routers(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> AppResult<Json<Routers>> {
    if !user.is_admin {
        return Err(AppError::Forbidden("only server admins can list the routers".into()));
    }
    let (routers, generation) = db::routers::list(&state.db).await?;
    Ok(Json(Routers { generation, routers }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    #[serde(flatten)]
    pub node: crate::runtime::Node,
    /// Memory the processes placed on it ask for (their limits).
    pub memory_reserved_bytes: i64,
    /// CPUs they ask for.
    pub cpus_reserved: f64,
    /// Apps with processes on it.
    pub apps: i64,
}

/// The machines processes run on, with what is placed on each (server
/// admins only).
#[utoipa::path(get, path = "/nodes", tag = "platform",
    responses((status = 200, body = Vec<NodeView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_nodes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<Vec<NodeView>>> {
    if !user.is_admin {
        return Err(AppError::Forbidden("only server admins can list the nodes".into()));
    }
    let nodes = state.runtime.nodes().await?;
    let (memory_mb, cpus, apps) =
        db::formation::reserved(&state.db, state.config.default_memory, state.config.default_cpus).await?;
    // One engine holds every process. (A cluster backend reports each
    // node's share from its tasks.)
    let single = nodes.len() == 1;
    Ok(Json(
        nodes
            .into_iter()
            .map(|node| NodeView {
                node,
                memory_reserved_bytes: if single { memory_mb * 1024 * 1024 } else { 0 },
                cpus_reserved: if single { cpus } else { 0.0 },
                apps: if single { apps } else { 0 },
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JoinCommand {
    /// Run on a new machine (with Docker installed) to make it a worker.
    pub command: String,
}

/// The command that adds a worker machine to the swarm the engine manages
/// (server admins only); 409 when the engine is in no swarm.
#[utoipa::path(get, path = "/nodes/join-command", tag = "platform",
    responses((status = 200, body = JoinCommand), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn join_command(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<JoinCommand>> {
    if !user.is_admin {
        return Err(AppError::Forbidden("only server admins can add nodes".into()));
    }
    match state.runtime.join_command().await {
        Ok(command) => Ok(Json(JoinCommand { command })),
        Err(err) => Err(AppError::Conflict(format!("{err:#}"))),
    }
}

/// A router apart hands over its access lines and request counts (sealed
/// with the installation's key; not part of the public API).
pub async fn receive_handed(State(state): State<AppState>, body: Bytes) -> StatusCode {
    let Some(handed) = crate::router::fleet::open_handed(&state.secrets, &body) else {
        return StatusCode::FORBIDDEN;
    };
    for (app, line) in handed.lines {
        if state.routes.get(&app).is_some() {
            state.logs.keep(&app, line);
        }
    }
    for (app, counts) in handed.traffic {
        if let Some(traffic) = state.routes.traffic_of(&app) {
            traffic.add(&counts);
        }
    }
    StatusCode::NO_CONTENT
}
