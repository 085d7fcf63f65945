//! The REST API under `/api/v1`: JSON in and out, bearer tokens, errors as
//! `{"error":{"code","message"}}`. Routes and the OpenAPI document come from
//! the same `routes!` lists, so the document always lists every route.

pub mod apps;
pub mod audit;
pub mod builds;
pub mod config;
pub mod domains;
pub mod formation;
pub mod logs;
pub mod operations;
pub mod releases;
pub mod teams;
pub mod tokens;
pub mod users;

use axum::extract::FromRequest;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
use crate::state::AppState;

/// A JSON body whose rejection is an `AppError` (so bad bodies get JSON errors).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

#[derive(OpenApi)]
#[openapi(
    info(title = "paas", description = "REST API of the paas control plane. Authenticate with `Authorization: Bearer TOKEN`."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}

fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(
        "/api/v1",
        OpenApiRouter::new()
            .merge(tokens::router())
            .merge(users::router())
            .merge(teams::router())
            .merge(apps::router())
            .merge(releases::router())
            .merge(config::router())
            .merge(formation::router())
            .merge(logs::router())
            .merge(operations::router())
            .merge(domains::router())
            .merge(builds::router())
            .merge(audit::router()),
    )
}

/// The API's routes and its OpenAPI document, built together. The document
/// is serialized once, here.
pub fn router() -> Router<AppState> {
    let (routes, doc) = documented_routes().split_for_parts();
    let json = bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    routes.route(
        "/api/v1/openapi.json",
        get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json.clone()) }),
    )
}
