//! Deployments: one row per rollout, its phase written before each step.

use sqlx::{FromRow, PgPool};

/// The rollout state machine, stored as the Postgres enum `deploy_phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "deploy_phase", rename_all = "snake_case")]
pub enum Phase {
    Starting,
    HealthChecking,
    Switching,
    Draining,
    StoppingOld,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, FromRow)]
pub struct Deployment {
    pub id: i64,
    pub app_id: i64,
    pub release_id: i64,
    pub phase: Phase,
}

pub async fn create(pool: &PgPool, app_id: i64, release_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO deployments (app_id, release_id) VALUES ($1, $2) RETURNING id")
        .bind(app_id)
        .bind(release_id)
        .fetch_one(pool)
        .await
}

pub async fn set_phase(pool: &PgPool, id: i64, phase: Phase) -> sqlx::Result<()> {
    let finished = matches!(phase, Phase::Succeeded | Phase::Failed);
    sqlx::query(
        "UPDATE deployments SET phase = $2, updated_at = now(),
         finished_at = CASE WHEN $3 THEN now() ELSE finished_at END WHERE id = $1",
    )
    .bind(id)
    .bind(phase)
    .bind(finished)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn fail(pool: &PgPool, id: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deployments SET phase = 'failed', error = $2, updated_at = now(), finished_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Traffic switched to the deployment's containers: in one transaction the
/// release becomes the app's current one and the rollout moves to draining.
pub async fn go_live(pool: &PgPool, id: i64, release_id: i64, app_id: i64) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE releases SET status = 'succeeded', finished_at = COALESCE(finished_at, now()) WHERE id = $1")
        .bind(release_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE apps SET current_release_id = $2 WHERE id = $1")
        .bind(app_id)
        .bind(release_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE deployments SET phase = 'draining', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The deployment whose containers serve the app now.
pub async fn live(pool: &PgPool, app_id: i64) -> sqlx::Result<Option<Deployment>> {
    sqlx::query_as(
        "SELECT id, app_id, release_id, phase FROM deployments
         WHERE app_id = $1 AND phase IN ('draining', 'stopping_old', 'succeeded') ORDER BY id DESC LIMIT 1",
    )
    .bind(app_id)
    .fetch_optional(pool)
    .await
}

/// Rollouts a previous server process left in the middle.
pub async fn unfinished(pool: &PgPool) -> sqlx::Result<Vec<Deployment>> {
    sqlx::query_as("SELECT id, app_id, release_id, phase FROM deployments WHERE finished_at IS NULL ORDER BY id")
        .fetch_all(pool)
        .await
}
