//! The database: connecting (to `DATABASE_URL` or the embedded cluster),
//! migrations, and one module of queries per table group. Only this module
//! holds SQL.

pub mod addons;
pub mod apps;
pub mod audit;
pub mod builds;
pub mod certificates;
pub mod config_vars;
pub mod deployments;
pub mod domains;
pub mod embedded;
pub mod formation;
pub mod locks;
pub mod metrics;
pub mod operations;
pub mod releases;
pub mod routers;
pub mod settings;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod volumes;

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// A pool that connects when first used (the database may still be
/// starting). Waiting for a connection is bounded, so a database that went
/// away makes requests fail rather than hang, and so is every statement
/// (`statement_timeout`): nothing here waits in the database for long (locks
/// are polled, see `locks`).
pub fn pool(options: PgConnectOptions, statement_timeout: Duration) -> PgPool {
    let options = options.options([("statement_timeout", format!("{}ms", statement_timeout.as_millis()))]);
    PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(3)).connect_lazy_with(options)
}

/// Wait until the database answers (up to `patience`), then bring the schema
/// up to date.
pub async fn migrate(pool: &PgPool, patience: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match locks::ping(pool).await {
            Ok(_) => break,
            Err(err) if std::time::Instant::now() >= deadline => {
                return Err(err).context("connecting to PostgreSQL");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    sqlx::migrate!("../migrations").run(pool).await.context("running database migrations")?;
    Ok(())
}

/// What the data layer can fail with: a broken constraint the caller should
/// report as a conflict, or anything else from the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the row; the message says which.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

pub type DbResult<T> = Result<T, DbError>;

/// A unique-constraint violation becomes `Conflict(message)`.
pub fn conflict_on_unique(err: sqlx::Error, message: impl Into<String>) -> DbError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict(message.into()),
        _ => DbError::Sql(err),
    }
}

/// Whether an error means the database cannot be reached right now (as
/// opposed to a query that failed).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // 57P01..03: the server is shutting down or starting; 08xxx: connection exceptions.
            c.starts_with("57P") || c.starts_with("08")
        }),
        _ => false,
    }
}
