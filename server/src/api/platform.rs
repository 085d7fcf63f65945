//! The platform's machines for server admins: the nodes processes run on,
//! and the routers apart (`paas router`) as they report themselves.

use axum::body::Bytes;
use axum::extract::{Path, State};
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

pub use crate::ops::nodes::NodeView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_routers))
        .routes(routes!(list_nodes))
        .routes(routes!(join_command))
        .routes(routes!(drain_node))
        .routes(routes!(activate_node))
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
    user.require_admin("list the routers")?;
    let (routers, generation) = db::routers::list(&state.db).await?;
    Ok(Json(Routers { generation, routers }))
}

/// The machines processes run on, with what is placed on each (server
/// admins only).
#[utoipa::path(get, path = "/nodes", tag = "platform",
    responses((status = 200, body = Vec<NodeView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_nodes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<Vec<NodeView>>> {
    user.require_admin("list the nodes")?;
    Ok(Json(crate::ops::nodes::view(&state).await?))
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
    user.require_admin("add nodes")?;
    match state.runtime.join_command().await {
        Ok(command) => Ok(Json(JoinCommand { command })),
        Err(err) => Err(AppError::Conflict(format!("{err:#}"))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Drained {
    pub node: String,
    /// The apps whose processes moved to other nodes.
    pub moved: Vec<String>,
}

/// Take a swarm node out of service with no downtime (server admins only):
/// it takes no new processes, the apps running there roll onto other
/// nodes, then it runs none. 409 on the one engine, or when a move failed
/// (the node then stays paused).
#[utoipa::path(post, path = "/nodes/{node}/drain", tag = "platform", params(("node" = String, Path)),
    responses((status = 200, body = Drained), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn drain_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(node): Path<String>,
) -> AppResult<Json<Drained>> {
    user.require_admin("drain nodes")?;
    let moved = crate::ops::nodes::drain(&state, &crate::ops::Actor::new(user, "api"), &node).await?;
    Ok(Json(Drained { node, moved }))
}

/// Let a drained node take processes again (server admins only).
#[utoipa::path(post, path = "/nodes/{node}/activate", tag = "platform", params(("node" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn activate_node(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(node): Path<String>,
) -> AppResult<StatusCode> {
    user.require_admin("activate nodes")?;
    crate::ops::nodes::activate(&state, &node).await?;
    Ok(StatusCode::NO_CONTENT)
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
