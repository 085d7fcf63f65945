//! One-off processes and commands in running ones, over a WebSocket: `GET
//! /apps/{app}/run` and `GET /apps/{app}/ps/{process}/exec` upgrade, the
//! client's first message says what to run, and then the process's terminal
//! or pipes go both ways. `POST /apps/{app}/runs` starts a detached one-off
//! whose output goes to the app's logs.
//!
//! The protocol, after the upgrade:
//! - client → server, first, text: `{"command": "...", "tty": true, "cols":
//!   80, "rows": 24, "env": {"K": "V"}, "memory": "512m", "cpus": 0.5}` (for
//!   exec: `command` may be left out for a shell);
//! - server → client, text: `{"process": "run.1"}` once started, or
//!   `{"error": "..."}` and the end;
//! - client → server, binary: input; text: `{"resize": [cols, rows]}`,
//!   `{"eof": true}` (the input is closed);
//! - server → client, binary: a stream byte (1 stdout, 2 stderr) and output;
//!   text, last: `{"exit": CODE}`.
//!
//! A client that goes away ends a one-off (its container is removed).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, Path};
use crate::auth::{app_access, CurrentUser, Role};
use crate::db::apps::App;
use crate::deploy::formation::{parse_limit, parse_memory};
use crate::error::{AppError, AppResult};
use crate::ops::run::{self, OneOff};
use crate::ops::Actor;
use crate::runtime::{Output, Session};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_attached))
        .routes(routes!(create_run))
        .routes(routes!(exec_process))
        .routes(routes!(stop_process))
        .routes(routes!(addon_console))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// SIGKILL at once, without draining its requests or a grace period.
    #[serde(default)]
    pub kill: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stopped {
    /// The processes stopped: those of the formation start anew, one-offs end.
    pub stopped: Vec<String>,
}

/// Stop a process (`web.2`) or every process of a type (`web`): the
/// platform starts a formation's process anew at once (drained first, unless
/// killed), not counting it as a crash; a one-off (`run.1`) ends.
#[utoipa::path(post, path = "/apps/{app}/ps/{process}/stop", tag = "processes",
    params(("app" = String, Path), ("process" = String, Path, pattern = r"^[a-z][a-z0-9_-]{0,29}(\.[1-9][0-9]{0,3})?$")),
    request_body = StopRequest, responses((status = 202, body = Stopped)))]
pub async fn stop_process(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, process)): Path<(String, String)>,
    ApiJson(body): ApiJson<StopRequest>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "stopping processes").await?;
    let stopped = run::stop(&state, &Actor::new(user, "api"), &app, &process, body.kill).await?;
    Ok((StatusCode::ACCEPTED, Json(Stopped { stopped })).into_response())
}

/// What to run (the first message of an attached run, or a detached run's body).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A shell command line (run with `/bin/sh -c`); for exec, none opens a shell.
    #[serde(default)]
    pub command: Option<String>,
    /// Give the process a terminal (attached only).
    #[serde(default)]
    pub tty: bool,
    /// The terminal's width.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub cols: Option<u16>,
    /// The terminal's height.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub rows: Option<u16>,
    /// Config added for this run only.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// e.g. "512m"; the web processes' limit when left out.
    #[serde(default)]
    pub memory: Option<String>,
    /// Cores, e.g. 0.5; the web processes' quota when left out.
    #[serde(default)]
    #[schema(minimum = 0.01, maximum = 256)]
    pub cpus: Option<f64>,
}

