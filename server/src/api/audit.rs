//! The audit log: who changed what, from where. Recording is a helper every
//! mutating handler calls; reading is for team admins (their teams) and
//! server admins (everything).

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::audit::AuditEvent;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// Where a request came from: `X-Paas-Source: cli|dashboard`, else `api`.
pub struct Source(pub &'static str);

impl FromRequestParts<AppState> for Source {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> AppResult<Self> {
        let header = parts.headers.get("x-paas-source").and_then(|v| v.to_str().ok());
        Ok(Source(match header {
            Some("cli") => "cli",
            Some("dashboard") => "dashboard",
            _ => "api",
        }))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this app's events.
    pub app: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Audit events you may see: your teams' as a team admin or owner, all as a
/// server admin.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEvent>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(query): Query<AuditQuery>,
) -> AppResult<Json<Vec<AuditEvent>>> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let teams: Option<Vec<i64>> =
        if user.is_admin { None } else { Some(db::teams::admin_team_ids(&state.db, user.id).await?) };
    if let Some(app) = &query.app {
        app_access(&state, &user, app, Role::Admin, "reading the audit log").await?;
    } else if teams.as_ref().is_some_and(|t| t.is_empty()) {
        return Err(AppError::Forbidden("the audit log is for team admins and owners".into()));
    }
    Ok(Json(db::audit::list(&state.db, teams.as_deref(), query.app.as_deref(), limit).await?))
}
