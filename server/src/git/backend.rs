//! Run `git http-backend` as a CGI program and stream its answer. It handles
//! the protocol (v0/v2, gzip bodies); we feed it the request and the push's
//! hook context through its environment.

use std::process::Stdio;

use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::db::users::User;
use crate::state::AppState;

/// A request body larger than the push size limit.
#[derive(Debug, thiserror::Error)]
#[error("the push is larger than the limit of {0} MB; push less at a time, or ask for a larger PAAS_MAX_PUSH_SIZE")]
pub struct TooLarge(pub i32);

pub async fn run(
    state: &AppState,
    parts: &Parts,
    body: Body,
    user: &User,
    push: Option<(String, tokio::sync::oneshot::Sender<()>)>,
) -> anyhow::Result<Response> {
    let push_token = push.as_ref().map(|(token, _)| token.as_str());
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let limit_mb = state.config.max_push_mb;
    let limit = u64::try_from(limit_mb).unwrap_or(0) * 1024 * 1024;
    if header("content-length").parse::<u64>().is_ok_and(|n| n > limit) {
        return Err(TooLarge(limit_mb).into());
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", state.repos_dir())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", state.config.data_dir.as_os_str())
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path().trim_start_matches("/git"))
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("REMOTE_USER", &user.email)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let length = header("content-length");
    if !length.is_empty() {
        cmd.env("CONTENT_LENGTH", length);
    }
    if let Some(token) = push_token {
        cmd.env("PAAS_BIN", &state.paas_bin)
            .env("PAAS_HOOK_URL", format!("{}/internal/git-hook", state.internal_url))
            .env("PAAS_HOOK_TOKEN", token);
    }
    let mut child = cmd.spawn().context("starting git http-backend (is git installed?)")?;

    // Feed the request body in the background while we read the answer;
    // past the size limit git gets a cut-off pack and refuses it.
    let mut stdin = child.stdin.take().context("http-backend stdin")?;
    let body_stream = body.into_data_stream().map_err(std::io::Error::other);
    let app = parts.uri.path().to_string();
    tokio::spawn(async move {
        let reader = StreamReader::new(body_stream);
        let mut limited = tokio::io::AsyncReadExt::take(reader, limit + 1);
        let copied = tokio::io::copy(&mut limited, &mut stdin).await.unwrap_or(0);
        if copied > limit {
            tracing::warn!(request = %app, limit_mb, "refused a push larger than the push size limit");
        }
        let _ = stdin.shutdown().await;
    });
    let stderr = child.stderr.take().context("http-backend stderr")?;
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!(target: "paas::git", "{line}");
        }
    });

    // CGI: headers, a blank line, then the body.
    let stdout = child.stdout.take().context("http-backend stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            bail!("git http-backend ended before its headers");
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(StatusCode::BAD_GATEWAY);
        } else if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response = response.header(name, value);
        }
    }
    // The child runs until it ends, the client goes away (the answer's stream
    // is dropped), or the git timeout.
    let (gone, client_gone) = tokio::sync::oneshot::channel::<()>();
    let limit = std::time::Duration::from_secs(state.config.git_timeout);
    tokio::spawn(async move {
        tokio::select! {
            _ = child.wait() => return,
            _ = client_gone => {}
            _ = tokio::time::sleep(limit) => {
                tracing::warn!(seconds = limit.as_secs(), "a git request took longer than the git timeout; stopping it");
            }
        }
        let _ = child.kill().await;
    });
    // The push's registration lives as long as the answer streams.
    let cleanup = Cleanup { _gone: gone, state: state.clone(), push };
    let stream = ReaderStream::new(reader).map_ok(move |chunk| {
        let _ = &cleanup;
        chunk
    });
    Ok(response.status(status).body(Body::from_stream(stream))?)
}

struct Cleanup {
    /// Dropping it tells the child's keeper that the client is gone.
    _gone: tokio::sync::oneshot::Sender<()>,
    state: AppState,
    /// Dropping the sender tells the push's deploy that git is done.
    push: Option<(String, tokio::sync::oneshot::Sender<()>)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((token, _ended)) = self.push.take() {
            self.state.pushes.end(&token);
        }
    }
}
