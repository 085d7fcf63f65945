//! API tokens: create (with a password or another token), list, revoke.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::Path;
use crate::auth::{self, token, CurrentUser};
use crate::db;
use crate::db::tokens::ApiToken;
use crate::error::{AppError, AppResult};
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tokens, create_token)).routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to recognise the token by, e.g. "laptop" or "ci".
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    /// The secret. Shown only in this answer; store it now.
    pub token: String,
    pub created_at: DateTime<Utc>,
}

/// Who is asking for a token: a token holder, or email + password by basic auth.
pub struct TokenCaller(pub db::users::User);

impl axum::extract::FromRequestParts<AppState> for TokenCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let user = match auth::credentials(parts)? {
            auth::Credentials::Bearer(token) => auth::user_for_token(state, &token).await?,
            auth::Credentials::Basic { password, .. } if password.starts_with(token::PREFIX) => {
                auth::user_for_token(state, &password).await?
            }
            auth::Credentials::Basic { user, password } => {
                auth::user_for_password(state, &user, &password, auth::client_address(parts)).await?
            }
        };
        Ok(TokenCaller(user))
    }
}

/// Create an API token. Authenticate with basic auth (email, password) to log in,
/// or with an existing token.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = CreateToken,
    security(("basic" = []), ("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 401, body = crate::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    TokenCaller(user): TokenCaller,
    ApiJson(body): ApiJson<CreateToken>,
) -> AppResult<(StatusCode, Json<CreatedToken>)> {
    let (row, secret) = ops::tokens::create(&state, &Actor::new(user, "api"), &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken { id: row.id, name: row.name, token: secret, created_at: row.created_at }),
    ))
}

/// List your live API tokens (never their secrets).
#[utoipa::path(get, path = "/tokens", tag = "tokens", responses((status = 200, body = Vec<ApiToken>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> AppResult<Json<Vec<ApiToken>>> {
    Ok(Json(db::tokens::list(&state.db, user.id).await?))
}

/// Revoke one of your tokens; it stops working at once.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    ops::tokens::revoke(&state, &Actor::new(user, "api"), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
