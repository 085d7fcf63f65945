//! The release phase: a `release` process type (Heroku's) runs once, in a
//! one-off container with the new image and config, before the rollout of a
//! pushed release. Its output streams into the push; a non-zero exit or a
//! timeout stops the deploy and the running release keeps serving.

use std::time::Duration;

use futures_util::StreamExt;

use super::rollout::container_spec;
use crate::db::apps::App;
use crate::db::formation::Formation;
use crate::db::releases::Release;
use crate::progress::Output;
use crate::state::AppState;

pub async fn run(state: &AppState, app: &App, release: &Release, out: &Output) -> anyhow::Result<()> {
    let Some(Some(command)) = release.process_types.0.get("release") else { return Ok(()) };
    out.step(format!("Running release command: {command}"));
    let size = Formation { process_type: "release".into(), quantity: 1, memory_mb: None, cpus: None };
    let extras = super::rollout::Extras::of(&state.db, app.id).await?;
    let spec = container_spec(state, app, release, None, "release", 1, &size, &extras)?;
    let container = state.runtime.start(spec).await?;

    let mut lines = state.runtime.follow_logs(&container.id, 0);
    let forward = out.clone();
    let app_name = app.name.clone();
    let logs = state.clone();
    let streaming = tokio::spawn(async move {
        let mut kept = String::new();
        while let Some(line) = lines.next().await {
            forward.line(&line);
            logs.logs.push(&app_name, "release", &line);
            if kept.len() < MAX_KEPT {
                kept.push_str(&line);
                kept.push('\n');
            }
        }
        kept
    });
    let limit = Duration::from_secs(state.config.release_timeout);
    let exit = tokio::time::timeout(limit, state.runtime.wait(&container.id)).await;
    let mut kept = match tokio::time::timeout(Duration::from_secs(2), streaming).await {
        Ok(Ok(kept)) => kept,
        _ => String::new(),
    };
    state.runtime.stop_and_remove(&container.id, Duration::from_secs(1)).await?;
    let outcome = match exit {
        Err(_) => Err(anyhow::anyhow!("the release command did not finish within {} s", limit.as_secs())),
        Ok(Err(err)) => Err(err),
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(code)) => Err(anyhow::anyhow!("the release command failed with exit code {code}")),
    };
    // Kept with the release, however it ended (`paas releases:output`).
    kept.push_str(&match &outcome {
        Ok(()) => "release command succeeded\n".to_string(),
        Err(err) => format!("{err:#}\n"),
    });
    crate::db::releases::set_output(&state.db, release.id, &kept).await?;
    if outcome.is_ok() {
        out.step("Release command succeeded");
    }
    outcome
}

/// How much of a release command's output is kept with its release.
const MAX_KEPT: usize = 1 << 20;
