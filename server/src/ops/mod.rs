//! The action layer: every change to an app (a push deploy, config set and
//! unset, scale, resize, restart, rollback, destroy, a domain) is an
//! operation here, called alike by the REST API, the dashboard and git.
//!
//! An operation is recorded in PostgreSQL before anything happens, then runs
//! in a task of its own, never inside the HTTP request that asked for it: a
//! client that goes away changes nothing. Its progress lines stream to
//! whoever watches (`Progress`), and it ends `succeeded` or `failed` with a
//! reason, its output stored with it. The audit event of a change is written
//! in the same transaction as the change (for a rollout: when it goes live);
//! a failure's event in the same transaction as the failure. A server that
//! dies mid-way leaves the row `running`; `reconcile::recover` settles it.

pub mod addons;
pub mod apps;
pub mod builds;
pub mod certs;
pub mod config;
pub mod domains;
pub mod formation;
pub mod nodes;
mod progress;
pub mod push;
pub mod releases;
pub mod run;
pub mod teams;
pub mod tokens;
pub mod volumes;

use std::future::Future;

use anyhow::anyhow;
use futures_util::FutureExt;
use tokio::sync::oneshot;

pub use progress::Progress;

use crate::db;
use crate::db::apps::App;
use crate::db::audit::NewEvent;
use crate::db::users::User;
use crate::error::{AppError, AppResult};
use crate::progress::Output;
use crate::state::AppState;

/// Who asks for a change, and from where: `api`, `cli`, `dashboard` or `git`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub source: &'static str,
}

impl Actor {
    pub fn new(user: User, source: &'static str) -> Self {
        Self { user, source }
    }

    /// An audit event by this actor about a team (no app).
    pub fn team_event(&self, team_id: i64, action: &str, detail: impl Into<String>) -> NewEvent {
        NewEvent { team_id: Some(team_id), ..self.user_event(action, detail) }
    }

    /// An audit event by this actor about no team or app (tokens, users).
    pub fn user_event(&self, action: &str, detail: impl Into<String>) -> NewEvent {
        NewEvent {
            user_id: Some(self.user.id),
            actor: self.user.email.clone(),
            team_id: None,
            app: None,
            app_id: None,
            action: action.to_string(),
            detail: detail.into(),
            source: self.source.to_string(),
        }
    }

    /// An audit event by this actor about `app`.
    pub fn event(&self, app: &App, action: &str, detail: impl Into<String>) -> NewEvent {
        NewEvent {
            team_id: Some(app.team_id),
            app: Some(app.name.clone()),
            app_id: Some(app.id),
            ..self.user_event(action, detail)
        }
    }
}

/// An operation as its work sees it.
#[derive(Clone)]
pub struct Op {
    pub id: i64,
    pub state: AppState,
    pub app: App,
    pub actor: Actor,
    /// The audit action (`config.update`, `deploy`, ...).
    pub action: &'static str,
    /// What was asked, for the audit log; never secret values.
    pub summary: String,
    pub out: Output,
}

impl Op {
    /// Take the app's deploy lock (one change of what runs at a time),
    /// waiting at most the server's lock timeout.
    pub async fn lock(&self) -> AppResult<crate::deploy::lock::AppLock> {
        let patience = std::time::Duration::from_secs(self.state.config.lock_timeout);
        use crate::deploy::lock::{AppLock, LockError};
        AppLock::acquire(&self.state.db, &self.app, patience, &self.out).await.map_err(|e| match e {
            LockError::TimedOut(message) => AppError::Conflict(message),
            LockError::Db(e) => AppError::Db(e),
        })
    }

    /// The audit event of this operation's change, `detail` added to its summary.
    pub fn audit(&self, detail: &str) -> NewEvent {
        let text = match (self.summary.is_empty(), detail.is_empty()) {
            (false, false) => format!("{} {detail}", self.summary),
            (true, _) => detail.to_string(),
            (false, true) => self.summary.clone(),
        };
        self.actor.event(&self.app, self.action, text)
    }

