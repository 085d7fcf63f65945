//! The console: a terminal in the page (xterm.js, vendored under
//! `web/static/vendor/xterm`) attached to a one-off process, for developers
//! and above. It speaks the API's run protocol (`api::runs`) over a
//! WebSocket of its own, authenticated by the session; a WebSocket is not
//! held to the same-origin rule, so one opened by another site's page is
//! refused by its `Origin`.

use askama::Template;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::apps::{frame, AppFrame};
use super::{render, DashError, DashUser, Layout};
use crate::auth::{app_access, Role};
use crate::error::AppError;
use crate::ops::Actor;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "apps/console.html")]
struct ConsolePage {
    layout: Layout,
    app: AppFrame,
}

pub async fn show_console(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (_, frame) = frame(&state, &dash, &name, "console").await?;
    if !frame.can_edit {
        return Err(AppError::Forbidden("running commands needs the developer role or above".into()).into());
    }
    render(&ConsolePage { layout: dash.layout(format!("{} console", frame.name)).await, app: frame })
}

/// The console's WebSocket: a one-off process of the app, as `paas run`.
pub async fn console_socket(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, DashError> {
    if !same_origin(&headers) {
        return Err(AppError::Forbidden("the console is only reachable from the dashboard's own pages".into()).into());
    }
    let (app, _) = app_access(&state, &dash.user, &name, Role::Developer, "running commands").await?;
    let actor = Actor::new(dash.user, "dashboard");
    Ok(upgrade.on_upgrade(move |socket| crate::api::runs::serve_run(socket, state, actor, app)))
}

/// Whether the page that opens the socket is one of ours: its `Origin`
/// names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match (header(axum::http::header::ORIGIN), header(axum::http::header::HOST)) {
        (Some(origin), Some(host)) => {
            origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::HeaderMap;

    fn headers(origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", "paas.example.com:5000".parse().unwrap());
        if let Some(origin) = origin {
            headers.insert("origin", origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_the_dashboards_own_pages_may_open_the_console() {
        assert!(same_origin(&headers(Some("http://paas.example.com:5000"))));
        assert!(same_origin(&headers(Some("https://paas.example.com:5000"))));
        assert!(!same_origin(&headers(Some("http://evil.example.com"))));
        assert!(!same_origin(&headers(Some("http://paas.example.com:5000.evil.example.com"))));
        assert!(!same_origin(&headers(None)));
    }
}
