//! The router's worker threads. Each runs a single-threaded event loop that
//! accepts on the shared listening socket, serves its connections with
//! hyper's HTTP/1 server (upgrades included) and proxies through its own
//! pool of connections to app processes. Nothing about a request crosses
//! threads, so there are no hand-offs and wake-ups between them: the cost
//! that dominated a request when it was served on the shared runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::service::Service;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::RouterState;

/// The running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What one worker's requests share.
pub(super) struct Worker {
    pub state: RouterState,
    pub pool: super::pool::Pool,
    ids: RequestIds,
    clock: WallClock,
}

impl Workers {
    /// Serve `listener` (plain HTTP) and `https` (TLS with this config), on
    /// `count` threads (at least one).
    pub fn start(
        listener: std::net::TcpListener,
        https: Option<(std::net::TcpListener, Arc<rustls::ServerConfig>)>,
        state: RouterState,
        count: usize,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        if let Some((https, _)) = &https {
            https.set_nonblocking(true)?;
        }
        let count = count.max(1);
        let max_idle = match state.limits.max_idle {
            0 => 0,
            all => all.div_ceil(count),
        };
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let (listener, state, stopped) = (listener.try_clone()?, state.clone(), stopped.clone());
            let https = match &https {
                Some((https, config)) => Some((https.try_clone()?, config.clone())),
                None => None,
            };
            let thread = std::thread::Builder::new()
                .name(format!("router-{index}"))
                .spawn(move || run(Listeners { plain: listener, https }, state, max_idle, stopped))?;
            threads.push(thread);
        }
        Ok(Self { stop, threads })
    }

    /// Stop accepting, let open requests finish for up to `grace`, then close
    /// what is left. Returns whether every request finished in time.
    pub async fn shutdown(self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join())));
        tokio::time::timeout(grace + Duration::from_secs(1), joined).await.is_ok()
    }
}

struct Listeners {
    plain: std::net::TcpListener,
    https: Option<(std::net::TcpListener, Arc<rustls::ServerConfig>)>,
}

fn run(listeners: Listeners, state: RouterState, max_idle: usize, mut stopped: watch::Receiver<bool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "a router worker could not start its event loop");
            return;
        }
    };
    runtime.block_on(async move {
        let https = match listeners.https {
            Some((listener, config)) => match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => Some((listener, config)),
                Err(err) => {
                    tracing::error!(error = %err, "a router worker could not listen for HTTPS");
                    return;
                }
            },
            None => None,
        };
        let listener = match tokio::net::TcpListener::from_std(listeners.plain) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(error = %err, "a router worker could not listen");
                return;
            }
        };
        let grace = Duration::from_secs(10);
        let worker = Arc::new(Worker::new(state, max_idle));
        let connections = TaskTracker::new();
        let (sweeper, tracker) = (worker.clone(), connections.clone());
        let sweeping = tokio::spawn(async move {
            let mut every = tokio::time::interval(sweeper.pool.sweep_every());
            let mut served = 0;
            loop {
                every.tick().await;
                sweeper.clock.set();
                let closed = sweeper.pool.sweep();
                // Connections went since the last tick (a burst is over):
                // give the memory they used back to the system.
                if closed > 0 || tracker.len() < served {
                    // SAFETY: mimalloc's collect of this thread's heap takes
                    // no pointers and may run at any time.
                    unsafe { libmimalloc_sys::mi_collect(false) };
                }
                served = tracker.len();
            }
        });
        let for_connections = stopped.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        connections.spawn(serve_connection(worker.clone(), stream, peer, for_connections.clone()));
                    }
                    Err(err) => accept_failed(err).await,
                },
                accepted = accept_https(&https) => match accepted {
                    Ok((stream, peer, config)) => {
                        let serving = serve_tls_connection(worker.clone(), stream, peer, config, for_connections.clone());
                        connections.spawn(serving);
                    }
                    Err(err) => accept_failed(err).await,
                },
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
        drop((listener, https));
        sweeping.abort();
        connections.close();
        if tokio::time::timeout(grace, connections.wait()).await.is_err() {
            tracing::warn!("router requests still open after 10 s; closing them");
        }
    });
}

/// Ready the process for the router, at its start before any thread exists
/// (`paas serve`, `paas router`): both settings are the whole process's, and
/// made then they cost no thread a wait and no memory already taken.
pub fn prepare_process() {
    make_room_for_connections();
    without_huge_pages();
}

/// How many open files the process's file table is grown to hold before the
/// first connection comes.
const FILE_TABLE: u64 = 16_384;

