//! The router's worker threads. Each runs a single-threaded event loop that
//! accepts on the shared listening socket, serves its connections with
//! hyper's HTTP/1 server (upgrades included) and proxies through its own
//! pool of connections to app processes. Nothing about a request crosses
//! threads, so there are no hand-offs and wake-ups between them: the cost
//! that dominated a request when it was served on the shared runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
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
}

impl Workers {
    /// Serve `listener` on `count` threads (at least one).
    pub fn start(listener: std::net::TcpListener, state: RouterState, count: usize) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        let count = count.max(1);
        let max_idle = match state.limits.max_idle {
            0 => 0,
            all => all.div_ceil(count),
        };
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            let (listener, state, stopped) = (listener.try_clone()?, state.clone(), stopped.clone());
            let thread = std::thread::Builder::new()
                .name(format!("router-{index}"))
                .spawn(move || run(listener, state, max_idle, stopped))?;
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

fn run(listener: std::net::TcpListener, state: RouterState, max_idle: usize, mut stopped: watch::Receiver<bool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "a router worker could not start its event loop");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
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
                    Err(err) => {
                        // Out of file descriptors, most likely: wait for some
                        // to close rather than spin.
                        tracing::warn!(error = %err, "the router could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
        drop(listener);
        sweeping.abort();
        connections.close();
        if tokio::time::timeout(grace, connections.wait()).await.is_err() {
            tracing::warn!("router requests still open after 10 s; closing them");
        }
    });
}

async fn serve_connection(
    worker: Arc<Worker>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    stopped: watch::Receiver<bool>,
) {
    let trusted = worker.state.trusted_proxies.iter().any(|range| range.contains(peer.ip()));
    let peer = Arc::new(super::proxy::Peer::new(peer, trusted));
    let service = hyper::service::service_fn(move |request| {
        let (worker, peer) = (worker.clone(), peer.clone());
        async move { Ok::<_, Infallible>(super::proxy::forward(&worker, &peer, request).await) }
    });
    crate::http1::serve(stream, service, stopped).await;
}

impl Worker {
    fn new(state: RouterState, max_idle: usize) -> Self {
        let pool = super::pool::Pool::new(max_idle, state.limits.idle);
        Self { state, pool, ids: RequestIds::new() }
    }

    /// A fresh request id.
    pub fn request_id(&self) -> HeaderValue {
        self.ids.next()
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
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::from_u64_pair(self.prefix, n).hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}
