//! Logging in and out of the dashboard. Sessions live in Postgres; the
//! session id is rotated at login; failed logins go through the one password
//! throttle (`auth::throttle`), shared with the API.

use std::time::Duration;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use super::{render, DashError, DashUser, CSRF_KEY, USER_KEY};
use crate::error::AppError;
use crate::state::AppState;

/// The session layer: HttpOnly, SameSite=Lax cookies, Secure when the server
/// is reached over https; sessions end after 12 hours without use.
pub async fn session_layer(pool: sqlx::PgPool, secure: bool) -> anyhow::Result<SessionManagerLayer<PostgresStore>> {
    let store = PostgresStore::new(pool);
    store.migrate().await?;
    let cleanup = store.clone();
    tokio::spawn(async move {
        use tower_sessions::session_store::ExpiredDeletion;
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            if let Err(err) = cleanup.delete_expired().await {
                tracing::warn!(error = %err, "deleting expired sessions failed");
            }
        }
    });
    Ok(SessionManagerLayer::new(store)
        .with_name("paas_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(12))))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    logged_out: Option<String>,
}

pub async fn show_login(Query(query): Query<NextQuery>) -> Result<Response, DashError> {
    let notice = query.logged_out.map(|_| "Logged out.".to_string());
    render(&LoginPage { next: safe_next(query.next.as_deref()), error: None, notice })
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Result<Response, DashError> {
    let next = safe_next(form.next.as_deref());
    match crate::auth::user_for_password(&state, &form.email, &form.password, peer.ip()).await {
        Ok(user) => {
            // A fresh session id at login: a planted cookie gains nothing.
            session.cycle_id().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            session.insert(USER_KEY, user.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            session.insert(CSRF_KEY, crate::auth::token::generate()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(user = %user.email, "dashboard login");
            Ok(Redirect::to(&next).into_response())
        }
        Err(err @ (AppError::Unauthorized(_) | AppError::TooManyRequests { .. })) => {
            let status = err.status();
            let message = format!("{}.", capitalized(&err.public_message()));
            let mut response = render(&LoginPage { next, error: Some(message), notice: None })?;
            *response.status_mut() = status;
            Ok(response)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn logout(dash: DashUser, Form(form): Form<super::CsrfForm>) -> Result<Response, DashError> {
    dash.check_csrf(&form.csrf)?;
    dash.session.flush().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Redirect::to("/login?logged_out=1").into_response())
}

/// Only paths of this site, so the login form cannot send users elsewhere:
/// `/` then anything but a second slash or backslash, and no control or
/// space characters (browsers drop tabs and newlines from URLs, which would
/// turn `/<TAB>/evil.example` into `//evil.example`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n[1..].starts_with(['/', '\\'])
                && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/apps/x")), "/apps/x");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        for bad in ["/\t/evil.example", "/\n/evil.example", "/\\evil.example", "/a\r\nSet-Cookie: x=1", "/ /x"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
    }
}