/// Room for connections, made before they come. The soft limit on open files
/// is raised to the hard one: a login shell's soft limit is often 1,024,
/// which would stop the router near a thousand connections while the system
/// allows far more. And the process's file table is grown now: the kernel
/// grows it by doubling as descriptors are opened, and in a threaded process
/// each doubling waits for an RCU grace period, holding up every thread that
/// opens a file meanwhile (both router threads stalled 6-28 ms at each
/// doubling in a first burst of 1,000 connections). Neither failing stops
/// the router; it only means less room.
fn make_room_for_connections() {
    use std::os::fd::AsRawFd;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(from = limit.rlim_cur, to = raised.rlim_cur, "raised the limit on open files");
            limit = raised;
        } else {
            let err = std::io::Error::last_os_error();
            tracing::warn!(error = %err, limit = limit.rlim_cur, "could not raise the limit on open files");
        }
    }
    // The lowest free descriptor at or above the table's last slot: it
    // never replaces one in use (as dup2 would), and is closed at once.
    let Ok(null) = std::fs::File::open("/dev/null") else { return };
    let last = limit.rlim_cur.min(FILE_TABLE).saturating_sub(1) as libc::c_int;
    // SAFETY: F_DUPFD on a descriptor this function owns; the copy is
    // closed before it returns and used for nothing else.
    let copy = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, last) };
    if copy >= 0 {
        unsafe { libc::close(copy) };
    }
}

/// No transparent huge pages for this process. mimalloc asks for them on
/// its arenas (`MADV_HUGEPAGE`), and where the kernel defragments on such a
/// request (Debian's default, `defrag=madvise`) the first touch of each 2 MiB
/// may compact memory in the faulting thread when no free 2 MiB block is at
/// hand (about 1 ms each on the development machine): a router thread
/// stalled with every connection on it. This is what mimalloc itself does
/// when told `MIMALLOC_ALLOW_THP=0`; the git processes the server runs
/// inherit it and need no huge pages either. It also keeps a burst's memory
/// in 4 KiB pages the allocator gives back: 39 MiB idle instead of 51-61.
fn without_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integers and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        let err = std::io::Error::last_os_error();
        tracing::warn!(error = %err, "could not turn off transparent huge pages");
    }
}

/// Out of file descriptors, most likely: wait for some to close rather than
/// spin.
async fn accept_failed(err: std::io::Error) {
    tracing::warn!(error = %err, "the router could not accept a connection");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The next HTTPS connection, or never without an HTTPS listener.
async fn accept_https(
    https: &Option<(tokio::net::TcpListener, Arc<rustls::ServerConfig>)>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr, Arc<rustls::ServerConfig>)> {
    match https {
        Some((listener, config)) => listener.accept().await.map(|(stream, peer)| (stream, peer, config.clone())),
        None => std::future::pending().await,
    }
}

/// A plain HTTP connection: its plain requests forwarded byte for byte, and
/// from the first that is not (an upgrade, an answer the router makes
/// itself), served by hyper.
async fn serve_connection(
    worker: Arc<Worker>,
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let peer = peer_of(&worker, peer, false);
    let read = match super::passthrough::serve(&worker, &mut stream, &peer, &stopped).await {
        super::passthrough::Served::Closed => return,
        super::passthrough::Served::Handoff(read) => read,
    };
    let stream = super::passthrough::Prefixed { read, stream };
    crate::http1::serve(stream, service(worker, peer), stopped).await;
}

fn peer_of(worker: &Worker, peer: SocketAddr, tls: bool) -> Arc<super::proxy::Peer> {
    let trusted = worker.state.trusted_proxies.iter().any(|range| range.contains(peer.ip()));
    Arc::new(super::proxy::Peer::new(peer, trusted, tls))
}

/// A connection's requests, forwarded as coming from `peer`.
fn service(
    worker: Arc<Worker>,
    peer: Arc<super::proxy::Peer>,
) -> impl Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone {
    hyper::service::service_fn(move |request| {
        let (worker, peer) = (worker.clone(), peer.clone());
        async move { Ok::<_, Infallible>(super::proxy::forward(&worker, &peer, request).await) }
    })
}

/// A TLS connection: the handshake (which may wait for a certificate issued
/// on demand for the name it asks), then HTTP/2 or HTTP/1.1 as ALPN chose.
async fn serve_tls_connection(
    worker: Arc<Worker>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let tls = worker.state.tls.clone();
    let handshake = async {
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        if let Some(name) = start.client_hello().server_name().map(str::to_ascii_lowercase) {
            tls.on_demand(&name).await;
        }
        start.into_stream(config).await
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT + crate::tls::ISSUE_WAIT, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::debug!(peer = %peer, error = %err, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let service = service(worker.clone(), peer_of(&worker, peer, true));
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HANDSHAKE_TIMEOUT).half_close(true);
    builder.http2().timer(hyper_util::rt::TokioTimer::new());
    let connection = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Time for a TLS client to say hello and for any client to send its
/// request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl Worker {
    fn new(state: RouterState, max_idle: usize) -> Self {
        let pool = super::pool::Pool::new(max_idle, state.limits.idle);
        Self { state, pool, ids: RequestIds::new(), clock: WallClock::new() }
    }

    /// The wall-clock time of an instant of this worker's.
    pub fn wall_time(&self, instant: Instant) -> chrono::DateTime<chrono::Utc> {
        self.clock.at(instant)
    }

    /// A fresh request id.
    pub fn request_id(&self) -> HeaderValue {
        self.ids.next()
    }

    /// A fresh request id, as the text it is.
    pub fn request_id_text(&self) -> [u8; uuid::fmt::Hyphenated::LENGTH] {
        self.ids.next_text()
    }
}

/// Request ids, UUID-shaped as Heroku's are: a random half per worker and a
/// counter. Unique without asking the system for randomness per request.
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self { prefix: rand::random(), next: AtomicU64::new(0) }
    }

    fn next(&self) -> HeaderValue {
        HeaderValue::from_bytes(&self.next_text()).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }

    fn next_text(&self) -> [u8; uuid::fmt::Hyphenated::LENGTH] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::from_u64_pair(self.prefix, n).hyphenated().encode_lower(&mut text);
        text
    }
}

