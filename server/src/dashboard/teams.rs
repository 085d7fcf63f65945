//! Dashboard pages for teams, members and API tokens.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{render, DashError, DashUser, Layout};
use crate::api::audit;
use crate::api::teams::{find_member, keep_one_owner, only_owners_touch_owners};
use crate::auth::{team_access, token, Role};
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

const SOURCE: &str = "dashboard";

#[derive(Template)]
#[template(path = "teams/list.html")]
struct TeamsPage {
    layout: Layout,
    teams: Vec<db::teams::TeamWithRole>,
}

pub async fn list_teams(State(state): State<AppState>, dash: DashUser) -> Result<Response, DashError> {
    let teams = db::teams::list_for_user(&state.db, dash.user.id, dash.user.is_admin).await?;
    render(&TeamsPage { layout: dash.layout("Teams").await, teams })
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    csrf: String,
    name: String,
}

pub async fn create_team(
    State(state): State<AppState>,
    dash: DashUser,
    Form(form): Form<NameForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let name = form.name.trim().to_string();
    let result = async {
        crate::names::validate(&name, "team")?;
        let team = db::teams::create(&state.db, &name, dash.user.id).await?;
        audit::record(&state, &dash.user, Some(team.id), None, "team.create", name.clone(), SOURCE).await?;
        Ok::<_, AppError>(format!("Created team {name}; you are its owner."))
    }
    .await;
    let to = if result.is_ok() { format!("/teams/{name}") } else { "/teams".to_string() };
    Ok(dash.redirect(&to, result).await)
}

#[derive(Template)]
#[template(path = "teams/show.html")]
struct TeamPage {
    layout: Layout,
    team: String,
    members: Vec<db::teams::Member>,
    /// Admin or above: may manage members.
    can_manage: bool,
    roles: Vec<&'static str>,
}

pub async fn show_team(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (team, role) = team_access(&state, &dash.user, &name, Role::Viewer, "viewing teams").await?;
    let members = db::teams::members(&state.db, team.id).await?;
    let roles = if role == Role::Owner {
        vec!["viewer", "developer", "admin", "owner"]
    } else {
        vec!["viewer", "developer", "admin"]
    };
    render(&TeamPage {
        layout: dash.layout(format!("Team {}", team.name)).await,
        team: team.name,
        members,
        can_manage: role >= Role::Admin,
        roles,
    })
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    csrf: String,
    email: String,
    role: Option<Role>,
}

pub async fn add_member(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let (team, my_role) = team_access(&state, &dash.user, &name, Role::Admin, "adding members").await?;
    let result = async {
        let role = form.role.unwrap_or(Role::Developer);
        only_owners_touch_owners(my_role, role)?;
        let email = crate::api::users::normalize_email(&form.email)?;
        let member = db::users::find_by_email(&state.db, &email).await?.ok_or_else(|| {
            AppError::validation("email", format!("no user with email {email}; a server admin creates accounts"))
        })?;
        db::teams::add_member(&state.db, team.id, member.id, role).await?;
        audit::record(
            &state,
            &dash.user,
            Some(team.id),
            None,
            "team.member.add",
            format!("{email} as {}", role.as_str()),
            SOURCE,
        )
        .await?;
        Ok(format!("Added {email} as {}.", role.as_str()))
    }
    .await;
    Ok(dash.redirect(&format!("/teams/{name}"), result).await)
}

pub async fn change_member(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let (team, my_role) = team_access(&state, &dash.user, &name, Role::Admin, "changing roles").await?;
    let result = async {
        let role = form.role.ok_or_else(|| AppError::validation("role", "choose a role"))?;
        let (member_id, current) = find_member(&state, team.id, &form.email).await?;
        only_owners_touch_owners(my_role, current.max(role))?;
        if current == Role::Owner && role != Role::Owner {
            keep_one_owner(&state, team.id).await?;
        }
        db::teams::set_role(&state.db, team.id, member_id, role).await?;
        audit::record(
            &state,
            &dash.user,
            Some(team.id),
            None,
            "team.member.role",
            format!("{} to {}", form.email, role.as_str()),
            SOURCE,
        )
        .await?;
        Ok(format!("{} is now {}.", form.email, role.as_str()))
    }
    .await;
    Ok(dash.redirect(&format!("/teams/{name}"), result).await)
}

pub async fn remove_member(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let (team, my_role) = team_access(&state, &dash.user, &name, Role::Admin, "removing members").await?;
    let result = async {
        let (member_id, current) = find_member(&state, team.id, &form.email).await?;
        only_owners_touch_owners(my_role, current)?;
        if current == Role::Owner {
            keep_one_owner(&state, team.id).await?;
        }
        db::teams::remove_member(&state.db, team.id, member_id).await?;
        audit::record(&state, &dash.user, Some(team.id), None, "team.member.remove", form.email.clone(), SOURCE)
            .await?;
        Ok(format!("Removed {}.", form.email))
    }
    .await;
    Ok(dash.redirect(&format!("/teams/{name}"), result).await)
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<db::tokens::ApiToken>,
    /// A token just created, shown this once.
    created: Option<String>,
}

pub async fn list_tokens(State(state): State<AppState>, dash: DashUser) -> Result<Response, DashError> {
    let tokens = db::tokens::list(&state.db, dash.user.id).await?;
    let created = dash.session.remove::<String>("new_token").await.ok().flatten();
    render(&TokensPage { layout: dash.layout("API tokens").await, tokens, created })
}

pub async fn create_token(
    State(state): State<AppState>,
    dash: DashUser,
    Form(form): Form<NameForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let name = form.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Ok(dash
            .redirect("/tokens", Err(AppError::validation("name", "token name must be 1 to 100 characters")))
            .await);
    }
    let secret = token::generate();
    let row = db::tokens::create(&state.db, dash.user.id, name, &token::hash(&secret)).await?;
    audit::record(&state, &dash.user, None, None, "token.create", format!("{} ({})", row.name, row.id), SOURCE).await?;
    // Kept in the session only until the next page shows it.
    let _ = dash.session.insert("new_token", secret).await;
    Ok(dash.redirect("/tokens", Ok(format!("Created token {}. Copy it now: it is shown only once.", row.name))).await)
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: String,
    id: i64,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    dash: DashUser,
    Form(form): Form<RevokeForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let result = if db::tokens::revoke(&state.db, dash.user.id, form.id).await? {
        audit::record(&state, &dash.user, None, None, "token.revoke", form.id.to_string(), SOURCE).await?;
        Ok(format!("Revoked token {}.", form.id))
    } else {
        Err(AppError::not_found(format!("no token with id {}", form.id)))
    };
    Ok(dash.redirect("/tokens", result).await)
}
