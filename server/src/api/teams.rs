//! Teams and their members. Owners and admins manage members; only owners
//! grant or take away the owner role; a team always keeps one owner.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{self, Source};
use super::ApiJson;
use crate::auth::{team_access, CurrentUser, Role};
use crate::db;
use crate::db::teams::{Member, TeamWithRole};
use crate::db::users::User;
use crate::error::{AppError, AppResult};
use crate::names;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(list_members, add_member))
        .routes(routes!(change_member, remove_member))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTeam {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMember {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
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
    Source(source): Source,
    ApiJson(body): ApiJson<CreateTeam>,
) -> AppResult<(StatusCode, Json<TeamWithRole>)> {
    let team = create(&state, &user, &body.name, source).await?;
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
    Source(source): Source,
    Path(team): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> AppResult<(StatusCode, Json<Member>)> {
    let member = add(&state, &user, &team, &body.email, body.role, source).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Change a member's role.
#[utoipa::path(patch, path = "/teams/{team}/members/{email}", tag = "teams",
    params(("team" = String, Path), ("email" = String, Path)), request_body = ChangeMember,
    responses((status = 200, body = Member), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn change_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path((team, email)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeMember>,
) -> AppResult<Json<Member>> {
    Ok(Json(set_role(&state, &user, &team, &email, body.role, source).await?))
}

/// Remove a member from a team. Anyone may leave a team themselves.
#[utoipa::path(delete, path = "/teams/{team}/members/{email}", tag = "teams",
    params(("team" = String, Path), ("email" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path((team, email)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    remove(&state, &user, &team, &email, source).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a team owned by `user`, and record it. Shared by the API and the dashboard.
pub(crate) async fn create(state: &AppState, user: &User, name: &str, source: &str) -> AppResult<db::teams::Team> {
    names::validate(name, "team")?;
    let team = db::teams::create(&state.db, name, user.id).await?;
    tracing::info!(user = %user.email, team = %team.name, "created team");
    audit::record(state, user, Some(team.id), None, "team.create", team.name.clone(), source).await?;
    Ok(team)
}

// The member operations, shared by the API and the dashboard. Owners and
// admins manage members; only owners touch the owner role; a team keeps one
// owner; anyone may leave.

/// Add an existing user to a team.
pub(crate) async fn add(
    state: &AppState,
    user: &User,
    team: &str,
    email: &str,
    role: Role,
    source: &str,
) -> AppResult<Member> {
    let (team, my_role) = team_access(state, user, team, Role::Admin, "adding members").await?;
    only_owners_touch_owners(my_role, role)?;
    let email = super::users::normalize_email(email)?;
    let member = db::users::find_by_email(&state.db, &email).await?.ok_or_else(|| {
        AppError::validation("email", format!("no user with email {email}; a server admin creates accounts"))
    })?;
    db::teams::add_member(&state.db, team.id, member.id, role).await?;
    tracing::info!(by = %user.email, team = %team.name, member = %email, role = role.as_str(), "added team member");
    let detail = format!("{email} as {}", role.as_str());
    audit::record(state, user, Some(team.id), None, "team.member.add", detail, source).await?;
    member_row(state, team.id, &email).await
}

/// Change a member's role.
pub(crate) async fn set_role(
    state: &AppState,
    user: &User,
    team: &str,
    email: &str,
    role: Role,
    source: &str,
) -> AppResult<Member> {
    let (team, my_role) = team_access(state, user, team, Role::Admin, "changing roles").await?;
    let (member_id, current) = find_member(state, team.id, email).await?;
    only_owners_touch_owners(my_role, current.max(role))?;
    if current == Role::Owner && role != Role::Owner {
        keep_one_owner(state, team.id).await?;
    }
    db::teams::set_role(&state.db, team.id, member_id, role).await?;
    tracing::info!(by = %user.email, team = %team.name, member = %email, role = role.as_str(), "changed member role");
    let detail = format!("{email} to {}", role.as_str());
    audit::record(state, user, Some(team.id), None, "team.member.role", detail, source).await?;
    member_row(state, team.id, &email.trim().to_lowercase()).await
}

/// Remove a member (or leave the team).
pub(crate) async fn remove(state: &AppState, user: &User, team: &str, email: &str, source: &str) -> AppResult<()> {
    let leaving = email.trim().eq_ignore_ascii_case(&user.email);
    let needed = if leaving { Role::Viewer } else { Role::Admin };
    let (team, my_role) = team_access(state, user, team, needed, "removing members").await?;
    let (member_id, current) = find_member(state, team.id, email).await?;
    if !leaving {
        only_owners_touch_owners(my_role, current)?;
    }
    if current == Role::Owner {
        keep_one_owner(state, team.id).await?;
    }
    db::teams::remove_member(&state.db, team.id, member_id).await?;
    tracing::info!(by = %user.email, team = %team.name, member = %email, "removed team member");
    audit::record(state, user, Some(team.id), None, "team.member.remove", email.to_string(), source).await
}

async fn member_row(state: &AppState, team_id: i64, email: &str) -> AppResult<Member> {
    let members = db::teams::members(&state.db, team_id).await?;
    members.into_iter().find(|m| m.email == email).ok_or_else(|| AppError::Other(anyhow::anyhow!("member vanished")))
}

async fn find_member(state: &AppState, team_id: i64, email: &str) -> AppResult<(i64, Role)> {
    let email = email.trim().to_lowercase();
    let not_member = || AppError::not_found(format!("{email} is not a member of this team"));
    let user = db::users::find_by_email(&state.db, &email).await?.ok_or_else(not_member)?;
    let role = db::teams::role_of(&state.db, team_id, user.id).await?.ok_or_else(not_member)?;
    Ok((user.id, role))
}

fn only_owners_touch_owners(my_role: Role, role: Role) -> AppResult<()> {
    if role == Role::Owner && my_role != Role::Owner {
        return Err(AppError::Forbidden("only team owners can grant, change or remove the owner role".into()));
    }
    Ok(())
}

async fn keep_one_owner(state: &AppState, team_id: i64) -> AppResult<()> {
    if db::teams::count_owners(&state.db, team_id).await? <= 1 {
        return Err(AppError::Conflict("a team must keep at least one owner; make someone else owner first".into()));
    }
    Ok(())
}
