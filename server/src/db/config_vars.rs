//! An app's desired config; values are ciphertexts (see `crypto`).

use std::collections::BTreeMap;

use sqlx::{PgConnection, PgPool};

pub type Sealed = BTreeMap<String, Vec<u8>>;

pub async fn get(pool: &PgPool, app_id: i64) -> sqlx::Result<Sealed> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT key, value FROM config_vars WHERE app_id = $1 ORDER BY key")
            .bind(app_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Replace the whole config, inside the caller's transaction.
pub async fn replace(conn: &mut PgConnection, app_id: i64, config: &Sealed) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM config_vars WHERE app_id = $1").bind(app_id).execute(&mut *conn).await?;
    for (key, value) in config {
        sqlx::query("INSERT INTO config_vars (app_id, key, value) VALUES ($1, $2, $3)")
            .bind(app_id)
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
