//! Who is calling and what they may do: password hashing (argon2), API tokens
//! (random, stored as SHA-256), the `CurrentUser` extractor, and role checks
//! on teams and apps.

pub mod access;
pub mod password;
pub mod throttle;
pub mod token;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;

use crate::db;
use crate::db::users::User;
use crate::error::AppError;
use crate::state::AppState;

pub use access::{app_access, team_access};
pub use db::teams::Role;

/// The authenticated caller, from `Authorization: Bearer TOKEN` or HTTP basic
/// auth whose password is a token (what git sends).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = match credentials(parts)? {
            Credentials::Bearer(token) => token,
            Credentials::Basic { password, .. } => password,
        };
        user_for_token(state, &token).await.map(CurrentUser)
    }
}

/// What an `Authorization` header carries.
pub enum Credentials {
    Bearer(String),
    Basic { user: String, password: String },
}

pub fn credentials(parts: &Parts) -> Result<Credentials, AppError> {
    let missing = || AppError::Unauthorized("authentication required: send an API token as a bearer token".into());
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let header = header.to_str().map_err(|_| missing())?;
    if let Some(token) = header.strip_prefix("Bearer ") {
        return Ok(Credentials::Bearer(token.trim().to_string()));
    }
    if let Some(encoded) = header.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(missing)?;
        let (user, password) = decoded.split_once(':').ok_or_else(missing)?;
        return Ok(Credentials::Basic { user: user.to_string(), password: password.to_string() });
    }
    Err(missing())
}

pub async fn user_for_token(state: &AppState, token: &str) -> Result<User, AppError> {
    let found = db::tokens::find_user(&state.db, &token::hash(token)).await?;
    let (user, token_id) = found.ok_or_else(|| AppError::Unauthorized("invalid or revoked API token".into()))?;
    db::tokens::touch(&state.db, token_id).await?;
    Ok(user)
}

/// Check an email and password from `client`; the same error whether the
/// user exists or not. Every password check goes through here, and through
/// the one throttle: too many failures for an account from one address (or
/// from one address at all) are refused (429) without checking.
pub async fn user_for_password(
    state: &AppState,
    email: &str,
    password: &str,
    client: std::net::IpAddr,
) -> Result<User, AppError> {
    let email = email.trim().to_lowercase();
    let now = std::time::Instant::now();
    if let Some(wait) = state.throttle.wait(&email, client, now) {
        return Err(AppError::TooManyRequests {
            message: format!(
                "too many failed logins for this account from your address; try again in {} minutes",
                wait.as_secs() / 60 + 1
            ),
            retry_after: wait.as_secs().max(1),
        });
    }
    let wrong = || AppError::Unauthorized("wrong email or password".into());
    let user = db::users::find_by_email(&state.db, &email).await?;
    let correct = match &user {
        Some(user) => password::verify(password.to_string(), user.password_hash.clone()).await?,
        None => {
            // Spend the same time as a real check so timing does not reveal users.
            let _ = password::verify(password.to_string(), password::DUMMY_HASH.to_string()).await;
            false
        }
    };
    match user.filter(|_| correct) {
        Some(user) => {
            state.throttle.succeeded(&email, client);
            Ok(user)
        }
        None => {
            state.throttle.failed(&email, client, now);
            Err(wrong())
        }
    }
}

/// The address a request came from (the connection's peer).
pub fn client_address(parts: &Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}
