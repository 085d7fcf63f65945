//! Releases of an app (read-only for now; rollback arrives with the lifecycle issue).

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_releases))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseInfo {
    /// vN as a number.
    pub version: i32,
    pub description: String,
    /// pending, succeeded or failed.
    pub status: String,
    /// Whether the app serves this release now.
    pub current: bool,
    pub commit: Option<String>,
    pub image: String,
    pub created_at: DateTime<Utc>,
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
    Ok(Json(
        releases
            .into_iter()
            .map(|r| ReleaseInfo {
                current: Some(r.id) == current,
                version: r.version,
                description: r.description,
                status: r.status,
                commit: r.commit_sha,
                image: r.image,
                created_at: r.created_at,
            })
            .collect(),
    ))
}
