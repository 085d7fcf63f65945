//! The release phase: a `release` process type (Heroku's) runs once, in a
//! one-off container with the new image and config, before the rollout of a
//! pushed release. Its output streams into the push; a non-zero exit or a
//! timeout stops the deploy and the running release keeps serving.

use std::time::Duration;

use anyhow::bail;
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
    let spec = container_spec(state, app, release, None, "release", 1, &size)?;
    let container = state.runtime.start(spec).await?;

    let mut lines = state.runtime.follow_logs(&container.id, 0);
    let forward = out.clone();
    let app_name = app.name.clone();
    let logs = state.clone();
    let streaming = tokio::spawn(async move {
        while let Some(line) = lines.next().await {
            forward.line(&line);
            logs.logs.push(&app_name, "release", &line);
        }
    });
    let limit = Duration::from_secs(state.config.release_timeout);
    let exit = tokio::time::timeout(limit, state.runtime.wait(&container.id)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), streaming).await;
    state.runtime.stop_and_remove(&container.id, Duration::from_secs(1)).await?;
    match exit {
        Err(_) => bail!("the release command did not finish within {} s", limit.as_secs()),
        Ok(Err(err)) => Err(err),
        Ok(Ok(0)) => {
            out.step("Release command succeeded");
            Ok(())
        }
        Ok(Ok(code)) => bail!("the release command failed with exit code {code}"),
    }
}
