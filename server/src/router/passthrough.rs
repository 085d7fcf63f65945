//! Plain HTTP/1.1 requests forwarded byte for byte, as nginx does: the
//! request's head is parsed in place (httparse), rewritten into one buffer
//! with the proxy headers, written to a pooled socket with its body, and the
//! app's response is passed back from one buffer: its head with the hop-by-
//! hop headers dropped and the request id added, its body as it comes
//! (a length, chunks, or up to the close, chunked for the client). One task
//! does it all: no channels, no header maps, no per-request tasks.
//!
//! Only the common case comes here: an HTTP/1.1 request in origin form for
//! an app with healthy web processes and nothing in its way (maintenance,
//! the HTTPS redirect, an ACME challenge), with no upgrade, no `Expect`, and
//! a body, if any, of a declared length of at most 64 KiB. Anything else,
//! and every answer the router makes itself (404, 503), goes to hyper: the
//! connection is handed over, with the bytes read so far, before anything
//! of that request is written. What the router promises holds on both paths:
//! X-Forwarded-*, request ids, access lines, metrics, the in-flight count a
//! drain waits for, retries on another process (connect failures; bodyless
//! idempotent requests dropped unanswered), the response timeout.

use std::fmt::Write as _;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::body::{Body, Framing};
use super::pool::SendError;
use super::proxy::Peer;
use super::table::AppRoute;
use super::workers::Worker;

/// A request head longer than this goes to hyper (which refuses it).
const MAX_HEAD: usize = 64 * 1024;
/// A body up to this size is read whole before the request is sent.
const MAX_BODY: usize = 64 * 1024;
/// Headers in a head parsed here; more go to hyper.
const MAX_HEADERS: usize = 64;
/// For a client to send a request's head (idle keep-alive included), and
/// between two reads of its body.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a header is of one hop only, never forwarded either way.
fn hop_by_hop(name: &str) -> bool {
    super::proxy::HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop.as_str()))
}

/// How serving a connection here ended.
pub(super) enum Served {
    /// The connection is done with: closed, stopped, timed out or failed.
    Closed,
    /// A request this path does not take: hyper serves the connection from
    /// here, reading these bytes first.
    Handoff(BytesMut),
}

