//! The control plane's side of routers apart (`paas router`): it publishes
//! its route table to PostgreSQL after every change, and before it stops a
//! replaced process it waits until no live router may still send it a
//! request. The router's side is `apart.rs`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use super::table::{self, Backend, RouteTable, Snapshot};
use crate::crypto::Secrets;
use crate::db;

/// What the published table is sealed under.
pub const SEAL_CONTEXT: &str = "routes";

pub fn seal(secrets: &Secrets, doc: &Snapshot) -> anyhow::Result<Vec<u8>> {
    secrets.seal_bytes(SEAL_CONTEXT, &serde_json::to_vec(doc)?)
}

pub fn open(secrets: &Secrets, sealed: &[u8]) -> anyhow::Result<Snapshot> {
    Ok(serde_json::from_slice(&secrets.open_bytes(SEAL_CONTEXT, sealed)?)?)
}

/// Publish the table now and after every change (bursts of changes make one
/// publication), until the process ends. A failed publication is tried
/// again every second.
pub fn spawn_publisher(routes: Arc<RouteTable>, db: PgPool, secrets: Secrets) {
    tokio::spawn(async move {
        let (mut changes, mut policies) = (routes.changes(), routes.policies.changes());
        loop {
            let version = *changes.borrow_and_update();
            policies.borrow_and_update();
            let published = match seal(&secrets, &routes.export()) {
                Ok(sealed) => db::routers::publish(&db, &sealed).await.map_err(anyhow::Error::from),
                Err(err) => Err(err),
            };
            match published {
                Ok(generation) => {
                    routes.published.send_replace((version, generation));
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "could not publish the routes; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                changed = policies.changed() => if changed.is_err() { return },
            }
        }
    });
}

/// Wait until no request is in flight to `backends`, here or in any live
/// router apart, and every live router serves a table without them (they
/// have left this table already). Returns whether that happened within
/// `timeout`.
pub async fn drain(routes: &RouteTable, db: &PgPool, backends: &[Arc<Backend>], timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let version = routes.version();
    let here = table::drain(backends, timeout).await;
    if backends.is_empty() {
        return here;
    }
    let mut published = routes.published.subscribe();
    let generation = match tokio::time::timeout_at(deadline, published.wait_for(|(v, _)| *v >= version)).await {
        Ok(Ok(done)) => done.1,
        _ => {
            tracing::warn!("the routes were not published within the drain timeout; routers apart may still use the replaced processes");
            return false;
        }
    };
    let containers: Vec<String> = backends.iter().map(|b| b.container_id.clone()).collect();
    loop {
        let using = db::routers::still_using(db, generation, &containers).await;
        if matches!(&using, Ok(names) if names.is_empty()) {
            return here;
        }
        if tokio::time::Instant::now() >= deadline {
            match using {
                Ok(names) => {
                    tracing::warn!(routers = ?names, "routers apart still used the replaced processes after the drain timeout")
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot tell whether routers apart still use the replaced processes")
                }
            }
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
