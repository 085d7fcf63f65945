//! Advisory locks, held on a connection of their own: a server that dies
//! closes the connection, and its locks go with it.

use sqlx::PgConnection;

/// Namespace for app lock keys, so app ids don't collide with other locks.
const APP_CLASS: i32 = 0x7061;

/// Take an app's lock if it is free; whether it was.
pub async fn try_lock_app(conn: &mut PgConnection, app_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)").bind(APP_CLASS).bind(app_id as i32).fetch_one(conn).await
}

pub async fn unlock_app(conn: &mut PgConnection, app_id: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock($1, $2)").bind(APP_CLASS).bind(app_id as i32).execute(conn).await?;
    Ok(())
}

/// Whether the database answers.
pub async fn ping<'e>(db: impl sqlx::PgExecutor<'e>) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(db).await?;
    Ok(())
}
