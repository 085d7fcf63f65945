//! Routers apart (`paas router`), as they report themselves (server admins).

use axum::extract::State;
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
    OpenApiRouter::new().routes(routes!(list_routers))
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
#[utoipa::path(get, path = "/routers", tag = "routers",
    responses((status = 200, body = Routers), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_routers(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> AppResult<Json<Routers>> {
    if !user.is_admin {
        return Err(AppError::Forbidden("only server admins can list the routers".into()));
    }
    let (routers, generation) = db::routers::list(&state.db).await?;
    Ok(Json(Routers { generation, routers }))
}
