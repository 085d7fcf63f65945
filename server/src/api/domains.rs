//! Custom domains: the router sends that Host to the app.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{self, Source};
use super::ApiJson;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::apps::App;
use crate::db::domains::Domain;
use crate::db::users::User;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_domains, add_domain)).routes(routes!(remove_domain))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddDomain {
    pub hostname: String,
}

/// The app's custom domains.
#[utoipa::path(get, path = "/apps/{app}/domains", tag = "domains", params(("app" = String, Path)),
    responses((status = 200, body = Vec<Domain>)))]
pub async fn list_domains(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<Domain>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing domains").await?;
    Ok(Json(db::domains::list(&state.db, app.id).await?))
}

/// Route a host name to the app. A domain belongs to one app.
#[utoipa::path(post, path = "/apps/{app}/domains", tag = "domains", params(("app" = String, Path)), request_body = AddDomain,
    responses((status = 201, body = Domain), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_domain(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<AddDomain>,
) -> AppResult<(StatusCode, Json<Domain>)> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "adding domains").await?;
    Ok((StatusCode::CREATED, Json(add(&state, &user, &app, &body.hostname, source).await?)))
}

/// Stop routing a host name to the app.
#[utoipa::path(delete, path = "/apps/{app}/domains/{hostname}", tag = "domains", params(("app" = String, Path), ("hostname" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_domain(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Source(source): Source,
    Path((app, hostname)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "removing domains").await?;
    remove(&state, &user, &app, &hostname, source).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Attach a domain to an app, route it, record it. Shared by the API and the dashboard.
pub(crate) async fn add(state: &AppState, user: &User, app: &App, hostname: &str, source: &str) -> AppResult<Domain> {
    let hostname = validate_hostname(hostname, &state.config.base_domain)?;
    let domain = db::domains::add(&state.db, app.id, &hostname).await?;
    state.routes.add_domain(&hostname, &app.name);
    audit::record(state, user, Some(app.team_id), Some(&app.name), "domain.add", hostname, source).await?;
    Ok(domain)
}

/// Detach a domain; the lower-cased host name it removed.
pub(crate) async fn remove(
    state: &AppState,
    user: &User,
    app: &App,
    hostname: &str,
    source: &str,
) -> AppResult<String> {
    let hostname = hostname.trim().trim_end_matches('.').to_ascii_lowercase();
    if !db::domains::remove(&state.db, app.id, &hostname).await? {
        return Err(AppError::not_found(format!("{hostname} is not a domain of {}", app.name)));
    }
    state.routes.remove_domain(&hostname);
    audit::record(state, user, Some(app.team_id), Some(&app.name), "domain.remove", hostname.clone(), source).await?;
    Ok(hostname)
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