/// Serve a client connection's plain requests until it closes or one is not
/// plain.
pub(super) async fn serve(
    worker: &Arc<Worker>,
    client: &mut TcpStream,
    peer: &Peer,
    stopped: &watch::Receiver<bool>,
) -> Served {
    let mut buffers = Buffers {
        client: BytesMut::with_capacity(8 * 1024),
        app: BytesMut::with_capacity(16 * 1024),
        out: Vec::with_capacity(2 * 1024),
    };
    let mut deadline = Deadline::new();
    // Made once: a connection waits for the stop between requests without
    // registering anew each time.
    let mut on_stop = stopped.clone();
    let stop = async move {
        let _ = on_stop.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    // When the connection last went idle: the clock is read twice a request
    // (as it comes and as it is answered), and not again here.
    let mut since = Instant::now();
    loop {
        deadline.start(since, HEAD_TIMEOUT);
        let mut request = loop {
            match plan(worker, peer, &buffers.client, &mut buffers.out) {
                Planned::Ready(request) => break request,
                Planned::Handoff => return Served::Handoff(buffers.client),
                Planned::Partial if buffers.client.len() >= MAX_HEAD + MAX_BODY => {
                    return Served::Handoff(buffers.client)
                }
                Planned::Partial => {}
                // A body may take its time as long as it keeps coming (as
                // nginx's client_body_timeout): 30 s between reads.
                Planned::Body => deadline.start(Instant::now(), HEAD_TIMEOUT),
            }
            let idle = buffers.client.is_empty();
            buffers.client.reserve(4096);
            let read = tokio::select! {
                biased;
                read = client.read_buf(&mut buffers.client) => read,
                _ = deadline.passed() => return Served::Closed,
                _ = &mut stop, if idle => return Served::Closed,
            };
            match read {
                Ok(0) if !idle => return Served::Handoff(buffers.client),
                Ok(0) | Err(_) => return Served::Closed,
                Ok(_) => {}
            }
        };
        buffers.client.advance(request.length);
        let close = request.close || *stopped.borrow();
        match forward(worker, client, &mut request, close, &mut buffers, &mut deadline).await {
            Some(ended) if !close => since = ended,
            _ => {
                let _ = client.shutdown().await;
                return Served::Closed;
            }
        }
    }
}

/// A connection's one timer, for whichever wait is on: the client's next
/// head or the app's answer. It is moved only when it fires before the
/// wait's end, so a request arms no timer of its own.
struct Deadline {
    sleep: Pin<Box<tokio::time::Sleep>>,
    since: Instant,
    limit: Duration,
}

impl Deadline {
    fn new() -> Self {
        Self { sleep: Box::pin(tokio::time::sleep(HEAD_TIMEOUT)), since: Instant::now(), limit: HEAD_TIMEOUT }
    }

    /// A wait of at most `limit` begins (`now`).
    fn start(&mut self, now: Instant, limit: Duration) {
        self.since = now;
        self.limit = limit;
        let due = tokio::time::Instant::from_std(self.since + limit);
        if due < self.sleep.deadline() {
            self.sleep.as_mut().reset(due);
        }
    }

    /// Resolves once the wait begun last has lasted its limit.
    async fn passed(&mut self) {
        loop {
            self.sleep.as_mut().await;
            let due = self.since + self.limit;
            if Instant::now() >= due {
                return;
            }
            self.sleep.as_mut().reset(due.into());
        }
    }
}

struct Buffers {
    /// What the client sent and was not yet forwarded.
    client: BytesMut,
    /// What the app sent and was not yet passed on.
    app: BytesMut,
    /// The head being written (the request to the app, then the response
    /// to the client).
    out: Vec<u8>,
}

/// A plain request, its rewritten head (and body) in `Buffers::out`.
struct Request {
    /// Its bytes from the client, head and body.
    length: usize,
    app: String,
    route: Arc<AppRoute>,
    /// The request id, the client's or one made here.
    id: Vec<u8>,
    /// "METHOD /path", for the access line.
    line: String,
    /// Sent again elsewhere if a process drops it unanswered.
    retriable: bool,
    head_only: bool,
    /// The client asked to close after this one.
    close: bool,
    hsts: bool,
}

enum Planned {
    Ready(Request),
    /// More bytes of the head are needed.
    Partial,
    /// The head is whole; more bytes of the body are needed.
    Body,
    Handoff,
}

/// Parse the request at the start of `buf`; if it is plain, write what goes
/// to the app into `out`.
fn plan(worker: &Worker, peer: &Peer, buf: &[u8], out: &mut Vec<u8>) -> Planned {
    if buf.is_empty() {
        return Planned::Partial;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Planned::Partial,
        Err(_) => return Planned::Handoff,
    };
    let (Some(method), Some(target), Some(1)) = (parsed.method, parsed.path, parsed.version) else {
        return Planned::Handoff;
    };
    if !target.starts_with('/') || target.starts_with(super::proxy::ACME_CHALLENGE) || method == "CONNECT" {
        return Planned::Handoff;
    }
    let (mut host, mut body, mut close) = (None, None, false);
    let (mut id, mut forwarded_for, mut forwarded_proto) = (None, None, None);
    for header in parsed.headers.iter() {
        let (name, value) = (header.name, header.value);
        if name.eq_ignore_ascii_case("host") {
            if host.replace(value).is_some() {
                return Planned::Handoff;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(value).ok().filter(|v| v.bytes().all(|b| b.is_ascii_digit()));
            match length.and_then(|v| v.parse::<usize>().ok()) {
                Some(length) if length <= MAX_BODY && body.replace(length).is_none() => {}
                _ => return Planned::Handoff,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return Planned::Handoff;
        } else if name.eq_ignore_ascii_case("connection") {
            close |= has_token(value, "close");
        } else if name.eq_ignore_ascii_case("x-request-id") {
            id = id.or(Some(value));
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = forwarded_for.or(Some(value));
        } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
            forwarded_proto = forwarded_proto.or(Some(value));
        }
    }
    let body = body.unwrap_or(0);
    if buf.len() < head + body {
        return Planned::Body;
    }
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else { return Planned::Handoff };
    let state = &worker.state;
    let Some(app) = state.app_named_by(host).map(std::borrow::Cow::into_owned) else { return Planned::Handoff };
    let policy = state.routes.policies.get(&app).unwrap_or_default();
    let proto = peer.forwarded_proto(forwarded_proto);
    let https = proto == "https";
    if policy.maintenance.is_some() || (policy.redirect && !https) {
        return Planned::Handoff;
    }
    let Some(route) = state.routes.get(&app).filter(|r| r.wanted > 0 && !r.backends.is_empty()) else {
        return Planned::Handoff;
    };

    out.clear();
    for part in [method, " ", target, " HTTP/1.1\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    for header in parsed.headers.iter() {
        let name = header.name;
        let forwarded = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];
        if hop_by_hop(name) || forwarded.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            continue;
        }
        put_header(out, name.as_bytes(), header.value);
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    peer.forwarded_for(forwarded_for, out);
    out.extend_from_slice(b"\r\n");
    put_header(out, b"x-forwarded-proto", proto.as_bytes());
    put_header(out, b"x-forwarded-host", host.as_bytes());
    let id = match id {
        Some(id) => id.to_vec(),
        None => {
            let id = worker.request_id_text();
            put_header(out, b"x-request-id", &id);
            id.to_vec()
        }
    };
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&buf[head..head + body]);

    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Planned::Ready(Request {
        length: head + body,
        app,
        route,
        id,
        line: access_line_start(method, path),
        retriable: body == 0 && super::proxy::idempotent_name(method),
        head_only: method == "HEAD",
        close,
        hsts: policy.hsts && https,
    })
}

