//! Config vars over the API. Values are shown to developers and above;
//! viewers see the keys with null values.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operations::{accepted, Prefer};
use super::ApiJson;
use super::Path;
use crate::auth::{app_access, CurrentUser, Role};
use crate::deploy::config;
use crate::error::AppResult;
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_config, update_config))
}

/// The app's config vars; values are null for viewers.
#[utoipa::path(get, path = "/apps/{app}/config", tag = "config", params(("app" = String, Path)),
    responses((status = 200, body = BTreeMap<String, Option<String>>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_config(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<BTreeMap<String, Option<String>>>> {
    let (app, role) = app_access(&state, &user, &app, Role::Viewer, "viewing config").await?;
    let clear = config::reveal(&state, &app).await?;
    let show_values = role >= Role::Developer;
    Ok(Json(clear.into_iter().map(|(k, v)| (k, show_values.then_some(v))).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigUpdated {
    /// The release that carries the new config, if the app had one to replace.
    pub release: Option<i32>,
    pub config: BTreeMap<String, String>,
}

/// Set (string) or unset (null) config vars. A new release with the new config
/// rolls out; if it does not come up healthy the config is left unchanged
/// (422 deploy_failed). With `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(patch, path = "/apps/{app}/config", tag = "config", params(("app" = String, Path)),
    request_body = BTreeMap<String, Option<String>>,
    responses((status = 200, body = ConfigUpdated), (status = 202, body = super::operations::OperationInfo),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_config(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
    ApiJson(changes): ApiJson<BTreeMap<String, Option<String>>>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "changing config").await?;
    let job = ops::config::change(&state, &Actor::new(user, "api"), &app, changes).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    let release = job.outcome().await?;
    let config = config::reveal(&state, &app).await?;
    Ok(Json(ConfigUpdated { release: release.map(|r| r.version), config }).into_response())
}
