//! Role checks. A caller who is not a member of a team gets 404 for the team
//! and its apps (names do not leak); a member below the needed role gets 403.
//! Server admins act as owners of every team.

use crate::db;
use crate::db::apps::App;
use crate::db::teams::{Role, Team};
use crate::db::users::User;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

async fn role_in(state: &AppState, user: &User, team_id: i64) -> AppResult<Option<Role>> {
    if user.is_admin {
        return Ok(Some(Role::Owner));
    }
    Ok(db::teams::role_of(&state.db, team_id, user.id).await?)
}

fn require(role: Role, needed: Role, action: &str) -> AppResult<()> {
    if role >= needed {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "{action} needs the {} role or above; you are a {}",
            needed.as_str(),
            role.as_str()
        )))
    }
}

/// The app, if the user may see it and holds at least `needed` in its team.
pub async fn app_access(
    state: &AppState,
    user: &User,
    name: &str,
    needed: Role,
    action: &str,
) -> AppResult<(App, Role)> {
    let not_found = || AppError::not_found(format!("no app named {name}"));
    let app = db::apps::find_by_name(&state.db, name).await?.ok_or_else(not_found)?;
    let role = role_in(state, user, app.team_id).await?.ok_or_else(not_found)?;
    require(role, needed, action)?;
    Ok((app, role))
}

/// The team, if the user is a member with at least `needed`.
pub async fn team_access(
    state: &AppState,
    user: &User,
    name: &str,
    needed: Role,
    action: &str,
) -> AppResult<(Team, Role)> {
    let not_found = || AppError::not_found(format!("no team named {name}"));
    let team = db::teams::find_by_name(&state.db, name).await?.ok_or_else(not_found)?;
    let role = role_in(state, user, team.id).await?.ok_or_else(not_found)?;
    require(role, needed, action)?;
    Ok((team, role))
}
