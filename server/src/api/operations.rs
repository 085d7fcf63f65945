//! Operations: every change to an app as a job. Mutating endpoints wait for
//! their operation by default; with `Prefer: respond-async` they answer 202
//! at once with the operation, whose progress streams from
//! `/apps/{app}/operations/{id}/stream`. Either way the operation runs to its
//! end on the server, whatever the client does.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Path, Query};
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::apps::App;
use crate::error::{AppError, AppResult};
use crate::ops;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_operations))
        .routes(routes!(show_operation))
        .routes(routes!(stream_operation))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperationInfo {
    pub id: i64,
    /// deploy, config.update, formation.update, ps.restart, release.rollback,
    /// app.destroy, domain.add, domain.remove.
    pub kind: String,
    /// What was asked (names, never values).
    pub summary: String,
    /// running, succeeded or failed.
    pub status: String,
    pub error: Option<String>,
    /// The release it made, once it made one.
    pub release: Option<i32>,
    pub actor: String,
    /// api, cli, dashboard or git.
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Its progress lines (only on a single operation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl From<db::operations::Operation> for OperationInfo {
    fn from(o: db::operations::Operation) -> Self {
        Self {
            id: o.id,
            kind: o.kind,
            summary: o.summary,
            status: o.status,
            error: o.error,
            release: o.version,
            actor: o.actor,
            source: o.source,
            created_at: o.created_at,
            finished_at: o.finished_at,
            output: o.output,
        }
    }
}

/// `Prefer: respond-async`: answer 202 with the operation instead of waiting.
pub struct Prefer {
    pub respond_async: bool,
}

impl FromRequestParts<AppState> for Prefer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> AppResult<Self> {
        let respond_async = parts
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
        Ok(Self { respond_async })
    }
}

/// The 202 answer for an operation that goes on in the background.
pub async fn accepted(state: &AppState, app: &App, id: i64) -> AppResult<Response> {
    let op = db::operations::find(&state.db, app.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} has no operation {id}", app.name)))?;
    let mut info = OperationInfo::from(op);
    info.output = None;
    let location = format!("/api/v1/apps/{}/operations/{id}", crate::percent::encode(&app.name));
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(info)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many, newest first: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// An app's operations, newest first.
#[utoipa::path(get, path = "/apps/{app}/operations", tag = "operations", params(("app" = String, Path), ListQuery),
    responses((status = 200, body = Vec<OperationInfo>)))]
pub async fn list_operations(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<Vec<OperationInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing operations").await?;
    let limit = super::bounded("limit", query.limit, 50, 1, 500)?;
    Ok(Json(db::operations::list(&state.db, app.id, limit).await?.into_iter().map(Into::into).collect()))
}

/// One operation with its output so far.
#[utoipa::path(get, path = "/apps/{app}/operations/{id}", tag = "operations",
    params(("app" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = OperationInfo), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_operation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, id)): Path<(String, i64)>,
) -> AppResult<Json<OperationInfo>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing operations").await?;
    let op = db::operations::find(&state.db, app.id, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("{} has no operation {id}", app.name)))?;
    let mut info = OperationInfo::from(op);
    if info.finished_at.is_none() {
        info.output = state.progress.follow(id).map(|mut lines| {
            let mut text = String::new();
            while let Ok(line) = lines.try_recv() {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
    }
    Ok(Json(info))
}

/// The operation's progress as server-sent events: a `line` event per line
/// (the ones so far first), then one `end` event whose data is the
/// operation as JSON.
#[utoipa::path(get, path = "/apps/{app}/operations/{id}/stream", tag = "operations",
    params(("app" = String, Path), ("id" = i64, Path)),
    responses((status = 200, content_type = "text/event-stream", body = super::SseEvent)))]
pub async fn stream_operation(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, id)): Path<(String, i64)>,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing operations").await?;
    if db::operations::find(&state.db, app.id, id).await?.is_none() {
        return Err(AppError::not_found(format!("{} has no operation {id}", app.name)));
    }
    let mut events = ops::watch(&state, app.id, id);
    let stream = futures_util::stream::poll_fn(move |cx| {
        events.poll_recv(cx).map(|event| {
            event.map(|event| {
                Ok(match event {
                    ops::Event::Line(line) => Event::default().event("line").data(line),
                    ops::Event::End(op) => {
                        let info = OperationInfo::from(*op);
                        Event::default().event("end").data(serde_json::to_string(&info).unwrap_or_default())
                    }
                })
            })
        })
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
