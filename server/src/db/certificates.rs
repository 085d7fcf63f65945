//! The certificates the router serves, by host name (see `tls/`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

/// What users see of a certificate: never its key.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct CertState {
    pub hostname: String,
    pub source: String,
    pub state: String,
    pub not_after: Option<DateTime<Utc>>,
    pub issuer: Option<String>,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A certificate ready to serve.
#[derive(FromRow)]
pub struct Issued {
    pub hostname: String,
    pub app: Option<String>,
    pub chain_pem: String,
    pub key_sealed: Vec<u8>,
}

/// A certificate to write: its chain, sealed key and what was read from it.
pub struct NewCert<'a> {
    pub hostname: &'a str,
    pub app_id: Option<i64>,
    pub source: &'a str,
    pub chain_pem: &'a str,
    pub key_sealed: &'a [u8],
    pub not_after: DateTime<Utc>,
    pub issuer: &'a str,
}

pub async fn of_app(pool: &PgPool, app_id: i64) -> sqlx::Result<Vec<CertState>> {
    sqlx::query_as(
        "SELECT hostname, source, state, not_after, issuer, error, updated_at FROM certificates
         WHERE app_id = $1 ORDER BY hostname",
    )
    .bind(app_id)
    .fetch_all(pool)
    .await
}

pub async fn get(pool: &PgPool, hostname: &str) -> sqlx::Result<Option<CertState>> {
    sqlx::query_as(
        "SELECT hostname, source, state, not_after, issuer, error, updated_at FROM certificates WHERE hostname = $1",
    )
    .bind(hostname)
    .fetch_optional(pool)
    .await
}

/// Every certificate that can be served, with its app's name.
pub async fn issued(pool: &PgPool) -> sqlx::Result<Vec<Issued>> {
    sqlx::query_as(
        "SELECT c.hostname, a.name AS app, c.chain_pem, c.key_sealed FROM certificates c
         LEFT JOIN apps a ON a.id = c.app_id
         WHERE c.chain_pem IS NOT NULL AND c.key_sealed IS NOT NULL",
    )
    .fetch_all(pool)
    .await
}

/// Mark an ACME issuance as under way (a name already served stays
/// `issued` while it is renewed). An uploaded certificate is left as it is
/// (its owner chose it); returns whether the row is ACME's to issue.
pub async fn begin_acme(pool: &PgPool, hostname: &str, app_id: Option<i64>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO certificates (hostname, app_id, source, state) VALUES ($1, $2, 'acme', 'pending')
         ON CONFLICT (hostname) DO UPDATE
             SET state = CASE WHEN certificates.chain_pem IS NULL THEN 'pending' ELSE certificates.state END,
                 updated_at = now()
         WHERE certificates.source = 'acme'",
    )
    .bind(hostname)
    .bind(app_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Store a certificate (issued or uploaded), replacing what the name had;
/// but an ACME one never replaces an upload (made while it was being
/// issued). Returns whether it was stored.
pub async fn store(pool: &PgPool, cert: &NewCert<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO certificates (hostname, app_id, source, state, chain_pem, key_sealed, not_after, issuer)
         VALUES ($1, $2, $3, 'issued', $4, $5, $6, $7)
         ON CONFLICT (hostname) DO UPDATE SET app_id = $2, source = $3, state = 'issued', chain_pem = $4,
             key_sealed = $5, not_after = $6, issuer = $7, error = NULL, updated_at = now()
         WHERE certificates.source = 'acme' OR EXCLUDED.source = 'uploaded'",
    )
    .bind(cert.hostname)
    .bind(cert.app_id)
    .bind(cert.source)
    .bind(cert.chain_pem)
    .bind(cert.key_sealed)
    .bind(cert.not_after)
    .bind(cert.issuer)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An issuance failed: say why. A certificate issued before stays served
/// (and its state says `issued` until it expires): only the error is kept.
pub async fn fail(pool: &PgPool, hostname: &str, error: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE certificates SET state = CASE WHEN chain_pem IS NULL THEN 'failed' ELSE 'issued' END,
             error = $2, updated_at = now()
         WHERE hostname = $1",
    )
    .bind(hostname)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// ACME certificates to issue again: expiring within `window`, or failed
/// longer than `retry` ago.
pub async fn due(pool: &PgPool, window: chrono::Duration, retry: chrono::Duration) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT hostname FROM certificates WHERE source = 'acme'
           AND ((not_after IS NOT NULL AND not_after < now() + $1)
             OR (state = 'failed' AND updated_at < now() - $2))
         ORDER BY hostname",
    )
    .bind(window)
    .bind(retry)
    .fetch_all(pool)
    .await
}

pub async fn remove(pool: &PgPool, hostname: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM certificates WHERE hostname = $1").bind(hostname).execute(pool).await?;
    Ok(done.rows_affected() == 1)
}

/// The app a host name belongs to (its id and name): the app `app` names
/// (from `APP.BASE_DOMAIN`), or the app with the custom domain `hostname`.
pub async fn owner(pool: &PgPool, app: Option<&str>, hostname: &str) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, name FROM apps WHERE name = $1
         UNION ALL SELECT a.id, a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.hostname = $2
         LIMIT 1",
    )
    .bind(app.unwrap_or(""))
    .bind(hostname)
    .fetch_optional(pool)
    .await
}