/// "METHOD /path", with room for the status and time `log` adds.
fn access_line_start(method: &str, path: &str) -> String {
    let mut line = String::with_capacity(method.len() + path.len() + 16);
    for part in [method, " ", path] {
        line.push_str(part);
    }
    line
}

fn put_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Whether a comma-separated header value lists `token`.
fn has_token(value: &[u8], token: &str) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Forward a planned request and pass its response back (saying the client
/// connection closes after it when `close`); when the response ended, if
/// the client connection can serve another.
async fn forward(
    worker: &Arc<Worker>,
    client: &mut TcpStream,
    request: &mut Request,
    close: bool,
    buffers: &mut Buffers,
    deadline: &mut Deadline,
) -> Option<Instant> {
    let started = Instant::now();
    let route = request.route.clone();
    let traffic = &route.traffic;
    let _in_flight = traffic.enter();
    let tries = route.backends.len();
    let timeout = worker.state.limits.response;
    let mut failure = None;
    for (attempt, backend) in route.pick_order().enumerate() {
        let last = attempt + 1 == tries;
        let _guard = backend.enter();
        // Each try has the whole response timeout, as on hyper's path.
        let began = if attempt == 0 { started } else { Instant::now() };
        deadline.start(began, timeout);
        let answered = tokio::select! {
            biased;
            answered = exchange(worker, backend.addr, request, close, buffers, began) => Some(answered),
            _ = deadline.passed() => None,
        };
        let (upstream, response) = match answered {
            Some(Ok(answered)) => answered,
            None => {
                tracing::warn!(app = %request.app, backend = %backend.addr, "the app did not answer in time");
                failure = Some((504, super::proxy::did_not_answer_in(&request.app, timeout)));
                break;
            }
            Some(Err(err)) => {
                if matches!(err, SendError::Connect(_)) {
                    traffic.connect_failed();
                }
                // Nothing was sent when no connection was made; a process
                // that went away with a bodyless idempotent request before
                // answering gets it sent elsewhere, as nginx does.
                let again = matches!(err, SendError::Connect(_)) || request.retriable;
                if again && !last {
                    tracing::warn!(app = %request.app, backend = %backend.addr, error = %err, "backend failed before answering; trying another");
                    continue;
                }
                tracing::warn!(app = %request.app, backend = %backend.addr, error = %err, "proxying failed");
                failure = Some((502, super::proxy::did_not_answer(&request.app)));
                break;
            }
        };
        let answered = log(worker, request, response.status, started);
        return pass_back(worker, client, upstream, (backend.addr, answered), request, response, buffers).await;
    }
    let (status, text) = failure.unwrap_or_else(|| (502, super::proxy::did_not_answer(&request.app)));
    let answered = log(worker, request, status, started);
    let out = &mut buffers.out;
    out.clear();
    let reason = if status == 504 { "Gateway Timeout" } else { "Bad Gateway" };
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n",
        text.len()
    );
    put_header(out, b"x-request-id", &request.id);
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(text.as_bytes());
    client.write_all(out).await.ok().map(|()| answered)
}

