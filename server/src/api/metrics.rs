//! An app's metrics history: what the dashboard's Metrics tab draws.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Path, Query};
use crate::auth::{app_access, CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::metrics::history::{self, History};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show_metrics))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// The last hour, in 1-minute steps.
    Hour,
    /// The last day, in 10-minute steps.
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// `hour` (the default) or `day`.
    #[param(inline)]
    pub period: Option<Period>,
}

/// The app's requests per minute, 5xx share and latency percentiles (from
/// the router), and CPU and memory per process type (from the engine), as
/// the server sampled them (every `--metrics-interval`, kept two days).
#[utoipa::path(get, path = "/apps/{app}/metrics", tag = "metrics", params(("app" = String, Path), MetricsQuery),
    responses((status = 200, body = History), (status = 404, body = crate::error::ErrorBody)))]
pub async fn show_metrics(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> AppResult<Json<History>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing metrics").await?;
    let period = match query.period.unwrap_or(Period::Hour) {
        Period::Hour => "hour",
        Period::Day => "day",
    };
    let found = history::history(&state.db, app.id, period).await?;
    found.map(Json).ok_or_else(|| AppError::validation("period", "period is hour or day"))
}
