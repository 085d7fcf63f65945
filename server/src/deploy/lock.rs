//! One rollout at a time per app: a Postgres advisory lock held on its own
//! connection for the whole deploy. If the server dies, the connection closes
//! and the lock goes with it. A waiter polls (no statement waits in the
//! database) and gives up after the lock timeout.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::db;
use crate::db::apps::App;
use crate::progress::Output;

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another deploy held it for longer than the caller would wait.
    #[error("{0}")]
    TimedOut(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct AppLock {
    conn: Option<PoolConnection<Postgres>>,
    app_id: i64,
}

impl AppLock {
    /// Take the app's deploy lock, saying so if another deploy holds it;
    /// give up after `patience`.
    pub async fn acquire(pool: &PgPool, app: &App, patience: Duration, out: &Output) -> Result<Self, LockError> {
        let mut conn = pool.acquire().await?;
        let deadline = Instant::now() + patience;
        let mut told = false;
        while !db::locks::try_lock_app(&mut conn, app.id).await? {
            if !told {
                out.step(format!("Another deploy of {} is in progress; waiting for it to finish", app.name));
                told = true;
            }
            if Instant::now() >= deadline {
                return Err(LockError::TimedOut(format!(
                    "gave up after {} waiting for another deploy of {} to finish",
                    crate::progress::span(patience),
                    app.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(Self { conn: Some(conn), app_id: app.id })
    }
}

impl Drop for AppLock {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let app_id = self.app_id;
            tokio::spawn(async move {
                if db::locks::unlock_app(&mut conn, app_id).await.is_err() {
                    // Never hand a connection that may still hold the lock back to the pool.
                    let _ = conn.detach();
                }
            });
        }
    }
}
