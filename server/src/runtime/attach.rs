//! A process's terminal or pipes, both ways: the engine's attach and exec
//! endpoints hand over the connection itself (an HTTP upgrade). bollard's
//! own attach reads a terminal line by line, which holds back a prompt that
//! ends without a newline, so the upgrade is made here with hyper and the
//! bytes pass untouched (with a TTY) or unframed (without one: the engine
//! multiplexes stdout and stderr in 8-byte-headed frames).

use std::pin::Pin;

use anyhow::{anyhow, Context};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::BoxStream;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWrite;

/// What a session prints, by stream (a TTY has only `Stdout`).
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// What a session runs in: a one-off container, or a command executed in a
/// running one.
#[derive(Debug, Clone)]
pub enum Target {
    Container(String),
    Exec(String),
}

/// An attached process: its output as it comes, and its input (shut it down
/// to send end-of-file).
pub struct Session {
    pub target: Target,
    pub output: BoxStream<'static, std::io::Result<Output>>,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
}

/// Where the engine listens: `DOCKER_HOST` (unix:// or tcp://) or its socket.
#[derive(Debug, Clone)]
pub(super) enum Endpoint {
    Unix(std::path::PathBuf),
    Tcp(String),
}

impl Endpoint {
    pub fn from_env() -> Self {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
            return Endpoint::Tcp(addr.trim_end_matches('/').to_string());
        }
        let path = host.strip_prefix("unix://").filter(|p| !p.is_empty()).unwrap_or("/var/run/docker.sock");
        Endpoint::Unix(path.into())
    }
}

/// POST `path` (with a JSON body, when given) asking the engine to hand the
/// connection over; the session on it.
pub(super) async fn hijack(
    endpoint: &Endpoint,
    path: &str,
    body: Option<serde_json::Value>,
    target: Target,
    tty: bool,
) -> anyhow::Result<Session> {
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let request = Request::post(path)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "tcp")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = match endpoint {
        Endpoint::Unix(socket) => {
            let stream = tokio::net::UnixStream::connect(socket)
                .await
                .with_context(|| format!("connecting to the Docker engine at {}", socket.display()))?;
            send(TokioIo::new(stream), request).await?
        }
        Endpoint::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to the Docker engine at {addr}"))?;
            send(TokioIo::new(stream), request).await?
        }
    };
    let status = response.status();
    if status != hyper::StatusCode::SWITCHING_PROTOCOLS && !status.is_success() {
        use http_body_util::BodyExt;
        let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&text).trim().to_string());
        return Err(anyhow!("the engine refused to attach ({status}): {message}"));
    }
    let upgraded = hyper::upgrade::on(response).await.context("the engine did not hand the connection over")?;
    let (read, write) = tokio::io::split(TokioIo::new(upgraded));
    let frames = tokio_util::codec::FramedRead::new(read, Frames { tty, pending: None });
    Ok(Session { target, output: Box::pin(frames), input: Box::pin(write) })
}

/// GET `path`, a streamed answer in the engine's output framing (logs).
pub(super) async fn stream(
    endpoint: &Endpoint,
    path: &str,
) -> anyhow::Result<BoxStream<'static, std::io::Result<Output>>> {
    use futures_util::TryStreamExt;
    let request = Request::get(path).header(hyper::header::HOST, "docker").body(Full::new(Bytes::new()))?;
    let response = match endpoint {
        Endpoint::Unix(socket) => send(TokioIo::new(tokio::net::UnixStream::connect(socket).await?), request).await?,
        Endpoint::Tcp(addr) => send(TokioIo::new(tokio::net::TcpStream::connect(addr).await?), request).await?,
    };
    if !response.status().is_success() {
        use http_body_util::BodyExt;
        let status = response.status();
        let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(anyhow!("the engine answered {status}: {}", String::from_utf8_lossy(&text).trim()));
    }
    let body = http_body_util::BodyDataStream::new(response.into_body()).map_err(std::io::Error::other);
    let read = tokio_util::io::StreamReader::new(body);
    Ok(Box::pin(tokio_util::codec::FramedRead::new(read, Frames { tty: false, pending: None })))
}

