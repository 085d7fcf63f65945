//! HTTPS for the router. Certificates are kept by host name in PostgreSQL
//! (the key sealed with the server's secret key) and in memory for the
//! handshakes: issued through ACME's HTTP-01 challenge, which the router
//! answers (`acme.rs`), or uploaded (`paas certs:add`, a base-domain
//! wildcard among them). A name with no certificate yet is issued on
//! demand: when a custom domain is added, or during the first handshake
//! that asks for it (which waits for it). A loop renews certificates due
//! to expire and retries failed ones.
//!
//! (Per app, plain HTTP may be redirected to HTTPS and HSTS sent over it:
//! see `router::policy`.)

pub mod acme;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::crypto::Secrets;
use crate::db;

/// How long a handshake waits for a certificate issued on demand.
pub const ISSUE_WAIT: Duration = Duration::from_secs(30);
/// A failed issuance is not tried again on demand before this.
const RETRY_FAILED: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

pub struct Tls {
    db: PgPool,
    secrets: Secrets,
    base_domain: String,
    /// Host name (or `*.parent`) -> the certificate served for it, and its app.
    certs: RwLock<HashMap<String, Served>>,
    /// ACME HTTP-01 challenges, while an order is open.
    pub challenges: Challenges,
    /// Counts changes of the certificates served, for whoever publishes them.
    changes: crate::changes::Changes,
    /// Issuances under way; each receiver turns true when it ends.
    issuing: Mutex<HashMap<String, watch::Receiver<bool>>>,
    acme: Option<acme::Acme>,
    /// The HTTPS listener's port, for redirects.
    pub https_port: Option<u16>,
    /// The main runtime, where database work and issuance run.
    main: tokio::runtime::Handle,
}

/// ACME HTTP-01 token -> key authorization, while an order is open. Routers
/// apart answer them too: a change is published to them, and the ACME server
/// is told a challenge is ready only once they have it.
#[derive(Default)]
pub struct Challenges {
    open: RwLock<HashMap<String, String>>,
    /// Counts changes, for whoever publishes them.
    changes: crate::changes::Changes,
    /// The last change every live router apart has applied.
    propagated: watch::Sender<u64>,
}

impl Challenges {
    pub fn get(&self, token: &str) -> Option<String> {
        self.open.read().ok()?.get(token).cloned()
    }

    /// Answer `token` from now on; returns the change to wait for.
    pub fn open(&self, token: &str, answer: String) -> u64 {
        self.open.write().unwrap_or_else(|p| p.into_inner()).insert(token.to_string(), answer);
        self.changes.bump()
    }

    pub fn close(&self, tokens: &[String]) {
        let mut open = self.open.write().unwrap_or_else(|p| p.into_inner());
        for token in tokens {
            open.remove(token);
        }
        drop(open);
        self.changes.bump();
    }

    pub fn all(&self) -> HashMap<String, String> {
        self.open.read().map(|open| open.clone()).unwrap_or_default()
    }

    /// Answer exactly these (a router apart, fed what was published).
    pub fn replace(&self, all: HashMap<String, String>) {
        *self.open.write().unwrap_or_else(|p| p.into_inner()) = all;
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every live router apart has applied `change` (the publisher says).
    pub fn propagated(&self, change: u64) {
        self.propagated.send_if_modified(|done| {
            let newer = change > *done;
            if newer {
                *done = change;
            }
            newer
        });
    }

    /// Wait until routers apart answer `change`'s challenges too (a few
    /// seconds at most: without routers apart, at once).
    pub async fn wait_propagated(&self, change: u64) {
        let mut done = self.propagated.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(5), done.wait_for(|done| *done >= change)).await;
        if waited.is_err() {
            tracing::warn!("routers apart did not take an ACME challenge within 5 s; asking for validation anyway");
        }
    }
}

struct Served {
    key: Arc<CertifiedKey>,
    app: Option<String>,
}

/// What a certificate says of itself.
pub struct Parsed {
    pub key: CertifiedKey,
    /// Its DNS names (subject alternative names).
    pub names: Vec<String>,
    pub not_after: DateTime<Utc>,
    pub issuer: String,
}

impl Tls {
    /// Call from within the main runtime.
    pub fn new(
        db: PgPool,
        secrets: Secrets,
        base_domain: String,
        acme: Option<acme::Acme>,
        https_port: Option<u16>,
    ) -> Self {
        Self {
            db,
            secrets,
            base_domain,
            certs: RwLock::default(),
            challenges: Challenges::default(),
            changes: Default::default(),
            issuing: Mutex::default(),
            acme,
            https_port,
            main: tokio::runtime::Handle::current(),
        }
    }

