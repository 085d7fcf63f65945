//! Forwarding one request: pick a backend, add `X-Forwarded-*`, stream the
//! bodies, pass WebSocket upgrades through, and retry on another backend only
//! when no connection could be made (and the request had no body to lose).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use super::table::Backend;
use super::RouterState;

const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"];

pub async fn forward(
    State(state): State<RouterState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let app = super::app_for_host(&host, &state.base_domain).or_else(|| {
        let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h).trim_end_matches('.').to_ascii_lowercase();
        state.routes.app_for_domain(&bare)
    });
    let Some(app) = app else {
        return plain(StatusCode::NOT_FOUND, format!("No app is served at {host}.\n"));
    };
    let started = std::time::Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = proxy(&state, &app, &host, peer, request).await;
    let line = format!("{method} {path} {} {}ms", response.status().as_u16(), started.elapsed().as_millis());
    state.logs.push(&app, "router", &line);
    response
}

async fn proxy(state: &RouterState, app: &str, host: &str, peer: SocketAddr, mut request: Request) -> Response {
    let route = state.routes.get(app);
    let backends = route.as_ref().map(|r| r.pick_order()).unwrap_or_default();
    if route.as_ref().is_some_and(|r| r.wanted == 0) {
        return plain(StatusCode::SERVICE_UNAVAILABLE, format!("{app} runs no web process (web is scaled to 0).\n"));
    }
    if route.is_some() && backends.is_empty() {
        // A live release whose every web process is down or failing its
        // health check: say so at once rather than hang.
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{app} has no healthy web process right now: each one is down or failing its health check, \
                 and the platform is replacing them. Try again in a moment.\n"
            ),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    }
    if backends.is_empty() {
        return match crate::db::apps::exists(&state.db, app).await {
            Ok(true) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("{app} has no running release yet.\n")),
            Ok(false) => plain(StatusCode::NOT_FOUND, format!("No app is served at {host}.\n")),
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "The router cannot reach its database.\n".into()),
        };
    }

    let upgrade = request.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let bodyless = body_is_empty(&parts.headers, &body);
    prepare_headers(&mut parts.headers, peer, host, upgrade);
    let mut body = Some(body);

    for (attempt, backend) in backends.iter().enumerate() {
        let uri = match backend_uri(backend, &parts.uri) {
            Ok(uri) => uri,
            Err(_) => return plain(StatusCode::BAD_REQUEST, "Bad request target.\n".into()),
        };
        let mut outgoing =
            axum::http::Request::builder().method(parts.method.clone()).uri(uri).version(axum::http::Version::HTTP_11);
        if let Some(headers) = outgoing.headers_mut() {
            *headers = parts.headers.clone();
        }
        let outgoing_body = match body.take() {
            Some(b) => b,
            None => Body::empty(),
        };
        let Ok(outgoing) = outgoing.body(outgoing_body) else {
            return plain(StatusCode::BAD_REQUEST, "Bad request.\n".into());
        };
        let guard = backend.enter();
        let answered = match tokio::time::timeout(state.response_timeout, state.client.request(outgoing)).await {
            Ok(answered) => answered,
            Err(_) => {
                tracing::warn!(app = %app, backend = %backend.addr, "the app did not answer in time");
                let text = format!("{app} did not answer within {} s.\n", state.response_timeout.as_secs());
                return plain(StatusCode::GATEWAY_TIMEOUT, text);
            }
        };
        match answered {
            Ok(mut response) => {
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    if let Some(client_upgrade) = client_upgrade {
                        let backend_upgrade = hyper::upgrade::on(&mut response);
                        tokio::spawn(async move {
                            let _guard = guard;
                            if let (Ok(client), Ok(backend)) = (client_upgrade.await, backend_upgrade.await) {
                                let _ = tokio::io::copy_bidirectional(
                                    &mut TokioIo::new(client),
                                    &mut TokioIo::new(backend),
                                )
                                .await;
                            }
                        });
                        let (parts, _) = response.into_parts();
                        return Response::from_parts(parts, Body::empty());
                    }
                }
                let (mut parts, incoming) = response.into_parts();
                for name in HOP_BY_HOP {
                    parts.headers.remove(*name);
                }
                // The guard lives until the response body has been streamed out.
                let stream = incoming.into_data_stream().map(move |chunk| {
                    let _ = &guard;
                    chunk
                });
                return Response::from_parts(parts, Body::from_stream(stream));
            }
            Err(err) if err.is_connect() && bodyless && attempt + 1 < backends.len() => {
                tracing::warn!(app = %app, backend = %backend.addr, "backend refused the connection; trying another");
                continue;
            }
            Err(err) => {
                tracing::warn!(app = %app, backend = %backend.addr, error = %err, "proxying failed");
                return plain(StatusCode::BAD_GATEWAY, format!("{app} did not answer.\n"));
            }
        }
    }
    plain(StatusCode::BAD_GATEWAY, format!("{app} did not answer.\n"))
}

fn backend_uri(backend: &Backend, original: &Uri) -> Result<Uri, axum::http::Error> {
    let path = original.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Uri::builder().scheme("http").authority(backend.addr.to_string()).path_and_query(path).build()
}

fn prepare_headers(headers: &mut HeaderMap, peer: SocketAddr, host: &str, upgrade: bool) {
    for name in HOP_BY_HOP {
        if upgrade && *name == "connection" {
            continue;
        }
        headers.remove(*name);
    }
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_static("http"));
    if let Ok(value) = HeaderValue::from_str(host) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), value);
    }
}

fn body_is_empty(headers: &HeaderMap, body: &Body) -> bool {
    use http_body::Body as _;
    let declared_empty =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim() == "0");
    declared_empty && !headers.contains_key(header::TRANSFER_ENCODING) && body.size_hint().exact() == Some(0)
}

fn plain(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
