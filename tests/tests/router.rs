//! The router in front of a deployed app: proxy headers, request bodies,
//! unknown hosts.

use paas_e2e::apps::AppRepo;
use paas_e2e::TestServer;

#[tokio::test]
async fn router_forwards_bodies_and_sets_proxy_headers() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "route-headers").await;
    let repo = AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("route-headers", &token));
    assert!(ok, "{output}");

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
