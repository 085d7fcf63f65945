//! Hardening at the edges: password guessing is throttled per account and
//! address, what a request carries cannot break the server or the client's
//! connection, and the audit log tells the truth about where a change came
//! from and which app it was.

use std::time::Duration;

use paas_e2e::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP client whose connections come from `address` (any of 127.0.0.0/8).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn token_attempt(server: &TestServer, client: &reqwest::Client, password: &str) -> u16 {
    let response = client
        .post(server.api("/tokens"))
        .basic_auth(ADMIN_EMAIL, Some(password))
        .json(&json!({ "name": "guess" }))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn password_guessing_is_throttled_per_account_and_address_across_api_and_dashboard() {
    let server = TestServer::start().await;
    let attacker = client_from("127.0.0.1");
    for _ in 0..5 {
        assert_eq!(token_attempt(&server, &attacker, "wrong-password").await, 401);
    }
    // Held off now, even with the right password, and told when to retry.
    let response = attacker
        .post(server.api("/tokens"))
        .basic_auth(ADMIN_EMAIL, Some(ADMIN_PASSWORD))
        .json(&json!({ "name": "guess" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // The dashboard's login shares the throttle.
    let page = attacker
        .post(format!("{}/login", server.url))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    // The owner, from another address, is not locked out.
    let owner = client_from("127.0.0.2");
    assert_eq!(token_attempt(&server, &owner, ADMIN_PASSWORD).await, 201);
}

#[tokio::test]
async fn after_login_only_paths_of_this_site_are_followed() {
    let server = TestServer::start().await;
    let browser = client_from("127.0.0.1");
    for next in
        ["/\t/evil.example", "//evil.example", "/\\evil.example", "/apps\r\nSet-Cookie: x=1", "https://evil.example"]
    {
        let response = browser
            .post(format!("{}/login", server.url))
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection() || response.status() == 422, "{next:?}: {}", response.status());
        if response.status().is_redirection() {
            assert_eq!(response.headers()["location"], "/", "{next:?}");
        }
    }
    let response = browser
        .post(format!("{}/login", server.url))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD), ("next", "/teams")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/teams", "a path of this site is followed");
}

#[tokio::test]
async fn nul_bytes_and_control_characters_are_refused_with_422() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "hard-nul").await;
    for (method, path, body) in [
        ("POST", "/teams", Some(json!({ "name": "a\u{0}b" }))),
        ("POST", "/tokens", Some(json!({ "name": "laptop\u{0}" }))),
        ("POST", "/users", Some(json!({ "email": "a\u{0}@example.com", "password": "long-enough-pw" }))),
        ("PATCH", "/apps/hard-nul/config", Some(json!({ "KEY\u{0}": "v" }))),
        ("PATCH", "/apps/hard-nul/config", Some(json!({ "KEY": "v\u{0}" }))),
        ("POST", "/apps/hard-nul/domains", Some(json!({ "hostname": "www.example.com\u{1b}" }))),
        ("GET", "/apps/hard%00nul", None),
        ("GET", "/audit?app=hard%00nul", None),
    ] {
        let (status, answer) = server.call(method, path, &token, body).await;
        assert_eq!(status, 422, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{method} {path}: {answer}");
    }
    // A multi-line value is text, not a control character.
    let (status, answer) =
        server.call("PATCH", "/apps/hard-nul/config", &token, Some(json!({ "PEM": "-----BEGIN\nabc\n" }))).await;
    assert_eq!(status, 200, "{answer}");
    // A form too.
    let form = reqwest::Client::new()
        .post(format!("{}/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=admin%00%40example.com&password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 422);
}

#[tokio::test]
async fn the_audit_source_is_the_interface_used_never_a_header() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let response = server
        .http
        .post(server.api("/apps"))
        .bearer_auth(&token)
        .header("x-paas-source", "dashboard")
        .json(&json!({ "name": "hard-forged" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, events) = server.call("GET", "/audit?app=hard-forged", &token, None).await;
    let create = events.as_array().unwrap().iter().find(|e| e["action"] == "app.create").cloned().unwrap();
    assert_eq!(create["source"], "api", "{events}");
}

#[tokio::test]
async fn a_reused_app_name_does_not_inherit_the_old_apps_history() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    server.create_app(&admin, "hard-reuse").await;
    let (status, _) = server.call("PATCH", "/apps/hard-reuse/config", &admin, Some(json!({ "OLD": "1" }))).await;
    assert_eq!(status, 200);
    let (status, _) = server.call("DELETE", "/apps/hard-reuse", &admin, None).await;
    assert_eq!(status, 204);

    let other = server.user_token(&admin, "newcomer@example.com").await;
    let (status, _) = server.call("POST", "/teams", &other, Some(json!({ "name": "newteam" }))).await;
    assert_eq!(status, 201);
    let (status, _) =
        server.call("POST", "/apps", &other, Some(json!({ "name": "hard-reuse", "team": "newteam" }))).await;
    assert_eq!(status, 201);
    let (status, events) = server.call("GET", "/audit?app=hard-reuse", &other, None).await;
    assert_eq!(status, 200, "{events}");
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, vec!["app.create"], "only the new app's own history: {events}");
    assert!(events.as_array().unwrap().iter().all(|e| e["actor"] == "newcomer@example.com"), "{events}");
}

/// Read one HTTP/1.1 response with a Content-Length body; its status.
async fn read_response(stream: &mut tokio::net::TcpStream) -> u16 {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "the server closed the connection: {}", String::from_utf8_lossy(&buffer));
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while buffer.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed mid-body");
            buffer.extend_from_slice(&chunk[..n]);
        }
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        buffer.drain(..end + 4 + length);
        return status;
    }
}

#[tokio::test]
async fn a_refused_request_keeps_the_connection_alive() {
    let server = TestServer::start().await;
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    // Refused before anything reads its (large) body: no token.
    let body = format!("{{\"name\":\"{}\"}}", "x".repeat(256 * 1024));
    let request = format!(
        "POST /api/v1/apps HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 401);
    // The same connection serves the next request.
    stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 200);
}
