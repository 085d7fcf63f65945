//! Operations in the dashboard: the overview lists an app's recent ones; an
//! operation's page shows its output, live (server-sent events) while it runs.

use std::convert::Infallible;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use futures_util::Stream;

use super::apps::{frame, AppFrame};
use super::{render, DashError, DashUser, Layout};
use crate::auth::{app_access, Role};
use crate::db;
use crate::db::operations::Operation;
use crate::error::AppError;
use crate::ops;
use crate::state::AppState;

/// How the overview shows an operation.
pub struct OperationRow {
    pub id: i64,
    pub kind: String,
    pub summary: String,
    pub status: String,
    pub error: String,
    pub who: String,
    pub when: String,
}

impl From<Operation> for OperationRow {
    fn from(o: Operation) -> Self {
        Self {
            id: o.id,
            kind: o.kind,
            summary: o.summary,
            status: if o.status == "succeeded" && o.finished_at.is_none() { "finishing".into() } else { o.status },
            error: o.error.unwrap_or_default(),
            who: format!("{} ({})", o.actor, o.source),
            when: o.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

/// The app's last few operations, newest first.
pub async fn recent(state: &AppState, app_id: i64) -> Result<Vec<OperationRow>, DashError> {
    Ok(db::operations::list(&state.db, app_id, 8).await?.into_iter().map(Into::into).collect())
}

#[derive(Template)]
#[template(path = "apps/operation.html")]
struct OperationPage {
    layout: Layout,
    app: AppFrame,
    op: OperationRow,
    running: bool,
    output: String,
}

pub async fn show_operation(
    State(state): State<AppState>,
    dash: DashUser,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "overview").await?;
    let op = db::operations::find(&state.db, app.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} has no operation {id}", app.name)))?;
    let running = op.finished_at.is_none();
    let output = if running { String::new() } else { op.output.clone().unwrap_or_default() };
    let page = OperationPage {
        layout: dash.layout(format!("{} operation {id}", app.name)).await,
        app: frame,
        op: op.into(),
        running,
        output,
    };
    render(&page)
}

/// The operation's lines, then an `end` event (session-authenticated SSE).
pub async fn operation_events(
    State(state): State<AppState>,
    dash: DashUser,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, DashError> {
    let (app, _) = app_access(&state, &dash.user, &name, Role::Viewer, "viewing operations").await?;
    let mut events = ops::watch(&state, app.id, id);
    let stream = futures_util::stream::poll_fn(move |cx| {
        events.poll_recv(cx).map(|event| {
            event.map(|event| {
                Ok(match event {
                    ops::Event::Line(line) => Event::default().data(line),
                    ops::Event::End(op) => Event::default().event("end").data(op.status),
                })
            })
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
