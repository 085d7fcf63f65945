//! A router worker's connections to app processes: HTTP/1 connections kept
//! open between requests, per process, at most `max_idle` of them idle, each
//! closed once idle for `idle_timeout`. A connection goes back to the pool
//! only after its response was read to the end; one that turns out closed
//! when taken is dropped, and a request it could not send is sent again on
//! a new connection (it was never written, so nothing is repeated).
//!
//! Two kinds are kept side by side, under the one cap: hyper's client
//! connections (for the requests hyper serves) and bare sockets (for the
//! plain requests `passthrough` forwards byte for byte).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

struct Idle {
    conn: Kept,
    since: Instant,
}

enum Kept {
    Hyper(SendRequest<Body>),
    Bare(TcpStream),
}

impl Kept {
    fn is_closed(&self) -> bool {
        match self {
            Kept::Hyper(sender) => sender.is_closed(),
            Kept::Bare(stream) => !still_open(stream),
        }
    }
}

/// Whether an idle socket is still open: the app has neither closed it nor
/// sent anything unasked. Costs no system call unless the event loop saw
/// the socket turn readable.
fn still_open(stream: &TcpStream) -> bool {
    matches!(stream.try_read(&mut [0u8; 1]), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock)
}

/// A connection in use: hand it back with `Pool::put` once its response has
/// been read to the end.
pub struct Conn {
    pub addr: SocketAddr,
    sender: SendRequest<Body>,
}

#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: the request went nowhere.
    Connect(std::io::Error),
    /// The exchange failed after the request was (or may have been) sent.
    Http(hyper::Error),
    /// The same, on a socket of the byte-for-byte path.
    Io(std::io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(err) => write!(f, "connecting: {err}"),
            SendError::Http(err) => write!(f, "{err}"),
            SendError::Io(err) => write!(f, "{err}"),
        }
    }
}

impl Pool {
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self { idle: Mutex::new(HashMap::new()), max_idle, idle_timeout }
    }

    /// Send `request` to `addr` on a pooled connection, or a new one.
    pub async fn send(
        &self,
        addr: SocketAddr,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, Conn), SendError> {
        let mut request = request;
        // A connection just handed back may still be finishing its last
        // exchange; it is ready in a moment, or found closed.
        while let Some(Kept::Hyper(mut sender)) = self.take(addr, false, Instant::now()) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Conn { addr, sender })),
                // Closed under us before the request was written: try another.
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Http(failed.into_error())),
                },
            }
        }
        let mut sender = connect(addr).await?;
        let response = sender.send_request(request).await.map_err(SendError::Http)?;
        Ok((response, Conn { addr, sender }))
    }

    /// Keep a connection whose response was read to the end, if there is room.
    pub fn put(&self, conn: Conn) {
        if !conn.sender.is_closed() {
            self.keep(conn.addr, Kept::Hyper(conn.sender), Instant::now());
        }
    }

    /// An idle socket to `addr`, or a new one (`now`: the caller's clock,
    /// read a moment ago: the byte-for-byte path reads it once a request).
    pub async fn bare(&self, addr: SocketAddr, now: Instant) -> Result<(TcpStream, bool), SendError> {
        if let Some(Kept::Bare(stream)) = self.take(addr, true, now) {
            return Ok((stream, true));
        }
        Ok((dial(addr).await?, false))
    }

    /// Keep a socket whose last response was read to the end (at `since`),
    /// with nothing after it.
    pub fn put_bare(&self, addr: SocketAddr, stream: TcpStream, since: Instant) {
        self.keep(addr, Kept::Bare(stream), since);
    }

    fn keep(&self, addr: SocketAddr, conn: Kept, since: Instant) {
        if self.max_idle == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let kept = idle.entry(addr).or_default();
        if kept.len() < self.max_idle {
            kept.push(Idle { conn, since });
        }
    }

    /// The most recently used idle connection of the kind asked that is
    /// still open.
    fn take(&self, addr: SocketAddr, bare: bool, now: Instant) -> Option<Kept> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let kept = idle.get_mut(&addr)?;
        while let Some(at) = kept.iter().rposition(|c| matches!(c.conn, Kept::Bare(_)) == bare) {
            let Idle { conn, since } = kept.remove(at);
            if now.saturating_duration_since(since) < self.idle_timeout && !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Close the connections idle too long (or closed by the app), forget
    /// processes with none left; returns how many went.
    pub fn sweep(&self) -> usize {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let (mut closed, now) = (0, Instant::now());
        idle.retain(|_, kept| {
            let before = kept.len();
            kept.retain(|c| now.saturating_duration_since(c.since) < self.idle_timeout && !c.conn.is_closed());
            closed += before - kept.len();
            !kept.is_empty()
        });
        closed
    }

    /// How often `sweep` should run: a connection closes at most a quarter
    /// of the idle timeout (or 5 s) late.
    pub fn sweep_every(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
    }

    /// Idle connections held (for tests and figures).
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().map(|idle| idle.values().map(Vec::len).sum()).unwrap_or(0)
    }
}

