//! The app router: HTTP traffic for `APP.BASE_DOMAIN` on its own listener.
//! Until releases exist it answers every host with a plain 404 page.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;

use crate::state::AppState;

pub fn app(state: AppState) -> Router {
    Router::new().fallback(no_such_app).with_state(state)
}

async fn no_such_app(headers: axum::http::HeaderMap) -> impl IntoResponse {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("No app is served at {host}.\n"),
    )
}
