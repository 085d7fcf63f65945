//! `git push` builds, releases and rolls out, behind the router, with the
//! real git client, the real Docker engine and PostgreSQL.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paas_e2e::apps::{containers, AppRepo};
use paas_e2e::{wait_until, TestServer};
use serde_json::json;

async fn releases(server: &TestServer, token: &str, app: &str) -> Vec<serde_json::Value> {
    let (status, body) = server.call("GET", &format!("/apps/{app}/releases"), token, None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// Wait for a condition with a deadline (no fixed sleeps).
#[tokio::test]
async fn first_push_serves_the_app_and_second_push_serves_v2() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "push-basic").await;
    let (status, _) = server.app_get("push-basic", "/").await;
    assert_eq!(status, 503, "an app with no release answers 503");

    let repo = AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("push-basic", &token));
    assert!(ok, "first push: {output}");
    for expected in [
        "remote: -----> Building push-basic@",
        "from Dockerfile",
        "remote: Step 1/",
        "-----> Releasing v1 (image paas/push-basic:",
        "-----> Starting web.1 ... healthy (",
        "-----> Switching traffic to v1",
        "-----> Deployed v1 to http://push-basic.paas.test:",
        "* [new branch]      main -> main",
    ] {
        assert!(output.contains(expected), "push output lacks {expected:?}:\n{output}");
    }
    assert_eq!(server.app_get("push-basic", "/").await, (200, "hello from v1\n".to_string()));

    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    let (ok, output) = repo.push(&server.git_url("push-basic", &token));
    assert!(ok, "second push: {output}");
    assert!(output.contains("Deployed v2"), "{output}");
    assert_eq!(server.app_get("push-basic", "/").await, (200, "hello from v2\n".to_string()));

    let list = releases(&server, &token, "push-basic").await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[0]["commit"], repo.head());
    assert_eq!(list[1]["status"], "succeeded");
    // v1 is drained and stopped once traffic is on v2.
    paas_e2e::wait_until("only v2's container to be left", std::time::Duration::from_secs(15), || async {
        let running = containers("push-basic");
        running.len() == 1 && running[0].contains(" v2 running")
    })
    .await;

    // The repository can be fetched back.
    let clone = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("git")
        .args(["clone", "-q", &server.git_url("push-basic", &token)])
        .arg(clone.path().join("c"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(clone.path().join("c/www/index.html")).unwrap().contains("v2"));
}

#[tokio::test]
async fn push_whose_app_never_becomes_healthy_is_rejected_and_v1_keeps_serving() {
    let (server, token, repo) = TestServer::with_deployed_app("push-unhealthy").await;
    let v1_head = repo.head();

    let broken = std::fs::read_to_string(paas_e2e::apps::fixtures_dir().join("unhealthy/Dockerfile")).unwrap();
    // An image of its own: another test building the same content at the
    // same time would share its id, and its clean-up could remove it
    // before this build tags it.
    repo.write("Dockerfile", &format!("{broken}LABEL test=push-unhealthy\n"));
    repo.commit("listen on the wrong port");
    let (ok, output) = repo.push(&server.git_url("push-unhealthy", &token));
    assert!(!ok, "the push is rejected:\n{output}");
    assert!(output.contains("Starting web.1 ... failed"), "{output}");
    assert!(output.contains("health check failed"), "names the failed check:\n{output}");
    assert!(
        output.contains("unhealthy: giving up, listening on 9999 instead"),
        "shows the app's last log lines:\n{output}"
    );
    assert!(output.contains("v1 keeps serving"), "{output}");
    assert!(output.contains("pre-receive hook declined"), "{output}");

    assert_eq!(server.app_get("push-unhealthy", "/").await, (200, "hello from v1\n".to_string()));
    let list = releases(&server, &token, "push-unhealthy").await;
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[1]["current"], true);
    let running = containers("push-unhealthy");
    assert!(running.len() == 1 && running[0].contains(" v1 "), "the failed release's container is gone: {running:?}");

    // The branch was not updated: the server still has v1's commit.
    let remote = repo.git(&["ls-remote", &server.git_url("push-unhealthy", &token), "refs/heads/main"]);
    assert!(remote.starts_with(&v1_head), "ref not updated: {remote}");
}

#[tokio::test]
async fn push_whose_dockerfile_fails_to_build_is_rejected_and_v1_keeps_serving() {
    let (server, token, repo) = TestServer::with_deployed_app("push-badbuild").await;

    let broken = std::fs::read_to_string(paas_e2e::apps::fixtures_dir().join("broken-build/Dockerfile")).unwrap();
    repo.write("Dockerfile", &broken);
    repo.commit("break the build");
    let (ok, output) = repo.push(&server.git_url("push-badbuild", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("error: missing semicolon"), "the build output streams:\n{output}");
    assert!(output.contains("the build failed"), "{output}");
    assert_eq!(server.app_get("push-badbuild", "/").await, (200, "hello from v1\n".to_string()));
    assert_eq!(releases(&server, &token, "push-badbuild").await.len(), 1, "a failed build makes no release");
}

#[tokio::test]
async fn push_that_nothing_can_build_is_rejected_with_a_clear_message() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "push-nodocker").await;
    let repo = AppRepo::from_fixture("hello");
    repo.git(&["rm", "-q", "Dockerfile"]);
    repo.commit("no Dockerfile");
    let (ok, output) = repo.push(&server.git_url("push-nodocker", &token));
    assert!(!ok);
    assert!(output.contains("no buildpack detects this app. Looked for a Dockerfile"), "{output}");
}

