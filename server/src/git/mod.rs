//! Git smart HTTP at `/git/APP.git`: the real `git http-backend` speaks the
//! protocol; basic auth with an API token as the password; pushing needs the
//! developer role, fetching the viewer role. A push to the deploy branch runs
//! the pre-receive hook, which calls back into the server to build and deploy
//! while the push waits, so a failed deploy rejects the push.

mod backend;
pub mod hook;
pub mod repo;

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

/// Who is pushing what; found again by the hook through a one-time token.
#[derive(Debug, Clone)]
pub struct PushContext {
    pub app: App,
    pub user: User,
}

/// A push in progress. Its deploy lock is kept until git has updated the
/// ref, so the next push of the app sees the branch as this one left it.
pub struct Push {
    pub context: PushContext,
    pub lock: Option<crate::deploy::lock::AppLock>,
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
    if let Err(err) = repo::ensure(&state.repos_dir(), &app.name).await {
        return git_error(AppError::Other(err));
    }
    let push = needed == Role::Developer && parts.uri.path().ends_with("/git-receive-pack");
    let token = push.then(|| {
        let token = crate::auth::token::generate();
        if let Ok(mut pushes) = state.pushes.lock() {
            pushes.insert(
                token.clone(),
                Push { context: PushContext { app: app.clone(), user: user.clone() }, lock: None },
            );
        }
        token
    });
    let response = backend::run(&state, &parts, body, &user, token.as_deref()).await;
    match response {
        Ok(response) => response,
        Err(err) => {
            if let (Some(token), Ok(mut pushes)) = (token, state.pushes.lock()) {
                pushes.remove(&token);
            }
            git_error(AppError::Other(err))
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
