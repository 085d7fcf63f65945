//! The control plane's side of routers apart (`paas router`): it publishes
//! its route table to PostgreSQL after every change, and before it stops a
//! replaced process it waits until no live router may still send it a
//! request. The router's side is `apart.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::watch;

use super::table::{self, Backend, RouteTable, Snapshot};
use crate::crypto::Secrets;
use crate::db;
use crate::tls::Tls;

/// What the published table is sealed under.
pub const SEAL_CONTEXT: &str = "routes";

/// What routers apart are fed. Certificates are not in it: a router apart
/// reads them (sealed) from their own table after each publication.
#[derive(Serialize, Deserialize)]
pub struct Published {
    #[serde(flatten)]
    pub table: Snapshot,
    /// Open ACME HTTP-01 challenges: token -> key authorization.
    #[serde(default)]
    pub challenges: HashMap<String, String>,
}

pub fn seal(secrets: &Secrets, doc: &Published) -> anyhow::Result<Vec<u8>> {
    secrets.seal_bytes(SEAL_CONTEXT, &serde_json::to_vec(doc)?)
}

pub fn open(secrets: &Secrets, sealed: &[u8]) -> anyhow::Result<Published> {
    Ok(serde_json::from_slice(&secrets.open_bytes(SEAL_CONTEXT, sealed)?)?)
}

/// Publish the table now and after every change of routes, policies,
/// certificates or challenges (bursts of changes make one publication),
/// until the process ends. A failed publication is tried again every second.
pub fn spawn_publisher(routes: Arc<RouteTable>, tls: Arc<Tls>, db: PgPool, secrets: Secrets) {
    tokio::spawn(async move {
        let mut changes = [routes.changes(), routes.policies.changes(), tls.changes(), tls.challenges.changes()];
        loop {
            let version = *changes[0].borrow_and_update();
            let challenges_version = *changes[3].borrow_and_update();
            for other in &mut changes[1..3] {
                other.borrow_and_update();
            }
            let doc = Published { table: routes.export(), challenges: tls.challenges.all() };
            let answers_challenges = !doc.challenges.is_empty();
            let published = match seal(&secrets, &doc) {
                Ok(sealed) => db::routers::publish(&db, &sealed).await.map_err(anyhow::Error::from),
                Err(err) => Err(err),
            };
            match published {
                Ok(generation) => {
                    routes.published.send_replace((version, generation));
                    if answers_challenges {
                        tokio::spawn(propagate_challenges(db.clone(), tls.clone(), generation, challenges_version));
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "could not publish the routes; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if !any_changed(&mut changes).await {
                return;
            }
        }
    });
}

/// Wait for the next change of any; false once they are all closed.
async fn any_changed(changes: &mut [watch::Receiver<u64>]) -> bool {
    let waits = changes.iter_mut().map(|c| Box::pin(c.changed()));
    futures_util::future::select_all(waits).await.0.is_ok()
}

/// Tell the ACME issuance when every live router apart serves `generation`
/// (and so answers its challenges); up to 5 s.
async fn propagate_challenges(db: PgPool, tls: Arc<Tls>, generation: i64, change: u64) {
    for _ in 0..50 {
        if matches!(db::routers::still_using(&db, generation, &[]).await, Ok(behind) if behind.is_empty()) {
            tls.challenges.propagated(change);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
