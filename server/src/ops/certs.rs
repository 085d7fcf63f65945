//! HTTPS for an app: the certificate of each of its names, certificates
//! its owners upload, and its redirect and HSTS settings.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The certificate state of one of an app's names.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertInfo {
    pub hostname: String,
    /// `issued`; `pending` (being requested, or requested at the first HTTPS
    /// request for it); `failed` (see `error`); `none` (no certificate, and
    /// automatic certificates are off).
    pub state: String,
    /// `acme`, `uploaded`, or `wildcard` (the base domain's certificate).
    pub source: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub issuer: Option<String>,
    /// Why the last issuance failed, as the ACME server said.
    pub error: Option<String>,
}

/// Every name of the app (`APP.BASE_DOMAIN` first, then its custom
/// domains) with its certificate.
pub async fn list(state: &AppState, app: &App) -> AppResult<Vec<CertInfo>> {
    let stored = db::certificates::of_app(&state.db, app.id).await?;
    let names = hostnames(state, app).await?;
    let acme = state.tls.acme_enabled();
    Ok(names
        .into_iter()
        .map(|hostname| match stored.iter().find(|c| c.hostname == hostname) {
            Some(cert) => CertInfo {
                hostname,
                state: cert.state.clone(),
                source: Some(cert.source.clone()),
                expires_at: cert.not_after,
                issuer: cert.issuer.clone(),
                error: cert.error.clone(),
            },
            None => {
                let wildcard = state.tls.resolve(&hostname).is_some();
                CertInfo {
                    state: if wildcard {
                        "issued"
                    } else if acme {
                        "pending"
                    } else {
                        "none"
                    }
                    .to_string(),
                    source: wildcard.then(|| "wildcard".to_string()),
                    hostname,
                    expires_at: None,
                    issuer: None,
                    error: None,
                }
            }
        })
        .collect())
}

async fn hostnames(state: &AppState, app: &App) -> AppResult<Vec<String>> {
    let own = format!("{}.{}", app.name, state.config.base_domain);
    let domains = db::domains::list(&state.db, app.id).await?;
    Ok(std::iter::once(own).chain(domains.into_iter().map(|d| d.hostname)).collect())
}

/// Serve an uploaded certificate (PEM chain, leaf first, and its key) for
/// every name of the app it covers; ACME leaves those names alone.
pub async fn add(state: &AppState, actor: &Actor, app: &App, chain: &str, key: &str) -> AppResult<Job<Vec<String>>> {
    let parsed = crate::tls::parse(chain, key).map_err(|e| AppError::validation("certificate", e))?;
    if parsed.not_after < Utc::now() {
        return Err(AppError::validation("certificate", format!("the certificate expired on {}", parsed.not_after)));
    }
    let names = hostnames(state, app).await?;
    let covered: Vec<String> =
        names.iter().filter(|n| parsed.names.iter().any(|c| crate::tls::covers(c, n))).cloned().collect();
    if covered.is_empty() {
        let has = if parsed.names.is_empty() { "no DNS names".to_string() } else { parsed.names.join(", ") };
        return Err(AppError::validation(
            "certificate",
            format!("the certificate is for {has}, none of {}'s names ({})", app.name, names.join(", ")),
        ));
    }
    let plan = Plan { action: "cert.add", summary: covered.join(" "), push: None };
    let (chain, key) = (chain.to_string(), key.to_string());
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        for hostname in &covered {
            state
                .tls
                .install(hostname, Some((op.app.id, &op.app.name)), "uploaded", &chain, &key)
                .await
                .map_err(AppError::Other)?;
            op.out.step(format!("{hostname} is served with the uploaded certificate"));
        }
        let mut tx = state.db.begin().await?;
        db::audit::record(&mut tx, &op.audit("")).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        Ok(covered)
    })
    .await
}

/// Serve an uploaded wildcard certificate for every app's own name
/// (`*.BASE_DOMAIN`), instead of one ACME certificate per app (server
/// admins; an app's own or ACME certificate for a name still comes first).
pub async fn add_base(state: &AppState, actor: &Actor, chain: &str, key: &str) -> AppResult<String> {
    if !actor.user.is_admin {
        return Err(AppError::Forbidden("only server admins can set the base domain's certificate".into()));
    }
    let parsed = crate::tls::parse(chain, key).map_err(|e| AppError::validation("certificate", e))?;
    let wildcard = format!("*.{}", state.config.base_domain);
    if !parsed.names.contains(&wildcard) {
        let has = if parsed.names.is_empty() { "no DNS names".to_string() } else { parsed.names.join(", ") };
        return Err(AppError::validation("certificate", format!("the certificate is for {has}, not {wildcard}")));
    }
    if parsed.not_after < Utc::now() {
        return Err(AppError::validation("certificate", format!("the certificate expired on {}", parsed.not_after)));
    }
    state.tls.install(&wildcard, None, "uploaded", chain, key).await?;
    let mut tx = state.db.begin().await?;
    db::audit::record(&mut tx, &actor.user_event("cert.add", wildcard.clone())).await?;
    tx.commit().await?;
    Ok(wildcard)
}

/// Ask ACME again for the app's names whose certificate failed or was never
/// requested (after DNS was fixed, say), without waiting for the retry.
pub async fn refresh(state: &AppState, app: &App) -> AppResult<Vec<CertInfo>> {
    if !state.tls.acme_enabled() {
        return Err(AppError::Conflict(
            "automatic certificates are off on this server (it has no --acme-email or --acme-directory)".into(),
        ));
    }
    for cert in list(state, app).await? {
        if matches!(cert.state.as_str(), "failed" | "pending") {
            state.tls.issue(&cert.hostname);
        }
    }
    list(state, app).await
}

/// Change the app's HTTPS settings; `None` keeps one as it is.
pub async fn set_https(
    state: &AppState,
    actor: &Actor,
    app: &App,
    redirect: Option<bool>,
    hsts: Option<bool>,
) -> AppResult<Job<App>> {
    let (redirect, hsts) = (redirect.unwrap_or(app.https_redirect), hsts.unwrap_or(app.hsts));
    let onoff = |on: bool| if on { "on" } else { "off" };
    let summary = format!("redirect {} hsts {}", onoff(redirect), onoff(hsts));
    let plan = Plan { action: "app.https", summary, push: None };
    launch(state, app, actor, plan, move |op| async move {
        db::apps::set(&op.state.db, op.app.id, db::apps::Setting::Https { redirect, hsts }, &op.audit(""), op.id)
            .await?;
        let app = App { https_redirect: redirect, hsts, ..op.app.clone() };
        super::apps::apply_policy(&op.state, &app).await?;
        op.out.step(format!("HTTP to HTTPS redirect {}, HSTS {}", onoff(redirect), onoff(hsts)));
        Ok(app)
    })
    .await
}
