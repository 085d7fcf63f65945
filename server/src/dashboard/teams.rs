//! Dashboard pages for teams, members and API tokens. The actions call the
//! same operations as the REST API (`ops::teams`, `ops::tokens`).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

use super::{render, DashError, DashUser, Layout};
use crate::auth::{team_access, Role};
use crate::db;
use crate::error::AppError;
use crate::ops::{self, Actor};
use crate::state::AppState;

fn actor(dash: &DashUser) -> Actor {
    Actor::new(dash.user.clone(), "dashboard")
}

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
    let name = form.name.trim();
    match ops::teams::create(&state, &actor(&dash), name).await {
        Ok(team) => {
            dash.finish(&format!("/teams/{}", team.name), Ok(format!("Created team {}; you are its owner.", team.name)))
                .await
        }
        Err(err) => dash.finish("/teams", Err(err)).await,
    }
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
    Path(team): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let role = form.role.unwrap_or(Role::Developer);
    let result = ops::teams::add(&state, &actor(&dash), &team, &form.email, role).await;
    dash.finish(&format!("/teams/{team}"), result.map(|m| format!("Added {} as {}.", m.email, m.role.as_str()))).await
}

pub async fn change_member(
    State(state): State<AppState>,
    dash: DashUser,
    Path(team): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let result = match form.role {
        Some(role) => ops::teams::set_role(&state, &actor(&dash), &team, &form.email, role).await,
        None => Err(AppError::validation("role", "choose a role")),
    };
    dash.finish(&format!("/teams/{team}"), result.map(|m| format!("{} is now {}.", m.email, m.role.as_str()))).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    dash: DashUser,
    Path(team): Path<String>,
    Form(form): Form<MemberForm>,
) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    let result = ops::teams::remove(&state, &actor(&dash), &team, &form.email).await;
    dash.finish(&format!("/teams/{team}"), result.map(|()| format!("Removed {}.", form.email))).await
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
    let result = ops::tokens::create(&state, &actor(&dash), &form.name).await;
    if let Ok((_, secret)) = &result {
        // Kept in the session only until the next page shows it.
        let _ = dash.session.insert("new_token", secret.clone()).await;
    }
    let message = result.map(|(row, _)| format!("Created token {}. Copy it now: it is shown only once.", row.name));
    dash.finish("/tokens", message).await
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
    let result = ops::tokens::revoke(&state, &actor(&dash), form.id).await;
    dash.finish("/tokens", result.map(|()| format!("Revoked token {}.", form.id))).await
}
