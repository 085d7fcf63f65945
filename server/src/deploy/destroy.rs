//! Destroying an app: nothing of it may keep running or routing.

use std::time::Duration;

use super::{lock::AppLock, Output};
use crate::db;
use crate::db::apps::App;
use crate::git::repo;
use crate::runtime;
use crate::state::AppState;

/// Stop routing, remove the containers, images, build cache and repository,
/// then the rows.
/// Waits for a deploy in progress to finish first.
pub async fn destroy_app(state: &AppState, app: &App) -> anyhow::Result<()> {
    let _lock = AppLock::acquire(&state.db, app, &Output::discard()).await?;
    state.routes.forget_app(&app.name);
    let grace = Duration::from_secs(state.config.stop_grace);
    for container in state.runtime.list(&[(runtime::LABEL_APP, &app.name)]).await? {
        state.stop_container(&container.id, grace).await?;
    }
    state.runtime.remove_images(&app.name).await?;
    state.runtime.remove_volume(&crate::build::buildpack::cache_volume(app)).await?;
    repo::remove(&state.repos_dir(), &app.name).await?;
    state.logs.forget(&app.name);
    db::apps::delete(&state.db, app.id).await?;
    Ok(())
}