/// Count the answer in the app's metrics and leave its access line; when
/// it was answered.
fn log(worker: &Worker, request: &mut Request, status: u16, started: Instant) -> Instant {
    let answered = Instant::now();
    let took = answered.saturating_duration_since(started);
    if let Ok(code) = axum::http::StatusCode::from_u16(status) {
        request.route.traffic.answered(code, took);
    }
    let mut line = std::mem::take(&mut request.line);
    let _ = write!(line, " {status} {}ms", took.as_millis());
    worker.state.logs.push_at(&request.app, "router", line, worker.wall_time(answered));
    answered
}

/// A response's head as the app sent it, parsed.
struct Response {
    status: u16,
    /// Its length in `Buffers::app`.
    head: usize,
    body: Framing,
    /// The app keeps the connection open after it.
    keep_alive: bool,
}

/// Send the request (in `out`) to `addr` and read the response's head into
/// `app` (`now`: when this try began). A pooled socket that turns out
/// closed is replaced by a new one when the request may be sent again.
async fn exchange(
    worker: &Worker,
    addr: std::net::SocketAddr,
    request: &Request,
    close: bool,
    buffers: &mut Buffers,
    now: Instant,
) -> Result<(TcpStream, Response), SendError> {
    let reply = Reply { id: &request.id, hsts: request.hsts, close, head_only: request.head_only };
    loop {
        let (mut upstream, reused) = worker.pool.bare(addr, now).await?;
        match send(&mut upstream, &reply, buffers).await {
            Ok(response) => return Ok((upstream, response)),
            // The app closed an idle connection as it was taken: nothing of
            // the request reached it.
            Err(Exchange::Unanswered(_)) if reused && request.retriable => continue,
            Err(Exchange::Unanswered(err) | Exchange::Failed(err)) => return Err(SendError::Io(err)),
        }
    }
}

enum Exchange {
    /// Nothing of a response came.
    Unanswered(std::io::Error),
    /// What came is not a response this path passes on.
    Failed(std::io::Error),
}

