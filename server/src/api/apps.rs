//! Apps: create in a team, list the ones you can see, show, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{self, Source};
use super::ApiJson;
use crate::auth::{app_access, team_access, CurrentUser, Role};
use crate::db;
use crate::db::apps::App;
use crate::db::users::User;
use crate::error::{AppError, AppResult};
use crate::names;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_apps, create_app)).routes(routes!(show_app, delete_app))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApp {
    /// DNS label: lowercase letters, digits and hyphens, starting with a
    /// letter, at most 30 characters.
    pub name: String,
    /// The owning team. May be omitted when you belong to exactly one team
    /// where you can create apps.
    pub team: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppInfo {
    pub name: String,
    pub team: String,
    /// Where the router serves the app.
    pub web_url: String,
    /// The git remote to push to.
    pub git_url: String,
    pub created_at: DateTime<Utc>,
}

impl AppInfo {
    fn new(state: &AppState, app: db::apps::App) -> Self {
        Self {
            web_url: state.app_url(&app.name),
            git_url: format!("{}/git/{}.git", state.public_url, app.name),
            name: app.name,
            team: app.team_name,
            created_at: app.created_at,
        }
    }
}

/// Apps in the teams you belong to.
#[utoipa::path(get, path = "/apps", tag = "apps", responses((status = 200, body = Vec<AppInfo>)))]
pub async fn list_apps(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> AppResult<Json<Vec<AppInfo>>> {
    let apps = db::apps::list_visible(&state.db, user.id, user.is_admin).await?;
    Ok(Json(apps.into_iter().map(|a| AppInfo::new(&state, a)).collect()))
}

/// Create an app in a team (developer role or above).
#[utoipa::path(post, path = "/apps", tag = "apps", request_body = CreateApp,
    responses((status = 201, body = AppInfo), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    ApiJson(body): ApiJson<CreateApp>,
) -> AppResult<(StatusCode, Json<AppInfo>)> {
    let app = create(&state, &user, &body.name, body.team, source).await?;
    Ok((StatusCode::CREATED, Json(AppInfo::new(&state, app))))
}

/// Create an app in `team` (or the caller's only team), and record it.
/// Shared by the API and the dashboard.
pub(crate) async fn create(
    state: &AppState,
    user: &User,
    name: &str,
    team: Option<String>,
    source: &str,
) -> AppResult<App> {
    names::validate(name, "app")?;
    let team_name = match team.filter(|t| !t.is_empty()) {
        Some(team) => team,
        None => default_team(state, user).await?,
    };
    let (team, _) = team_access(state, user, &team_name, Role::Developer, "creating apps").await?;
    let app = db::apps::create(&state.db, team.id, name, user.id).await?;
    tracing::info!(user = %user.email, app = %app.name, team = %team.name, "created app");
    let detail = format!("in team {}", team.name);
    audit::record(state, user, Some(team.id), Some(&app.name), "app.create", detail, source).await?;
    Ok(app)
}

/// The one team the user can create apps in, when no team was named.
async fn default_team(state: &AppState, user: &User) -> AppResult<String> {
    let teams = db::teams::list_for_user(&state.db, user.id, user.is_admin).await?;
    let usable: Vec<_> = teams.into_iter().filter(|t| t.role >= Role::Developer).map(|t| t.name).collect();
    match usable.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(AppError::validation(
            "team",
            "you are in no team where you can create apps; create one with `paas teams:create`",
        )),
        many => Err(AppError::validation(
            "team",
            format!("name the team (--team): you can create apps in {}", many.join(", ")),
        )),
    }
}

/// One app.
#[utoipa::path(get, path = "/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 200, body = AppInfo), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_app(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<AppInfo>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing apps").await?;
    Ok(Json(AppInfo::new(&state, app)))
}

/// Delete an app (admin role or above): its processes stop, its routes,
/// repository and records go.
#[utoipa::path(delete, path = "/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_app(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path(app): Path<String>,
) -> AppResult<StatusCode> {
    let (app, _) = app_access(&state, &user, &app, Role::Admin, "deleting apps").await?;
    destroy(&state, &user, &app, source).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Destroy an app and record it. Shared by the API and the dashboard.
pub(crate) async fn destroy(state: &AppState, user: &User, app: &App, source: &str) -> AppResult<()> {
    crate::deploy::destroy::destroy_app(state, app).await?;
    tracing::info!(user = %user.email, app = %app.name, "deleted app");
    audit::record(state, user, Some(app.team_id), Some(&app.name), "app.destroy", String::new(), source).await
}
