//! The build cache: what buildpacks keep between an app's builds (installed
//! dependencies, downloaded runtimes, compiler caches).

use super::{launch, Actor, Job, Plan};
use crate::build::buildpack::cache_volume;
use crate::db;
use crate::db::apps::App;
use crate::error::AppResult;
use crate::state::AppState;

/// Empty the app's build cache, so its next build starts from nothing. It
/// waits for a build in progress (the app's deploy lock), which has the
/// cache mounted.
pub async fn purge_cache(state: &AppState, actor: &Actor, app: &App) -> AppResult<Job<()>> {
    let plan = Plan { action: "build.cache.purge", summary: String::new(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let _lock = op.lock().await?;
        op.state.runtime.remove_volume(&cache_volume(&op.app)).await?;
        op.out.step("Build cache purged: the next build installs everything anew");
        let mut tx = op.state.db.begin().await?;
        db::audit::record(&mut tx, &op.audit("build cache purged")).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}
