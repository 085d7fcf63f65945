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
    // `release` runs once per deploy (the release phase), never as a process.
    for process_type in process_types.iter().filter(|t| *t != "release") {
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

/// Change what is given; leave the rest.
pub async fn update(
    pool: &PgPool,
    app_id: i64,
    process_type: &str,
    quantity: Option<i32>,
    memory_mb: Option<i32>,
    cpus: Option<f64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE formation SET quantity = COALESCE($3, quantity), memory_mb = COALESCE($4, memory_mb),
         cpus = COALESCE($5, cpus), updated_at = now() WHERE app_id = $1 AND process_type = $2",
    )
    .bind(app_id)
    .bind(process_type)
    .bind(quantity)
    .bind(memory_mb)
    .bind(cpus)
    .execute(pool)
    .await?;
    Ok(())
}

/// Put back a formation saved before a change.
pub async fn restore(pool: &PgPool, app_id: i64, rows: &[Formation]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for f in rows {
        sqlx::query(
            "UPDATE formation SET quantity = $3, memory_mb = $4, cpus = $5 WHERE app_id = $1 AND process_type = $2",
        )
        .bind(app_id)
        .bind(&f.process_type)
        .bind(f.quantity)
        .bind(f.memory_mb)
        .bind(f.cpus)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Set a process type's formation unless it has one (app.json defaults).
pub async fn insert_default(
    pool: &PgPool,
    app_id: i64,
    process_type: &str,
    quantity: i32,
    memory_mb: Option<i32>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO formation (app_id, process_type, quantity, memory_mb) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app_id, process_type) DO NOTHING",
    )
    .bind(app_id)
    .bind(process_type)
    .bind(quantity)
    .bind(memory_mb)
    .execute(pool)
    .await?;
    Ok(())
}
