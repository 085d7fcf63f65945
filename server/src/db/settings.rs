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
