//! A tiny HTTP/1.1 server that keeps connections alive, as most real app
//! servers do (busybox httpd closes each one): the app the router tests
//! use to watch the router's pool of connections to processes and every
//! way a response's body can be framed. On `$PORT`, one thread per
//! connection; request bodies are read by their Content-Length. It answers
//! `hello from keep-alive\n`, or by path:
//! - `/chunked`: a body in three chunks and a trailer;
//! - `/big`: 1 MiB of `0123456789`, by Content-Length;
//! - `/close`: an HTTP/1.0 answer without a length, then the connection closed;
//! - `/hints`: a 103 Early Hints before the answer;
//! - `/empty`: 204 No Content;
//! - `/echo`: the request's method, target, `x-forwarded-*` and
//!   `x-request-id` headers and body, as text.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

const BODY: &str = "hello from keep-alive\n";

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "5000".into());
    let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>().expect("PORT is a number"))).expect("bind");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream));
    }
}

/// Answers requests on one connection until the client closes it.
fn serve(stream: TcpStream) {
    let Ok(writer) = stream.try_clone() else { return };
    let (mut reader, mut writer) = (BufReader::new(stream), writer);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut request_line = String::new();
        let mut echoed = String::new();
        // The request line and headers, up to the empty line.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if request_line.is_empty() {
                request_line = header.to_string();
            } else if let Some((name, value)) = header.split_once(':') {
                let name = name.to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                }
                if name.starts_with("x-forwarded-") || name == "x-request-id" {
                    echoed.push_str(&format!("{name}={}\n", value.trim()));
                }
            }
        }
        let mut body = Vec::new();
        if (&mut reader).take(length as u64).read_to_end(&mut body).is_err() {
            return;
        }
        let target = request_line.split(' ').nth(1).unwrap_or("/");
        let answer = match target.split('?').next().unwrap_or(target) {
            "/chunked" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                           6\r\nhello \r\n5;note=x\r\nfrom \r\nb\r\nkeep-alive\n\r\n0\r\nx-trailer: 1\r\n\r\n"
                .as_bytes()
                .to_vec(),
            "/big" => {
                let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
                answer.extend(b"0123456789".iter().cycle().take(1 << 20));
                answer
            }
            "/close" => {
                let _ = writer.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close\n");
                return;
            }
            "/hints" => format!(
                "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
                 HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{BODY}",
                BODY.len()
            )
            .into_bytes(),
            "/empty" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            "/echo" => {
                let text = format!("{request_line}\n{echoed}{}", String::from_utf8_lossy(&body));
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len()).into_bytes()
            }
            _ => format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{BODY}", BODY.len())
                .into_bytes(),
        };
        // A HEAD request gets the head only.
        let answer = match answer.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) if request_line.starts_with("HEAD ") => &answer[..end + 4],
            _ => &answer[..],
        };
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}
