//! Releases of an app, and rollback.

use axum::extract::State;
use axum::http::StatusCode;
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
use crate::error::{AppError, AppResult};
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_releases))
        .routes(routes!(show_release))
        .routes(routes!(show_release_output))
        .routes(routes!(create_rollback))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseInfo {
    /// vN as a number.
    pub version: i32,
    /// "Deploy 1a2b3c4", "Set FOO config vars", "Rollback to v3".
    pub description: String,
    /// pending, succeeded or failed.
    pub status: String,
    /// Whether the app serves this release now.
    pub current: bool,
    pub author: Option<String>,
    pub commit: Option<String>,
    pub image: String,
    /// Config var names in this release (never values).
    pub config_keys: Vec<String>,
    pub process_types: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl ReleaseInfo {
    pub fn new(r: db::releases::Release, current: Option<i64>) -> Self {
        Self {
            current: Some(r.id) == current,
            version: r.version,
            description: r.description,
            status: r.status,
            author: r.author,
            commit: r.commit_sha,
            image: r.image,
            config_keys: r.config.0.keys().cloned().collect(),
            process_types: r.process_types.0.keys().cloned().collect(),
            created_at: r.created_at,
        }
    }
}

/// An app's releases, newest first.
#[utoipa::path(get, path = "/apps/{app}/releases", tag = "releases", params(("app" = String, Path)),
    responses((status = 200, body = Vec<ReleaseInfo>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_releases(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<ReleaseInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing releases").await?;
    let current = db::releases::current(&state.db, app.id).await?.map(|r| r.id);
    let releases = db::releases::list(&state.db, app.id).await?;
    Ok(Json(releases.into_iter().map(|r| ReleaseInfo::new(r, current)).collect()))
}

/// One release.
#[utoipa::path(get, path = "/apps/{app}/releases/{version}", tag = "releases",
    params(("app" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = ReleaseInfo), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_release(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, version)): Path<(String, i64)>,
) -> AppResult<Json<ReleaseInfo>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing releases").await?;
    let current = db::releases::current(&state.db, app.id).await?.map(|r| r.id);
    let release = db::releases::list(&state.db, app.id)
        .await?
        .into_iter()
        .find(|r| i64::from(r.version) == version)
        .ok_or_else(|| AppError::not_found(format!("{} has no release v{version}", app.name)))?;
    Ok(Json(ReleaseInfo::new(release, current)))
}

/// What the release's release phase (the Procfile's `release` command)
/// printed, and how it ended; 404 when the release ran none.
#[utoipa::path(get, path = "/apps/{app}/releases/{version}/output", tag = "releases",
    params(("app" = String, Path), ("version" = i64, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_release_output(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, version)): Path<(String, i64)>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing releases").await?;
    match db::releases::output(&state.db, app.id, version).await? {
        None => Err(AppError::not_found(format!("{} has no release v{version}", app.name))),
        Some(None) => Err(AppError::not_found(format!("v{version} of {} ran no release command", app.name))),
        Some(Some(text)) => {
            Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to return to; default: the previous release that ran.
    #[serde(default, deserialize_with = "super::whole")]
    pub version: Option<i32>,
}

/// Roll back: a new release with an earlier release's image and config, rolled
/// out like any deploy. With `Prefer: respond-async`: 202 and the operation.
#[utoipa::path(post, path = "/apps/{app}/rollback", tag = "releases", params(("app" = String, Path)), request_body = Rollback,
    responses((status = 201, body = ReleaseInfo), (status = 202, body = super::operations::OperationInfo),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_rollback(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Rollback>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "rolling back").await?;
    let job = ops::releases::rollback(&state, &Actor::new(user, "api"), &app, body.version).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    let release = job.outcome().await?;
    let id = release.id;
    Ok((StatusCode::CREATED, Json(ReleaseInfo::new(release, Some(id)))).into_response())
}
