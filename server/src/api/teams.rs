//! Teams and their members. Owners and admins manage members; only owners
//! grant or take away the owner role; a team always keeps one owner.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::Path;
use crate::auth::{team_access, CurrentUser, Role};
use crate::db;
use crate::db::teams::{Member, TeamWithRole};
use crate::error::AppResult;
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(list_members, add_member))
        .routes(routes!(change_member, remove_member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeMember {
    pub role: Role,
}

/// Teams you belong to, with your role in each.
#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = 200, body = Vec<TeamWithRole>)))]
pub async fn list_teams(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<Vec<TeamWithRole>>> {
    Ok(Json(db::teams::list_for_user(&state.db, user.id, user.is_admin).await?))
}

/// Create a team; you become its owner.
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = CreateTeam,
    responses((status = 201, body = TeamWithRole), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_team(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<CreateTeam>,
) -> AppResult<(StatusCode, Json<TeamWithRole>)> {
    let team = ops::teams::create(&state, &Actor::new(user, "api"), &body.name).await?;
    Ok((StatusCode::CREATED, Json(TeamWithRole { name: team.name, role: Role::Owner, created_at: team.created_at })))
}

/// Members of a team and their roles.
#[utoipa::path(get, path = "/teams/{team}/members", tag = "teams", params(("team" = String, Path)),
    responses((status = 200, body = Vec<Member>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(team): Path<String>,
) -> AppResult<Json<Vec<Member>>> {
    let (team, _) = team_access(&state, &user, &team, Role::Viewer, "listing members").await?;
    Ok(Json(db::teams::members(&state.db, team.id).await?))
}

/// Add an existing user to a team.
#[utoipa::path(post, path = "/teams/{team}/members", tag = "teams", params(("team" = String, Path)), request_body = AddMember,
    responses((status = 201, body = Member), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(team): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> AppResult<(StatusCode, Json<Member>)> {
    let member = ops::teams::add(&state, &Actor::new(user, "api"), &team, &body.email, body.role).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Change a member's role.
#[utoipa::path(patch, path = "/teams/{team}/members/{email}", tag = "teams",
    params(("team" = String, Path), ("email" = String, Path)), request_body = ChangeMember,
    responses((status = 200, body = Member), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn change_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((team, email)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeMember>,
) -> AppResult<Json<Member>> {
    Ok(Json(ops::teams::set_role(&state, &Actor::new(user, "api"), &team, &email, body.role).await?))
}

/// Remove a member from a team. Anyone may leave a team themselves.
#[utoipa::path(delete, path = "/teams/{team}/members/{email}", tag = "teams",
    params(("team" = String, Path), ("email" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((team, email)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    ops::teams::remove(&state, &Actor::new(user, "api"), &team, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}
