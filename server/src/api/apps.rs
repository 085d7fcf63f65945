//! Apps: create in a team, list the ones you can see, show, change (the
//! stack), delete; and the stacks there are.

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
        .routes(routes!(list_apps, create_app))
        .routes(routes!(show_app, update_app, delete_app))
        .routes(routes!(list_stacks))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    /// The stack its buildpack builds use (`bookworm`, `trixie`).
    pub stack: String,
    /// Plain HTTP requests are redirected to HTTPS.
    pub https_redirect: bool,
    /// Responses over HTTPS carry `Strict-Transport-Security`.
    pub hsts: bool,
    /// In maintenance mode: every request gets the maintenance page (503).
    pub maintenance: bool,
    /// On its team's private network: where the team's other apps on it
    /// reach its web processes.
    pub internal_url: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    /// A new name (admins and owners): the URL, repository, routes and
    /// domains follow, the old name stops routing, and the processes move
    /// to the new name with no request dropped.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The stack its next buildpack build uses (see `GET /stacks`); the
    /// running release is not rebuilt.
    #[schema(schema_with = stack_names)]
    #[serde(default, deserialize_with = "super::present")]
    pub stack: Option<String>,
    /// Answer plain HTTP with a permanent redirect to HTTPS.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub https_redirect: Option<bool>,
    /// Send `Strict-Transport-Security: max-age=31536000` over HTTPS.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub hsts: Option<bool>,
    /// Maintenance mode: every request gets the maintenance page (the
    /// `MAINTENANCE_PAGE_HTML` config var, or a default one) with 503, while
    /// the processes keep running.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub maintenance: Option<bool>,
    /// On the team's private network: the team's other apps on it reach
    /// its web processes at `http://APP.internal:5000`, and it reaches
    /// theirs.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub internal: Option<bool>,
}

/// The stack names, as the document's enum.
fn stack_names() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(crate::build::stacks::STACKS.iter().map(|s| s.name)))
        .description(Some("The stack its next buildpack build uses; the running release is not rebuilt."))
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StackInfo {
    pub name: String,
    /// The OS release and the runtimes it brings.
    pub description: String,
    /// Whether apps that choose none build on it.
    pub default: bool,
}

impl AppInfo {
    fn new(state: &AppState, app: db::apps::App) -> Self {
        Self {
            internal_url: app.internal.then(|| {
                format!("http://{}:{}", crate::runtime::internal_host(&app.name), crate::runtime::CONTAINER_PORT)
            }),
            web_url: state.app_url(&app.name),
            git_url: format!("{}/git/{}.git", state.public_url, app.name),
            stack: crate::build::stacks::of_app(&state.config, app.stack.as_deref()).to_string(),
            name: app.name,
            team: app.team_name,
            created_at: app.created_at,
            https_redirect: app.https_redirect,
            hsts: app.hsts,
            maintenance: app.maintenance,
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
    ApiJson(body): ApiJson<CreateApp>,
) -> AppResult<(StatusCode, Json<AppInfo>)> {
    if body.team.as_deref() == Some("") {
        return Err(AppError::validation("team", "team is empty: name a team, or leave it out to use your only one"));
    }
    let app = ops::apps::create(&state, &Actor::new(user, "api"), &body.name, body.team).await?;
    Ok((StatusCode::CREATED, Json(AppInfo::new(&state, app))))
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

/// Change an app (developer role or above; a rename: admin): its name; its
/// stack, from its next build; its HTTPS redirect, HSTS, maintenance mode
/// and private networking, at once. Fields left out stay.
#[utoipa::path(patch, path = "/apps/{app}", tag = "apps", params(("app" = String, Path)), request_body = UpdateApp,
    responses((status = 200, body = AppInfo), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update_app(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<UpdateApp>,
) -> AppResult<Json<AppInfo>> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "changing apps").await?;
    let actor = Actor::new(user, "api");
    let mut app = app;
    if let Some(name) = &body.name {
        app_access(&state, &actor.user, &app.name, Role::Admin, "renaming apps").await?;
        app = ops::apps::rename(&state, &actor, &app, name).await?.outcome().await?;
    }
    if let Some(stack) = &body.stack {
        app = ops::apps::set_stack(&state, &actor, &app, stack).await?.outcome().await?;
    }
    if body.https_redirect.is_some() || body.hsts.is_some() {
        app = ops::certs::set_https(&state, &actor, &app, body.https_redirect, body.hsts).await?.outcome().await?;
    }
    if let Some(on) = body.maintenance {
        app = ops::apps::set_maintenance(&state, &actor, &app, on).await?.outcome().await?;
    }
    if let Some(on) = body.internal {
        app = ops::apps::set_internal(&state, &actor, &app, on).await?.outcome().await?;
    }
    Ok(Json(AppInfo::new(&state, app)))
}

/// The stacks apps can build on.
#[utoipa::path(get, path = "/stacks", tag = "apps", responses((status = 200, body = Vec<StackInfo>)))]
pub async fn list_stacks(State(state): State<AppState>, CurrentUser(_): CurrentUser) -> Json<Vec<StackInfo>> {
    Json(
        crate::build::stacks::STACKS
            .iter()
            .map(|s| StackInfo {
                name: s.name.to_string(),
                description: s.description.to_string(),
                default: s.name == state.config.default_stack,
            })
            .collect(),
    )
}

/// Delete an app (admin role or above): its processes stop, its routes,
/// repository and records go. With `Prefer: respond-async`: 202 and the
/// operation.
#[utoipa::path(delete, path = "/apps/{app}", tag = "apps", params(("app" = String, Path)),
    responses((status = 204), (status = 202, body = super::operations::OperationInfo),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_app(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    prefer: Prefer,
    Path(app): Path<String>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Admin, "deleting apps").await?;
    let job = ops::apps::destroy(&state, &Actor::new(user, "api"), &app).await?;
    if prefer.respond_async {
        return accepted(&state, &app, job.id).await;
    }
    job.outcome().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