async fn send<I>(io: I, request: Request<Full<Bytes>>) -> anyhow::Result<hyper::Response<Incoming>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    Ok(sender.send_request(request).await?)
}

/// The engine's output framing: raw bytes with a TTY; without one, frames
/// of `[stream, 0, 0, 0, length (u32, big-endian)]` and the payload.
struct Frames {
    tty: bool,
    /// The stream and length of a frame whose payload is still coming.
    pending: Option<(u8, usize)>,
}

impl tokio_util::codec::Decoder for Frames {
    type Item = Output;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> std::io::Result<Option<Output>> {
        if self.tty {
            return Ok((!src.is_empty()).then(|| Output::Stdout(src.split().freeze())));
        }
        loop {
            let (stream, length) = match self.pending {
                Some(frame) => frame,
                None => {
                    if src.len() < 8 {
                        return Ok(None);
                    }
                    let stream = src[0];
                    let length = u32::from_be_bytes([src[4], src[5], src[6], src[7]]) as usize;
                    src.advance(8);
                    self.pending = Some((stream, length));
                    (stream, length)
                }
            };
            if src.len() < length {
                src.reserve(length - src.len());
                return Ok(None);
            }
            self.pending = None;
            let payload = src.split_to(length).freeze();
            match stream {
                2 => return Ok(Some(Output::Stderr(payload))),
                // Stdin echoed back is not asked for; anything else is output.
                0 => continue,
                _ => return Ok(Some(Output::Stdout(payload))),
            }
        }
    }
}

/// Hang up an executed command whose client left: SIGHUP to its process
/// group (the engine makes each command the leader of its own session),
/// then SIGKILL to what is left of it after `grace`. The engine has no call
/// for this. Only a process of this machine in the container's control
/// group is signalled: the pid of another machine's engine is left alone.
/// A group's number is not given to another while any of it lives; a lone
/// process is checked again before it is killed.
pub(super) async fn hang_up(pid: i64, container: &str, grace: std::time::Duration) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| anyhow::anyhow!("no such process {pid}"))?;
    let ours = || std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|groups| groups.contains(container));
    if !ours() {
        anyhow::bail!("process {pid} of container {container} is not one of this machine's");
    }
    // SAFETY (here and below): getpgid and kill take no pointers.
    let target = if unsafe { libc::getpgid(pid) } == pid { -pid } else { pid };
    let signal = |signal: libc::c_int| unsafe { libc::kill(target, signal) } == 0;
    signal(libc::SIGHUP);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if !signal(0) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if target < 0 || ours() {
        signal(libc::SIGKILL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Decoder;

    #[test]
    fn frames_split_by_stream_across_reads() {
        let mut frames = Frames { tty: false, pending: None };
        let mut src = BytesMut::new();
        src.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 5]);
        src.extend_from_slice(b"hel");
        assert_eq!(frames.decode(&mut src).unwrap(), None, "half a payload waits");
        src.extend_from_slice(b"lo");
        src.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        src.extend_from_slice(b"bad");
        assert_eq!(frames.decode(&mut src).unwrap(), Some(Output::Stdout(Bytes::from_static(b"hello"))));
        assert_eq!(frames.decode(&mut src).unwrap(), Some(Output::Stderr(Bytes::from_static(b"bad"))));
        assert_eq!(frames.decode(&mut src).unwrap(), None);
    }

    #[test]
    fn a_terminal_passes_bytes_as_they_come() {
        let mut frames = Frames { tty: true, pending: None };
        let mut src = BytesMut::from(&b"\x01$ "[..]);
        assert_eq!(frames.decode(&mut src).unwrap(), Some(Output::Stdout(Bytes::from_static(b"\x01$ "))));
        assert_eq!(frames.decode(&mut src).unwrap(), None);
    }
}
