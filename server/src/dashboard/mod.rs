//! The web dashboard: server-rendered askama pages (templates in
//! `web/templates`), cookie sessions in Postgres (tower-sessions), a CSRF
//! token on every form, small hand-written CSS and JS under `web/static`.
//! Handlers call the same domain functions as the REST API.

mod addons;
mod apps;
mod auth;
mod charts;
mod console;
mod nodes;
mod operations;
mod ops;
mod teams;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::db;
use crate::db::users::User;
use crate::error::AppError;
use crate::state::AppState;

pub use auth::session_layer;

const USER_KEY: &str = "user_id";
const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(apps::list_apps))
        .route("/login", get(auth::show_login).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/apps", post(ops::create_app))
        .route("/apps/{app}", get(apps::show_app))
        .route("/apps/{app}/formation", post(ops::update_formation))
        .route("/apps/{app}/restart", post(ops::restart))
        .route("/apps/{app}/releases", get(apps::list_releases))
        .route("/apps/{app}/rollback", post(ops::rollback))
        .route("/apps/{app}/builds", get(apps::list_builds))
        .route("/apps/{app}/builds/{id}", get(apps::show_build))
        .route("/apps/{app}/config", get(apps::show_config).post(ops::change_config))
        .route("/apps/{app}/config/unset", post(ops::change_config))
        .route("/apps/{app}/domains", get(apps::list_domains).post(ops::add_domain))
        .route("/apps/{app}/domains/remove", post(ops::remove_domain))
        .route("/apps/{app}/https", post(ops::set_https))
        .route("/apps/{app}/maintenance", post(ops::set_maintenance))
        .route("/apps/{app}/internal", post(ops::set_internal))
        .route("/apps/{app}/certs", post(ops::add_cert))
        .route("/apps/{app}/certs/refresh", post(ops::refresh_certs))
        .route("/apps/{app}/logs", get(apps::show_logs))
        .route("/apps/{app}/logs/events", get(apps::log_events))
        .route("/live", get(apps::live_events))
        .route("/apps/{app}/metrics", get(charts::show_metrics))
        .route("/apps/{app}/activity", get(apps::show_activity))
        .route("/apps/{app}/operations/{id}", get(operations::show_operation))
        .route("/apps/{app}/operations/{id}/events", get(operations::operation_events))
        .route("/apps/{app}/settings", get(apps::show_settings))
        .route("/apps/{app}/console", get(console::show_console))
        .route("/apps/{app}/console/socket", get(console::console_socket))
        .route("/apps/{app}/stack", post(ops::set_stack))
        .route("/apps/{app}/volumes", post(ops::create_volume))
        .route("/apps/{app}/addons", get(addons::show_addons).post(addons::create_addon))
        .route("/apps/{app}/addons/attach", post(addons::attach_addon))
        .route("/apps/{app}/addons/detach", post(addons::detach_addon))
        .route("/apps/{app}/addons/destroy", post(addons::destroy_addon))
        .route("/apps/{app}/addons/backups", post(addons::capture_backup))
        .route("/apps/{app}/addons/restore", post(addons::restore_backup))
        .route("/apps/{app}/addons/schedule", post(addons::schedule_backups))
        .route("/apps/{app}/addons/{addon}/backups/{backup}/download", get(addons::download_backup))
        .route("/apps/{app}/volumes/destroy", post(ops::destroy_volume))
        .route("/apps/{app}/build-cache/purge", post(ops::purge_build_cache))
        .route("/apps/{app}/destroy", post(ops::destroy))
        .route("/teams", get(teams::list_teams).post(teams::create_team))
        .route("/teams/{team}", get(teams::show_team))
        .route("/teams/{team}/members", post(teams::add_member))
        .route("/teams/{team}/members/role", post(teams::change_member))
        .route("/teams/{team}/members/remove", post(teams::remove_member))
        .route("/nodes", get(nodes::list_nodes))
        .route("/nodes/drain", post(nodes::drain_node))
        .route("/nodes/activate", post(nodes::activate_node))
        .route("/tokens", get(teams::list_tokens).post(teams::create_token))
        .route("/tokens/revoke", post(teams::revoke_token))
        .route("/static/style.css", get(style_css))
        .route("/static/app.js", get(app_js))
        .route("/static/console.js", get(|| script(include_str!("../../../web/static/console.js"))))
        .route("/static/vendor/xterm.js", get(|| script(include_str!("../../../web/static/vendor/xterm/xterm.js"))))
        .route(
            "/static/vendor/addon-fit.js",
            get(|| script(include_str!("../../../web/static/vendor/xterm/addon-fit.js"))),
        )
        .route("/static/vendor/xterm.css", get(xterm_css))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

async fn style_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../../web/static/style.css"))
}