impl RunRequest {
    fn one_off(&self) -> AppResult<OneOff> {
        let memory_mb = match &self.memory {
            Some(m) => parse_limit(m, parse_memory).map_err(|e| AppError::validation("memory", e))?,
            None => None,
        };
        if let Some(cpus) = self.cpus.filter(|c| !(0.01..=256.0).contains(c)) {
            return Err(AppError::validation("cpus", format!("cpus must be 0.01 to 256, not {cpus}")));
        }
        Ok(OneOff {
            command: self.command.clone().unwrap_or_default(),
            env: self.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            memory_mb,
            cpus: self.cpus,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunInfo {
    /// `run.N`, as `ps` shows it.
    pub name: String,
    pub command: String,
}

/// Start a one-off process detached: its output goes to the app's logs as
/// `run.N`, and it is removed when it exits.
#[utoipa::path(post, path = "/apps/{app}/runs", tag = "processes", params(("app" = String, Path)),
    request_body = RunRequest, responses((status = 201, body = RunInfo)))]
pub async fn create_run(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<RunRequest>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "running commands").await?;
    let one_off = body.one_off()?;
    let name = run::detached(&state, &Actor::new(user, "api"), &app, &one_off).await?;
    Ok((StatusCode::CREATED, Json(RunInfo { name, command: one_off.command.trim().to_string() })).into_response())
}

/// Run a one-off process attached, over a WebSocket (see the protocol in
/// this module's documentation); a client that goes away ends it.
#[utoipa::path(get, path = "/apps/{app}/run", tag = "processes", params(("app" = String, Path)),
    responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn run_attached(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "running commands").await?;
    let upgrade = upgrade.map_err(|_| AppError::BadRequest("this endpoint takes a WebSocket upgrade".into()))?;
    let actor = Actor::new(user, "api");
    Ok(upgrade.on_upgrade(move |socket| attach(socket, state, actor, app, Kind::Run)))
}

/// Run a command (a shell, when none is given) inside a running process,
/// `web.1` or `web` (its first), over a WebSocket like `run`.
#[utoipa::path(get, path = "/apps/{app}/ps/{process}/exec", tag = "processes",
    params(("app" = String, Path), ("process" = String, Path, pattern = r"^[a-z][a-z0-9_-]{0,29}(\.[1-9][0-9]{0,3})?$")),
    responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn exec_process(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, process)): Path<(String, String)>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "running commands").await?;
    let upgrade = upgrade.map_err(|_| AppError::BadRequest("this endpoint takes a WebSocket upgrade".into()))?;
    let actor = Actor::new(user, "api");
    Ok(upgrade.on_upgrade(move |socket| attach(socket, state, actor, app, Kind::Exec(process))))
}

enum Kind {
    Run,
    Exec(String),
    /// An add-on's console (`pg:psql`); `command` is what it runs alone.
    Console(String),
}

/// An add-on's console (`psql` for PostgreSQL) over a WebSocket like `run`;
/// the first message's `command`, if any, is run alone (`psql -c`).
#[utoipa::path(get, path = "/apps/{app}/addons/{addon}/console", tag = "addons",
    params(("app" = String, Path), ("addon" = String, Path)),
    responses((status = 101, description = "Switching to the WebSocket protocol")))]
pub async fn addon_console(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, addon)): Path<(String, String)>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "opening add-on consoles").await?;
    let upgrade = upgrade.map_err(|_| AppError::BadRequest("this endpoint takes a WebSocket upgrade".into()))?;
    let actor = Actor::new(user, "api");
    Ok(upgrade.on_upgrade(move |socket| attach(socket, state, actor, app, Kind::Console(addon))))
}

/// A one-off over an upgraded socket, for the dashboard's console: the same
/// protocol as `GET /apps/{app}/run`.
pub(crate) async fn serve_run(socket: WebSocket, state: AppState, actor: Actor, app: App) {
    attach(socket, state, actor, app, Kind::Run).await;
}

