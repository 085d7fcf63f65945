//! Users, tokens, teams and roles over the REST API.

use paas_e2e::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

#[tokio::test]
async fn token_create_use_and_revoke() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;

    let (status, me) = server.call("GET", "/user", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], ADMIN_EMAIL);

    let (status, created) = server.call("POST", "/tokens", &token, Some(json!({ "name": "ci" }))).await;
    assert_eq!(status, 201, "{created}");
    let second = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();

    let (_, list) = server.call("GET", "/tokens", &token, None).await;
    let listed = list.as_array().unwrap();
    assert!(listed.iter().any(|t| t["name"] == "ci"));
    assert!(!list.to_string().contains(&second), "a listing never shows secrets");

    let (status, _) = server.call("GET", "/apps", &second, None).await;
    assert_eq!(status, 200, "the new token works");
    let (status, _) = server.call("DELETE", &format!("/tokens/{id}"), &token, None).await;
    assert_eq!(status, 204);
    let (status, body) = server.call("GET", "/apps", &second, None).await;
    assert_eq!(status, 401, "a revoked token is refused: {body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = server.call("GET", "/apps", &token, None).await;
    assert_eq!(status, 200, "other tokens keep working");
}

#[tokio::test]
async fn token_last_used_time_is_recorded() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let (_, list) = server.call("GET", "/tokens", &token, None).await;
    let used = list.as_array().unwrap().iter().filter(|t| !t["last_used_at"].is_null()).count();
    assert!(used >= 1, "the token used for this call has a last-used time: {list}");
}

