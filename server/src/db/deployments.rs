//! Deployments: one row per rollout, its phase written before each step.

use sqlx::{FromRow, PgPool};

use super::audit::NewEvent;
use super::config_vars::Sealed;
use super::formation::Formation;

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

impl Phase {
    /// Whether traffic had switched to the deployment in this phase.
    pub fn went_live(self) -> bool {
        matches!(self, Phase::Draining | Phase::StoppingOld | Phase::Succeeded)
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct Deployment {
    pub id: i64,
    pub app_id: i64,
    pub release_id: i64,
    pub phase: Phase,
    pub operation_id: Option<i64>,
}

const COLUMNS: &str = "id, app_id, release_id, phase, operation_id";

pub async fn create(pool: &PgPool, app_id: i64, release_id: i64, operation_id: Option<i64>) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO deployments (app_id, release_id, operation_id) VALUES ($1, $2, $3) RETURNING id")
        .bind(app_id)
        .bind(release_id)
        .bind(operation_id)
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

/// A rollout that did not go live: the deployment and its release fail together.
pub async fn fail(pool: &PgPool, id: i64, error: &str) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let release_id: i64 = sqlx::query_scalar(
        "UPDATE deployments SET phase = 'failed', error = $2, updated_at = now(), finished_at = now()
         WHERE id = $1 RETURNING release_id",
    )
    .bind(id)
    .bind(error)
    .fetch_one(&mut *tx)
    .await?;
    super::releases::mark_failed(&mut *tx, release_id).await?;
    tx.commit().await
}

/// What becomes true when a rollout goes live, besides its release.
pub struct GoLive<'a> {
    pub deployment: i64,
    pub release_id: i64,
    pub app_id: i64,
    /// Becomes the app's config vars (a config change or a rollback).
    pub config: Option<&'a Sealed>,
    /// The formation the deployment runs.
    pub formation: &'a [Formation],
    pub audit: Option<&'a NewEvent>,
    /// The operation whose change this is: it commits here.
    pub operation: Option<i64>,
}

/// Traffic switches to the deployment's processes: in one transaction the
/// release becomes the app's current one, the config and formation it runs
/// with become the app's, the audit event is written and the rollout moves to
/// draining. Nothing of it is true before this commits.
pub async fn go_live(pool: &PgPool, live: GoLive<'_>) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE releases SET status = 'succeeded', finished_at = COALESCE(finished_at, now()) WHERE id = $1")
        .bind(live.release_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE apps SET current_release_id = $2 WHERE id = $1")
        .bind(live.app_id)
        .bind(live.release_id)
        .execute(&mut *tx)
        .await?;
    if let Some(config) = live.config {
        super::config_vars::replace(&mut tx, live.app_id, config).await?;
    }
    super::formation::store(&mut tx, live.app_id, live.formation).await?;
    if let Some(event) = live.audit {
        super::audit::record(&mut tx, event).await?;
    }
    if let Some(operation) = live.operation {
        super::operations::commit(&mut tx, operation).await?;
    }
    sqlx::query("UPDATE deployments SET phase = 'draining', updated_at = now() WHERE id = $1")
        .bind(live.deployment)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A change of quantities in place (the live deployment keeps running): the
/// formation, the audit event and the operation's commit, in one transaction.
pub async fn rescale(
    pool: &PgPool,
    app_id: i64,
    formation: &[Formation],
    audit: Option<&NewEvent>,
    operation: Option<i64>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    super::formation::store(&mut tx, app_id, formation).await?;
    if let Some(event) = audit {
        super::audit::record(&mut tx, event).await?;
    }
    if let Some(operation) = operation {
        super::operations::commit(&mut tx, operation).await?;
    }
    tx.commit().await
}

/// The deployment whose processes serve the app now.
pub async fn live(pool: &PgPool, app_id: i64) -> sqlx::Result<Option<Deployment>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deployments
         WHERE app_id = $1 AND phase IN ('draining', 'stopping_old', 'succeeded') ORDER BY id DESC LIMIT 1"
    ))
    .bind(app_id)
    .fetch_optional(pool)
    .await
}

/// Rollouts a previous server process left in the middle.
pub async fn unfinished(pool: &PgPool) -> sqlx::Result<Vec<Deployment>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE finished_at IS NULL ORDER BY id"))
        .fetch_all(pool)
        .await
}

/// What should run, per app that serves a release: the reconcile loop's view.
#[derive(Debug, Clone, FromRow)]
pub struct Desired {
    pub app_id: i64,
    pub app: String,
    pub release_id: i64,
    /// The live deployment, if any went live (always, once an app has a release).
    pub deployment_id: Option<i64>,
    /// A rollout of the app is in progress.
    pub rolling: bool,
}

pub async fn desired(pool: &PgPool) -> sqlx::Result<Vec<Desired>> {
    sqlx::query_as(
        "SELECT a.id AS app_id, a.name AS app, a.current_release_id AS release_id,
                (SELECT d.id FROM deployments d WHERE d.app_id = a.id
                 AND d.phase IN ('draining', 'stopping_old', 'succeeded') ORDER BY d.id DESC LIMIT 1) AS deployment_id,
                EXISTS (SELECT 1 FROM deployments u WHERE u.app_id = a.id AND u.finished_at IS NULL) AS rolling
         FROM apps a WHERE a.current_release_id IS NOT NULL ORDER BY a.id",
    )
    .fetch_all(pool)
    .await
}

/// The highest deployment id so far (containers of later ones are newer than
/// anything a reader of `desired` knows about).
pub async fn max_id(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM deployments").fetch_one(pool).await
}
