//! The database: connecting (to `DATABASE_URL` or the embedded cluster),
//! migrations, and one module of queries per table group. Only this module
//! holds SQL.

pub mod apps;
pub mod audit;
pub mod builds;
pub mod config_vars;
pub mod deployments;
pub mod domains;
pub mod embedded;
pub mod formation;
pub mod releases;
pub mod settings;
pub mod teams;
pub mod tokens;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// Open a pool and bring the schema up to date.
pub async fn connect(options: PgConnectOptions) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::migrate!("../migrations").run(&pool).await.context("running database migrations")?;
    Ok(pool)
}