/// A new connection to a process.
async fn dial(addr: SocketAddr) -> Result<TcpStream, SendError> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Err(SendError::Connect(err)),
        Err(_) => return Err(SendError::Connect(std::io::ErrorKind::TimedOut.into())),
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Body>, SendError> {
    let stream = dial(addr).await?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(SendError::Http)?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A process on loopback that answers every request on a connection
    /// with a small keep-alive response; counts connections.
    async fn backend() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = stream.read(&mut buf).await else { return };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    async fn get(pool: &Pool, addr: SocketAddr) -> u16 {
        use http_body_util::BodyExt;
        let request = Request::builder().uri(format!("http://{addr}/")).body(Body::empty()).unwrap();
        let (response, conn) = pool.send(addr, request).await.unwrap();
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        pool.put(conn);
        status
    }

    #[tokio::test]
    async fn bare_sockets_are_reused_but_not_once_the_app_closed_them() {
        let (addr, accepted) = backend().await;
        let pool = Pool::new(2, Duration::from_secs(5));
        let (stream, reused) = pool.bare(addr, Instant::now()).await.unwrap();
        assert!(!reused);
        pool.put_bare(addr, stream, Instant::now());
        let (_stream, reused) = pool.bare(addr, Instant::now()).await.unwrap();
        assert!(reused, "the idle socket is handed out again");
        // The app's accept loop counts in its own time.
        let counted = async {
            while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), counted).await.unwrap();
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "one connection made");

        // An app that closes every connection it accepts.
        let closing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closing_addr = closing.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = closing.accept().await {
                drop(stream);
            }
        });
        let (stream, _) = pool.bare(closing_addr, Instant::now()).await.unwrap();
        // Once the app's close has reached this end:
        tokio::time::timeout(Duration::from_secs(5), stream.readable()).await.unwrap().unwrap();
        pool.put_bare(closing_addr, stream, Instant::now());
        let (_stream, reused) = pool.bare(closing_addr, Instant::now()).await.unwrap();
        assert!(!reused, "a socket the app closed is dropped and a new one made");
    }

    #[tokio::test]
    async fn connections_are_reused_capped_and_closed_when_idle() {
        let (addr, accepted) = backend().await;
        let pool = Pool::new(2, Duration::from_millis(300));
        for _ in 0..5 {
            assert_eq!(get(&pool, addr).await, 200);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "one connection serves them in turn");

        // Three at once need three connections; only two stay.
        let (a, b, c) = tokio::join!(
            async {
                let request = Request::builder().uri("/").body(Body::empty()).unwrap();
                pool.send(addr, request).await.unwrap()
            },
            async {
                let request = Request::builder().uri("/").body(Body::empty()).unwrap();
                pool.send(addr, request).await.unwrap()
            },
            async {
                let request = Request::builder().uri("/").body(Body::empty()).unwrap();
                pool.send(addr, request).await.unwrap()
            },
        );
        for (response, conn) in [a, b, c] {
            use http_body_util::BodyExt;
            response.into_body().collect().await.unwrap();
            pool.put(conn);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(pool.idle_count(), 2, "at most max_idle idle connections are kept");

        tokio::time::sleep(Duration::from_millis(400)).await;
        pool.sweep();
        assert_eq!(pool.idle_count(), 0, "idle connections are closed after the idle timeout");
        assert_eq!(get(&pool, addr).await, 200);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4, "a new connection after the sweep");
    }
}
