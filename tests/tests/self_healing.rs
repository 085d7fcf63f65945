//! The reconcile loop keeps every app's formation running and routed: a
//! killed or crashed process is replaced, a sick one is taken out of rotation
//! and restarted, and an app whose every web process is down answers 503.
//! Real Docker, real PostgreSQL, a load loop counting failed requests.

use std::process::Command;
use std::time::{Duration, Instant};

use paas_e2e::apps::AppRepo;
use paas_e2e::load::Load;
use paas_e2e::{wait_until, TestServer};
use serde_json::{json, Value};

/// The app's processes as `GET /ps` reports them.
async fn ps(server: &TestServer, token: &str, app: &str) -> Vec<Value> {
    let (status, body) = server.call("GET", &format!("/apps/{app}/ps"), token, None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// Running containers of one process type of an app: (id, DYNO).
fn running(app: &str, process: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=paas.app={app}")])
        .args(["--filter", &format!("label=paas.process={process}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The `healing` fixture deployed to a new app, with extra files.
async fn deploy_healing(server: &TestServer, token: &str, app: &str, files: &[(&str, &str)]) -> AppRepo {
    server.create_app(token, app).await;
    let repo = AppRepo::from_fixture("healing");
    for (path, content) in files {
        repo.write(path, content);
    }
    repo.commit("setup");
    let (ok, output) = repo.push(&server.git_url(app, token));
    assert!(ok, "deploying {app}: {output}");
    repo
}

/// Scale a process type through the API.
async fn scale(server: &TestServer, token: &str, app: &str, process: &str, quantity: i32) {
    let body = json!({ "updates": [{ "type": process, "quantity": quantity }] });
    let (status, answer) = server.call("PATCH", &format!("/apps/{app}/formation"), token, Some(body)).await;
    assert_eq!(status, 200, "{answer}");
}

/// Wait until the app answers 200 through the router; how long it took.
async fn serves_again(server: &TestServer, app: &str, within: Duration) -> Duration {
    let began = Instant::now();
    wait_until(&format!("{app} to serve again"), within, || async { server.app_get(app, "/").await.0 == 200 }).await;
    began.elapsed()
}

#[tokio::test]
async fn a_killed_web_process_is_replaced_and_serves_again_within_5_s() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    deploy_healing(&server, &token, "heal-kill", &[]).await;
    let before = running("heal-kill", "web");
    assert_eq!(before.len(), 1, "{before:?}");

    docker(&["kill", &before[0]]);
    let took = serves_again(&server, "heal-kill", Duration::from_secs(5)).await;
    println!("heal-kill: serving again {} ms after docker kill", took.as_millis());
    let after = running("heal-kill", "web");
    assert!(after.len() == 1 && after != before, "a new container runs: {before:?} -> {after:?}");

    wait_until("ps to show the restart", Duration::from_secs(5), || async {
        let list = ps(&server, &token, "heal-kill").await;
        list.iter().any(|p| p["name"] == "web.1" && p["state"] == "up" && p["restarts"] == 1)
    })
    .await;
    let list = ps(&server, &token, "heal-kill").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["last_crash"], "exit 137", "{list:?}");
    let home = server.cli_home(&token);
    let logs = server.cli_ok(home.path(), &["logs", "-a", "heal-kill"]);
    assert!(logs.contains("web.1 crashed: exited with code 137; restarting now"), "{logs}");
    assert!(logs.contains("web.1 restarted"), "{logs}");
}

#[tokio::test]
async fn a_web_process_that_exits_by_itself_is_replaced_and_routed_again() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    deploy_healing(&server, &token, "heal-exit", &[]).await;
    let before = running("heal-exit", "web");
    // The process exits with code 3 on its own.
    docker(&["exec", &before[0], "touch", "/tmp/exit"]);
    wait_until("the process to exit", Duration::from_secs(5), || async { running("heal-exit", "web") != before }).await;
    let took = serves_again(&server, "heal-exit", Duration::from_secs(5)).await;
    println!("heal-exit: serving again {} ms after the exit was seen", took.as_millis());
    assert_eq!(server.app_get("heal-exit", "/").await, (200, "healing v1\n".to_string()));
    wait_until("ps to show the crash and the restart", Duration::from_secs(5), || async {
        let list = ps(&server, &token, "heal-exit").await;
        list.iter().any(|p| p["name"] == "web.1" && p["state"] == "up" && p["last_crash"] == "exit 3")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_process_answering_500_leaves_rotation_and_is_restarted_with_no_failed_request() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let app_json = r#"{"healthchecks": {"web": [
        {"type": "startup", "path": "/"},
        {"type": "liveness", "path": "/cgi-bin/health", "interval": 1, "timeout": 2, "attempts": 2}
    ]}}"#;
    deploy_healing(&server, &token, "heal-sick", &[("app.json", app_json)]).await;
    scale(&server, &token, "heal-sick", "web", 2).await;
    let webs = running("heal-sick", "web");
    assert_eq!(webs.len(), 2, "{webs:?}");

    let load = Load::start(&server.router_addr, "heal-sick", "/", 2);
    load.wait_for(20, Duration::from_secs(10)).await;
    docker(&["exec", &webs[0], "touch", "/tmp/sick"]);
    wait_until("the sick process to be replaced", Duration::from_secs(20), || async {
        let now = running("heal-sick", "web");
        now.len() == 2 && !now.contains(&webs[0]) && now.contains(&webs[1])
    })
    .await;
    load.wait_for(20, Duration::from_secs(10)).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());

    wait_until("ps to show both up, one restarted", Duration::from_secs(10), || async {
        let list = ps(&server, &token, "heal-sick").await;
        list.len() == 2 && list.iter().all(|p| p["state"] == "up")
    })
    .await;
    let list = ps(&server, &token, "heal-sick").await;
    let restarted: Vec<&Value> = list.iter().filter(|p| p["restarts"] == 1).collect();
    assert_eq!(restarted.len(), 1, "one process was restarted: {list:?}");
    assert_eq!(restarted[0]["last_crash"], "unhealthy", "{list:?}");
    // The app's log ring has long moved on (the load loop's access lines);
    // the server's log keeps the reason.
    let logs = server.all_logs();
    assert!(logs.contains("failed its liveness check (GET /cgi-bin/health answered 500"), "the reason is logged");
}

#[tokio::test]
async fn a_hanging_web_process_leaves_rotation_and_is_replaced() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let app_json = r#"{"healthchecks": {"web": [
        {"type": "startup", "path": "/"},
        {"type": "liveness", "path": "/cgi-bin/health", "interval": 1, "timeout": 1, "attempts": 2}
    ]}}"#;
    deploy_healing(&server, &token, "heal-hang", &[("app.json", app_json)]).await;
    scale(&server, &token, "heal-hang", "web", 2).await;
    let webs = running("heal-hang", "web");
    // Alive, but its health check never answers.
    docker(&["exec", &webs[0], "touch", "/tmp/hang"]);
    wait_until("the hanging process to be replaced", Duration::from_secs(20), || async {
        let list = ps(&server, &token, "heal-hang").await;
        list.len() == 2
            && list.iter().all(|p| p["state"] == "up")
            && list.iter().any(|p| p["last_crash"] == "unhealthy")
    })
    .await;
    assert!(!running("heal-hang", "web").contains(&webs[0]), "the hanging container is gone");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    for _ in 0..20 {
        let answer = client
            .get(format!("http://{}/", server.router_addr))
            .header("host", "heal-hang.paas.test")
            .send()
            .await
            .expect("no request hangs once it left rotation");
        assert_eq!(answer.status(), 200);
    }
}

