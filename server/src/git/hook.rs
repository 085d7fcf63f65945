//! The pre-receive hook, both ends. `paas git-hook pre-receive` (run by git
//! inside the push) posts the ref updates to the server and prints what comes
//! back, which git shows as `remote:` lines; the server's `pre_receive`
//! handler runs the deploy and streams its output, ending with a verdict line.

use std::convert::Infallible;
use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::deploy::Output;
use crate::state::AppState;

const VERDICT_OK: &str = "\u{1}paas-hook:accept";
const VERDICT_REJECT: &str = "\u{1}paas-hook:reject";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub refname: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HookRequest {
    pub token: String,
    /// The push's quarantined object directory.
    pub quarantine: Option<String>,
    pub updates: Vec<RefUpdate>,
}

/// Server side: deploy what the push brings, streaming the output.
pub async fn pre_receive(State(state): State<AppState>, Json(request): Json<HookRequest>) -> Response {
    let context = state.pushes.lock().ok().and_then(|pushes| pushes.get(&request.token).map(|p| p.context.clone()));
    let Some(context) = context else {
        return (StatusCode::FORBIDDEN, "unknown push\n").into_response();
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let output = Output::new(tx.clone());
        let quarantine = request.quarantine.map(std::path::PathBuf::from);
        let (accepted, lock) =
            crate::deploy::handle_push(&state, &context, &request.updates, quarantine.as_deref(), &output).await;
        // Hold the app's lock until this push's git request ends (ref updated).
        if let Ok(mut pushes) = state.pushes.lock() {
            if let Some(push) = pushes.get_mut(&request.token) {
                push.lock = lock;
            }
        }
        let _ = tx.send(if accepted { VERDICT_OK } else { VERDICT_REJECT }.to_string());
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|line| line.map(|l| Ok::<_, Infallible>(Bytes::from(format!("{l}\n")))))
    });
    Body::from_stream(stream).into_response()
}

/// Client side, run by git: exit 0 to accept the push, 1 to reject it.
pub async fn run_pre_receive() -> anyhow::Result<bool> {
    let url = std::env::var("PAAS_HOOK_URL").context("PAAS_HOOK_URL is not set; pushes go through the paas server")?;
    let token = std::env::var("PAAS_HOOK_TOKEN").context("PAAS_HOOK_TOKEN is not set")?;
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut fields = line.split_whitespace();
        if let (Some(old), Some(new), Some(refname)) = (fields.next(), fields.next(), fields.next()) {
            updates.push(RefUpdate { old: old.into(), new: new.into(), refname: refname.into() });
        }
    }
    let cwd = std::env::current_dir()?;
    let quarantine = std::env::var_os("GIT_QUARANTINE_PATH")
        .or_else(|| std::env::var_os("GIT_OBJECT_DIRECTORY"))
        .map(|dir| cwd.join(dir).to_string_lossy().into_owned());
    let request = HookRequest { token, quarantine, updates };
    let mut response = reqwest::Client::new()
        .post(url)
        .json(&request)
        .send()
        .await
        .context("the paas server did not answer the push hook")?;
    if !response.status().is_success() {
        bail!("the paas server refused the push hook: {}", response.status());
    }
    let mut stdout = std::io::stdout();
    let mut pending = Vec::new();
    let mut verdict = None;
    while let Some(chunk) = response.chunk().await? {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            match text.trim_end() {
                VERDICT_OK => verdict = Some(true),
                VERDICT_REJECT => verdict = Some(false),
                _ => {
                    stdout.write_all(&line)?;
                    stdout.flush()?;
                }
            }
        }
    }
    match verdict {
        Some(accepted) => Ok(accepted),
        None => bail!("the paas server stopped before the deploy finished; nothing was changed"),
    }
}
