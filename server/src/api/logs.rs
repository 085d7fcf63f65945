//! Logs: recent lines as text, and a live stream over server-sent events.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{app_access, CurrentUser, Role};
use crate::error::AppResult;
use crate::logs::KEEP_LINES;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_logs)).routes(routes!(stream_logs))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    /// How many recent lines (default 100, at most 1500).
    pub lines: Option<usize>,
    /// Only this process type (`web`) or process (`web.1`); `router`, `paas`.
    pub ps: Option<String>,
}

/// Recent log lines, oldest first, one per line: `TIME app[web.1]: text`.
#[utoipa::path(get, path = "/apps/{app}/logs", tag = "logs", params(("app" = String, Path), LogQuery),
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn show_logs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    Query(query): Query<LogQuery>,
) -> AppResult<impl IntoResponse> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "reading logs").await?;
    let n = query.lines.unwrap_or(100).min(KEEP_LINES);
    let text: String = state.logs.recent(&app.name, n, query.ps.as_deref()).iter().map(|l| l.render() + "\n").collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// Live log lines as server-sent events (`data:` is one rendered line),
/// after the last `lines` recent ones (default 0).
#[utoipa::path(get, path = "/apps/{app}/logs/stream", tag = "logs", params(("app" = String, Path), LogQuery),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
pub async fn stream_logs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    Query(query): Query<LogQuery>,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "reading logs").await?;
    let ps = query.ps.filter(|p| !p.is_empty());
    let mut lines = state.logs.stream(&app.name, query.lines.unwrap_or(0).min(KEEP_LINES), ps);
    let stream = futures_util::stream::poll_fn(move |cx| {
        lines.poll_recv(cx).map(|l| l.map(|l| Ok(Event::default().data(l.render()))))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