    /// End the operation: its row, its output and, for a failure, the audit
    /// event saying nothing changed, in one transaction.
    async fn finish(&self, error: Option<String>) {
        let output = self.state.progress.text(self.id);
        let record = async {
            let mut tx = self.state.db.begin().await?;
            match &error {
                None => {
                    db::operations::finish(&mut tx, self.id, true, None, &output).await?;
                }
                Some(reason) => {
                    if db::operations::finish(&mut tx, self.id, false, Some(reason), &output).await? {
                        db::audit::record(&mut tx, &self.audit("(failed, unchanged)")).await?;
                    }
                }
            }
            tx.commit().await
        };
        if let Err(err) = record.await {
            tracing::error!(operation = self.id, error = %err, "could not record the end of an operation");
        }
        // Watchers read the stored row once their stream ends.
        self.state.progress.close(self.id);
    }
}

/// A running operation seen from outside.
pub struct Job<T> {
    pub id: i64,
    outcome: oneshot::Receiver<AppResult<T>>,
}

impl<T> Job<T> {
    /// Wait for the operation to end. Dropping this wait (a client that went
    /// away) does not stop the operation.
    pub async fn outcome(self) -> AppResult<T> {
        self.outcome.await.unwrap_or_else(|_| Err(AppError::Other(anyhow!("the operation ended without a result"))))
    }
}

/// What a watcher of an operation sees.
pub enum Event {
    Line(String),
    /// It ended (or had ended): its stored row, without the output.
    End(Box<db::operations::Operation>),
}

/// An operation's progress lines (those so far first) and then its end. A
/// watcher that comes after the end gets the stored output.
pub fn watch(state: &AppState, app_id: i64, id: i64) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let live = state.progress.follow(id);
    let state = state.clone();
    tokio::spawn(async move {
        let streamed = live.is_some();
        if let Some(mut lines) = live {
            while let Some(line) = lines.recv().await {
                if tx.send(Event::Line(line)).is_err() {
                    return;
                }
            }
        }
        let Ok(Some(mut op)) = db::operations::find(&state.db, app_id, id).await else { return };
        let output = op.output.take().unwrap_or_default();
        if !streamed {
            for line in output.lines() {
                let _ = tx.send(Event::Line(line.to_string()));
            }
        }
        let _ = tx.send(Event::End(Box::new(op)));
    });
    rx
}

/// What to record about an operation before it starts.
pub(crate) struct Plan {
    /// The operation's kind, also its audit action.
    pub action: &'static str,
    pub summary: String,
    /// A push: (branch, old commit, new commit).
    pub push: Option<(String, String, String)>,
}

/// Record an operation, then run `work` in a task of its own.
pub(crate) async fn launch<T, F, Fut>(
    state: &AppState,
    app: &App,
    actor: &Actor,
    plan: Plan,
    work: F,
) -> AppResult<Job<T>>
where
    T: Send + 'static,
    F: FnOnce(Op) -> Fut + Send + 'static,
    Fut: Future<Output = AppResult<T>> + Send + 'static,
{
    let push = plan.push.as_ref().map(|(r, o, n)| (r.as_str(), o.as_str(), n.as_str()));
    let id = db::operations::create(
        &state.db,
        db::operations::NewOperation {
            app_id: app.id,
            app: &app.name,
            team_id: app.team_id,
            kind: plan.action,
            summary: &plan.summary,
            user_id: actor.user.id,
            actor: &actor.user.email,
            source: actor.source,
            push,
        },
    )
    .await?;
    let op = Op {
        id,
        out: state.progress.open(id),
        state: state.clone(),
        app: app.clone(),
        actor: actor.clone(),
        action: plan.action,
        summary: plan.summary,
    };
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let result = match std::panic::AssertUnwindSafe(work(op.clone())).catch_unwind().await {
            Ok(result) => result,
            Err(_) => Err(AppError::Other(anyhow!("the operation failed unexpectedly"))),
        };
        op.finish(result.as_ref().err().map(AppError::public_message)).await;
        let _ = tx.send(result);
    });
    Ok(Job { id, outcome: rx })
}

/// In the background: remove what the replaced processes of a rollout may
/// still use (a network they are on, a volume they mount), which the engine
/// refuses until they have stopped: tried again until it goes, for as long
/// as they may take to drain and stop. `what` names it in the warning if it
/// never does.
pub(crate) fn remove_once_retired<F, Fut>(state: &AppState, what: String, remove: F)
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let state = state.clone();
    tokio::spawn(async move {
        let patience = std::time::Duration::from_secs(state.config.drain_timeout + state.config.stop_grace + 30);
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match remove(state.clone()).await {
                Ok(()) => return,
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(error = %format!("{err:#}"), "could not remove {what}");
                    return;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    });
}
