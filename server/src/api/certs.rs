//! HTTPS certificates of an app's names.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::Path;
use crate::auth::{app_access, CurrentUser, Role};
use crate::error::AppResult;
use crate::ops::certs::CertInfo;
use crate::ops::{self, Actor};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_certs, add_cert))
        .routes(routes!(refresh_certs))
        .routes(routes!(add_base_cert))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddCert {
    /// The certificate chain, PEM, the app's certificate first.
    pub chain: String,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1). Stored encrypted, never shown again.
    pub key: String,
}

/// Each name of the app (`APP.BASE_DOMAIN`, then its custom domains) with
/// its certificate's state.
#[utoipa::path(get, path = "/apps/{app}/certs", tag = "certs", params(("app" = String, Path)),
    responses((status = 200, body = Vec<CertInfo>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_certs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<CertInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Viewer, "viewing certificates").await?;
    Ok(Json(ops::certs::list(&state, &app).await?))
}

/// Upload a certificate: served for every name of the app it covers,
/// instead of an automatic one.
#[utoipa::path(post, path = "/apps/{app}/certs", tag = "certs", params(("app" = String, Path)), request_body = AddCert,
    responses((status = 201, body = Vec<CertInfo>), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_cert(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<AddCert>,
) -> AppResult<(StatusCode, Json<Vec<CertInfo>>)> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "adding certificates").await?;
    ops::certs::add(&state, &Actor::new(user, "api"), &app, &body.chain, &body.key).await?.outcome().await?;
    Ok((StatusCode::CREATED, Json(ops::certs::list(&state, &app).await?)))
}

/// Request automatic certificates again for the names whose issuance
/// failed or has not happened yet (say, once DNS points here).
#[utoipa::path(post, path = "/apps/{app}/certs/refresh", tag = "certs", params(("app" = String, Path)),
    responses((status = 200, body = Vec<CertInfo>), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn refresh_certs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> AppResult<Json<Vec<CertInfo>>> {
    let (app, _) = app_access(&state, &user, &app, Role::Developer, "requesting certificates").await?;
    Ok(Json(ops::certs::refresh(&state, &app).await?))
}

/// What a wildcard upload installed.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BaseCert {
    /// `*.BASE_DOMAIN`
    pub hostname: String,
}

/// Upload the base domain's wildcard certificate (`*.BASE_DOMAIN`), served
/// for every app's own name that has no certificate of its own (server
/// admins).
#[utoipa::path(post, path = "/certs", tag = "certs", request_body = AddCert,
    responses((status = 201, body = BaseCert), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_base_cert(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiJson(body): ApiJson<AddCert>,
) -> AppResult<(StatusCode, Json<BaseCert>)> {
    let hostname = ops::certs::add_base(&state, &Actor::new(user, "api"), &body.chain, &body.key).await?;
    Ok((StatusCode::CREATED, Json(BaseCert { hostname })))
}
