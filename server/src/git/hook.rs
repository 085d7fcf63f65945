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

use tokio::sync::mpsc::UnboundedSender;

use super::Push;
use crate::deploy::push::{Pushed, DEPLOY_BRANCHES, ZERO_SHA};
use crate::ops::{self, Actor};
use crate::progress::Output;
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

/// Server side: deploy what the push brings, streaming the operation's
/// progress, then the verdict.
pub async fn pre_receive(State(state): State<AppState>, Json(request): Json<HookRequest>) -> Response {
    let Some(push) = state.pushes.take(&request.token) else {
        return (StatusCode::FORBIDDEN, "unknown push\n").into_response();
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let accepted = handle(&state, push, request, &tx).await;
        let _ = tx.send(if accepted { VERDICT_OK } else { VERDICT_REJECT }.to_string());
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|line| line.map(|l| Ok::<_, Infallible>(Bytes::from(format!("{l}\n")))))
    });
    Body::from_stream(stream).into_response()
}

/// Whether git should accept the push's ref updates: other branches are
/// stored; the deploy branch is deployed by an operation whose lines go to
/// `tx` as it runs.
async fn handle(state: &AppState, push: Push, request: HookRequest, tx: &UnboundedSender<String>) -> bool {
    let out = Output::new({
        let tx = tx.clone();
        move |line| {
            let _ = tx.send(line);
        }
    });
    let deploy = DEPLOY_BRANCHES.iter().find_map(|branch| request.updates.iter().find(|u| u.refname == *branch));
    for update in request.updates.iter().filter(|u| !DEPLOY_BRANCHES.contains(&u.refname.as_str())) {
        out.step(format!("Stored {} (only main or master deploys)", update.refname));
    }
    let Some(update) = deploy else { return true };
    if update.new == ZERO_SHA {
        out.error(format!("{} is the deploy branch of {}; it cannot be deleted", update.refname, push.app.name));
        return false;
    }
    let pushed = Pushed {
        refname: update.refname.clone(),
        old: update.old.clone(),
        new: update.new.clone(),
        quarantine: request.quarantine.map(std::path::PathBuf::from),
    };
    let actor = Actor::new(push.user, "git");
    let job = match ops::push::deploy_push(state, &actor, &push.app, pushed, push.ended).await {
        Ok(job) => job,
        Err(err) => {
            out.error(format!("Push rejected: {}", err.public_message()));
            return false;
        }
    };
    let mut events = ops::watch(state, push.app.id, job.id);
    while let Some(event) = events.recv().await {
        if let ops::Event::Line(line) = event {
            let _ = tx.send(line);
        }
    }
    job.outcome().await.is_ok()
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
        None => bail!(
            "the paas server stopped during the deploy. If the release went live, the server moves the branch to \
             it when it starts again; `paas releases` tells which release runs"
        ),
    }
}
