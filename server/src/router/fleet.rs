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
    /// Where routers apart hand their access lines and request counts.
    #[serde(default)]
    pub control_url: Option<String>,
}

/// What a router apart hands the control plane every half second: its
/// access lines and request counts since the last time.
#[derive(Serialize, Deserialize)]
pub struct Handed {
    pub sent_at: chrono::DateTime<chrono::Utc>,
    pub lines: Vec<(String, crate::logs::LogLine)>,
    pub traffic: HashMap<String, crate::metrics::Counts>,
}

/// Where routers apart post what they hand over (sealed, as the routes).
pub const HAND_PATH: &str = "/internal/router-report";
const HAND_CONTEXT: &str = "router-report";

pub fn seal_handed(secrets: &Secrets, handed: &Handed) -> anyhow::Result<Vec<u8>> {
    secrets.seal_bytes(HAND_CONTEXT, &serde_json::to_vec(handed)?)
}

/// Open what a router apart handed over; `None` unless it was sealed with
/// this installation's key within the last five minutes (no replays).
pub fn open_handed(secrets: &Secrets, sealed: &[u8]) -> Option<Handed> {
    let handed: Handed = serde_json::from_slice(&secrets.open_bytes(HAND_CONTEXT, sealed).ok()?).ok()?;
    let age = chrono::Utc::now() - handed.sent_at;
    (age.num_seconds().abs() < 300).then_some(handed)
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
pub fn spawn_publisher(routes: Arc<RouteTable>, tls: Arc<Tls>, db: PgPool, secrets: Secrets, control_url: String) {
    tokio::spawn(async move {
        let mut changes = [routes.changes(), routes.policies.changes(), tls.changes(), tls.challenges.changes()];
        loop {
            let version = *changes[0].borrow_and_update();
            let challenges_version = *changes[3].borrow_and_update();
            for other in &mut changes[1..3] {
                other.borrow_and_update();
            }
            let doc = Published {
                table: routes.export(),
                challenges: tls.challenges.all(),
                control_url: Some(control_url.clone()),
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Secrets {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        Secrets::existing(Some(&encoded), None).unwrap()
    }

    fn handed(sent_at: chrono::DateTime<chrono::Utc>) -> Handed {
        let line = crate::logs::LogLine { at: sent_at, source: "router".into(), text: "GET / 200 1ms".into() };
        Handed { sent_at, lines: vec![("shop".into(), line)], traffic: HashMap::new() }
    }

    #[test]
    fn only_fresh_hand_overs_sealed_with_the_key_are_opened() {
        let (ours, theirs) = (key(1), key(2));
        let now = chrono::Utc::now();
        let fresh = seal_handed(&ours, &handed(now)).unwrap();
        let opened = open_handed(&ours, &fresh).expect("a fresh one opens");
        assert_eq!(opened.lines[0].1.text, "GET / 200 1ms");
        assert!(open_handed(&theirs, &fresh).is_none(), "another key's");
        let stale = seal_handed(&ours, &handed(now - chrono::TimeDelta::minutes(10))).unwrap();
        assert!(open_handed(&ours, &stale).is_none(), "a replay of an old one");
        let routes = seal(
            &ours,
            &Published { table: RouteTable::default().export(), challenges: HashMap::new(), control_url: None },
        )
        .unwrap();
        assert!(open_handed(&ours, &routes).is_none(), "sealed for another purpose");
    }
}
