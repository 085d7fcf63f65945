//! Forwarding one request: pick a backend, add `X-Forwarded-*` and a request
//! id, stream the bodies, pass WebSocket upgrades through, and retry on
//! another backend only when no connection could be made, or an idempotent
//! request failed before any answer (and the request had no body to lose).
//! Each request leaves an access line in the app's log.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;

use super::pool::{Conn, SendError};
use super::table::InFlight;
use super::workers::Worker;
use super::RouterState;

/// Headers for one connection, never forwarded (names made once, so that
/// removing them needs no parsing).
pub(super) const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client end of a connection, as the proxy headers name it.
pub(super) struct Peer {
    pub ip: HeaderValue,
    /// A proxy of `--trusted-proxies`: its X-Forwarded-* headers are kept.
    pub trusted: bool,
    /// The connection came over TLS.
    pub tls: bool,
}

impl Peer {
    pub fn new(addr: SocketAddr, trusted: bool, tls: bool) -> Self {
        let ip = HeaderValue::from_str(&addr.ip().to_string()).expect("an IP address is a header value");
        Self { ip, trusted, tls }
    }

    /// Whether the client reached us over HTTPS (itself, or through a
    /// trusted proxy that says so).
    fn https(&self, headers: &HeaderMap) -> bool {
        self.forwarded_proto(headers.get(&X_FORWARDED_PROTO).map(HeaderValue::as_bytes)) == "https"
    }

    /// The X-Forwarded-Proto apps get, given the client's (`prior`): a
    /// trusted proxy's scheme is kept; from anyone else, what the router saw.
    pub fn forwarded_proto(&self, prior: Option<&[u8]>) -> &'static str {
        match prior.filter(|_| self.trusted) {
            _ if self.tls => "https",
            Some(b"https") => "https",
            _ => "http",
        }
    }

    /// The X-Forwarded-For apps get, given the client's (`prior`), written to
    /// `out`: a trusted proxy's client chain with the peer appended; from
    /// anyone else, the peer alone.
    pub fn forwarded_for(&self, prior: Option<&[u8]>, out: &mut Vec<u8>) {
        if let Some(prior) = prior.filter(|_| self.trusted) {
            out.extend_from_slice(prior);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(self.ip.as_bytes());
    }
}

/// What a client is told when the app's process failed it.
pub(super) fn did_not_answer(app: &str) -> String {
    format!("{app} did not answer.\n")
}

/// What a client is told when the app's process took too long to start answering.
pub(super) fn did_not_answer_in(app: &str, timeout: std::time::Duration) -> String {
    format!("{app} did not answer within {} s.\n", timeout.as_secs())
}