#[tokio::test]
async fn redeploy_has_zero_downtime_under_a_request_loop() {
    let (server, token, repo) = TestServer::with_deployed_app("push-zero").await;

    let done = Arc::new(AtomicBool::new(false));
    let (failures, v1_seen, v2_seen) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut loops = Vec::new();
    for _ in 0..2 {
        let (done, failures, v1_seen, v2_seen) = (done.clone(), failures.clone(), v1_seen.clone(), v2_seen.clone());
        let router = server.router_addr.clone();
        loops.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            // Bounded: at most 5,000 requests or 120 s per loop.
            let deadline = Instant::now() + Duration::from_secs(120);
            for _ in 0..5_000 {
                if done.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let answer = client.get(format!("http://{router}/")).header("host", "push-zero.paas.test").send().await;
                match answer {
                    Ok(r) if r.status() == 200 => match r.text().await {
                        Ok(body) if body.contains("v1") => v1_seen.fetch_add(1, Ordering::SeqCst),
                        Ok(body) if body.contains("v2") => v2_seen.fetch_add(1, Ordering::SeqCst),
                        _ => failures.fetch_add(1, Ordering::SeqCst),
                    },
                    _ => failures.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    let url = server.git_url("push-zero", &token);
    let pushed = tokio::task::spawn_blocking(move || repo.push(&url)).await.unwrap();
    assert!(pushed.0, "{}", pushed.1);
    // Keep requesting a little after the switch, through the old containers' stop.
    wait_until("requests served by v2", Duration::from_secs(10), || {
        let seen = v2_seen.clone();
        async move { seen.load(Ordering::SeqCst) >= 20 }
    })
    .await;
    done.store(true, Ordering::SeqCst);
    for l in loops {
        l.await.unwrap();
    }
    let (f, a, b) = (failures.load(Ordering::SeqCst), v1_seen.load(Ordering::SeqCst), v2_seen.load(Ordering::SeqCst));
    assert!(a > 0 && b > 0, "the loop saw both releases (v1: {a}, v2: {b})");
    assert_eq!(f, 0, "{f} failed or non-200 requests out of {}", a + b + f);
}

#[tokio::test]
async fn concurrent_pushes_to_one_app_are_serialized() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "push-race").await;
    let first = AppRepo::from_fixture("hello");
    let url = server.git_url("push-race", &token);
    assert!(first.push(&url).0);

    // A second clone, then both change the app from the same base.
    let second_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("git")
        .args(["clone", "-q", &url])
        .arg(second_dir.path().join("c"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let second = AppRepo { dir: second_dir };
    let second_path = second.path().join("c");
    first.write("www/index.html", "hello from alice\n");
    first.commit("alice");
    std::fs::write(second_path.join("www/index.html"), "hello from bob\n").unwrap();
    for args in
        [vec!["add", "-A"], vec!["-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "-m", "bob"]]
    {
        assert!(std::process::Command::new("git").args(&args).current_dir(&second_path).status().unwrap().success());
    }

    let mut a = first
        .push_command(&url, "main")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = std::process::Command::new("git")
        .args(["push", &url, "main"])
        .current_dir(&second_path)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    let a_status = a.wait().unwrap();
    let mut a_out = String::new();
    use std::io::Read;
    a.stderr.take().unwrap().read_to_string(&mut a_out).unwrap();
    let b_out = String::from_utf8_lossy(&b.stderr).into_owned();

    let outcomes = [(a_status.success(), &a_out, "alice"), (b.status.success(), &b_out, "bob")];
    let winners: Vec<_> = outcomes.iter().filter(|(ok, _, _)| *ok).collect();
    assert_eq!(winners.len(), 1, "exactly one push lands:\nA: {a_out}\nB: {b_out}");
    let loser = outcomes.iter().find(|(ok, _, _)| !*ok).unwrap();
    assert!(
        loser.1.contains("moved while this push waited")
            || loser.1.contains("fetch first")
            || loser.1.contains("non-fast-forward"),
        "the other is rejected with a reason:\n{}",
        loser.1
    );
    let (status, body) = server.app_get("push-race", "/").await;
    assert_eq!(status, 200);
    assert!(body.contains(winners[0].2), "the winner's content serves: {body}");
    let list = releases(&server, &token, "push-race").await;
    assert_eq!(list.len(), 2, "v1 and the winner's v2 only: {list:?}");
    assert!(list.iter().all(|r| r["status"] == "succeeded"));
}

#[tokio::test]
async fn app_containers_keep_serving_while_the_server_restarts() {
    let (mut server, _token, _repo) = TestServer::with_deployed_app("push-restart").await;
    let before = containers("push-restart");
    server.restart().await;
    assert_eq!(containers("push-restart"), before, "the same container keeps running");
    assert_eq!(
        server.app_get("push-restart", "/").await,
        (200, "hello from v1\n".to_string()),
        "the routing table is rebuilt"
    );
}

#[tokio::test]
async fn pushing_needs_a_token_with_the_developer_role() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    server.create_app(&admin, "push-auth").await;
    let viewer = server.user_token(&admin, "viewer@example.com").await;
    let (status, _) = server
        .call("POST", "/teams/main/members", &admin, Some(json!({ "email": "viewer@example.com", "role": "viewer" })))
        .await;
    assert_eq!(status, 201);
    let repo = AppRepo::from_fixture("hello");

    let anonymous = format!("{}/git/push-auth.git", server.url);
    let (ok, output) = repo.push(&anonymous);
    assert!(!ok, "no token: {output}");
    let (ok, output) = repo.push(&server.git_url("push-auth", "paas_wrong"));
    assert!(!ok, "bad token: {output}");
    let (ok, output) = repo.push(&server.git_url("push-auth", &viewer));
    assert!(!ok, "viewer: {output}");
    assert!(output.contains("403") || output.contains("developer role"), "{output}");
    assert!(releases(&server, &admin, "push-auth").await.is_empty());

    // A viewer may still fetch, once there is something to fetch.
    assert!(repo.push(&server.git_url("push-auth", &admin)).0);
    let out = repo.git(&["ls-remote", &server.git_url("push-auth", &viewer)]);
    assert!(out.contains("refs/heads/main"), "{out}");
}

#[tokio::test]
async fn pushes_to_other_branches_are_stored_without_deploying() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "push-branch").await;
    let repo = AppRepo::from_fixture("hello");
    let out = repo.push_command(&server.git_url("push-branch", &token), "main:feature").output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Stored refs/heads/feature"), "{text}");
    assert!(releases(&server, &token, "push-branch").await.is_empty());
    assert_eq!(server.app_get("push-branch", "/").await.0, 503);
}

#[tokio::test]
async fn destroying_an_app_stops_its_containers_and_routes() {
    let (server, token, _repo) = TestServer::with_deployed_app("push-destroy").await;
    let (status, _) = server.call("DELETE", "/apps/push-destroy", &token, None).await;
    assert_eq!(status, 204);
    assert!(containers("push-destroy").is_empty());
    assert_eq!(server.app_get("push-destroy", "/").await.0, 404);
}

#[tokio::test]
async fn a_push_without_a_web_process_is_refused_while_the_app_serves_web() {
    let (server, token, repo) = TestServer::with_deployed_app("push-noweb").await;
    repo.write("Procfile", "worker: while true; do sleep 1; done\n");
    repo.commit("only a worker");
    let (ok, output) = repo.push(&server.git_url("push-noweb", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("this release has no web process type, but push-noweb runs 1 web process"), "{output}");
    assert!(output.contains("paas ps:scale web=0"), "{output}");
    assert_eq!(server.app_get("push-noweb", "/").await, (200, "hello from v1\n".to_string()), "v1 keeps serving");

    // Said on purpose, it is allowed.
    let (status, body) = server
        .call(
            "PATCH",
            "/apps/push-noweb/formation",
            &token,
            Some(json!({ "updates": [{ "type": "web", "quantity": 0 }] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (ok, output) = repo.push(&server.git_url("push-noweb", &token));
    assert!(ok, "{output}");
    let (status, page) = server.app_get("push-noweb", "/").await;
    assert_eq!(status, 503);
    assert!(page.contains("runs no web process"), "{page}");
}

#[tokio::test]
async fn a_web_process_that_exits_during_its_health_check_fails_the_deploy_at_once() {
    let (server, token, repo) = TestServer::with_deployed_app("push-exits").await;
    repo.write("Procfile", "web: echo 'cannot reach the database'; exit 7\n");
    repo.commit("exits at once");
    let began = Instant::now();
    let (ok, output) = repo.push(&server.git_url("push-exits", &token));
    let took = began.elapsed();
    assert!(!ok, "{output}");
    assert!(output.contains("the process exited (code 7) before passing its health check"), "{output}");
    assert!(output.contains("cannot reach the database"), "its last log lines are shown: {output}");
    // The test server's health timeout is 8 s; an exit must not wait it out.
    assert!(took < Duration::from_secs(8), "the push waited {took:?}");
    assert_eq!(server.app_get("push-exits", "/").await, (200, "hello from v1\n".to_string()));
}
