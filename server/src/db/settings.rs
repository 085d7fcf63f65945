use sqlx::PgPool;

/// This installation's id, created on first use.
pub async fn instance_id(pool: &PgPool) -> sqlx::Result<String> {
    let fresh = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query("INSERT INTO settings (key, value) VALUES ('instance_id', $1) ON CONFLICT (key) DO NOTHING")
        .bind(&fresh)
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT value FROM settings WHERE key = 'instance_id'").fetch_one(pool).await
}

/// A setting's value, if it was ever set.
pub async fn get(pool: &PgPool, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(pool).await
}

pub async fn put(pool: &PgPool, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(())
}
