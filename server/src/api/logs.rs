//! Logs: recent lines as text, and a live stream over server-sent events.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Path, Query};
use crate::auth::{app_access, CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::logs::KEEP_LINES;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_logs)).routes(routes!(stream_logs))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many recent lines: 0 to 1500 (default 100; 0 for the stream).
    #[param(minimum = 0, maximum = 1500)]
    pub lines: Option<i64>,
    /// Only this process type (`web`) or process (`web.1`); `router`, `paas`.
    #[param(pattern = r"^[a-z][a-z0-9_.-]{0,40}$")]
    pub ps: Option<String>,
}

/// The `ps` filter, refused when it cannot name a process type or process.
fn process_filter(ps: Option<String>) -> AppResult<Option<String>> {
    let Some(ps) = ps else { return Ok(None) };
    let mut chars = ps.chars();
    let named = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && ps.len() <= 41
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !named {
        return Err(AppError::validation("ps", "ps names a process type (web) or a process (web.1)"));
    }
    Ok(Some(ps))
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
    let n = super::bounded("lines", query.lines, 100, 0, KEEP_LINES as i64)? as usize;
    let ps = process_filter(query.ps)?;
    let text: String = state.logs.recent(&app.name, n, ps.as_deref()).iter().map(|l| l.render() + "\n").collect();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// Live log lines as server-sent events (`data:` is one rendered line),
/// after the last `lines` recent ones (default 0).
#[utoipa::path(get, path = "/apps/{app}/logs/stream", tag = "logs", params(("app" = String, Path), LogQuery),
    responses((status = 200, content_type = "text/event-stream", body = super::SseEvent)))]
pub async fn stream_logs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    Query(query): Query<LogQuery>,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "reading logs").await?;
    let ps = process_filter(query.ps)?;
    let backlog = super::bounded("lines", query.lines, 0, 0, KEEP_LINES as i64)? as usize;
    let mut lines = state.logs.stream(&app.name, backlog, ps);
    let stream = futures_util::stream::poll_fn(move |cx| {
        lines.poll_recv(cx).map(|l| l.map(|l| Ok(Event::default().data(l.render()))))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
