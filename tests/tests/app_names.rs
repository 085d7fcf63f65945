//! App name rules over the API: every bad name gets a 422 naming its rule.

use paas_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn bad_app_names_get_422_naming_the_rule() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let cases = [
        ("", "must not be empty"),
        ("MyApp", "only lowercase letters, digits and hyphens"),
        ("my_app", "only lowercase letters, digits and hyphens"),
        ("my.app", "only lowercase letters, digits and hyphens"),
        ("9lives", "must start with a letter"),
        ("-app", "must start with a letter"),
        ("app-", "must not end with a hyphen"),
        ("a--b", "two hyphens in a row"),
        ("a-very-long-application-name-xyz", "at most 30 characters"),
        ("www", "is reserved"),
        ("api", "is reserved"),
    ];
    for (name, rule) in cases {
        let (status, body) = server.call("POST", "/apps", &admin, Some(json!({ "name": name }))).await;
        assert_eq!(status, 422, "{name:?}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(rule), "{name:?}: {message:?} should mention {rule:?}");
    }
}

#[tokio::test]
async fn duplicate_app_names_get_409() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let (status, _) = server.call("POST", "/apps", &admin, Some(json!({ "name": "twice" }))).await;
    assert_eq!(status, 201);
    let (status, body) = server.call("POST", "/apps", &admin, Some(json!({ "name": "twice" }))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
}

#[tokio::test]
async fn malformed_bodies_get_json_errors() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let response = server
        .http
        .post(server.api("/apps"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, body) = server.call("POST", "/apps", &admin, Some(json!({ "nom": "x" }))).await;
    assert_eq!(status, 422, "{body}");
}