async fn send(upstream: &mut TcpStream, reply: &Reply<'_>, buffers: &mut Buffers) -> Result<Response, Exchange> {
    upstream.write_all(&buffers.out).await.map_err(Exchange::Unanswered)?;
    let Buffers { app, out, .. } = buffers;
    app.clear();
    loop {
        app.reserve(4096);
        match upstream.read_buf(app).await {
            Ok(0) if app.is_empty() => return Err(Exchange::Unanswered(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(0) => return Err(Exchange::Failed(invalid("the app closed the connection within a response head"))),
            Ok(_) => {}
            Err(err) if app.is_empty() => return Err(Exchange::Unanswered(err)),
            Err(err) => return Err(Exchange::Failed(err)),
        }
        match parse_response(app, reply, out) {
            Ok(Some(response)) => return Ok(response),
            Ok(None) if app.len() < MAX_HEAD => {}
            Ok(None) => return Err(Exchange::Failed(invalid("the response head is too long"))),
            Err(err) => return Err(Exchange::Failed(err)),
        }
    }
}

fn invalid(what: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// What the client's copy of a response head says besides the app's.
struct Reply<'a> {
    id: &'a [u8],
    hsts: bool,
    /// The client connection closes after it.
    close: bool,
    head_only: bool,
}

/// The response at the start of `buf`, once its head is whole; its head for
/// the client is then in `out`. Interim responses (1xx) are dropped: the
/// request asked for none of them.
fn parse_response(buf: &mut BytesMut, reply: &Reply, out: &mut Vec<u8>) -> std::io::Result<Option<Response>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let head = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head)) => head,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(invalid("the app's response is not HTTP/1")),
        };
        let status = parsed.code.unwrap_or(0);
        if status == 101 {
            return Err(invalid("the app switched protocols unasked"));
        }
        if (100..200).contains(&status) {
            buf.advance(head);
            continue;
        }
        let (mut length, mut chunked, mut close, mut keep_alive) = (None, false, false, false);
        for header in parsed.headers.iter() {
            let (name, value) = (header.name, header.value);
            if name.eq_ignore_ascii_case("content-length") {
                let value = std::str::from_utf8(value).ok().and_then(|v| v.trim().parse::<u64>().ok());
                match (value, length) {
                    (Some(value), None) => length = Some(value),
                    (Some(value), Some(seen)) if value == seen => {}
                    _ => return Err(invalid("the response's length is not one number")),
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(invalid("the response's transfer coding is not chunked"));
                }
                chunked = true;
            } else if name.eq_ignore_ascii_case("connection") {
                close |= has_token(value, "close");
                keep_alive |= has_token(value, "keep-alive");
            }
        }
        let body = if reply.head_only || status == 204 || status == 304 {
            Framing::None
        } else if chunked {
            Framing::Chunked
        } else {
            length.map_or(Framing::Close, Framing::Length)
        };
        let keep_alive = !matches!(body, Framing::Close) && if parsed.version == Some(1) { !close } else { keep_alive };

        // Chunks pass as they are, under the app's own coding (which may be
        // `gzip, chunked`); a length beside them is the app's mistake. A
        // HEAD's answer says the coding a GET would have.
        let coding_kept = matches!(body, Framing::Chunked) || (chunked && reply.head_only && status != 204);
        out.clear();
        let _ = write!(out, "HTTP/1.1 {status} {}\r\n", parsed.reason.unwrap_or_default());
        for header in parsed.headers.iter() {
            let name = header.name;
            if coding_kept && name.eq_ignore_ascii_case("transfer-encoding") {
                put_header(out, name.as_bytes(), header.value);
                continue;
            }
            let length_beside_chunks = chunked && name.eq_ignore_ascii_case("content-length");
            if hop_by_hop(name)
                || length_beside_chunks
                || name.eq_ignore_ascii_case("x-request-id")
                || (reply.hsts && name.eq_ignore_ascii_case("strict-transport-security"))
            {
                continue;
            }
            put_header(out, name.as_bytes(), header.value);
        }
        if matches!(body, Framing::Close) {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        put_header(out, b"x-request-id", reply.id);
        if reply.hsts {
            put_header(out, b"strict-transport-security", super::proxy::HSTS.as_bytes());
        }
        if reply.close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        return Ok(Some(Response { status, head, body, keep_alive }));
    }
}

/// Pass the response back to the client, its body as it comes; the app's
/// socket (to `addr`, whose answer came at `answered`) goes back to the
/// pool when the response ended cleanly. When it ended, if the client
/// connection can serve another request.
async fn pass_back(
    worker: &Worker,
    client: &mut TcpStream,
    mut upstream: TcpStream,
    (addr, answered): (std::net::SocketAddr, Instant),
    request: &Request,
    response: Response,
    buffers: &mut Buffers,
) -> Option<Instant> {
    let Buffers { app, out, .. } = buffers;
    app.advance(response.head);
    let traffic = &request.route.traffic;
    let mut body = Body::new(response.body);
    // The head (in `out`) goes out with the body's first bytes.
    let (taken, mut done) = body.take(app, out)?;
    traffic.sent(taken);
    client.write_all(out).await.ok()?;
    let streamed = !done;
    while !done {
        app.clear();
        app.reserve(16 * 1024);
        let read = upstream.read_buf(app).await;
        match read {
            Ok(0) if matches!(response.body, Framing::Close) => {
                done = true;
                out.clear();
                out.extend_from_slice(b"0\r\n\r\n");
            }
            // Cut short: the client cannot be told but by closing.
            Ok(0) | Err(_) => return None,
            Ok(_) => {
                out.clear();
                let (taken, ended) = body.take(app, out)?;
                traffic.sent(taken);
                done = ended;
            }
        }
        client.write_all(out).await.ok()?;
    }
    // A body that came with its head ended when it was answered.
    let ended = if streamed { Instant::now() } else { answered };
    // Anything after the response's end was not asked for: the socket is
    // not reused.
    if response.keep_alive && app.is_empty() {
        worker.pool.put_bare(addr, upstream, ended);
    }
    Some(ended)
}

