//! One rollout at a time per app: a Postgres advisory lock held on its own
//! connection for the whole deploy. If the server dies, the connection closes
//! and the lock goes with it.

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::db;
use crate::db::apps::App;
use crate::progress::Output;

pub struct AppLock {
    conn: Option<PoolConnection<Postgres>>,
    app_id: i64,
}

impl AppLock {
    /// Take the app's deploy lock, saying so if another deploy holds it.
    pub async fn acquire(pool: &PgPool, app: &App, out: &Output) -> anyhow::Result<Self> {
        let mut conn = pool.acquire().await?;
        if !db::locks::try_lock_app(&mut conn, app.id).await? {
            out.step(format!("Another deploy of {} is in progress; waiting for it to finish", app.name));
            db::locks::lock_app(&mut conn, app.id).await?;
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
