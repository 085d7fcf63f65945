use sqlx::{FromRow, PgPool};

#[derive(Debug, Clone, FromRow)]
pub struct Formation {
    pub process_type: String,
    pub quantity: i32,
    pub memory_mb: Option<i32>,
    pub cpus: Option<f64>,
}

pub async fn list(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<Formation>> {
    sqlx::query_as(
        "SELECT process_type, quantity, memory_mb, cpus FROM formation WHERE app_id = $1 ORDER BY process_type",
    )
    .bind(app_id)
    .fetch_all(pool)
    .await
}

/// Give process types that have no formation yet their default quantity
/// (web: 1, others: 0, as Heroku does).
pub async fn ensure_defaults(pool: &PgPool, app_id: i64, process_types: &[String]) -> sqlx::Result<()> {
    for process_type in process_types {
        let quantity = if process_type == "web" { 1 } else { 0 };
        sqlx::query(
            "INSERT INTO formation (app_id, process_type, quantity) VALUES ($1, $2, $3)
             ON CONFLICT (app_id, process_type) DO NOTHING",
        )
        .bind(app_id)
        .bind(process_type)
        .bind(quantity)
        .execute(pool)
        .await?;
    }
    Ok(())
}
