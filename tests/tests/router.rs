//! The router in front of a deployed app: proxy headers, request bodies,
//! unknown hosts.

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
