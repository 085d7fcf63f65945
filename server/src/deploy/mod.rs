//! The mechanisms under every operation that changes what runs: a push's
//! pipeline (build, release, release phase, rollout), the rollout state
//! machine, health checks, formation planning, config sealing, per-app
//! locks and destroying an app. `ops/` decides when they run and records it;
//! nothing here knows HTTP or git's types.

pub mod app_json;
pub mod config;
pub mod destroy;
pub mod formation;
pub mod health;
pub mod images;
pub mod lock;
pub mod procfile;
pub mod push;
pub mod release_phase;
pub mod rollout;

use std::collections::BTreeMap;

pub use rollout::Change;

use crate::db;
use crate::db::apps::App;
use crate::db::releases::{NewRelease, Release};
use crate::progress::Output;
use crate::state::AppState;

/// A release made from an existing one's image (a config change, a rollback).
pub struct Derived<'a> {
    pub base: &'a Release,
    pub description: String,
    /// The config snapshot it runs with.
    pub config: BTreeMap<String, String>,
    pub created_by: i64,
}

/// Record a derived release and roll it out with `change`; the caller holds
/// the app's lock.
pub async fn release_from(
    state: &AppState,
    app: &App,
    new: Derived<'_>,
    change: &Change,
    out: &Output,
) -> anyhow::Result<Release> {
    let Derived { base, description, config, created_by } = new;
    let description = description.as_str();
    let release = db::releases::create(
        &state.db,
        NewRelease {
            app_id: app.id,
            build_id: base.build_id,
            image: &base.image,
            commit_sha: base.commit_sha.as_deref(),
            description,
            config,
            process_types: base.process_types.0.clone(),
            healthcheck: base.healthcheck.as_ref().map(|h| h.0.clone()),
            created_by: Some(created_by),
        },
    )
    .await?;
    if let Some(op) = change.operation {
        db::operations::set_release(&state.db, op, release.id).await?;
    }
    out.step(format!("Releasing v{}: {description}", release.version));
    rollout::rollout(state, app, &release, change, out).await?;
    Ok(release)
}