/// A client connection handed to hyper: the bytes already read, then the
/// socket.
pub(super) struct Prefixed {
    pub read: BytesMut,
    pub stream: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.read.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let n = this.read.len().min(buf.remaining());
        buf.put_slice(&this.read[..n]);
        this.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_head_has_the_apps_headers_but_those_of_one_hop() {
        let answer = |text: &str, hsts: bool, close: bool, head_only: bool| {
            let mut buf = BytesMut::from(text.as_bytes());
            let (reply, mut out) = (Reply { id: b"id-1", hsts, close, head_only }, Vec::new());
            parse_response(&mut buf, &reply, &mut out).unwrap().unwrap();
            String::from_utf8(out).unwrap()
        };
        let head = |text: &str, hsts: bool, close: bool| answer(text, hsts, close, false);
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\
                       Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Request-Id: app's\r\nX-App: 1\r\n\r\n";
        assert_eq!(
            head(chunked, false, false),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX-App: 1\r\nx-request-id: id-1\r\n\r\n"
        );
        // A HEAD's answer keeps the coding, and has no body.
        assert_eq!(
            answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, false, true),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-request-id: id-1\r\n\r\n"
        );
        // Up to the close: chunked for the client, whose connection stays.
        assert_eq!(
            head("HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", false, true),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\ntransfer-encoding: chunked\r\n\
             x-request-id: id-1\r\nconnection: close\r\n\r\n"
        );
        let hsts =
            head("HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: 0\r\n\r\n", true, false);
        assert_eq!(
            hsts,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nx-request-id: id-1\r\nstrict-transport-security: max-age=31536000\r\n\r\n"
        );
    }

    #[test]
    fn responses_are_framed_as_http_says() {
        let parse = |text: &str, head_only: bool| {
            let mut buf = BytesMut::from(text.as_bytes());
            let reply = Reply { id: b"id-1", hsts: false, close: false, head_only };
            parse_response(&mut buf, &reply, &mut Vec::new()).map(|r| r.map(|r| (r.status, r.body, r.keep_alive)))
        };
        let framed = |r: std::io::Result<Option<(u16, Framing, bool)>>| match r {
            Ok(Some((status, Framing::Length(n), keep))) => format!("{status} length {n} {keep}"),
            Ok(Some((status, Framing::Chunked, keep))) => format!("{status} chunked {keep}"),
            Ok(Some((status, Framing::Close, keep))) => format!("{status} close {keep}"),
            Ok(Some((status, Framing::None, keep))) => format!("{status} none {keep}"),
            Ok(None) => "partial".into(),
            Err(_) => "error".into(),
        };
        assert_eq!(framed(parse("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false)), "200 length 2 true");
        assert_eq!(framed(parse("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", true)), "200 none true");
        assert_eq!(framed(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false)), "200 chunked true");
        assert_eq!(framed(parse("HTTP/1.0 200 OK\r\n\r\nall of it", false)), "200 close false");
        assert_eq!(
            framed(parse("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n", false)),
            "200 length 1 true"
        );
        assert_eq!(framed(parse("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n", false)), "204 none false");
        assert_eq!(
            framed(parse(
                "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                false
            )),
            "200 length 0 true"
        );
        assert_eq!(framed(parse("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n", false)), "error");
        assert_eq!(framed(parse("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", false)), "error");
        assert_eq!(framed(parse("HTTP/1.1 200 OK\r\ncontent-le", false)), "partial");
    }
}