async fn favicon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")],
        include_str!("../../../web/static/favicon.svg"),
    )
}

/// Any URL nothing serves: the styled error page, or the API's JSON error
/// under `/api/`.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    let error = AppError::not_found(format!("there is nothing at {}", uri.path()));
    if uri.path().starts_with("/api/") {
        error.into_response()
    } else {
        DashError(error).into_response()
    }
}

async fn script(text: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], text)
}

async fn xterm_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../../web/static/vendor/xterm/xterm.css"))
}

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../../web/static/app.js"))
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// "ok" or "error".
    pub kind: String,
    pub message: String,
}

/// What every page's frame needs.
pub struct Layout {
    pub title: String,
    pub email: String,
    /// A server admin: the Nodes page is in the menu.
    pub admin: bool,
    pub csrf: String,
    pub flash: Option<Flash>,
}

/// The signed-in user of a dashboard request. Without a session it redirects
/// to the login page.
pub struct DashUser {
    pub user: User,
    pub session: Session,
    pub csrf: String,
    /// A live page fetching itself again (`x-paas-live`): it shows only its
    /// live parts, so it must leave the flash message for the page the user
    /// goes to next.
    pub refresh: bool,
}

/// The header a live page's own refetch carries.
const LIVE_HEADER: &str = "x-paas-live";

impl FromRequestParts<AppState> for DashUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await.map_err(|(s, m)| (s, m).into_response())?;
        let next = parts.uri.to_string();
        let to_login = || Redirect::to(&format!("/login?next={}", crate::percent::encode(&next))).into_response();
        let user_id: Option<i64> = session.get(USER_KEY).await.ok().flatten();
        let Some(user_id) = user_id else { return Err(to_login()) };
        let user = db::users::find_by_id(&state.db, user_id).await.map_err(|e| DashError(e.into()).into_response())?;
        let Some(user) = user else { return Err(to_login()) };
        let csrf: String = session.get(CSRF_KEY).await.ok().flatten().unwrap_or_default();
        let refresh = parts.headers.contains_key(LIVE_HEADER);
        Ok(DashUser { user, session, csrf, refresh })
    }
}

impl DashUser {
    /// The page frame, taking the pending flash message.
    pub async fn layout(&self, title: impl Into<String>) -> Layout {
        let flash = match self.refresh {
            true => None,
            false => self.session.remove::<Flash>(FLASH_KEY).await.ok().flatten(),
        };
        Layout {
            title: title.into(),
            email: self.user.email.clone(),
            admin: self.user.is_admin,
            csrf: self.csrf.clone(),
            flash,
        }
    }

    /// Every form carries the session's CSRF token; a request without it is refused.
    pub fn check_csrf(&self, token: &str) -> Result<(), DashError> {
        if self.csrf.is_empty() || !crate::auth::token::same(token.as_bytes(), self.csrf.as_bytes()) {
            return Err(DashError(AppError::Forbidden(
                "the form expired or did not come from this site; reload and try again".into(),
            )));
        }
        Ok(())
    }

    /// Finish a form action: redirect with the outcome as a flash message, but
    /// show refusals (403, 404) as an error page, as for any request.
    pub async fn finish(&self, to: &str, result: Result<String, AppError>) -> Result<Response, DashError> {
        match result {
            Err(err @ (AppError::Forbidden(_) | AppError::NotFound(_))) => Err(DashError(err)),
            other => {
                let flash = match other {
                    Ok(message) => Flash { kind: "ok".into(), message },
                    Err(err) => Flash { kind: "error".into(), message: err.public_message() },
                };
                let _ = self.session.insert(FLASH_KEY, flash).await;
                Ok(Redirect::to(to).into_response())
            }
        }
    }
}

/// Errors of dashboard pages, shown as an HTML page.
pub struct DashError(pub AppError);

impl From<AppError> for DashError {
    fn from(err: AppError) -> Self {
        Self(err)
    }
}

impl From<sqlx::Error> for DashError {
    fn from(err: sqlx::Error) -> Self {
        Self(err.into())
    }
}

impl From<anyhow::Error> for DashError {
    fn from(err: anyhow::Error) -> Self {
        Self(err.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = ?self.0, "dashboard request failed");
        }
        let page = ErrorPage { status: status.as_u16(), message: self.0.public_message() };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
        }
    }
}

/// Render a page or fail with a 500.
pub fn render<T: Template>(page: &T) -> Result<Response, DashError> {
    Ok(Html(page.render().map_err(anyhow::Error::from)?).into_response())
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}
