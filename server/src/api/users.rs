//! The current user, and user accounts (created by server admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use crate::auth::{password, CurrentUser};
use crate::db;
use crate::db::teams::TeamWithRole;
use crate::error::{AppError, AppResult};
use crate::ops::Actor;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_current_user)).routes(routes!(create_user))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub email: String,
    /// Server admins manage users and act as owners of every team.
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub teams: Vec<TeamWithRole>,
}

/// The authenticated user and their teams.
#[utoipa::path(get, path = "/user", tag = "users", responses((status = 200, body = UserInfo), (status = 401, body = crate::error::ErrorBody)))]
pub async fn show_current_user(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<UserInfo>> {
    let teams = db::teams::list_for_user(&state.db, user.id, user.is_admin).await?;
    Ok(Json(UserInfo { email: user.email, is_admin: user.is_admin, created_at: user.created_at, teams }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// At least 8 characters. Omit it to have one generated and returned once.
    pub password: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub email: String,
    pub is_admin: bool,
    /// The generated password, only when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Create a user account (server admins only).
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = CreatedUser), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    CurrentUser(caller): CurrentUser,
    ApiJson(body): ApiJson<CreateUser>,
) -> AppResult<(StatusCode, Json<CreatedUser>)> {
    caller.require_admin("create users")?;
    let email = crate::names::email(&body.email)?;
    let (password, generated) = match body.password {
        Some(p) if p.chars().count() > 1024 => {
            return Err(AppError::validation("password", "password must be at most 1024 characters"));
        }
        Some(p) if p.chars().count() < password::MIN_LENGTH => {
            return Err(AppError::validation(
                "password",
                format!("password must be at least {} characters", password::MIN_LENGTH),
            ))
        }
        Some(p) => (p, false),
        None => (password::generate(), true),
    };
    let hash = password::hash(password.clone()).await?;
    let actor = Actor::new(caller, "api");
    let mut tx = state.db.begin().await?;
    let user = db::users::create(&mut tx, &email, &hash, body.is_admin).await?;
    db::audit::record(&mut tx, &actor.user_event("user.create", user.email.clone())).await?;
    tx.commit().await?;
    tracing::info!(by = %actor.user.email, user = %user.email, "created user");
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser { email: user.email, is_admin: user.is_admin, password: generated.then_some(password) }),
    ))
}
