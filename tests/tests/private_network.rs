//! Private networking: apps of one team that opt in reach each other's web
//! processes at `http://APP.internal:5000`; an app of another team, or one
//! that did not opt in, cannot, and leaving the network ends it at once.

use std::time::Duration;

use paas_e2e::{apps, wait_until, TestServer};
use serde_json::json;

/// What `paas run -a FROM` gets asking `host` port 5000 for `/` over HTTP:
/// (exit status, the answer's body or the error). Busybox's `nc` does it
/// (the static busybox's `wget` crashes here).
fn fetch(server: &TestServer, cfg: &std::path::Path, from: &str, host: &str) -> (i32, String) {
    let command = format!("printf 'GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' | nc -w 3 {host} 5000");
    let (code, out, err) = server.cli(cfg, &["run", "--no-tty", "-a", from, &command], "");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or(&err).to_string();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_of_a_team_reach_each_other_by_name_and_no_one_else_does() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let (status, body) = server.call("POST", "/teams", &token, Some(json!({ "name": "others" }))).await;
    assert_eq!(status, 201, "{body}");
    for (app, team) in [("pn-front", "main"), ("pn-api", "main"), ("pn-lonely", "main"), ("pn-stranger", "others")] {
        let (status, body) = server.call("POST", "/apps", &token, Some(json!({ "name": app, "team": team }))).await;
        assert_eq!(status, 201, "{body}");
        let repo = apps::AppRepo::from_fixture("hello");
        let (ok, output) = repo.push(&server.git_url(app, &token));
        assert!(ok, "{app}: {output}");
    }
    let home = server.cli_home(&token);
    let cfg = home.path();
    for app in ["pn-front", "pn-api", "pn-stranger"] {
        let out = server.cli_ok(cfg, &["internal:on", "-a", app]);
        assert!(out.contains(&format!("http://{app}.internal:5000")), "{out}");
    }
    let info = server.cli_ok(cfg, &["apps:info", "-a", "pn-api"]);
    assert!(info.contains("Internal: http://pn-api.internal:5000"), "{info}");

    // Within the team, by name: the running web process answers.
    let (code, out) = fetch(&server, cfg, "pn-front", "pn-api.internal");
    assert_eq!((code, out.as_str()), (0, "hello from v1\n"), "pn-front reaches pn-api");
    // Another team's app, on its own team's network, cannot; nor can an app
    // of the team that did not opt in.
    let (code, out) = fetch(&server, cfg, "pn-stranger", "pn-api.internal");
    assert_ne!(code, 0, "another team's app reached pn-api: {out}");
    let (code, out) = fetch(&server, cfg, "pn-lonely", "pn-api.internal");
    assert_ne!(code, 0, "an app off the network reached pn-api: {out}");

    // Processes started later (a restart) are on it too: once the replaced
    // process has stopped (`ps` says "stopping" meanwhile), the name leads
    // to the new one alone.
    server.cli_ok(cfg, &["ps:restart", "-a", "pn-api"]);
    wait_until("the replaced pn-api process to stop", Duration::from_secs(30), || async {
        let (_, list) = server.call("GET", "/apps/pn-api/ps", &token, None).await;
        let states: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap()).collect();
        states == ["up"]
    })
    .await;
    let (code, out) = fetch(&server, cfg, "pn-front", "pn-api.internal");
    assert_eq!((code, out.as_str()), (0, "hello from v1\n"), "after a restart");

    // Off: at once, for the running processes.
    server.cli_ok(cfg, &["internal:off", "-a", "pn-api"]);
    wait_until("pn-api to leave the network", Duration::from_secs(20), || async {
        fetch(&server, cfg, "pn-front", "pn-api.internal").0 != 0
    })
    .await;
    let (_, events) = server.call("GET", "/audit?app=pn-api", &token, None).await;
    let actions: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert!(actions.contains(&("app.internal", "on")) && actions.contains(&("app.internal", "off")), "{actions:?}");
}
