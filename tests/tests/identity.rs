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

/// Every operation of the API document against every role: the expected
/// status for each. The rows are checked against the document the server
/// serves, so an operation without a row fails the test.
#[tokio::test]
async fn role_endpoint_matrix() {
    let server = TestServer::start().await;
    let org = org(&server).await;
    // An app with a build, a release and operations to look at.
    let (status, body) =
        server.call("POST", "/apps", &org.admin, Some(json!({ "name": "built", "team": "acme" }))).await;
    assert_eq!(status, 201, "{body}");
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("built", &org.admin));
    assert!(ok, "{output}");
    let (_, builds) = server.call("GET", "/apps/built/builds", &org.admin, None).await;
    let build = builds[0]["id"].to_string();
    let (_, ops) = server.call("GET", "/apps/built/operations", &org.admin, None).await;
    let op = ops[0]["id"].to_string();

    // (method, template as the document names it, path with `%T%` for a
    // target made for each cell by `prepare_target`, body,
    // [owner, admin, developer, viewer, outsider]).
    type Row<'a> = (&'a str, &'a str, String, Option<Value>, [u16; 5]);
    let rows: Vec<Row> = vec![
        ("GET", "/apps", "/apps".into(), None, [200, 200, 200, 200, 200]),
        ("POST", "/apps", "/apps".into(), Some(json!({ "team": "acme", "name": "%T%" })), [201, 201, 201, 403, 404]),
        ("GET", "/apps/{app}", "/apps/shop".into(), None, [200, 200, 200, 200, 404]),
        ("DELETE", "/apps/{app}", "/apps/%T%".into(), None, [204, 204, 403, 403, 404]),
        ("PATCH", "/apps/{app}", "/apps/shop".into(), Some(json!({ "stack": "bookworm" })), [200, 200, 200, 403, 404]),
        ("PATCH", "/apps/{app}", "/apps/shop".into(), Some(json!({ "internal": false })), [200, 200, 200, 403, 404]),
        // Renaming: admins and owners only.
        ("PATCH", "/apps/{app}", "/apps/%T%".into(), Some(json!({ "name": "%T%-new" })), [200, 200, 403, 403, 404]),
        ("GET", "/stacks", "/stacks".into(), None, [200, 200, 200, 200, 200]),
        ("DELETE", "/apps/{app}/build-cache", "/apps/built/build-cache".into(), None, [204, 204, 204, 403, 404]),
        ("GET", "/apps/{app}/builds", "/apps/built/builds".into(), None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/{app}/builds/{id}", format!("/apps/built/builds/{build}"), None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/{app}/config", "/apps/shop/config".into(), None, [200, 200, 200, 200, 404]),
        (
            "PATCH",
            "/apps/{app}/config",
            "/apps/shop/config".into(),
            Some(json!({ "K_%T%": "v" })),
            [200, 200, 200, 403, 404],
        ),
        ("GET", "/apps/{app}/domains", "/apps/shop/domains".into(), None, [200, 200, 200, 200, 404]),
        (
            "POST",
            "/apps/{app}/domains",
            "/apps/shop/domains".into(),
            Some(json!({ "hostname": "%T%.example.com" })),
            [201, 201, 201, 403, 404],
        ),
        (
            "DELETE",
            "/apps/{app}/domains/{hostname}",
            "/apps/shop/domains/%T%.example.com".into(),
            None,
            [204, 204, 204, 403, 404],
        ),
        ("GET", "/apps/{app}/certs", "/apps/shop/certs".into(), None, [200, 200, 200, 200, 404]),
        // built's v1 ran no release command.
        (
            "GET",
            "/apps/{app}/releases/{version}/output",
            "/apps/built/releases/1/output".into(),
            None,
            [404, 404, 404, 404, 404],
        ),
        ("GET", "/apps/{app}/metrics", "/apps/shop/metrics?period=day".into(), None, [200, 200, 200, 200, 404]),
        // Not a certificate: refused for what it is, to those who may upload.
        (
            "POST",
            "/apps/{app}/certs",
            "/apps/shop/certs".into(),
            Some(json!({ "chain": "not PEM", "key": "nor this" })),
            [422, 422, 422, 403, 404],
        ),
        // This server issues no certificates (no ACME): a conflict with its settings.
        ("POST", "/apps/{app}/certs/refresh", "/apps/shop/certs/refresh".into(), None, [409, 409, 409, 403, 404]),
        ("GET", "/apps/{app}/formation", "/apps/shop/formation".into(), None, [200, 200, 200, 200, 404]),
        // shop has no release yet: rollouts are 422 for those allowed to ask.
        (
            "PATCH",
            "/apps/{app}/formation",
            "/apps/shop/formation".into(),
            Some(json!({ "updates": [{ "type": "web", "quantity": 1 }] })),
            [422, 422, 422, 403, 404],
        ),
        ("GET", "/apps/{app}/logs", "/apps/shop/logs".into(), None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/{app}/logs/stream", "/apps/shop/logs/stream".into(), None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/{app}/operations", "/apps/built/operations".into(), None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/{app}/operations/{id}", format!("/apps/built/operations/{op}"), None, [200, 200, 200, 200, 404]),
        (
            "GET",
            "/apps/{app}/operations/{id}/stream",
            format!("/apps/built/operations/{op}/stream"),
            None,
            [200, 200, 200, 200, 404],
        ),
        ("GET", "/apps/{app}/ps", "/apps/shop/ps".into(), None, [200, 200, 200, 200, 404]),
        ("POST", "/apps/{app}/ps/restart", "/apps/shop/ps/restart".into(), Some(json!({})), [422, 422, 422, 403, 404]),
        // One-offs: shop has no release to run; the WebSockets answer a plain
        // GET with 400 once the caller may run commands.
        (
            "POST",
            "/apps/{app}/runs",
            "/apps/shop/runs".into(),
            Some(json!({ "command": "true" })),
            [422, 422, 422, 403, 404],
        ),
        ("GET", "/apps/{app}/run", "/apps/shop/run".into(), None, [400, 400, 400, 403, 404]),
        ("GET", "/apps/{app}/volumes", "/apps/shop/volumes".into(), None, [200, 200, 200, 200, 404]),
        // Add-ons: none is made here (each provisions a database); asking
        // for one that does not exist shows who gets past the role check.
        ("GET", "/apps/{app}/addons", "/apps/shop/addons".into(), None, [200, 200, 200, 200, 404]),
        (
            "POST",
            "/apps/{app}/addons",
            "/apps/shop/addons".into(),
            Some(json!({ "service": "nosuch" })),
            [422, 422, 422, 403, 404],
        ),
        ("GET", "/apps/{app}/addons/{addon}", "/apps/shop/addons/nope".into(), None, [404, 404, 404, 404, 404]),
        ("DELETE", "/apps/{app}/addons/{addon}", "/apps/shop/addons/nope".into(), None, [404, 404, 404, 403, 404]),
        (
            "GET",
            "/apps/{app}/addons/{addon}/credentials",
            "/apps/shop/addons/nope/credentials".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "GET",
            "/apps/{app}/addons/{addon}/backups",
            "/apps/shop/addons/nope/backups".into(),
            None,
            [404, 404, 404, 404, 404],
        ),
        (
            "POST",
            "/apps/{app}/addons/{addon}/backups",
            "/apps/shop/addons/nope/backups".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "GET",
            "/apps/{app}/addons/{addon}/backups/{backup}/download",
            "/apps/shop/addons/nope/backups/b1/download".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "POST",
            "/apps/{app}/addons/{addon}/backups/{backup}/restore",
            "/apps/shop/addons/nope/backups/b1/restore".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "PUT",
            "/apps/{app}/addons/{addon}/backup-schedule",
            "/apps/shop/addons/nope/backup-schedule".into(),
            Some(json!({ "at": "02:00" })),
            [404, 404, 404, 403, 404],
        ),
        (
            "DELETE",
            "/apps/{app}/addons/{addon}/backup-schedule",
            "/apps/shop/addons/nope/backup-schedule".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "DELETE",
            "/apps/{app}/addons/{addon}/backups/{backup}",
            "/apps/shop/addons/nope/backups/b1".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "GET",
            "/apps/{app}/addons/{addon}/console",
            "/apps/shop/addons/nope/console".into(),
            None,
            [400, 400, 400, 403, 404],
        ),
        (
            "POST",
            "/apps/{app}/addon-attachments",
            "/apps/shop/addon-attachments".into(),
            Some(json!({ "addon": "nope" })),
            [404, 404, 404, 403, 404],
        ),
        (
            "DELETE",
            "/apps/{app}/addon-attachments/{addon}",
            "/apps/shop/addon-attachments/nope".into(),
            None,
            [404, 404, 404, 403, 404],
        ),
        (
            "POST",
            "/apps/{app}/volumes",
            "/apps/shop/volumes".into(),
            Some(json!({ "name": "%T%", "mount": "/v/%T%" })),
            [201, 201, 201, 403, 404],
        ),
        ("DELETE", "/apps/{app}/volumes/{name}", "/apps/shop/volumes/%T%".into(), None, [204, 204, 204, 403, 404]),
        // shop runs no process to stop.
        (
            "POST",
            "/apps/{app}/ps/{process}/stop",
            "/apps/shop/ps/web.1/stop".into(),
            Some(json!({})),
            [404, 404, 404, 403, 404],
        ),
        ("GET", "/apps/{app}/ps/{process}/exec", "/apps/shop/ps/web.1/exec".into(), None, [400, 400, 400, 403, 404]),
        ("GET", "/apps/{app}/releases", "/apps/built/releases".into(), None, [200, 200, 200, 200, 404]),
        ("GET", "/apps/{app}/releases/{version}", "/apps/built/releases/1".into(), None, [200, 200, 200, 200, 404]),
        ("POST", "/apps/{app}/rollback", "/apps/shop/rollback".into(), Some(json!({})), [422, 422, 422, 403, 404]),
        ("GET", "/audit", "/audit?app=shop".into(), None, [200, 200, 403, 403, 404]),
        ("GET", "/audit", "/audit".into(), None, [200, 200, 403, 403, 200]),
        ("GET", "/teams", "/teams".into(), None, [200, 200, 200, 200, 200]),
        ("POST", "/teams", "/teams".into(), Some(json!({ "name": "%T%" })), [201, 201, 201, 201, 201]),
        ("GET", "/teams/{team}/members", "/teams/acme/members".into(), None, [200, 200, 200, 200, 404]),
        (
            "POST",
            "/teams/{team}/members",
            "/teams/acme/members".into(),
            Some(json!({ "email": "%T%@example.com", "role": "developer" })),
            [201, 201, 403, 403, 404],
        ),
        (
            "PATCH",
            "/teams/{team}/members/{email}",
            "/teams/acme/members/%T%@example.com".into(),
            Some(json!({ "role": "viewer" })),
            [200, 200, 403, 403, 404],
        ),
        (
            "DELETE",
            "/teams/{team}/members/{email}",
            "/teams/acme/members/%T%@example.com".into(),
            None,
            [204, 204, 403, 403, 404],
        ),
        ("GET", "/tokens", "/tokens".into(), None, [200, 200, 200, 200, 200]),
        ("POST", "/tokens", "/tokens".into(), Some(json!({ "name": "%T%" })), [201, 201, 201, 201, 201]),
        // Someone else's token (the server admin's): not found for anyone.
        ("DELETE", "/tokens/{id}", "/tokens/%T%".into(), None, [404, 404, 404, 404, 404]),
        ("GET", "/user", "/user".into(), None, [200, 200, 200, 200, 200]),
        ("POST", "/users", "/users".into(), Some(json!({ "email": "%T%-new@example.com" })), [403, 403, 403, 403, 403]),
        ("POST", "/certs", "/certs".into(), Some(json!({ "chain": "x", "key": "y" })), [403, 403, 403, 403, 403]),
        // Routers apart: server admins only.
        ("GET", "/routers", "/routers".into(), None, [403, 403, 403, 403, 403]),
        ("GET", "/nodes", "/nodes".into(), None, [403, 403, 403, 403, 403]),
        ("GET", "/nodes/join-command", "/nodes/join-command".into(), None, [403, 403, 403, 403, 403]),
        ("POST", "/nodes/{node}/drain", "/nodes/x/drain".into(), None, [403, 403, 403, 403, 403]),
        ("POST", "/nodes/{node}/activate", "/nodes/x/activate".into(), None, [403, 403, 403, 403, 403]),
    ];

    // Every operation the server documents has a row.
    let doc: Value = server.http.get(server.api("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let template = path.trim_start_matches("/api/v1");
            let method = method.to_uppercase();
            if !rows.iter().any(|(m, t, ..)| *m == method && *t == template) {
                missing.push(format!("{method} {template}"));
            }
        }
    }
    assert!(missing.is_empty(), "operations without a row in the role matrix: {missing:?}");

    let callers = [
        ("owner", &org.owner),
        ("admin", &org.team_admin),
        ("developer", &org.developer),
        ("viewer", &org.viewer),
        ("outsider", &org.outsider),
    ];
    let mut failures = Vec::new();
    for (row, (method, _, path, body, expected)) in rows.iter().enumerate() {
        for (col, (role, token)) in callers.iter().enumerate() {
            // A distinct target per cell: an app or user that exists for it.
            let mut target = format!("t{row}{role}");
            if let Some(id) = prepare_target(&server, &org.admin, method, path, &target).await {
                target = id;
            }
            let path = path.replace("%T%", &target);
            let body = body.as_ref().map(|b| serde_json::from_str(&b.to_string().replace("%T%", &target)).unwrap());
            let status = server.status_of(method, &path, token, body).await;
            if status != expected[col] {
                failures.push(format!("{role} {method} {path}: expected {}, got {status}", expected[col]));
            }
        }
    }
    assert!(failures.is_empty(), "role matrix mismatches:\n{}", failures.join("\n"));
}

/// Create whatever a matrix cell acts on: the app it deletes, the member it
/// changes, the user it adds, the token it revokes (whose id it returns).
async fn prepare_target(server: &TestServer, admin: &str, method: &str, path: &str, target: &str) -> Option<String> {
    if method == "DELETE" && path.starts_with("/tokens/") {
        let (status, body) = server.call("POST", "/tokens", admin, Some(json!({ "name": target }))).await;
        assert_eq!(status, 201, "{body}");
        return Some(body["id"].to_string());
    }
    if method == "DELETE" && path.starts_with("/apps/shop/volumes/") {
        let volume = json!({ "name": target, "mount": format!("/v/{target}") });
        let (status, body) = server.call("POST", "/apps/shop/volumes", admin, Some(volume)).await;
        assert_eq!(status, 201, "{body}");
    } else if method == "DELETE" && path.starts_with("/apps/shop/domains/") {
        let hostname = format!("{target}.example.com");
        let (status, body) =
            server.call("POST", "/apps/shop/domains", admin, Some(json!({ "hostname": hostname }))).await;
        assert_eq!(status, 201, "{body}");
    } else if (method == "DELETE" && path.starts_with("/apps/")) || path == "/apps/%T%" {
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
    None
}