/// Wall-clock times of instants, without reading the system's clock a
/// second time per request (each read is about 0.3% of a request's CPU):
/// the offset between the two clocks, set anew every sweep of the pool, so
/// a step or a slew of the wall clock is followed within seconds.
struct WallClock {
    origin: Instant,
    /// Wall-clock microseconds at `origin`.
    offset: AtomicI64,
}

impl WallClock {
    fn new() -> Self {
        let clock = Self { origin: Instant::now(), offset: AtomicI64::new(0) };
        clock.set();
        clock
    }

    fn set(&self) {
        let (now, wall) = (Instant::now(), chrono::Utc::now());
        let offset = wall.timestamp_micros() - micros(now.saturating_duration_since(self.origin));
        self.offset.store(offset, Ordering::Relaxed);
    }

    fn at(&self, instant: Instant) -> chrono::DateTime<chrono::Utc> {
        let micros =
            self.offset.load(Ordering::Relaxed).saturating_add(micros(instant.saturating_duration_since(self.origin)));
        chrono::DateTime::from_timestamp_micros(micros).unwrap_or_else(chrono::Utc::now)
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_turns_off_transparent_huge_pages() {
        without_huge_pages();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let enabled = status.lines().find_map(|line| line.strip_prefix("THP_enabled:")).map(str::trim);
        assert_eq!(enabled, Some("0"));
    }

    #[test]
    fn the_router_raises_its_open_files_limit_and_grows_its_file_table_first() {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        let hard = limit.rlim_max;
        assert!(hard > 256, "the hard limit ({hard}) leaves nothing to raise");
        let low = libc::rlimit { rlim_cur: 256, rlim_max: hard };
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);

        make_room_for_connections();

        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        assert_eq!(limit.rlim_cur, hard, "the soft limit is raised to the hard one");
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let slots: u64 =
            status.lines().find_map(|line| line.strip_prefix("FDSize:")).map(|n| n.trim().parse().unwrap()).unwrap();
        assert!(slots >= hard.min(FILE_TABLE), "file table of {slots} slots");
    }

    #[test]
    fn the_wall_clock_of_an_instant_is_the_systems_time_then() {
        let clock = WallClock::new();
        let (now, wall) = (Instant::now(), chrono::Utc::now());
        let off = (clock.at(now) - wall).num_milliseconds().abs();
        assert!(off <= 5, "{off} ms away from the system's clock");
        let later = now + Duration::from_millis(1500);
        assert_eq!((clock.at(later) - clock.at(now)).num_milliseconds(), 1500);
        // Set anew after the wall clock moved, it follows.
        clock.offset.fetch_sub(60_000_000, Ordering::Relaxed);
        clock.set();
        assert!((clock.at(Instant::now()) - chrono::Utc::now()).num_milliseconds().abs() <= 5);
    }
}
