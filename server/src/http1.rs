//! One HTTP/1 connection served by hyper the way both listeners (the
//! control plane and the router) want it: over TCP_NODELAY, which the
//! caller sets (a response written in two pieces must not wait for the
//! client's delayed ACK), 30 s to send
//! the headers, upgrades passed through, a client that shuts its sending
//! half once the request is out (as `nc` does) still answered, and a
//! graceful end (the request in progress finishes) once `stop` turns true.

use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serve `stream`, a TCP connection (with TCP_NODELAY set) or one wrapped.
pub async fn serve<IO, S>(stream: IO, service: S, mut stop: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming>,
    S::Error: Into<BoxError>,
    S::ResBody: 'static,
    <S::ResBody as Body>::Error: Into<BoxError>,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
