//! Custom domains: the router sends that Host to the app.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::Path;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::domains::Domain;
use crate::error::AppResult;
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_domains, add_domain)).routes(routes!(remove_domain))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    pub hostname: String,
}

/// The app's custom domains.
#[utoipa::path(get, path = "/apps/{app}/domains", tag = "domains", params(("app" = String, Path)),
    responses((status = 200, body = Vec<Domain>)))]
pub async fn list_domains(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<Domain>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing domains").await?;
    Ok(Json(db::domains::list(&state.db, app.id).await?))
}

/// Route a host name to the app. A domain belongs to one app.
#[utoipa::path(post, path = "/apps/{app}/domains", tag = "domains", params(("app" = String, Path)), request_body = AddDomain,
    responses((status = 201, body = Domain), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_domain(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<AddDomain>,
) -> AppResult<(StatusCode, Json<Domain>)> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "adding domains").await?;
    let domain = ops::domains::add(&state, &Actor::new(user, "api"), &app, &body.hostname).await?.outcome().await?;
    Ok((StatusCode::CREATED, Json(domain)))
}

/// Stop routing a host name to the app.
#[utoipa::path(delete, path = "/apps/{app}/domains/{hostname}", tag = "domains", params(("app" = String, Path), ("hostname" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_domain(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, hostname)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "removing domains").await?;
    ops::domains::remove(&state, &Actor::new(user, "api"), &app, &hostname).await?.outcome().await?;
    Ok(StatusCode::NO_CONTENT)
}