    pub fn acme_enabled(&self) -> bool {
        self.acme.is_some()
    }

    /// Serve every stored certificate, and only those (at start; a router
    /// apart after each change).
    pub async fn load(&self) -> anyhow::Result<()> {
        let mut loaded = HashMap::new();
        for stored in db::certificates::issued(&self.db).await? {
            let key = match self.secrets.open(&key_context(&stored.hostname), &stored.key_sealed) {
                Ok(key) => key,
                Err(err) => {
                    tracing::error!(host = %stored.hostname, error = %err, "cannot open a certificate's key");
                    continue;
                }
            };
            match parse(&stored.chain_pem, &key) {
                Ok(parsed) => {
                    loaded.insert(stored.hostname, Served { key: Arc::new(parsed.key), app: stored.app });
                }
                Err(err) => tracing::error!(host = %stored.hostname, error = %err, "a stored certificate is unusable"),
            }
        }
        *self.certs.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    /// Counts changes of the certificates served.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The certificate for a name: its own, else a wildcard of its parent.
    pub fn resolve(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.read().ok()?;
        if let Some(served) = certs.get(name) {
            return Some(served.key.clone());
        }
        let parent = name.split_once('.')?.1;
        certs.get(&format!("*.{parent}")).map(|served| served.key.clone())
    }

    /// The key authorization for an HTTP-01 token being validated.
    pub fn challenge(&self, token: &str) -> Option<String> {
        self.challenges.get(token)
    }

    fn serve(&self, hostname: &str, app: Option<String>, key: CertifiedKey) {
        let mut certs = self.certs.write().unwrap_or_else(|p| p.into_inner());
        certs.insert(hostname.to_string(), Served { key: Arc::new(key), app });
        drop(certs);
        self.changes.bump();
    }

    /// Stop serving a name's certificate and delete it.
    pub async fn forget(&self, hostname: &str) -> sqlx::Result<()> {
        self.certs.write().unwrap_or_else(|p| p.into_inner()).remove(hostname);
        let removed = db::certificates::remove(&self.db, hostname).await.map(drop);
        self.changes.bump();
        removed
    }

    /// An app is gone: its certificates (the rows went with it).
    pub fn forget_app(&self, app: &str) {
        self.certs.write().unwrap_or_else(|p| p.into_inner()).retain(|_, s| s.app.as_deref() != Some(app));
        self.changes.bump();
    }

    /// Seal, store and serve a certificate for `hostname`.
    pub async fn install(
        &self,
        hostname: &str,
        owner: Option<(i64, &str)>,
        source: &str,
        chain_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<Parsed> {
        let parsed = parse(chain_pem, key_pem).map_err(anyhow::Error::msg)?;
        let sealed = self.secrets.seal(&key_context(hostname), key_pem)?;
        let cert = db::certificates::NewCert {
            hostname,
            app_id: owner.map(|(id, _)| id),
            source,
            chain_pem,
            key_sealed: &sealed,
            not_after: parsed.not_after,
            issuer: &parsed.issuer,
        };
        if db::certificates::store(&self.db, &cert).await? {
            self.serve(hostname, owner.map(|(_, app)| app.to_string()), parsed.key.clone());
        }
        Ok(parsed)
    }

    /// Issue a certificate for `hostname` through ACME in the background
    /// (once, however many ask); the receiver turns true when it ends.
    pub fn issue(self: &Arc<Self>, hostname: &str) -> watch::Receiver<bool> {
        let mut issuing = self.issuing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(done) = issuing.get(hostname) {
            return done.clone();
        }
        let (tx, rx) = watch::channel(false);
        issuing.insert(hostname.to_string(), rx.clone());
        let (tls, hostname) = (self.clone(), hostname.to_string());
        self.main.spawn(async move {
            tls.issue_now(&hostname).await;
            tls.issuing.lock().unwrap_or_else(|p| p.into_inner()).remove(&hostname);
            let _ = tx.send(true);
        });
        rx
    }

    /// A handshake asks for a name with no certificate: issue one if the
    /// name is an app's and ACME is on, and wait for it a while.
    pub async fn on_demand(self: &Arc<Self>, hostname: &str) {
        if self.acme.is_none() || self.resolve(hostname).is_some() {
            return;
        }
        let mut done = self.issue(hostname);
        let _ = tokio::time::timeout(ISSUE_WAIT, done.wait_for(|done| *done)).await;
    }

    async fn issue_now(&self, hostname: &str) {
        let Some(acme) = &self.acme else { return };
        let app = crate::router::app_for_host(hostname, &self.base_domain);
        let owner = match db::certificates::owner(&self.db, app.as_deref(), hostname).await {
            Ok(Some(owner)) => owner,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(host = %hostname, error = %err, "cannot tell whose name this is");
                return;
            }
        };
        // A failure is not retried at every handshake: the renewal loop (or
        // `certs:refresh`) tries again later.
        if let Ok(Some(known)) = db::certificates::get(&self.db, hostname).await {
            let recent = Utc::now() - known.updated_at < RETRY_FAILED;
            if known.state == "failed" && recent && self.resolve(hostname).is_none() {
                return;
            }
        }
        self.issue_for(acme, hostname, (owner.0, &owner.1)).await;
    }

    async fn issue_for(&self, acme: &acme::Acme, hostname: &str, owner: (i64, &str)) {
        match db::certificates::begin_acme(&self.db, hostname, Some(owner.0)).await {
            Ok(true) => {}
            Ok(false) => return, // an uploaded certificate: the owner's choice
            Err(err) => {
                tracing::warn!(host = %hostname, error = %err, "cannot record an issuance");
                return;
            }
        }
        let began = std::time::Instant::now();
        let issued = acme.issue(hostname, &self.challenges).await;
        let installed = match issued {
            Ok((chain, key)) => {
                self.install(hostname, Some(owner), "acme", &chain, &key).await.map_err(|e| format!("{e:#}"))
            }
            Err(err) => Err(err),
        };
        match installed {
            Ok(parsed) => tracing::info!(host = %hostname, app = %owner.1, until = %parsed.not_after,
                ms = began.elapsed().as_millis() as u64, "certificate issued"),
            Err(err) => {
                tracing::warn!(host = %hostname, app = %owner.1, error = %err, "certificate not issued");
                if let Err(db_err) = db::certificates::fail(&self.db, hostname, &err).await {
                    tracing::warn!(host = %hostname, error = %db_err, "cannot record a failed issuance");
                }
            }
        }
    }

    /// Issue again what expires within `window` or failed a while ago, every
    /// `every`, until the server stops.
    pub fn spawn_renewals(self: &Arc<Self>, every: Duration, window: Duration) {
        if self.acme.is_none() {
            return;
        }
        let tls = self.clone();
        self.main.spawn(async move {
            let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(30));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let due = match db::certificates::due(&tls.db, window, RETRY_FAILED).await {
                    Ok(due) => due,
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot list the certificates to renew");
                        continue;
                    }
                };
                for hostname in due {
                    let mut done = tls.issue(&hostname);
                    let _ = done.wait_for(|done| *done).await;
                }
            }
        });
    }
}

