//! Teams and their members: owners and admins manage members; only owners
//! grant or take away the owner role; a team always keeps one owner; anyone
//! may leave. Each change and its audit event are one transaction.

use super::Actor;
use crate::auth::{team_access, Role};
use crate::db;
use crate::db::teams::{Member, Team};
use crate::error::{AppError, AppResult};
use crate::names;
use crate::state::AppState;

/// Create a team owned by the actor.
pub async fn create(state: &AppState, actor: &Actor, name: &str) -> AppResult<Team> {
    names::validate(name, "team")?;
    let mut tx = state.db.begin().await?;
    let team = db::teams::create(&mut tx, name, actor.user.id).await?;
    db::audit::record(&mut tx, &actor.team_event(team.id, "team.create", team.name.clone())).await?;
    tx.commit().await?;
    tracing::info!(user = %actor.user.email, team = %team.name, "created team");
    Ok(team)
}

/// Add an existing user to a team.
pub async fn add(state: &AppState, actor: &Actor, team: &str, email: &str, role: Role) -> AppResult<Member> {
    let user = &actor.user;
    let (team, my_role) = team_access(state, user, team, Role::Admin, "adding members").await?;
    only_owners_touch_owners(my_role, role)?;
    let email = crate::names::email(email)?;
    let member = db::users::find_by_email(&state.db, &email).await?.ok_or_else(|| {
        AppError::validation("email", format!("no user with email {email}; a server admin creates accounts"))
    })?;
    let detail = format!("{email} as {}", role.as_str());
    let mut tx = state.db.begin().await?;
    db::teams::add_member(&mut tx, team.id, member.id, role).await?;
    db::audit::record(&mut tx, &actor.team_event(team.id, "team.member.add", detail)).await?;
    tx.commit().await?;
    tracing::info!(by = %user.email, team = %team.name, member = %email, role = role.as_str(), "added team member");
    member_row(state, team.id, &email).await
}

/// Change a member's role.
pub async fn set_role(state: &AppState, actor: &Actor, team: &str, email: &str, role: Role) -> AppResult<Member> {
    let user = &actor.user;
    let (team, my_role) = team_access(state, user, team, Role::Admin, "changing roles").await?;
    let (member_id, current) = find_member(state, team.id, email).await?;
    only_owners_touch_owners(my_role, current.max(role))?;
    if current == Role::Owner && role != Role::Owner {
        keep_one_owner(state, team.id).await?;
    }
    let detail = format!("{email} to {}", role.as_str());
    let mut tx = state.db.begin().await?;
    db::teams::set_role(&mut tx, team.id, member_id, role).await?;
    db::audit::record(&mut tx, &actor.team_event(team.id, "team.member.role", detail)).await?;
    tx.commit().await?;
    tracing::info!(by = %user.email, team = %team.name, member = %email, role = role.as_str(), "changed member role");
    member_row(state, team.id, &email.trim().to_lowercase()).await
}

/// Remove a member (or leave the team).
pub async fn remove(state: &AppState, actor: &Actor, team: &str, email: &str) -> AppResult<()> {
    let user = &actor.user;
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
    let mut tx = state.db.begin().await?;
    db::teams::remove_member(&mut tx, team.id, member_id).await?;
    db::audit::record(&mut tx, &actor.team_event(team.id, "team.member.remove", email.to_string())).await?;
    tx.commit().await?;
    tracing::info!(by = %user.email, team = %team.name, member = %email, "removed team member");
    Ok(())
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
