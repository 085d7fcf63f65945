//! Custom domains: the router sends that `Host` to the app. The row, the
//! audit event and the operation's end are one transaction.

use super::{launch, Actor, Job, Plan};
use crate::db;
use crate::db::apps::App;
use crate::db::domains::Domain;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Attach a domain to an app and route it.
pub async fn add(state: &AppState, actor: &Actor, app: &App, hostname: &str) -> AppResult<Job<Domain>> {
    let hostname = validate_hostname(hostname, &state.config.base_domain)?;
    let plan = Plan { action: "domain.add", summary: hostname.clone(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let mut tx = state.db.begin().await?;
        let domain = db::domains::add(&mut tx, op.app.id, &hostname).await?;
        db::audit::record(&mut tx, &op.audit("")).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        state.routes.add_domain(&hostname, &op.app.name);
        if state.tls.acme_enabled() {
            // Issued in the background: the domain's DNS may not point here
            // yet, and `paas certs` shows how it went.
            state.tls.issue(&hostname);
            op.out.step(format!("a certificate for {hostname} is being requested; `paas certs` shows its state"));
        }
        Ok(domain)
    })
    .await
}

/// Detach a domain; the job's outcome is the lower-cased host name it removed.
pub async fn remove(state: &AppState, actor: &Actor, app: &App, hostname: &str) -> AppResult<Job<String>> {
    let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
    if !db::domains::list(&state.db, app.id).await?.iter().any(|d| d.hostname == hostname) {
        return Err(AppError::not_found(format!("{hostname} is not a domain of {}", app.name)));
    }
    let plan = Plan { action: "domain.remove", summary: hostname.clone(), push: None };
    launch(state, app, actor, plan, move |op| async move {
        let state = &op.state;
        let mut tx = state.db.begin().await?;
        if !db::domains::remove(&mut tx, op.app.id, &hostname).await? {
            return Err(AppError::not_found(format!("{hostname} is not a domain of {}", op.app.name)));
        }
        db::audit::record(&mut tx, &op.audit("")).await?;
        db::operations::commit(&mut tx, op.id).await?;
        tx.commit().await?;
        state.routes.remove_domain(&hostname);
        if let Err(err) = state.tls.forget(&hostname).await {
            tracing::warn!(host = %hostname, error = %err, "could not delete the domain's certificate");
        }
        Ok(hostname)
    })
    .await
}

/// A lower-cased host name: DNS labels of letters, digits and hyphens, at
/// least two labels, not under the apps' base domain.
pub fn validate_hostname(hostname: &str, base_domain: &str) -> AppResult<String> {
    let host = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
    let fail = |why: &str| AppError::validation("hostname", format!("{hostname:?} is not a valid domain: {why}"));
    if host.is_empty() || host.len() > 253 {
        return Err(fail("it must be 1 to 253 characters"));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err(fail("it needs at least two labels, like www.example.com"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(fail("each label is 1 to 63 letters, digits or inner hyphens"));
        }
    }
    if host == base_domain || host.ends_with(&format!(".{base_domain}")) {
        return Err(fail(&format!("names under {base_domain} belong to apps already")));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::validate_hostname;

    #[test]
    fn hostnames() {
        assert_eq!(validate_hostname("WWW.Example.com.", "paas.test").unwrap(), "www.example.com");
        for bad in ["localhost", "a..b", "-a.com", "a_b.com", "x.paas.test", "exa mple.com"] {
            assert!(validate_hostname(bad, "paas.test").is_err(), "{bad}");
        }
    }
}