/// The context a certificate's key is sealed under.
fn key_context(hostname: &str) -> String {
    format!("certificate/{hostname}")
}

/// Read a PEM chain (leaf first) and its PEM private key, checking that
/// they belong together.
pub fn parse(chain_pem: &str, key_pem: &str) -> Result<Parsed, String> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not PEM: {e}"))?;
    let Some(leaf) = chain.first() else {
        return Err("no certificate found: expected PEM blocks starting with -----BEGIN CERTIFICATE-----".into());
    };
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| format!("the private key is not PEM: {e}"))?
        .ok_or("no private key found: expected a PEM block like -----BEGIN PRIVATE KEY-----")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("unreadable certificate: {e}"))?;
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0).unwrap_or_default();
    let issuer = cert.issuer().to_string();
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(chain.clone(), key, &provider)
        .map_err(|e| format!("the private key does not match the certificate: {e}"))?;
    Ok(Parsed { key, names, not_after, issuer })
}

/// Whether a certificate name (maybe `*.parent`) covers `hostname`.
pub fn covers(name: &str, hostname: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(parent) => hostname.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => name == hostname,
    }
}

/// rustls asks this for the certificate of each handshake.
#[derive(Debug)]
pub struct Resolver(pub Arc<Tls>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("acme", &self.acme.is_some()).finish_non_exhaustive()
    }
}

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.resolve(&hello.server_name()?.to_ascii_lowercase())
    }
}

/// The router's TLS settings: certificates by SNI, HTTP/2 and HTTP/1.1.
pub fn server_config(tls: Arc<Tls>) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(tls)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.paas.test", "shop.paas.test"));
        assert!(!covers("*.paas.test", "a.shop.paas.test"));
        assert!(!covers("*.paas.test", "paas.test"));
        assert!(covers("www.example.com", "www.example.com"));
        assert!(!covers("www.example.com", "example.com"));
    }
}