pub(super) async fn forward(worker: &Arc<Worker>, peer: &Peer, mut request: Request<Incoming>) -> Response<Body> {
    let state = &worker.state;
    let id = match request.headers().get(&REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = worker.request_id();
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    // The Host header (or the authority of an absolute-form target), kept as
    // the header value it is: forwarded as X-Forwarded-Host without a copy.
    let host_value = match request.headers().get(header::HOST) {
        Some(value) => value.clone(),
        None => request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or_else(|| HeaderValue::from_static("")),
    };
    let host = host_value.to_str().unwrap_or_default();
    let app = state.app_named_by(host);
    if let Some(token) = request.uri().path().strip_prefix(ACME_CHALLENGE) {
        if let Some(answer) = state.tls.challenge(token) {
            return plain(StatusCode::OK, answer);
        }
    }
    let mut response = match app {
        None => plain(StatusCode::NOT_FOUND, format!("No app is served at {host}.\n")),
        Some(app) => {
            let started = std::time::Instant::now();
            let (method, path) = (request.method().clone(), request.uri().path().to_string());
            let policy = state.routes.policies.get(&app).unwrap_or_default();
            // Only an app with an HTTPS setting needs to know.
            let https = (policy.redirect || policy.hsts) && peer.https(request.headers());
            let mut response = if let Some(page) = &policy.maintenance {
                maintenance(page)
            } else if policy.redirect && !https {
                to_https(host, request.uri(), state.tls.https_port)
            } else {
                proxy(worker, &app, &host_value, peer, request).await
            };
            if policy.hsts && https {
                response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
            }
            let line = format!("{method} {path} {} {}ms", response.status().as_u16(), started.elapsed().as_millis());
            state.logs.push(&app, "router", line);
            response
        }
    };
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The path ACME's HTTP-01 validation asks for its token under.
pub(super) const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";
/// A year, for the app's own names only (a subdomain-wide policy is the
/// domain owner's to set).
pub(super) const HSTS: &str = "max-age=31536000";

/// The app's maintenance page: 503, to be tried again in a while.
fn maintenance(page: &std::sync::Arc<str>) -> Response<Body> {
    let mut response = Response::new(Body::from(Bytes::copy_from_slice(page.as_bytes())));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A permanent redirect to the same URL over HTTPS (308: the method and
/// body are kept).
fn to_https(host: &str, uri: &Uri, https_port: Option<u16>) -> Response<Body> {
    let bare = super::without_port(host);
    let port = match https_port {
        Some(443) | None => String::new(),
        Some(port) => format!(":{port}"),
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{bare}{port}{target}");
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            let mut response =
                plain(StatusCode::PERMANENT_REDIRECT, format!("This app is served over HTTPS: {location}\n"));
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => plain(StatusCode::BAD_REQUEST, "The request's host is not a valid name.\n".into()),
    }
}

/// Proxy a request of an app, counted in the app's metrics when it has a route.
async fn proxy(
    worker: &Arc<Worker>,
    mut app: &str,
    host: &HeaderValue,
    peer: &Peer,
    request: Request<Incoming>,
) -> Response<Body> {
    let mut route = worker.state.routes.get(app);
    // A custom domain read just before its app was renamed: the rename moved
    // the route and the domain together, so the domain now names the app.
    let renamed;
    if route.is_none() {
        let bare = super::without_port(host.to_str().unwrap_or_default()).trim_end_matches('.').to_ascii_lowercase();
        if let Some(now) = worker.state.routes.app_for_domain(&bare).filter(|now| now != app) {
            renamed = now;
            app = &renamed;
            route = worker.state.routes.get(app);
        }
    }
    let Some(traffic) = route.as_ref().map(|r| r.traffic.clone()) else {
        return pass(worker, app, route, host, peer, request).await;
    };
    let started = std::time::Instant::now();
    let in_flight = traffic.enter();
    let response = pass(worker, app, route, host, peer, request).await;
    drop(in_flight);
    traffic.answered(response.status(), started.elapsed());
    response
}

async fn pass(
    worker: &Arc<Worker>,
    app: &str,
    route: Option<Arc<super::table::AppRoute>>,
    host: &HeaderValue,
    peer: &Peer,
    mut request: Request<Incoming>,
) -> Response<Body> {
    let state: &RouterState = &worker.state;
    let tries = route.as_ref().map_or(0, |r| r.backends.len());
    if route.as_ref().is_some_and(|r| r.wanted == 0) {
        return plain(StatusCode::SERVICE_UNAVAILABLE, format!("{app} runs no web process (web is scaled to 0).\n"));
    }
    if route.is_some() && tries == 0 {
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
    let Some(route) = route.filter(|_| tries > 0) else {
        return match state.app_exists(app).await {
            Some(true) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("{app} has no running release yet.\n")),
            Some(false) => {
                plain(StatusCode::NOT_FOUND, format!("No app is served at {}.\n", host.to_str().unwrap_or_default()))
            }
            None => plain(StatusCode::SERVICE_UNAVAILABLE, "The router cannot reach its database.\n".into()),
        };
    };

    let upgrade = request.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let bodyless = body_is_empty(&parts.headers, &body);
    prepare_headers(&mut parts.headers, peer, host, upgrade);
    // HTTP/2 names the host in the request target, not in a header; the app
    // speaks HTTP/1.1 and needs one.
    if !parts.headers.contains_key(header::HOST) {
        parts.headers.insert(header::HOST, host.clone());
    }
    let mut body = Some(Body::new(body));

    for (attempt, backend) in route.pick_order().enumerate() {
        // Only a bodyless request is ever retried: the last try takes the
        // headers rather than copying them.
        let headers = if attempt + 1 < tries { parts.headers.clone() } else { std::mem::take(&mut parts.headers) };
        let mut outgoing = Request::new(body.take().unwrap_or_else(Body::empty));
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = origin_form(&parts.uri);
        *outgoing.headers_mut() = headers;
        let guard = backend.enter();
        let timeout = state.limits.response;
        let answered = match tokio::time::timeout(timeout, worker.pool.send(backend.addr, outgoing)).await {
            Ok(answered) => answered,
            Err(_) => {
                tracing::warn!(app = %app, backend = %backend.addr, "the app did not answer in time");
                return plain(StatusCode::GATEWAY_TIMEOUT, did_not_answer_in(app, timeout));
            }
        };
        match answered {
            Ok((mut response, conn)) => {
                if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                    if let Some(client_upgrade) = client_upgrade {
                        let backend_upgrade = hyper::upgrade::on(&mut response);
                        tokio::spawn(async move {
                            let _held = (guard, conn);
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
                remove_hop_by_hop(&mut parts.headers, false);
                let body = Counted {
                    body: incoming,
                    done: false,
                    conn: Some(conn),
                    worker: worker.clone(),
                    traffic: route.traffic.clone(),
                    _guard: guard,
                };
                return Response::from_parts(parts, Body::new(body));
            }
            Err(SendError::Connect(err)) if bodyless && attempt + 1 < tries => {
                route.traffic.connect_failed();
                tracing::warn!(app = %app, backend = %backend.addr, error = %err, "backend refused the connection; trying another");
                continue;
            }
            // The process went away with the request (its machine died, it
            // was killed) before answering anything: an idempotent request
            // without a body is sent again elsewhere, as nginx does.
            Err(SendError::Http(err)) if bodyless && idempotent(&parts.method) && attempt + 1 < tries => {
                tracing::warn!(app = %app, backend = %backend.addr, error = %err, "backend failed before answering; trying another");
                continue;
            }
            Err(err) => {
                if matches!(err, SendError::Connect(_)) {
                    route.traffic.connect_failed();
                }
                tracing::warn!(app = %app, backend = %backend.addr, error = %err, "proxying failed");
                return plain(StatusCode::BAD_GATEWAY, did_not_answer(app));
            }
        }
    }
    plain(StatusCode::BAD_GATEWAY, did_not_answer(app))
}

/// A response body on its way to the client. It counts its request in
/// flight at the backend until streamed out (or dropped), passes its size
/// through so that a body of known length goes out with its headers, and
/// gives the connection back to the pool once read to the end.
struct Counted {
    body: Incoming,
    done: bool,
    conn: Option<Conn>,
    worker: Arc<Worker>,
    /// The app's metrics, for the bytes sent.
    traffic: Arc<crate::metrics::AppTraffic>,
    _guard: InFlight,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.traffic.sent(data.len());
            }
        }
        match &polled {
            Poll::Ready(None) => self.done = true,
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.done = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.done || http_body::Body::is_end_stream(&self.body) {
            if let Some(conn) = self.conn.take() {
                self.worker.pool.put(conn);
            }
        }
    }
}

/// A method whose request may be sent twice with the effect of once (RFC 9110).
fn idempotent(method: &axum::http::Method) -> bool {
    idempotent_name(method.as_str())
}

pub(super) fn idempotent_name(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
}

/// The request target as an origin server expects it: the path and query
/// (a client may have sent the absolute form a proxy gets).
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(_) if uri.authority().is_none() => uri.clone(),
        Some(path) => Uri::from(path.clone()),
        None => Uri::from_static("/"),
    }
}

/// Drop the hop-by-hop headers (but `Connection` of an upgrade). Most
/// messages carry none or one: a scan of the names is cheaper than hashing
/// seven of them.
fn remove_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let hop = |name: &HeaderName| HOP_BY_HOP.contains(name) && !(upgrade && name == header::CONNECTION);
    while let Some(name) = headers.keys().find(|n| hop(n)).cloned() {
        headers.remove(&name);
    }
}

/// The X-Forwarded-* headers apps read: from a trusted proxy, its scheme
/// is kept and the peer appended to its client chain; from anyone else
/// they say what the router saw, whatever the client sent.
fn prepare_headers(headers: &mut HeaderMap, peer: &Peer, host: &HeaderValue, upgrade: bool) {
    remove_hop_by_hop(headers, upgrade);
    let mut forwarded_for = Vec::new();
    peer.forwarded_for(headers.get(&X_FORWARDED_FOR).map(HeaderValue::as_bytes), &mut forwarded_for);
    if let Ok(value) = HeaderValue::from_bytes(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    let proto = peer.forwarded_proto(headers.get(&X_FORWARDED_PROTO).map(HeaderValue::as_bytes));
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    headers.insert(X_FORWARDED_HOST, host.clone());
}

fn body_is_empty(headers: &HeaderMap, body: &Incoming) -> bool {
    use http_body::Body as _;
    let declared_empty =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim() == "0");
    declared_empty && !headers.contains_key(header::TRANSFER_ENCODING) && body.size_hint().exact() == Some(0)
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped_but_an_upgrades_connection() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, upgrade"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-app", "kept"),
        ] {
            headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let mut upgrading = headers.clone();
        remove_hop_by_hop(&mut headers, false);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort();
        assert_eq!(left, ["upgrade", "x-app"]);
        remove_hop_by_hop(&mut upgrading, true);
        let mut left: Vec<&str> = upgrading.keys().map(HeaderName::as_str).collect();
        left.sort();
        assert_eq!(left, ["connection", "upgrade", "x-app"]);
    }

    fn forwarded(trusted: bool, sent: &[(&'static str, &'static str)]) -> (String, String) {
        let mut headers = HeaderMap::new();
        for (name, value) in sent {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let peer = Peer::new("10.0.0.9:4000".parse().unwrap(), trusted, false);
        prepare_headers(&mut headers, &peer, &HeaderValue::from_static("shop.example.com"), false);
        let get = |name: &HeaderName| headers.get(name).unwrap().to_str().unwrap().to_string();
        (get(&X_FORWARDED_PROTO), get(&X_FORWARDED_FOR))
    }

    #[test]
    fn forwarded_headers_are_kept_only_from_trusted_proxies() {
        let sent = [("x-forwarded-proto", "https"), ("x-forwarded-for", "203.0.113.7")];
        assert_eq!(forwarded(true, &sent), ("https".into(), "203.0.113.7, 10.0.0.9".into()));
        // Anyone else cannot claim https or another client address.
        assert_eq!(forwarded(false, &sent), ("http".into(), "10.0.0.9".into()));
        assert_eq!(forwarded(true, &[]), ("http".into(), "10.0.0.9".into()));
        assert_eq!(forwarded(true, &[("x-forwarded-proto", "gopher")]).0, "http");
    }
}
