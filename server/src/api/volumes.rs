//! Persistent volumes: created, listed and destroyed; adding or removing
//! one rolls the current release out again.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::operations::{accepted, Prefer};
use super::{ApiJson, Path};
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::volumes::Volume;
use crate::error::AppResult;
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_volumes, create_volume)).routes(routes!(destroy_volume))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    /// Lowercase letters, digits and hyphens.
    pub name: String,
    /// An absolute path in the container, e.g. /data.
    pub mount: String,
    /// The process type whose processes mount it (default web; one-offs and
    /// the release phase mount web's).
    #[serde(default)]
    pub process: Option<String>,
}

/// The app's volumes.
#[utoipa::path(get, path = "/apps/{app}/volumes", tag = "volumes", params(("app" = String, Path)),
    responses((status = 200, body = Vec<Volume>)))]
pub async fn list_volumes(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<Volume>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing volumes").await?;
    Ok(Json(db::volumes::list(&state.db, app.id).await?))
}

/// Create a volume and mount it in the process type's processes (the
/// current release rolls out again). With `Prefer: respond-async`: 202 and
/// the operation.
#[utoipa::path(post, path = "/apps/{app}/volumes", tag = "volumes", params(("app" = String, Path)), request_body = CreateVolume,
    responses((status = 201, body = Volume), (status = 202, body = super::operations::OperationInfo),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_volume(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<CreateVolume>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "creating volumes").await?;
    let process = body.process.as_deref().unwrap_or("web");
    let job = ops::volumes::create(&state, &Actor::new(user, "api"), &app, &body.name, &body.mount, process).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    Ok((StatusCode::CREATED, Json(job.outcome().await?)).into_response())
}

/// Unmount a volume (the current release rolls out again) and delete it
/// with its data. With `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(delete, path = "/apps/{app}/volumes/{name}", tag = "volumes", params(("app" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 202, body = super::operations::OperationInfo)))]
pub async fn destroy_volume(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path((app, name)): Path<(String, String)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "destroying volumes").await?;
    let job = ops::volumes::destroy(&state, &Actor::new(user, "api"), &app, &name).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
