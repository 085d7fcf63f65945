//! Every operation survives a crash of the server: after a kill -9 at any
//! moment of a push, the git branch, the current release, `releases`, `ps`
//! and what the router serves tell one story, nothing is left behind, and
//! the next push works. Operations outlive the clients that asked for them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paas_e2e::apps::{containers, AppRepo};
use paas_e2e::{wait_until, TestServer};
use serde_json::{json, Value};

/// Start `git push` in the background.
fn push_in_background(repo: &AppRepo, server: &TestServer, app: &str, token: &str) -> Child {
    repo.push_command(&server.git_url(app, token), "main")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output_of(push: Child) -> (bool, String) {
    let out = push.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The commit the server's branch points at, as git sees it.
fn remote_main(server: &TestServer, app: &str, token: &str) -> String {
    let out = Command::new("git").args(["ls-remote", &server.git_url(app, token), "refs/heads/main"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

async fn releases(server: &TestServer, token: &str, app: &str) -> Vec<Value> {
    let (status, body) = server.call("GET", &format!("/apps/{app}/releases"), token, None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// After a restart: the current release is `version` at `commit`, the branch
/// points there, no release is pending, the router serves `content`, only
/// that release's processes run (all up) and nothing else is left; then the
/// next push deploys.
async fn one_story(
    server: &TestServer,
    token: &str,
    app: &str,
    repo: &AppRepo,
    version: i64,
    commit: &str,
    content: &str,
) {
    let list = releases(server, token, app).await;
    let current: Vec<&Value> = list.iter().filter(|r| r["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    assert_eq!(current[0]["version"], version, "{list:?}");
    assert_eq!(current[0]["commit"], commit, "{list:?}");
    assert!(list.iter().all(|r| r["status"] != "pending"), "no release is left pending: {list:?}");
    assert_eq!(remote_main(server, app, token), commit, "the branch points at the live release");
    assert_eq!(server.app_get(app, "/").await, (200, content.to_string()));
    let label = format!(" v{version} running");
    wait_until("only the live release's processes", Duration::from_secs(30), || async {
        let left = containers(app);
        !left.is_empty() && left.iter().all(|c| c.ends_with(&label))
    })
    .await;
    wait_until("ps to say every process is up", Duration::from_secs(10), || async {
        let (_, ps) = server.call("GET", &format!("/apps/{app}/ps"), token, None).await;
        ps.as_array().is_some_and(|l| !l.is_empty() && l.iter().all(|p| p["state"] == "up"))
    })
    .await;
    let (_, ops) = server.call("GET", &format!("/apps/{app}/operations"), token, None).await;
    assert!(ops.as_array().unwrap().iter().all(|o| o["status"] != "running"), "no operation is left running: {ops}");

    // The fixture as it was, with new content.
    let fixture = paas_e2e::apps::fixtures_dir().join("healing/Dockerfile");
    repo.write("Dockerfile", &std::fs::read_to_string(fixture).unwrap());
    let _ = std::fs::remove_file(repo.path().join("Procfile"));
    repo.write("www/index.html", "after the crash\n");
    repo.commit("next push");
    let (ok, output) = repo.push(&server.git_url(app, token));
    assert!(ok, "the next push works: {output}");
    assert_eq!(server.app_get(app, "/").await, (200, "after the crash\n".to_string()));
}

/// A fresh server with the `healing` fixture deployed as v1.
async fn deployed(app: &str, env: &[(&str, &str)]) -> (TestServer, String, AppRepo, String) {
    let server = TestServer::start_with_env(env).await;
    let token = server.admin_token().await;
    server.create_app(&token, app).await;
    let repo = AppRepo::from_fixture("healing");
    let (ok, output) = repo.push(&server.git_url(app, &token));
    assert!(ok, "{output}");
    let v1 = repo.head();
    (server, token, repo, v1)
}

#[tokio::test]
async fn killed_during_the_build_the_push_fails_and_v1_stays() {
    let (mut server, token, repo, v1) = deployed("crash-build", &[]).await;
    repo.write(
        "Dockerfile",
        &format!("{}RUN sleep 60\n", std::fs::read_to_string(repo.path().join("Dockerfile")).unwrap()),
    );
    repo.write("www/index.html", "v2\n");
    repo.commit("a slow build");
    let push = push_in_background(&repo, &server, "crash-build", &token);
    wait_until("the build to run", Duration::from_secs(30), || async {
        let (_, builds) = server.call("GET", "/apps/crash-build/builds", &token, None).await;
        builds.as_array().is_some_and(|b| b.iter().any(|b| b["status"] == "building"))
    })
    .await;
    server.kill();
    let (ok, output) = output_of(push);
    assert!(!ok, "{output}");
    server.restart().await;
    let (_, builds) = server.call("GET", "/apps/crash-build/builds", &token, None).await;
    assert!(builds.as_array().unwrap().iter().all(|b| b["status"] != "building"), "{builds}");
    one_story(&server, &token, "crash-build", &repo, 1, &v1, "healing v1\n").await;
}

#[tokio::test]
async fn killed_during_the_release_phase_the_release_ends_failed() {
    let (mut server, token, repo, v1) = deployed("crash-release", &[]).await;
    repo.write("Procfile", "web: exec httpd -f -p $PORT -h /www\nrelease: echo migrating; sleep 60\n");
    repo.commit("a slow release phase");
    let push = push_in_background(&repo, &server, "crash-release", &token);
    wait_until("the release phase to run", Duration::from_secs(30), || async {
        containers("crash-release").iter().any(|c| c.contains("-v2-release-") && c.ends_with(" running"))
    })
    .await;
    server.kill();
    assert!(!output_of(push).0);
    server.restart().await;
    let list = releases(&server, &token, "crash-release").await;
    assert_eq!(list[0]["version"], 2);
    assert_eq!(list[0]["status"], "failed", "a release cut short in its release phase failed: {list:?}");
    // The release phase's container was left running; it goes.
    one_story(&server, &token, "crash-release", &repo, 1, &v1, "healing v1\n").await;
}

#[tokio::test]
async fn killed_during_the_health_check_the_rollout_is_undone() {
    let (mut server, token, repo, v1) = deployed("crash-health", &[]).await;
    repo.write("Procfile", "web: sleep 60; exec httpd -f -p $PORT -h /www\n");
    repo.commit("a slow boot");
    let push = push_in_background(&repo, &server, "crash-health", &token);
    wait_until("v2's process to start", Duration::from_secs(30), || async {
        containers("crash-health").iter().any(|c| c.contains(" v2 "))
    })
    .await;
    server.kill();
    assert!(!output_of(push).0);
    server.restart().await;
    assert_eq!(releases(&server, &token, "crash-health").await[0]["status"], "failed");
    one_story(&server, &token, "crash-health", &repo, 1, &v1, "healing v1\n").await;
}

/// The push's pre-receive hook (`paas git-hook pre-receive`) running under
/// the server process `server`, if any.
fn hook_under(server: u32) -> Option<u32> {
    let parent_of = |pid: i32| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()
    };
    let hook =
        std::fs::read_dir("/proc").ok()?.flatten().filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()).find(
            |&pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let is_hook = String::from_utf8_lossy(&cmdline).contains("git-hook\0pre-receive");
                let mut ancestor = parent_of(pid);
                while let Some(p) = ancestor.filter(|&p| p > 1) {
                    if p == server as i32 {
                        return is_hook;
                    }
                    ancestor = parent_of(p);
                }
                false
            },
        );
    hook.map(|pid| pid as u32)
}

#[tokio::test]
async fn killed_right_after_the_switch_v2_stays_live_and_the_branch_follows() {
    let (mut server, token, repo, _) = deployed("crash-switch", &[]).await;
    repo.write("www/index.html", "healing v2\n");
    repo.commit("v2");
    let v2 = repo.head();
    let push = push_in_background(&repo, &server, "crash-switch", &token);
    // The git side stalls (its hook stopped): the rollout goes on without
    // it, and git cannot record the push before the server dies.
    let pid = server.pid().unwrap();
    let mut hook = None;
    wait_until("the push's hook to run", Duration::from_secs(30), || {
        hook = hook_under(pid);
        std::future::ready(hook.is_some())
    })
    .await;
    let hook = hook.unwrap();
    paas_e2e::signal(hook, "STOP");
    wait_until("the switch to v2", Duration::from_secs(30), || async {
        server.app_get("crash-switch", "/").await.1 == "healing v2\n"
    })
    .await;
    server.kill();
    paas_e2e::signal(hook, "KILL");
    let (ok, output) = output_of(push);
    assert!(!ok, "git heard nothing back: {output}");
    let bare = server.data_path().join("data/repos/crash-switch.git");
    let branch = Command::new("git").arg("--git-dir").arg(&bare).args(["rev-parse", "refs/heads/main"]).output();
    assert_ne!(String::from_utf8_lossy(&branch.unwrap().stdout).trim(), v2, "git did not move the branch itself");
    server.restart().await;
    let logs = server.all_logs();
    assert!(logs.contains("refs/heads/main moved to"), "the branch was moved, and the log says so");
    one_story(&server, &token, "crash-switch", &repo, 2, &v2, "healing v2\n").await;
}

#[tokio::test]
async fn killed_while_stopping_old_processes_v2_stays_live_and_v1_goes() {
    let (mut server, token, repo, _) = deployed("crash-stop", &[("PAAS_STOP_GRACE", "8")]).await;
    // v1 ignores SIGTERM, so stopping it takes the whole grace period.
    repo.write("Procfile", "web: trap '' TERM; exec httpd -f -p $PORT -h /www\n");
    repo.commit("v1 ignores TERM");
    let (ok, output) = repo.push(&server.git_url("crash-stop", &token));
    assert!(ok, "{output}");
    repo.write("www/index.html", "healing v3\n");
    repo.write("Procfile", "web: exec httpd -f -p $PORT -h /www\n");
    repo.commit("v3");
    let v3 = repo.head();
    let push = push_in_background(&repo, &server, "crash-stop", &token);
    wait_until("the switch to v3 with v2 still stopping", Duration::from_secs(30), || async {
        server.app_get("crash-stop", "/").await.1 == "healing v3\n"
            && containers("crash-stop").iter().any(|c| c.contains(" v2 running"))
    })
    .await;
    // The push is done once traffic switched (or about to be); v2 is being
    // stopped in the background when the server dies.
    server.kill();
    let _ = output_of(push);
    server.restart().await;
    one_story(&server, &token, "crash-stop", &repo, 3, &v3, "healing v3\n").await;
}

#[tokio::test]
async fn a_config_change_whose_client_went_away_completes_and_is_recorded() {
    let (server, token, _repo, _) = deployed("crash-client", &[]).await;
    // The client gives up after 100 ms; the rollout takes longer (a new
    // process must start and pass three checks 50 ms apart).
    let client = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().unwrap();
    let sent = client
        .patch(server.api("/apps/crash-client/config"))
        .bearer_auth(&token)
        .json(&json!({ "GREETING": "still applied" }))
        .send()
        .await;
    assert!(sent.is_err(), "the client timed out: {sent:?}");
    wait_until("the change to be live", Duration::from_secs(30), || async {
        let list = releases(&server, &token, "crash-client").await;
        list[0]["version"] == 2 && list[0]["current"] == true && list[0]["status"] == "succeeded"
    })
    .await;
    let (_, config) = server.call("GET", "/apps/crash-client/config", &token, None).await;
    assert_eq!(config["GREETING"], "still applied");
    let (_, ops) = server.call("GET", "/apps/crash-client/operations", &token, None).await;
    let op = &ops[0];
    assert_eq!((op["kind"].as_str(), op["summary"].as_str()), (Some("config.update"), Some("GREETING")), "{ops}");
    wait_until("the operation to end", Duration::from_secs(10), || async {
        let (_, ops) = server.call("GET", "/apps/crash-client/operations", &token, None).await;
        ops[0]["status"] == "succeeded" && ops[0]["release"] == 2
    })
    .await;
    let (_, shown) = server.call("GET", &format!("/apps/crash-client/operations/{}", op["id"]), &token, None).await;
    assert!(shown["output"].as_str().unwrap().contains("Switching traffic to v2"), "{shown}");
    let (_, audit) = server.call("GET", "/audit?app=crash-client", &token, None).await;
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["action"] == "config.update" && e["detail"] == "GREETING"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let server = TestServer::start_embedded().await;
    let token = server.admin_token().await;
    let out = server.serve_command().stdout(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "a second server must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    let pid = server.pid().unwrap().to_string();
    assert!(err.contains(&format!("another paas server (pid {pid}) is running on the data dir")), "{err}");
    // The first server and its PostgreSQL are untouched.
    let (status, body) = server.call("POST", "/apps", &token, Some(json!({ "name": "still-works" }))).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn the_embedded_postgresql_comes_back_by_itself_and_the_api_recovers() {
    let server = TestServer::start_embedded().await;
    let token = server.admin_token().await;
    let pid_file = server.data_path().join("data/postgres/data/postmaster.pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap().lines().next().unwrap().trim().to_string();
    paas_e2e::signal(pid.parse().unwrap(), "KILL");

    // While it is down, the API says so at once instead of hanging.
    wait_until("the API to report the database down", Duration::from_secs(10), || async {
        let began = Instant::now();
        let (status, body) = server.call("GET", "/apps", &token, None).await;
        assert!(began.elapsed() < Duration::from_secs(4), "an API call hung {:?}", began.elapsed());
        if status == 503 {
            assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
        }
        status == 503 || status == 200
    })
    .await;
    // (An answer may have come before the kill took effect: wait for the
    // monitor to have seen it.)
    wait_until("the monitor to restart PostgreSQL", Duration::from_secs(30), || async {
        server.all_logs().contains("the embedded PostgreSQL is not running; restarting it")
    })
    .await;
    wait_until("the API to answer again", Duration::from_secs(30), || async {
        server.call("GET", "/apps", &token, None).await.0 == 200
    })
    .await;
    let new_pid = std::fs::read_to_string(&pid_file).unwrap().lines().next().unwrap().trim().to_string();
    assert_ne!(new_pid, pid, "a new postmaster runs");
    let response = server.http.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn healthz_says_which_part_is_unhealthy() {
    let server = TestServer::start_embedded().await;
    let body: Value = server.http.get(format!("{}/healthz", server.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({ "status": "ok", "database": "ok", "engine": "ok" }));
}

#[tokio::test]
async fn the_router_serves_again_within_a_second_of_a_server_restart() {
    let (mut server, _token, _repo, _) = deployed("crash-router", &[]).await;
    for how in ["kill -9", "SIGTERM"] {
        if how == "kill -9" {
            server.kill();
        } else {
            server.stop().await;
        }
        let began = Instant::now();
        server.respawn_in_background();
        let mut served = None;
        while began.elapsed() < Duration::from_secs(10) {
            if server.app_get("crash-router", "/").await == (200, "healing v1\n".to_string()) {
                served = Some(began.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let served = served.expect("the router serves again");
        println!("router serving again {} ms after a restart ({how})", served.as_millis());
        assert!(served < Duration::from_secs(1), "router back after {served:?} ({how})");
        server.wait_listening().await;
    }
}

#[tokio::test]
async fn a_push_whose_git_client_went_away_still_goes_live_and_the_branch_follows() {
    let (server, token, repo, v1) = deployed("crash-client-push", &[]).await;
    // A slow boot keeps the deploy busy after the client is gone.
    repo.write("Procfile", "web: sleep 3; exec httpd -f -p $PORT -h /www\n");
    repo.write("www/index.html", "healing v2\n");
    repo.commit("v2 boots slowly");
    let v2 = repo.head();
    let mut push = push_in_background(&repo, &server, "crash-client-push", &token);
    wait_until("v2's process to start", Duration::from_secs(30), || async {
        containers("crash-client-push").iter().any(|c| c.contains(" v2 "))
    })
    .await;
    // Ctrl-C of `git push`: the client goes away mid-deploy.
    push.kill().unwrap();
    let _ = push.wait();
    wait_until("v2 to go live", Duration::from_secs(30), || async {
        server.app_get("crash-client-push", "/").await.1 == "healing v2\n"
    })
    .await;
    wait_until("the branch to follow what is live", Duration::from_secs(150), || async {
        remote_main(&server, "crash-client-push", &token) == v2
    })
    .await;
    assert_ne!(v1, v2);
    let (_, ops) = server.call("GET", "/apps/crash-client-push/operations", &token, None).await;
    assert_eq!(ops[0]["kind"], "deploy");
    assert_eq!(ops[0]["status"], "succeeded", "{ops}");
}