/// Read what to run, start it, then pass bytes both ways until it ends.
async fn attach(mut socket: WebSocket, state: AppState, actor: Actor, app: App, kind: Kind) {
    let request = match first_message(&mut socket).await {
        Some(Ok(request)) => request,
        Some(Err(message)) => return refuse(socket, message).await,
        None => return,
    };
    let started = match &kind {
        Kind::Run => match request.one_off() {
            Ok(one_off) => run::attached(&state, &actor, &app, &one_off, request.tty)
                .await
                .map(|(name, container, session)| (name, Some(container.id), session)),
            Err(err) => Err(err),
        },
        Kind::Exec(process) => run::exec(&state, &actor, &app, Some(process), request.command.as_deref(), request.tty)
            .await
            .map(|(name, session)| (name, None, session)),
        Kind::Console(addon) => {
            crate::ops::addons::console(&state, &actor, &app, addon, request.command.as_deref(), request.tty)
                .await
                .map(|(name, session)| (name, None, session))
        }
    };
    let (name, one_off, session) = match started {
        Ok(started) => started,
        Err(err) => {
            if let AppError::Other(inner) = &err {
                tracing::warn!(app = %app.name, error = %format!("{inner:#}"), "could not start a one-off");
            }
            return refuse(socket, err.public_message()).await;
        }
    };
    if let (true, Some(cols), Some(rows)) = (request.tty, request.cols, request.rows) {
        let _ = state.runtime.resize(&session.target, cols, rows).await;
    }
    let hello = serde_json::json!({ "process": name }).to_string();
    let target = session.target.clone();
    let exit = match socket.send(Message::Text(hello.into())).await {
        Ok(()) => pump(&mut socket, &state, session).await,
        Err(_) => None,
    };
    if exit.is_none() && one_off.is_none() {
        // The client left a command running in a process: it goes too.
        let (state, app) = (state.clone(), app.name.clone());
        tokio::spawn(async move {
            if let Err(err) = state.runtime.hang_up(&target).await {
                tracing::warn!(app = %app, process = %name, error = %format!("{err:#}"), "could not end a command its client left");
            }
        });
    }
    // A one-off is gone before its client hears how it ended.
    if let Some(container) = one_off {
        run::end(&state, &container).await;
    }
    if let Some(code) = exit {
        let exit = serde_json::json!({ "exit": code }).to_string();
        let _ = socket.send(Message::Text(exit.into())).await;
        let _ = socket.send(Message::Close(None)).await;
    }
}

/// The first message, a `RunRequest`; None when the client left first.
async fn first_message(socket: &mut WebSocket) -> Option<Result<RunRequest, String>> {
    let waited = tokio::time::timeout(Duration::from_secs(30), socket.recv()).await;
    match waited {
        Err(_) => Some(Err("no request within 30 s".into())),
        Ok(Some(Ok(Message::Text(text)))) => {
            Some(serde_json::from_str(&text).map_err(|e| format!("the first message must say what to run: {e}")))
        }
        Ok(Some(Ok(_))) => Some(Err("the first message must be JSON text saying what to run".into())),
        Ok(_) => None,
    }
}

async fn refuse(mut socket: WebSocket, message: String) {
    let error = serde_json::json!({ "error": message }).to_string();
    let _ = socket.send(Message::Text(error.into())).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// Pass input in and output out until the process's output ends (then its
/// exit status) or the client goes (then None, at once).
async fn pump(socket: &mut WebSocket, state: &AppState, session: Session) -> Option<i64> {
    let Session { target, mut output, mut input } = session;
    let mut input_open = true;
    loop {
        tokio::select! {
            out = output.next() => match out {
                Some(Ok(out)) => {
                    let (stream, bytes) = match out {
                        Output::Stdout(bytes) => (1u8, bytes),
                        Output::Stderr(bytes) => (2u8, bytes),
                    };
                    let mut frame = Vec::with_capacity(bytes.len() + 1);
                    frame.push(stream);
                    frame.extend_from_slice(&bytes);
                    if socket.send(Message::Binary(frame.into())).await.is_err() {
                        return None;
                    }
                }
                Some(Err(_)) | None => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) if input_open => {
                    if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                        input_open = false;
                    }
                }
                Some(Ok(Message::Text(text))) => match control(&text) {
                    Control::Resize(cols, rows) => {
                        let _ = state.runtime.resize(&target, cols, rows).await;
                    }
                    Control::Eof if input_open => {
                        input_open = false;
                        let _ = input.shutdown().await;
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            },
        }
    }
    match tokio::time::timeout(Duration::from_secs(10), state.runtime.exit_code(&target)).await {
        Ok(Ok(code)) => Some(code),
        _ => Some(-1),
    }
}

enum Control {
    Resize(u16, u16),
    Eof,
    Unknown,
}

fn control(text: &str) -> Control {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return Control::Unknown };
    if let Some([cols, rows]) = value.get("resize").and_then(|r| r.as_array()).map(Vec::as_slice) {
        let size = |v: &serde_json::Value| v.as_u64().and_then(|n| u16::try_from(n).ok());
        if let (Some(cols), Some(rows)) = (size(cols), size(rows)) {
            return Control::Resize(cols, rows);
        }
    }
    if value.get("eof").and_then(|e| e.as_bool()) == Some(true) {
        return Control::Eof;
    }
    Control::Unknown
}
