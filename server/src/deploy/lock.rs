//! One rollout at a time per app: a Postgres advisory lock held on its own
//! connection for the whole deploy. If the server dies, the connection closes
//! and the lock goes with it.

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::db::apps::App;
use crate::progress::Output;

/// Namespace for the advisory lock key, so app ids don't collide with other locks.
const LOCK_CLASS: i32 = 0x7061;

pub struct AppLock {
    conn: Option<PoolConnection<Postgres>>,
    app_id: i64,
}

impl AppLock {
    /// Take the app's deploy lock, saying so if another deploy holds it.
    pub async fn acquire(pool: &PgPool, app: &App, out: &Output) -> anyhow::Result<Self> {
        let mut conn = pool.acquire().await?;
        let key = app.id as i32;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        if !got {
            out.step(format!("Another deploy of {} is in progress; waiting for it to finish", app.name));
            sqlx::query("SELECT pg_advisory_lock($1, $2)").bind(LOCK_CLASS).bind(key).execute(&mut *conn).await?;
        }
        Ok(Self { conn: Some(conn), app_id: app.id })
    }
}

impl Drop for AppLock {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let key = self.app_id as i32;
            tokio::spawn(async move {
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                    .bind(LOCK_CLASS)
                    .bind(key)
                    .execute(&mut *conn)
                    .await;
                if unlocked.is_err() {
                    // Never hand a connection that may still hold the lock back to the pool.
                    let _ = conn.detach();
                }
            });
        }
    }
}
