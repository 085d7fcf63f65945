//! Reading the audit log: team admins see their teams', server admins
//! everything. Events are written by the operations that make the changes,
//! with the interface the change came through (`api`, `dashboard`, `git`):
//! set by the server, never by a header.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Query;
use crate::auth::{app_access, CurrentUser, Role};
use crate::db;
use crate::db::audit::AuditEvent;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this app's events.
    pub app: Option<String>,
    /// At most this many, newest first: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
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
    let limit = super::bounded("limit", query.limit, 100, 1, 1000)?;
    let teams: Option<Vec<i64>> =
        if user.is_admin { None } else { Some(db::teams::admin_team_ids(&state.db, user.id).await?) };
    let app_id = match &query.app {
        Some(app) => Some(app_access(&state, &user, app, Role::Admin, "reading the audit log").await?.0.id),
        None if teams.as_ref().is_some_and(|t| t.is_empty()) => {
            return Err(AppError::Forbidden("the audit log is for team admins and owners".into()));
        }
        None => None,
    };
    Ok(Json(db::audit::list(&state.db, teams.as_deref(), app_id, limit).await?))
}