#[tokio::test]
async fn an_app_whose_every_web_process_fails_answers_503_at_once_while_it_backs_off() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    // Every process turns sick 2 s after it starts: each replacement fails
    // again, and the restarts back off.
    let app_json = r#"{"healthchecks": {"web": [
        {"type": "startup", "path": "/", "attempts": 1},
        {"type": "liveness", "path": "/cgi-bin/health", "interval": 1, "timeout": 2, "attempts": 1}
    ]}}"#;
    server.create_app(&token, "heal-loop").await;
    let (status, body) =
        server.call("PATCH", "/apps/heal-loop/config", &token, Some(json!({ "SICK_AFTER": "2" }))).await;
    assert_eq!(status, 200, "{body}");
    let repo = AppRepo::from_fixture("healing");
    repo.write("app.json", app_json);
    repo.commit("sick after 2 s");
    let (ok, output) = repo.push(&server.git_url("heal-loop", &token));
    assert!(ok, "{output}");

    wait_until("ps to say it waits to restart", Duration::from_secs(30), || async {
        ps(&server, &token, "heal-loop").await.iter().any(|p| {
            let state = p["state"].as_str().unwrap_or_default();
            state.starts_with("unhealthy (GET /cgi-bin/health answered 500") && state.contains(", restarting in ")
        })
    })
    .await;
    let began = Instant::now();
    let response = server
        .http
        .get(format!("http://{}/", server.router_addr))
        .header("host", "heal-loop.paas.test")
        .send()
        .await
        .unwrap();
    let took = began.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let page = response.text().await.unwrap();
    assert!(page.contains("heal-loop has no healthy web process right now"), "{page}");
    assert!(took < Duration::from_secs(1), "the router answers at once, not after a timeout: {took:?}");
    let home = server.cli_home(&token);
    let logs = server.cli_ok(home.path(), &["logs", "-n", "1500", "--ps", "paas", "-a", "heal-loop"]);
    assert!(logs.contains("restarting in 2 s") || logs.contains("restarting in 4 s"), "the restarts back off:\n{logs}");
}

#[tokio::test]
async fn a_crashing_worker_is_restarted_and_its_crash_shows_in_ps() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let procfile = "web: exec httpd -f -p $PORT -h /www\nworker: echo worker up; sleep 3; echo worker dies; exit 4\n";
    deploy_healing(&server, &token, "heal-worker", &[("Procfile", procfile)]).await;
    scale(&server, &token, "heal-worker", "worker", 1).await;
    wait_until("the worker to crash and be restarted", Duration::from_secs(20), || async {
        ps(&server, &token, "heal-worker")
            .await
            .iter()
            .any(|p| p["name"] == "worker.1" && p["last_crash"] == "exit 4" && p["restarts"].as_i64() >= Some(1))
    })
    .await;
    assert_eq!(server.app_get("heal-worker", "/").await.0, 200, "web keeps serving");
}
