//! Git smart HTTP at `/git/APP.git`: the real `git http-backend` speaks the
//! protocol; basic auth with an API token as the password; pushing needs the
//! developer role, fetching the viewer role. A push to the deploy branch runs
//! the pre-receive hook, which calls back into the server to build and deploy
//! while the push waits, so a failed deploy rejects the push.

mod backend;
pub mod hook;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::auth::{app_access, CurrentUser, Role};
use crate::db::apps::App;
use crate::db::users::User;
use crate::error::AppError;
use crate::state::AppState;

/// A push in progress, found again by its hook through a one-time token.
pub struct Push {
    pub app: App,
    pub user: User,
    /// Fires (closes) when the push's git request is over: the deploy holds
    /// the app's lock until then, so the next push sees the branch as git
    /// left it.
    pub ended: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// Pushes in progress, by token.
#[derive(Default)]
pub struct Pushes(Mutex<HashMap<String, Push>>);

impl Pushes {
    /// Register a push; its token, and what to drop when its request ends.
    fn begin(&self, app: App, user: User) -> (String, tokio::sync::oneshot::Sender<()>) {
        let token = crate::auth::token::generate();
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        if let Ok(mut pushes) = self.0.lock() {
            pushes.insert(token.clone(), Push { app, user, ended: Some(ended) });
        }
        (token, ended_tx)
    }

    /// The push a hook presents the token of (once).
    fn take(&self, token: &str) -> Option<Push> {
        self.0.lock().ok()?.remove(token)
    }

    fn end(&self, token: &str) {
        if let Ok(mut pushes) = self.0.lock() {
            pushes.remove(token);
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/git/{repo}/info/refs", get(advertise_refs))
        .route("/git/{repo}/git-upload-pack", post(upload_pack))
        .route("/git/{repo}/git-receive-pack", post(receive_pack))
        .route("/internal/git-hook", post(hook::pre_receive))
}

#[derive(Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

async fn advertise_refs(
    State(state): State<AppState>,
    Path(repo): Path<String>,
    Query(query): Query<ServiceQuery>,
    request: Request,
) -> Response {
    let needed = match query.service.as_deref() {
        Some("git-receive-pack") => Role::Developer,
        Some("git-upload-pack") => Role::Viewer,
        _ => return (StatusCode::FORBIDDEN, "only the smart HTTP protocol is served\n").into_response(),
    };
    serve(state, repo, needed, request).await
}

async fn upload_pack(State(state): State<AppState>, Path(repo): Path<String>, request: Request) -> Response {
    serve(state, repo, Role::Viewer, request).await
}

async fn receive_pack(State(state): State<AppState>, Path(repo): Path<String>, request: Request) -> Response {
    serve(state, repo, Role::Developer, request).await
}

async fn serve(state: AppState, repo: String, needed: Role, request: Request) -> Response {
    let Some(name) = repo.strip_suffix(".git") else {
        return (StatusCode::NOT_FOUND, "repositories are at /git/APP.git\n").into_response();
    };
    let (mut parts, body) = request.into_parts();
    let user = match <CurrentUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
        .await
    {
        Ok(CurrentUser(user)) => user,
        Err(err) => return git_error(err),
    };
    let action = if needed == Role::Developer { "pushing" } else { "fetching" };
    let app = match app_access(&state, &user, name, needed, action).await {
        Ok((app, _)) => app,
        Err(err) => return git_error(err),
    };
    if let Err(err) = crate::repos::ensure(&state.repos_dir(), &app.name).await {
        return git_error(AppError::Other(err));
    }
    let push = needed == Role::Developer && parts.uri.path().ends_with("/git-receive-pack");
    let registered = push.then(|| state.pushes.begin(app.clone(), user.clone()));
    let token = registered.as_ref().map(|(token, _)| token.clone());
    match backend::run(&state, &parts, body, &user, registered).await {
        Ok(response) => response,
        Err(err) => {
            if let Some(token) = token {
                state.pushes.end(&token);
            }
            match err.downcast::<backend::TooLarge>() {
                Ok(too_large) => git_error(AppError::PayloadTooLarge(too_large.to_string())),
                Err(err) => git_error(AppError::Other(err)),
            }
        }
    }
}

/// Errors for the git client: a basic-auth challenge on 401 so git asks for
/// credentials, plain text otherwise (git prints it).
fn git_error(err: AppError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = ?err, "git request failed");
    }
    let mut response = (status, format!("{}\n", err.public_message())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"paas\""));
    }
    response
}
