//! The router in front of a deployed app: proxy headers, request bodies,
//! unknown hosts, upgrades, half-closed clients, its pool of connections.

use paas_e2e::TestServer;

#[tokio::test]
async fn router_forwards_bodies_and_sets_proxy_headers() {
    let (server, _token, _repo) = TestServer::with_deployed_app("route-headers").await;

    let response = server
        .http
        .post(format!("http://{}/cgi-bin/headers", server.router_addr))
        .header("host", "route-headers.paas.test")
        .header("x-request-id", "req-42")
        .body("payload through the router")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    for expected in [
        "forwarded-for=127.0.0.1",
        "forwarded-host=route-headers.paas.test",
        "forwarded-proto=http",
        "request-id=req-42",
        "method=POST",
        "payload through the router",
    ] {
        assert!(body.contains(expected), "{expected:?} missing from:\n{body}");
    }

    // A router-made request id when the client sends none.
    let (_, body) = server.app_get("route-headers", "/cgi-bin/headers").await;
    let id = body.lines().find_map(|l| l.strip_prefix("request-id=")).unwrap_or_default();
    assert_eq!(id.len(), 36, "a UUID request id: {body}");

    let (status, body) = server.app_get("nosuchapp", "/").await;
    assert_eq!(status, 404);
    assert!(body.contains("No app is served at nosuchapp.paas.test"), "{body}");

    // A client that shuts its sending half once the request is out (as `nc`
    // does) still gets the answer.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&server.router_addr).await.unwrap();
    stream.write_all(b"GET /cgi-bin/headers HTTP/1.0\r\nHost: route-headers.paas.test\r\n\r\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    tokio::time::timeout(std::time::Duration::from_secs(10), read).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.0 200") && answer.contains("method=GET"), "{answer}");
}

#[tokio::test]
async fn router_passes_protocol_upgrades_through() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "route-upgrade").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("upgrade-echo");
    let (ok, output) = repo.push(&server.git_url("route-upgrade", &token));
    assert!(ok, "{output}");

    let stream = tokio::net::TcpStream::connect(&server.router_addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(
            b"GET /socket HTTP/1.1\r\nHost: route-upgrade.paas.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .await
        .unwrap();
    let mut status = String::new();
    reader.read_line(&mut status).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await.unwrap();
        if header == "\r\n" || header.is_empty() {
            break;
        }
    }
    write.write_all(b"ping over the upgraded connection\n").await.unwrap();
    let mut echoed = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), reader.read_line(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(echoed, "echo: ping over the upgraded connection\n");
}

/// Create `app` and push the keep-alive backend (`tests/src/bin/keepalive-backend.rs`) to it.
async fn deploy_keep_alive_backend(server: &TestServer, token: &str, app: &str) {
    server.create_app(token, app).await;
    let (ok, output) =
        paas_e2e::apps::AppRepo::keep_alive_backend(std::path::Path::new(env!("CARGO_BIN_EXE_keepalive-backend")))
            .push(&server.git_url(app, token));
    assert!(ok, "{output}");
}

