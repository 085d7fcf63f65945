//! Destroying an app: nothing of it may keep running or routing. The rows go
//! first (with the audit event, in one transaction, under the routing
//! table's change lock), so the reconcile loop stops keeping the app alive
//! the moment it is decided; then its containers, images, build cache,
//! repository and volumes. Whatever a crash leaves running after that has no
//! app and is removed by the reconcile loop.

use std::time::Duration;

use crate::db;
use crate::db::apps::App;
use crate::db::audit::NewEvent;
use crate::repos;
use crate::runtime;
use crate::state::AppState;

/// The caller holds the app's lock; `operation` commits with the rows' end.
pub async fn destroy_app(state: &AppState, app: &App, audit: &NewEvent, operation: i64) -> anyhow::Result<()> {
    // Their rows go with the app's.
    let volumes = db::volumes::list(&state.db, app.id).await?;
    {
        let _changing = state.routes.changing().await;
        db::apps::delete(&state.db, app.id, audit, operation).await?;
        state.routes.forget_app(&app.name);
        state.tls.forget_app(&app.name);
        state.routes.policies.forget(&app.name);
    }
    let grace = Duration::from_secs(state.config.stop_grace);
    let containers = state.runtime.list(&[(runtime::LABEL_APP, &app.name)]).await?;
    let stops = containers.iter().map(|c| state.runtime.stop_and_remove(&c.id, grace));
    for result in futures_util::future::join_all(stops).await {
        result?;
    }
    if let Err(err) = state.runtime.remove_network(&runtime::app_network(&app.name)).await {
        tracing::warn!(app = %app.name, error = %format!("{err:#}"), "could not remove the app's network");
    }
    state.runtime.remove_images(&app.name).await?;
    state.runtime.remove_volume(&crate::build::buildpack::cache_volume(app)).await?;
    for volume in volumes {
        state.runtime.remove_volume(&super::rollout::volume_name(app, &volume.name)).await?;
    }
    repos::remove(&state.repos_dir(), &app.name).await?;
    state.logs.forget(&app.name);
    Ok(())
}
