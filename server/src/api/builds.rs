//! Builds and their full logs, readable after the push.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_builds)).routes(routes!(show_build))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BuildInfo {
    pub id: i64,
    pub commit: String,
    /// building, succeeded or failed.
    pub status: String,
    pub image: Option<String>,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The whole build output (only on a single build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl From<db::builds::Build> for BuildInfo {
    fn from(b: db::builds::Build) -> Self {
        Self {
            id: b.id,
            commit: b.commit,
            status: b.status,
            image: b.image,
            author: b.author,
            created_at: b.created_at,
            finished_at: b.finished_at,
            log: b.log,
        }
    }
}

/// An app's builds, newest first.
#[utoipa::path(get, path = "/apps/{app}/builds", tag = "builds", params(("app" = String, Path)),
    responses((status = 200, body = Vec<BuildInfo>)))]
pub async fn list_builds(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<BuildInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing builds").await?;
    Ok(Json(db::builds::list(&state.db, app.id).await?.into_iter().map(Into::into).collect()))
}

/// One build with its log.
#[utoipa::path(get, path = "/apps/{app}/builds/{id}", tag = "builds", params(("app" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = BuildInfo), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_build(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, id)): Path<(String, i64)>,
) -> AppResult<Json<BuildInfo>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing builds").await?;
    db::builds::find(&state.db, app.id, id)
        .await?
        .map(|b| Json(b.into()))
        .ok_or_else(|| AppError::not_found(format!("{} has no build {id}", app.name)))
}