/// One response read off a raw connection: its status line, headers (names
/// lowercase) and body, decoded by its framing.
async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    head_only: bool,
) -> (String, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut status = String::new();
    reader.read_line(&mut status).await.unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if head_only || status.starts_with("HTTP/1.1 204") {
    } else if header("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.unwrap();
            let size = usize::from_str_radix(size.trim_end().split(';').next().unwrap(), 16).unwrap();
            if size == 0 {
                // Trailers, up to the empty line.
                let mut line = String::new();
                while reader.read_line(&mut line).await.unwrap() > 2 {
                    line.clear();
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length") {
        body.resize(length.parse().unwrap(), 0);
        reader.read_exact(&mut body).await.unwrap();
    } else {
        reader.read_to_end(&mut body).await.unwrap();
    }
    (status.trim_end().to_string(), headers, body)
}

#[tokio::test]
async fn every_framing_of_a_response_passes_through_on_one_kept_connection() {
    use tokio::io::{AsyncWriteExt, BufReader};
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    deploy_keep_alive_backend(&server, &token, "route-frames").await;

    let stream = tokio::net::TcpStream::connect(&server.router_addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let host = "Host: route-frames.paas.test\r\n";
    let header = |headers: &[(String, String)], name: &str| {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    };

    // Proxy headers: a client's X-Forwarded-For is not believed; a request id is made.
    let request = format!("GET /echo?q=1 HTTP/1.1\r\n{host}X-Forwarded-For: 203.0.113.9\r\n\r\n");
    write.write_all(request.as_bytes()).await.unwrap();
    let (status, headers, body) = read_response(&mut reader, false).await;
    let body = String::from_utf8(body).unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    let id = header(&headers, "x-request-id");
    assert_eq!(id.len(), 36, "{headers:?}");
    for expected in [
        "GET /echo?q=1 HTTP/1.1",
        "x-forwarded-for=127.0.0.1\n",
        "x-forwarded-proto=http\n",
        "x-forwarded-host=route-frames.paas.test\n",
        &format!("x-request-id={id}\n"),
    ] {
        assert!(body.contains(expected), "{expected:?} missing from:\n{body}");
    }

    // Chunks (with an extension and a trailer), a length of 1 MiB, HEADs,
    // an interim 103, a 204, and a body up to the app's close: each comes
    // whole, and the connection serves the next.
    let exchanges: [(&str, &str, &[u8]); 8] = [
        ("GET", "/chunked", b"hello from keep-alive\n"),
        ("HEAD", "/chunked", b""),
        ("GET", "/big", b""),
        ("HEAD", "/big", b""),
        ("GET", "/hints", b"hello from keep-alive\n"),
        ("GET", "/empty", b""),
        ("GET", "/close", b"until the close\n"),
        ("GET", "/", b"hello from keep-alive\n"),
    ];
    for (method, path, expected) in exchanges {
        write.write_all(format!("{method} {path} HTTP/1.1\r\n{host}\r\n").as_bytes()).await.unwrap();
        let (status, headers, body) = read_response(&mut reader, method == "HEAD").await;
        match path {
            "/empty" => assert_eq!(status, "HTTP/1.1 204 No Content"),
            _ => assert_eq!(status, "HTTP/1.1 200 OK", "{method} {path}"),
        }
        if path == "/chunked" {
            assert_eq!(header(&headers, "transfer-encoding"), "chunked", "{method} {path}: {headers:?}");
        }
        if path == "/big" {
            assert_eq!(header(&headers, "content-length"), "1048576", "{method} {path}: {headers:?}");
            let pattern = b"0123456789".iter().cycle().take(1 << 20).copied().collect::<Vec<u8>>();
            assert_eq!(body.len(), if method == "HEAD" { 0 } else { 1 << 20 });
            assert!(method == "HEAD" || body == pattern, "the 1 MiB body came changed");
        } else {
            assert_eq!(String::from_utf8_lossy(&body), String::from_utf8_lossy(expected), "{method} {path}");
        }
        assert!(headers.iter().all(|(n, _)| n != "connection" && n != "keep-alive"), "{path}: {headers:?}");
        assert_eq!(header(&headers, "x-request-id").len(), 36, "{path}: {headers:?}");
    }

    // Two requests in one write: two answers, in order.
    let twice = format!("GET /echo?n=1 HTTP/1.1\r\n{host}\r\nGET /echo?n=2 HTTP/1.1\r\n{host}\r\n");
    write.write_all(twice.as_bytes()).await.unwrap();
    for n in 1..=2 {
        let (_, _, body) = read_response(&mut reader, false).await;
        assert!(String::from_utf8_lossy(&body).starts_with(&format!("GET /echo?n={n} ")));
    }

    // A body written apart from its head (as some clients do) is waited for.
    write.write_all(format!("POST /echo HTTP/1.1\r\n{host}Content-Length: 11\r\n\r\n").as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    write.write_all(b"sent apart\n").await.unwrap();
    let (status, _, body) = read_response(&mut reader, false).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(String::from_utf8_lossy(&body).ends_with("\nsent apart\n"), "{}", String::from_utf8_lossy(&body));

    // A body larger than the byte-for-byte path holds, on the same
    // connection: it streams through, and so does what follows.
    let upload = "u".repeat(100 * 1024);
    let request = format!("POST /echo HTTP/1.1\r\n{host}Content-Length: {}\r\n\r\n{upload}", upload.len());
    write.write_all(request.as_bytes()).await.unwrap();
    let (status, _, body) = read_response(&mut reader, false).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(String::from_utf8_lossy(&body).ends_with(&upload), "the 100 KiB body came back whole");
    write.write_all(format!("GET /echo HTTP/1.1\r\n{host}Connection: close\r\n\r\n").as_bytes()).await.unwrap();
    let (status, _, body) = read_response(&mut reader, false).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(String::from_utf8_lossy(&body).contains("x-forwarded-for=127.0.0.1\n"));

    // Each request left its access line.
    let home = server.cli_home(&token);
    let logs = server.cli_ok(home.path(), &["logs", "-n", "40", "-p", "router", "-a", "route-frames"]);
    for line in ["GET /echo 200", "GET /chunked 200", "HEAD /big 200", "GET /empty 204", "POST /echo 200"] {
        assert!(logs.contains(&format!("paas[router]: {line} ")), "{line:?} missing from:\n{logs}");
    }
}

/// Established connections from the server process to 127.0.0.1:`port`.
fn connections_to(port: &str, pid: u32) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-tnpH", "state", "established", "dst", &format!("127.0.0.1:{port}")])
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&format!("pid={pid},"))).count()
}

#[tokio::test]
async fn idle_connections_to_processes_are_capped_and_closed_after_the_idle_timeout() {
    let server = TestServer::start_with_env(&[
        ("PAAS_PROXY_IDLE_TIMEOUT", "1"),
        ("PAAS_PROXY_MAX_IDLE", "2"),
        ("PAAS_ROUTER_WORKERS", "1"),
    ])
    .await;
    let token = server.admin_token().await;
    deploy_keep_alive_backend(&server, &token, "route-idle").await;
    let web = paas_e2e::apps::containers("route-idle").into_iter().find(|c| c.contains("web")).expect("a web process");
    let name = web.split_whitespace().next().unwrap();
    let port = std::process::Command::new("docker").args(["port", name]).output().unwrap();
    let port = String::from_utf8_lossy(&port.stdout).trim().rsplit(':').next().unwrap().to_string();
    let pid = server.pid().unwrap();

    // Many requests at once from separate clients: more connections than
    // the pool keeps.
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let url = format!("http://{}/", server.router_addr);
        requests.spawn(async move {
            let response = reqwest::Client::new().get(url).header("host", "route-idle.paas.test").send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        });
    }
    while let Some(answer) = requests.join_next().await {
        assert_eq!(answer.unwrap(), (200, "hello from keep-alive\n".to_string()));
    }
    let kept = connections_to(&port, pid);
    assert!((1..=2).contains(&kept), "1 or 2 idle connections kept, not {kept}");

    paas_e2e::wait_until("idle connections to close", std::time::Duration::from_secs(5), || async {
        connections_to(&port, pid) == 0
    })
    .await;
    // And a request after that opens a new one.
    assert_eq!(server.app_get("route-idle", "/").await, (200, "hello from keep-alive\n".to_string()));
}

#[tokio::test]
async fn a_request_a_process_drops_unanswered_goes_to_another_unless_it_had_a_body() {
    let (server, token, _repo) = TestServer::with_deployed_app("route-retry").await;
    let home = server.cli_home(&token);
    server.cli_ok(home.path(), &["ps:scale", "web=2", "-a", "route-retry"]);
    // web.1 drops every such request: each GET is answered by web.2.
    for _ in 0..10 {
        let (status, body) = server.app_get("route-retry", "/cgi-bin/vanish").await;
        assert_eq!((status, body.as_str()), (200, "answered by web.2\n"));
    }
    // A request with a body is never sent twice: the one web.1 drops is 502.
    let mut answers = Vec::new();
    for _ in 0..10 {
        let response = server
            .http
            .post(format!("http://{}/cgi-bin/vanish", server.router_addr))
            .header("host", "route-retry.paas.test")
            .body("once only")
            .send()
            .await
            .unwrap();
        answers.push(response.status().as_u16());
    }
    assert!(answers.contains(&502) && answers.contains(&200), "{answers:?}");
}
