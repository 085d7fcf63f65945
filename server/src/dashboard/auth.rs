//! Logging in and out of the dashboard. Sessions live in Postgres; the
//! session id is rotated at login; failed logins are rate limited per email.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use super::{render, DashError, DashUser, CSRF_KEY, USER_KEY};
use crate::error::AppError;
use crate::state::AppState;

const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// Failed logins per email: how many, since when.
static FAILURES: Mutex<Option<HashMap<String, (u32, Instant)>>> = Mutex::new(None);

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
    session: Session,
    Form(form): Form<LoginForm>,
) -> Result<Response, DashError> {
    let email = form.email.trim().to_lowercase();
    let next = safe_next(form.next.as_deref());
    if let Some(wait) = locked_out(&email) {
        let page = LoginPage {
            next,
            error: Some(format!(
                "Too many failed logins for this email; try again in {} minutes.",
                wait.as_secs() / 60 + 1
            )),
            notice: None,
        };
        let mut response = render(&page)?;
        *response.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(response);
    }
    match crate::auth::user_for_password(&state, &email, &form.password).await {
        Ok(user) => {
            forget_failures(&email);
            // A fresh session id at login: a planted cookie gains nothing.
            session.cycle_id().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            session.insert(USER_KEY, user.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            session.insert(CSRF_KEY, crate::auth::token::generate()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(user = %user.email, "dashboard login");
            Ok(Redirect::to(&next).into_response())
        }
        Err(AppError::Unauthorized(message)) => {
            record_failure(&email);
            let mut response = render(&LoginPage { next, error: Some(message), notice: None })?;
            *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
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

/// Only local paths, so the login form cannot send users elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn locked_out(email: &str) -> Option<Duration> {
    let failures = FAILURES.lock().ok()?;
    let (count, since) = failures.as_ref()?.get(email)?;
    let elapsed = since.elapsed();
    (*count >= MAX_FAILURES && elapsed < FAILURE_WINDOW).then(|| FAILURE_WINDOW - elapsed)
}

fn record_failure(email: &str) {
    if let Ok(mut failures) = FAILURES.lock() {
        let map = failures.get_or_insert_with(HashMap::new);
        let entry = map.entry(email.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

fn forget_failures(email: &str) {
    if let Ok(mut failures) = FAILURES.lock() {
        if let Some(map) = failures.as_mut() {
            map.remove(email);
        }
    }
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
    }
}
