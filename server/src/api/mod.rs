//! The REST API under `/api/v1`: JSON in and out, bearer tokens, errors as
//! `{"error":{"code","message"}}`. Routes and the OpenAPI document come from
//! the same `routes!` lists, so the document always lists every route.

pub mod addons;
pub mod apps;
pub mod audit;
pub mod builds;
pub mod certs;
pub mod config;
pub mod contract;
pub mod domains;
pub mod formation;
pub mod logs;
pub mod metrics;
pub mod operations;
pub mod platform;
pub mod releases;
pub mod runs;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod volumes;

use axum::extract::{FromRequest, FromRequestParts};
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

/// Path parameters whose rejection is a JSON error (422).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// A query string whose rejection is a JSON error (422).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

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
            .merge(platform::router())
            .merge(teams::router())
            .merge(apps::router())
            .merge(releases::router())
            .merge(config::router())
            .merge(formation::router())
            .merge(runs::router())
            .merge(volumes::router())
            .merge(addons::router())
            .merge(logs::router())
            .merge(metrics::router())
            .merge(operations::router())
            .merge(domains::router())
            .merge(certs::router())
            .merge(builds::router())
            .merge(audit::router()),
    )
}

/// One server-sent event of a stream, as a client reads it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SseEvent {
    /// The event's type (`line`, `end`); absent for plain messages.
    pub event: Option<String>,
    /// Its payload, one line of text or a JSON document.
    pub data: String,
}

/// A query number within its documented bounds (a value outside them is
/// refused, not quietly clamped).
pub fn bounded(name: &str, value: Option<i64>, default: i64, min: i64, max: i64) -> crate::error::AppResult<i64> {
    match value {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(AppError::validation(name, format!("{name} must be {min} to {max}, not {v}"))),
    }
}

/// An optional whole number from a JSON body, also when written with a zero
/// fraction (`3.0`), which JSON Schema's `integer` admits and some clients
/// send.
pub fn whole<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    use serde::Deserialize;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    let exact = |f: f64| (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i64);
    number
        .as_i64()
        .or_else(|| number.as_f64().and_then(exact))
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number in range, not {number}")))
}

/// An optional field that, when present, has a value: `null` is refused
/// (leaving the field out is how to keep what is there).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The API's routes and its OpenAPI document, built together. The document
/// is serialized once, here.
pub fn router() -> Router<AppState> {
    let (routes, doc) = documented_routes().split_for_parts();
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    contract::complete(&mut doc);
    let json = bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    routes.route(
        "/api/v1/openapi.json",
        get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json.clone()) }),
    )
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole")]
        n: Option<i32>,
    }

    fn parse(json: &str) -> Result<Option<i32>, serde_json::Error> {
        serde_json::from_str::<Body>(json).map(|b| b.n)
    }

    #[test]
    fn whole_numbers_may_carry_a_zero_fraction() {
        assert_eq!(parse(r#"{"n": 3}"#).unwrap(), Some(3));
        assert_eq!(parse(r#"{"n": 38.0}"#).unwrap(), Some(38));
        assert_eq!(parse(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        assert!(parse(r#"{"n": 2.5}"#).is_err());
        assert!(parse(r#"{"n": 3000000000}"#).is_err());
        assert!(parse(r#"{"n": "3"}"#).is_err());
    }
}