#[tokio::test]
async fn wrong_password_and_missing_token_get_401() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.api("/tokens"))
        .basic_auth(ADMIN_EMAIL, Some("not-the-password"))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let response = server
        .http
        .post(server.api("/tokens"))
        .basic_auth("nobody@example.com", Some(ADMIN_PASSWORD))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "unknown users get the same answer");

    let response = server.http.get(server.api("/apps")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = server.call("GET", "/apps", "paas_not-a-real-token", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn only_server_admins_create_users() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let dev = server.user_token(&admin, "dev@example.com").await;
    let (status, body) = server.call("POST", "/users", &dev, Some(json!({ "email": "x@example.com" }))).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.call("POST", "/users", &admin, Some(json!({ "email": "dev@example.com" }))).await;
    assert_eq!(status, 409, "duplicate email: {body}");
    let (status, body) = server.call("POST", "/users", &admin, Some(json!({ "email": "gen@example.com" }))).await;
    assert_eq!(status, 201);
    assert!(body["password"].as_str().unwrap().len() >= 16, "a generated password is returned once");
}

/// A team `acme` with one user per role, plus an outsider; returns tokens.
struct Org {
    admin: String,
    owner: String,
    team_admin: String,
    developer: String,
    viewer: String,
    outsider: String,
}

async fn org(server: &TestServer) -> Org {
    let admin = server.admin_token().await;
    let owner = server.user_token(&admin, "owner@example.com").await;
    let (status, body) = server.call("POST", "/teams", &owner, Some(json!({ "name": "acme" }))).await;
    assert_eq!(status, 201, "{body}");
    let mut tokens = Vec::new();
    for (email, role) in
        [("tadmin@example.com", "admin"), ("dev@example.com", "developer"), ("viewer@example.com", "viewer")]
    {
        tokens.push(server.user_token(&admin, email).await);
        let (status, body) =
            server.call("POST", "/teams/acme/members", &owner, Some(json!({ "email": email, "role": role }))).await;
        assert_eq!(status, 201, "{body}");
    }
    let outsider = server.user_token(&admin, "outsider@example.com").await;
    let (status, _) = server.call("POST", "/teams", &outsider, Some(json!({ "name": "other" }))).await;
    assert_eq!(status, 201);
    let (status, body) = server.call("POST", "/apps", &owner, Some(json!({ "name": "shop", "team": "acme" }))).await;
    assert_eq!(status, 201, "{body}");
    let [team_admin, developer, viewer]: [String; 3] = tokens.try_into().unwrap();
    Org { admin, owner, team_admin, developer, viewer, outsider }
}

#[tokio::test]
async fn viewers_cannot_create_or_delete_apps_developers_can_create() {
    let server = TestServer::start().await;
    let org = org(&server).await;
    let (status, body) =
        server.call("POST", "/apps", &org.viewer, Some(json!({ "name": "v-app", "team": "acme" }))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = server.call("DELETE", "/apps/shop", &org.viewer, None).await;
    assert_eq!(status, 403);
    let (status, body) =
        server.call("POST", "/apps", &org.developer, Some(json!({ "name": "dev-app", "team": "acme" }))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["team"], "acme");
    let (status, body) = server.call("POST", "/apps", &org.developer, Some(json!({ "name": "dev-app2" }))).await;
    assert_eq!(status, 201, "the only team is the default: {body}");
}

#[tokio::test]
async fn non_members_get_404_for_another_teams_app() {
    let server = TestServer::start().await;
    let org = org(&server).await;
    let (status, body) = server.call("GET", "/apps/shop", &org.outsider, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["message"], "no app named shop", "same answer as for a missing app");
    let (status, _) = server.call("DELETE", "/apps/shop", &org.outsider, None).await;
    assert_eq!(status, 404);
    let (status, _) = server.call("GET", "/teams/acme/members", &org.outsider, None).await;
    assert_eq!(status, 404);
    let (_, apps) = server.call("GET", "/apps", &org.outsider, None).await;
    assert_eq!(apps, json!([]), "the list hides other teams' apps");
}

#[tokio::test]
async fn a_team_keeps_its_last_owner_and_only_owners_grant_owner() {
    let server = TestServer::start().await;
    let org = org(&server).await;
    let (status, body) = server
        .call("PATCH", "/teams/acme/members/owner@example.com", &org.owner, Some(json!({ "role": "viewer" })))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = server.call("DELETE", "/teams/acme/members/owner@example.com", &org.owner, None).await;
    assert_eq!(status, 409);
    let (status, _) = server
        .call("PATCH", "/teams/acme/members/dev@example.com", &org.team_admin, Some(json!({ "role": "owner" })))
        .await;
    assert_eq!(status, 403, "admins cannot make owners");
    let (status, body) = server
        .call("PATCH", "/teams/acme/members/dev@example.com", &org.team_admin, Some(json!({ "role": "viewer" })))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "viewer");
    let (status, body) = server
        .call("PATCH", "/teams/acme/members/dev@example.com", &org.owner, Some(json!({ "role": "wizard" })))
        .await;
    assert_eq!(status, 422, "unknown roles are a validation error: {body}");
    let (status, _) = server.call("DELETE", "/teams/acme/members/viewer@example.com", &org.viewer, None).await;
    assert_eq!(status, 204, "anyone may leave a team");
}

/// Every endpoint against every role: the expected status for each.
#[tokio::test]
async fn role_endpoint_matrix() {
    let server = TestServer::start().await;
    let org = org(&server).await;
    // (method, path, body, [owner, admin, developer, viewer, outsider]);
    // `%T%` stands for a target made for each cell (`prepare_target`), so rows
    // don't depend on order.
    let rows: Vec<(&str, &str, Option<Value>, [u16; 5])> = vec![
        ("GET", "/apps/shop", None, [200, 200, 200, 200, 404]),
        ("GET", "/teams/acme/members", None, [200, 200, 200, 200, 404]),
        ("POST", "/apps", Some(json!({ "team": "acme", "name": "%T%" })), [201, 201, 201, 403, 404]),
        ("DELETE", "/apps/%T%", None, [204, 204, 403, 403, 404]),
        (
            "POST",
            "/teams/acme/members",
            Some(json!({ "email": "%T%@example.com", "role": "developer" })),
            [201, 201, 403, 403, 404],
        ),
        ("PATCH", "/teams/acme/members/%T%@example.com", Some(json!({ "role": "viewer" })), [200, 200, 403, 403, 404]),
        ("DELETE", "/teams/acme/members/%T%@example.com", None, [204, 204, 403, 403, 404]),
        ("POST", "/users", Some(json!({ "email": "%T%-new@example.com" })), [403, 403, 403, 403, 403]),
        ("GET", "/user", None, [200, 200, 200, 200, 200]),
        ("GET", "/teams", None, [200, 200, 200, 200, 200]),
        ("GET", "/tokens", None, [200, 200, 200, 200, 200]),
        // The app lifecycle (the app has no release yet, so rollouts are 422
        // for those allowed to ask). The SSE log stream is covered elsewhere.
        ("GET", "/apps/shop/config", None, [200, 200, 200, 200, 404]),
        ("PATCH", "/apps/shop/config", Some(json!({ "K_%T%": "v" })), [200, 200, 200, 403, 404]),
        ("GET", "/apps/shop/releases", None, [200, 200, 200, 200, 404]),
        ("POST", "/apps/shop/rollback", Some(json!({})), [422, 422, 422, 403, 404]),
        ("GET", "/apps/shop/formation", None, [200, 200, 200, 200, 404]),
        (
            "PATCH",
            "/apps/shop/formation",
            Some(json!({ "updates": [{ "type": "web", "quantity": 1 }] })),
            [422, 422, 422, 403, 404],
        ),
        ("GET", "/apps/shop/ps", None, [200, 200, 200, 200, 404]),
        ("POST", "/apps/shop/ps/restart", Some(json!({})), [422, 422, 422, 403, 404]),
        ("GET", "/apps/shop/logs", None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/shop/builds", None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/shop/domains", None, [200, 200, 200, 200, 404]),
        ("POST", "/apps/shop/domains", Some(json!({ "hostname": "%T%.example.com" })), [201, 201, 201, 403, 404]),
        ("DELETE", "/apps/shop/domains/%T%.example.com", None, [204, 204, 204, 403, 404]),
        ("GET", "/audit?app=shop", None, [200, 200, 403, 403, 404]),
        ("GET", "/audit", None, [200, 200, 403, 403, 200]),
    ];
    let callers = [
        ("owner", &org.owner),
        ("admin", &org.team_admin),
        ("developer", &org.developer),
        ("viewer", &org.viewer),
        ("outsider", &org.outsider),
    ];
    let mut failures = Vec::new();
    for (row, (method, path, body, expected)) in rows.iter().enumerate() {
        for (col, (role, token)) in callers.iter().enumerate() {
            // A distinct target per cell: an app or user that exists for it.
            let target = format!("t{row}{role}");
            prepare_target(&server, &org.admin, method, path, &target).await;
            let path = path.replace("%T%", &target);
            let body = body.as_ref().map(|b| serde_json::from_str(&b.to_string().replace("%T%", &target)).unwrap());
            let (status, answer) = server.call(method, &path, token, body).await;
            if status != expected[col] {
                failures.push(format!("{role} {method} {path}: expected {}, got {status} {answer}", expected[col]));
            }
        }
    }
    assert!(failures.is_empty(), "role matrix mismatches:\n{}", failures.join("\n"));
}

/// Create whatever a matrix cell acts on: the app it deletes, the member it
/// changes, the user it adds.
async fn prepare_target(server: &TestServer, admin: &str, method: &str, path: &str, target: &str) {
    if method == "DELETE" && path.starts_with("/apps/shop/domains/") {
        let hostname = format!("{target}.example.com");
        let (status, body) =
            server.call("POST", "/apps/shop/domains", admin, Some(json!({ "hostname": hostname }))).await;
        assert_eq!(status, 201, "{body}");
    } else if method == "DELETE" && path.starts_with("/apps/") {
        let (status, body) = server.call("POST", "/apps", admin, Some(json!({ "name": target, "team": "acme" }))).await;
        assert_eq!(status, 201, "{body}");
    } else if path.starts_with("/teams/acme/members") {
        let email = format!("{target}@example.com");
        let (status, body) =
            server.call("POST", "/users", admin, Some(json!({ "email": email, "password": "long-enough-pw" }))).await;
        assert_eq!(status, 201, "{body}");
        if method != "POST" {
            let (status, body) = server
                .call("POST", "/teams/acme/members", admin, Some(json!({ "email": email, "role": "developer" })))
                .await;
            assert_eq!(status, 201, "{body}");
        }
    }
}
