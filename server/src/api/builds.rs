//! Builds and their full logs, readable after the push; the build cache.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Path;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::builds::Build;
use crate::error::{AppError, AppResult};
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_builds)).routes(routes!(show_build)).routes(routes!(purge_build_cache))
}

/// An app's builds, newest first.
#[utoipa::path(get, path = "/apps/{app}/builds", tag = "builds", params(("app" = String, Path)),
    responses((status = 200, body = Vec<Build>)))]
pub async fn list_builds(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<Build>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing builds").await?;
    Ok(Json(db::builds::list(&state.db, app.id).await?))
}

/// One build with its log.
#[utoipa::path(get, path = "/apps/{app}/builds/{id}", tag = "builds", params(("app" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Build), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_build(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, id)): Path<(String, i64)>,
) -> AppResult<Json<Build>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing builds").await?;
    db::builds::find(&state.db, app.id, id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("{} has no build {id}", app.name)))
}

/// Empty the app's build cache (installed dependencies, downloaded runtimes,
/// compiler caches): its next build installs everything anew. Waits for a
/// build in progress.
#[utoipa::path(delete, path = "/apps/{app}/build-cache", tag = "builds", params(("app" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn purge_build_cache(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<StatusCode> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "purging the build cache").await?;
    ops::builds::purge_cache(&state, &Actor::new(user, "api"), &app).await?.outcome().await?;
    Ok(StatusCode::NO_CONTENT)
}
