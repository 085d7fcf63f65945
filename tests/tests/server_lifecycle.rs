//! `paas serve` itself (mostly on its embedded database): first start, restart, shutdown.

use paas_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn embedded_database_starts_empty_and_keeps_data_across_restart() {
    let mut server = TestServer::start_embedded().await;
    assert!(server.data_path().join("data/postgres/data/PG_VERSION").exists(), "cluster lives in the data dir");

    let admin = server.admin_token().await;
    let (status, body) = server.call("POST", "/apps", &admin, Some(json!({ "name": "kept" }))).await;
    assert_eq!(status, 201, "{body}");

    let status = server.stop().await;
    assert!(status.success(), "SIGTERM ends the server cleanly: {status}");
    server.restart().await;

    // The same token and the app survived the restart.
    let (status, body) = server.call("GET", "/apps/kept", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["team"], "main");
}

#[tokio::test]
async fn first_start_prints_admin_credentials_once() {
    let mut server = TestServer::start().await;
    let first = server.stdout(1);
    assert!(first.contains("created the admin user"), "first start announces the admin: {first}");
    assert!(first.contains(paas_e2e::ADMIN_EMAIL));
    server.restart().await;
    let second = server.stdout(2);
    assert!(!second.contains("created the admin user"), "never again: {second}");
    assert!(second.contains("paas is running"));
}

#[tokio::test]
async fn healthz_answers_and_every_response_has_a_request_id() {
    let server = TestServer::start().await;
    let response = server.http.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));

    let response =
        server.http.get(format!("{}/healthz", server.url)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123", "a client's request id is kept");

    // A client that shuts its sending half once the request is out (as `nc`
    // does) still gets the answer, every time.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.url.trim_start_matches("http://").to_string();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET /api/v1/apps HTTP/1.0\r\n\r\n").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = String::new();
        let read = stream.read_to_string(&mut answer);
        tokio::time::timeout(std::time::Duration::from_secs(10), read).await.unwrap().unwrap();
        assert!(answer.starts_with("HTTP/1.0 401"), "{answer:?}");
    }
}

#[tokio::test]
async fn router_answers_unknown_hosts_with_404() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(format!("http://{}/", server.router_addr))
        .header("host", "nope.paas.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("nope.paas.test"));
}

/// Processes that kept running through a restart of the server are heard
/// again: what they print afterwards reaches `paas logs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_processes_that_outlive_a_server_restart_are_collected_again() {
    let (mut server, token, _repo) = TestServer::with_deployed_app("outlive").await;
    server.restart().await;
    let home = server.cli_home(&token);
    // The container's own output: PID 1 (the engine's init) holds it.
    server.cli_ok(home.path(), &["ps:exec", "-a", "outlive", "echo said-after-the-restart > /proc/1/fd/1"]);
    paas_e2e::wait_until("the line in the app's logs", std::time::Duration::from_secs(30), || async {
        server.cli_ok(home.path(), &["logs", "-a", "outlive", "-n", "200"]).contains("said-after-the-restart")
    })
    .await;
    let logs = server.cli_ok(home.path(), &["logs", "-a", "outlive", "-n", "200"]);
    assert_eq!(logs.matches("said-after-the-restart").count(), 1, "heard once, not twice: {logs}");
}
