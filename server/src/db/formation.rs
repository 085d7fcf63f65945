//! Formation: how many processes of each type an app runs, with their limits.
//! Rows change only when a rollout that carries them goes live.

use sqlx::{FromRow, PgConnection, PgPool};

#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize, serde::Deserialize)]
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

/// Every app's formation, by app id.
pub async fn all(pool: &PgPool) -> sqlx::Result<std::collections::HashMap<i64, Vec<Formation>>> {
    #[derive(FromRow)]
    struct Row {
        app_id: i64,
        #[sqlx(flatten)]
        formation: Formation,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT app_id, process_type, quantity, memory_mb, cpus FROM formation ORDER BY app_id, process_type",
    )
    .fetch_all(pool)
    .await?;
    let mut by_app = std::collections::HashMap::<i64, Vec<Formation>>::new();
    for row in rows {
        by_app.entry(row.app_id).or_default().push(row.formation);
    }
    Ok(by_app)
}

/// Store these rows as the app's formation (rows of other types stay), inside
/// the caller's transaction.
pub async fn store(conn: &mut PgConnection, app_id: i64, rows: &[Formation]) -> sqlx::Result<()> {
    for f in rows {
        sqlx::query(
            "INSERT INTO formation (app_id, process_type, quantity, memory_mb, cpus) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app_id, process_type) DO UPDATE
             SET quantity = $3, memory_mb = $4, cpus = $5, updated_at = now()",
        )
        .bind(app_id)
        .bind(&f.process_type)
        .bind(f.quantity)
        .bind(f.memory_mb)
        .bind(f.cpus)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What the formations of the apps with a live release ask for, over all
/// their processes: (memory in MB, CPUs, apps running any process), with
/// the defaults for process types that set no limit.
pub async fn reserved(pool: &PgPool, default_memory: i32, default_cpus: f64) -> sqlx::Result<(i64, f64, i64)> {
    sqlx::query_as(
        "SELECT COALESCE(SUM(f.quantity::bigint * COALESCE(f.memory_mb, $1)), 0)::bigint, \
         COALESCE(SUM(f.quantity * COALESCE(f.cpus, $2)), 0)::float8, \
         COUNT(DISTINCT f.app_id) FILTER (WHERE f.quantity > 0) \
         FROM formation f JOIN apps a ON a.id = f.app_id WHERE a.current_release_id IS NOT NULL",
    )
    .bind(default_memory)
    .bind(default_cpus)
    .fetch_one(pool)
    .await
}
