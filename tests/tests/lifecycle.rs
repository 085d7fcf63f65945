//! The app lifecycle through the CLI against a running server: config vars,
//! releases, rollback, scaling, limits, restarts, logs, domains, builds,
//! audit. Changes that affect what runs must never drop a request.

use std::time::{Duration, Instant};

use paas_e2e::apps::{containers, fixtures_dir};
use paas_e2e::load::Load;
use paas_e2e::{wait_until, TestServer};
use serde_json::json;

#[tokio::test]
async fn config_vars_roll_out_as_releases_and_stay_out_of_server_logs() {
    let (server, token, _repo) = TestServer::with_deployed_app("life-config").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    let secret = "s3cr3t-value-that-must-not-leak";

    let out = server.cli_ok(cfg, &["config:set", &format!("GREETING={secret}"), "OTHER=x", "-a", "life-config"]);
    assert!(out.contains("done, v2"), "{out}");
    assert!(out.contains("-----> Switching traffic to v2"), "the CLI streams the operation's progress: {out}");
    let out = server.cli_ok(cfg, &["operations", "-a", "life-config"]);
    assert!(
        out.lines().any(|l| l.contains("config.update") && l.contains("succeeded") && l.contains("GREETING OTHER")),
        "{out}"
    );
    assert!(!out.contains(secret), "{out}");
    let (_, page) = server.app_get("life-config", "/cgi-bin/config").await;
    assert!(page.contains(&format!("GREETING={secret}")), "the app sees the new value: {page}");
    assert!(page.contains("DYNO=web.1"), "{page}");

    assert_eq!(server.cli_ok(cfg, &["config:get", "GREETING", "-a", "life-config"]).trim(), secret);
    let out = server.cli_ok(cfg, &["config", "-a", "life-config"]);
    assert!(out.contains("GREETING:") && out.contains(secret) && out.contains("OTHER:"), "{out}");
    let out = server.cli_ok(cfg, &["config:unset", "OTHER", "-a", "life-config"]);
    assert!(out.contains("done, v3"), "{out}");

    let out = server.cli_ok(cfg, &["releases", "-a", "life-config"]);
    assert!(out.contains("Set GREETING, OTHER config vars"), "{out}");
    assert!(out.contains("Unset OTHER config vars"), "{out}");
    assert!(out.contains("Deploy "), "{out}");
    let info = server.cli_ok(cfg, &["releases:info", "v2", "-a", "life-config"]);
    assert!(info.contains("GREETING, OTHER") && !info.contains(secret), "names, never values: {info}");

    let err = server.cli_err(cfg, &["config:set", "PORT=1", "-a", "life-config"]);
    assert!(err.contains("set by paas itself"), "{err}");
    let err = server.cli_err(cfg, &["config:set", "1BAD=1", "-a", "life-config"]);
    assert!(err.contains("invalid config var name"), "{err}");

    // Viewers see names only.
    let viewer = server.user_token(&token, "viewer@example.com").await;
    server
        .call("POST", "/teams/main/members", &token, Some(json!({ "email": "viewer@example.com", "role": "viewer" })))
        .await;
    let (status, config) = server.call("GET", "/apps/life-config/config", &viewer, None).await;
    assert_eq!(status, 200);
    assert_eq!(config, json!({ "GREETING": null }));
    let (status, _) = server.call("PATCH", "/apps/life-config/config", &viewer, Some(json!({ "X": "1" }))).await;
    assert_eq!(status, 403);

    assert!(!server.all_logs().contains(secret), "a config value reached the server log");
    let key = std::fs::read_to_string(server.data_path().join("data/secret.key")).unwrap();
    assert!(!key.trim().is_empty(), "the encryption key lives in the data dir");
}

#[tokio::test]
async fn a_config_change_that_breaks_the_app_is_refused_and_v1_keeps_serving() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "life-badcfg").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    // The web process refuses to start when BREAK is set.
    repo.write(
        "Procfile",
        "web: if [ -n \"$BREAK\" ]; then echo 'BREAK is set, refusing'; exit 3; fi; exec httpd -f -p $PORT -h /www\n",
    );
    repo.commit("procfile");
    assert!(repo.push(&server.git_url("life-badcfg", &token)).0);
    let home = server.cli_home(&token);
    let err = server.cli_err(home.path(), &["config:set", "BREAK=1", "-a", "life-badcfg"]);
    assert!(err.contains("did not become healthy") || err.contains("exited"), "{err}");
    assert_eq!(server.app_get("life-badcfg", "/").await, (200, "hello from v1\n".to_string()));
    let (_, config) = server.call("GET", "/apps/life-badcfg/config", &token, None).await;
    assert_eq!(config, json!({}), "the config went back");
    let (_, releases) = server.call("GET", "/apps/life-badcfg/releases", &token, None).await;
    assert_eq!(releases[0]["status"], "failed");
    assert_eq!(releases[1]["current"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_scale_restart_and_rollback_have_zero_downtime() {
    let (server, token, repo) = TestServer::with_deployed_app("life-zero").await;
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    assert!(repo.push(&server.git_url("life-zero", &token)).0);

    let load = Load::start(&server.router_addr, "life-zero", "/", 2);
    let steps = vec![
        ("PATCH", "/apps/life-zero/config", json!({ "GREETING": "hi" })),
        ("PATCH", "/apps/life-zero/formation", json!({ "updates": [{ "type": "web", "quantity": 2 }] })),
        ("PATCH", "/apps/life-zero/formation", json!({ "updates": [{ "type": "web", "quantity": 1 }] })),
        ("POST", "/apps/life-zero/ps/restart", json!({})),
        ("POST", "/apps/life-zero/rollback", json!({ "version": 1 })),
    ];
    server.call_each_under(&load, &token, steps).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());
    assert_eq!(
        server.app_get("life-zero", "/").await,
        (200, "hello from v1\n".to_string()),
        "rolled back to v1's content"
    );
}

#[tokio::test]
async fn rollback_after_a_failed_deploy_and_refusals() {
    let (server, token, repo) = TestServer::with_deployed_app("life-rollback").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    assert!(repo.push(&server.git_url("life-rollback", &token)).0);
    let broken = std::fs::read_to_string(fixtures_dir().join("unhealthy/Dockerfile")).unwrap();
    // An image of its own (see git_push.rs: the same content is built there).
    repo.write("Dockerfile", &format!("{broken}LABEL test=life-rollback\n"));
    repo.commit("v3 never gets healthy");
    assert!(!repo.push(&server.git_url("life-rollback", &token)).0);

    let err = server.cli_err(cfg, &["rollback", "v3", "-a", "life-rollback"]);
    assert!(err.contains("v3 failed"), "rolling back to a failed release is refused: {err}");
    let err = server.cli_err(cfg, &["rollback", "v2", "-a", "life-rollback"]);
    assert!(err.contains("already the current release"), "{err}");

    let out = server.cli_ok(cfg, &["rollback", "-a", "life-rollback"]);
    assert!(out.contains("Rollback to v1") && out.contains("v4"), "{out}");
    assert_eq!(server.app_get("life-rollback", "/").await, (200, "hello from v1\n".to_string()));
    let out = server.cli_ok(cfg, &["releases", "-a", "life-rollback"]);
    let v4 = out.lines().find(|l| l.starts_with("v4")).unwrap_or_default();
    assert!(v4.contains("Rollback to v1") && v4.ends_with("current"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("v3") && l.ends_with("failed")), "{out}");
}

#[tokio::test]
async fn old_releases_images_are_removed_and_rolling_back_to_one_is_refused() {
    let server = TestServer::start_with_env(&[("PAAS_KEEP_RELEASE_IMAGES", "1")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "life-noimage").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    assert!(repo.push(&server.git_url("life-noimage", &token)).0);
    let v1_image = format!("paas/life-noimage:{}", repo.head());
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    assert!(repo.push(&server.git_url("life-noimage", &token)).0);
    let v2_image = format!("paas/life-noimage:{}", repo.head());
    let exists = |image: &str| {
        std::process::Command::new("docker").args(["image", "inspect", image]).output().unwrap().status.success()
    };
    // Kept: the newest release's only; v1's goes once its process stopped.
    wait_until("v1's image to be removed", Duration::from_secs(30), || async { !exists(&v1_image) }).await;
    assert!(exists(&v2_image), "the current release keeps its image");
    let (status, body) = server.call("POST", "/apps/life-noimage/rollback", &token, Some(json!({}))).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("is gone"), "{body}");
    assert_eq!(server.app_get("life-noimage", "/").await.1, "hello from v2\n");
}

#[tokio::test]
async fn scaling_resizing_and_restarting_processes() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "life-ps").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    repo.write(
        "Procfile",
        "web: exec httpd -f -v -p $PORT -h /www\nworker: while true; do echo worker tick; sleep 1; done\n",
    );
    repo.commit("worker");
    assert!(repo.push(&server.git_url("life-ps", &token)).0);
    let home = server.cli_home(&token);
    let cfg = home.path();

    let out = server.cli_ok(cfg, &["ps:scale", "web=2", "worker=1", "-a", "life-ps"]);
    assert!(out.contains("web=2") && out.contains("worker=1"), "{out}");
    let out = server.cli_ok(cfg, &["ps", "-a", "life-ps"]);
    for name in ["web.1", "web.2", "worker.1"] {
        assert!(out.lines().any(|l| l.starts_with(name) && l.contains(" up ")), "{name} is up:\n{out}");
    }
    assert_eq!(containers("life-ps").len(), 3, "{:?}", containers("life-ps"));
    // The worker runs without a port.
    let ports = std::process::Command::new("docker")
        .args([
            "ps",
            "--filter",
            "label=paas.app=life-ps",
            "--filter",
            "label=paas.process=worker",
            "--format",
            "{{.Ports}}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ports.stdout).trim(), "", "no published port for a worker");

    let err = server.cli_err(cfg, &["ps:scale", "nope=1", "-a", "life-ps"]);
    assert!(err.contains("no process type \"nope\""), "{err}");
    let err = server.cli_err(cfg, &["ps:scale", "web=two", "-a", "life-ps"]);
    assert!(err.contains("not a number"), "{err}");

    server.cli_ok(cfg, &["ps:resize", "web", "--memory", "64m", "--cpus", "0.5", "-a", "life-ps"]);
    let out = server.cli_ok(cfg, &["ps", "-a", "life-ps"]);
    assert!(out.contains("web=2 64MB 0.5cpu"), "{out}");
    let memory = std::process::Command::new("docker")
        .args(["ps", "--filter", "label=paas.app=life-ps", "--filter", "label=paas.process=web", "-q"])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&memory.stdout).lines().next().unwrap_or_default().to_string();
    let limits = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", &id])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&limits.stdout).trim(), "67108864 500000000", "the engine enforces the limits");

    let before = containers("life-ps");
    server.cli_ok(cfg, &["ps:restart", "-a", "life-ps"]);
    paas_e2e::wait_until("the old processes to be stopped", std::time::Duration::from_secs(15), || async {
        containers("life-ps").len() == 3
    })
    .await;
    let after = containers("life-ps");
    assert!(after.iter().all(|c| !before.contains(c)), "every process was replaced: {before:?} -> {after:?}");

    // A type of its own, as on Heroku: the worker alone starts anew (not a
    // crash); the web processes run on. A one-off or a type nothing runs
    // is refused.
    let before = processes("life-ps");
    let (code, out, err) = server.cli(cfg, &["ps:restart", "worker", "-a", "life-ps"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Restarting worker.1 ... up"), "{err}");
    let after = processes("life-ps");
    assert_ne!(after["worker.1"].0, before["worker.1"].0, "worker.1 was restarted");
    for web in ["web.1", "web.2"] {
        assert_eq!(after[web], before[web], "{web} ran on");
    }
    let (_, ps) = server.call("GET", "/apps/life-ps/ps", &token, None).await;
    let worker = ps.as_array().unwrap().iter().find(|p| p["name"] == "worker.1").cloned().unwrap();
    assert!(worker["state"] == "up" && worker["last_crash"].is_null(), "{worker}");
    let err = server.cli_err(cfg, &["ps:restart", "clock", "-a", "life-ps"]);
    assert!(err.contains("life-ps runs no process clock"), "{err}");
    let err = server.cli_err(cfg, &["ps:restart", "run.1", "-a", "life-ps"]);
    assert!(err.contains("one-off processes are not restarted"), "{err}");

    server.cli_ok(cfg, &["ps:scale", "web=0", "-a", "life-ps"]);
    assert_eq!(server.app_get("life-ps", "/").await.0, 503, "no web processes: 503");
}

/// Each process of an app as `docker inspect` tells: `web.1` -> (container
/// id, start time).
fn processes(app: &str) -> std::collections::BTreeMap<String, (String, String)> {
    let ids = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=paas.app={app}")])
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout).split_whitespace().map(str::to_string).collect();
    if ids.is_empty() {
        return Default::default();
    }
    let format = "{{index .Config.Labels \"paas.process\"}}.{{index .Config.Labels \"paas.index\"}} {{.Id}} {{.State.StartedAt}}";
    let out = std::process::Command::new("docker").args(["inspect", "-f", format]).args(&ids).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), (words.next()?.to_string(), words.next()?.to_string())))
        })
        .collect()
}

#[tokio::test]
async fn scaling_up_starts_only_the_new_processes_and_down_drains_only_the_surplus() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "life-scale").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("healing");
    assert!(repo.push(&server.git_url("life-scale", &token)).0);
    let home = server.cli_home(&token);
    let cfg = home.path();
    let before = processes("life-scale");
    assert_eq!(before.keys().collect::<Vec<_>>(), ["web.1"]);

    // Up, under load: web.1 keeps running, untouched.
    let load = Load::start(&server.router_addr, "life-scale", "/", 2);
    let out = server.cli_ok(cfg, &["ps:scale", "web=3", "-a", "life-scale"]);
    assert!(out.contains("Starting web.2 ... healthy") && out.contains("Starting web.3 ... healthy"), "{out}");
    assert!(!out.contains("web.1") && !out.contains("Switching traffic"), "nothing else changes: {out}");
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());
    let up = processes("life-scale");
    assert_eq!(up.keys().collect::<Vec<_>>(), ["web.1", "web.2", "web.3"]);
    assert_eq!(up["web.1"], before["web.1"], "the same web.1 container, never restarted");
    let out = server.cli_ok(cfg, &["ps", "-a", "life-scale"]);
    for name in ["web.1", "web.2", "web.3"] {
        assert!(out.lines().any(|l| l.starts_with(name) && l.contains(" up ")), "{name} is up:\n{out}");
    }

    // Down, with a slow request in flight on every process (the router takes
    // them in turn): the surplus finishes its requests before it stops, and
    // only the surplus goes.
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let client = server.http.clone();
        let url = format!("http://{}/cgi-bin/slow?2", server.router_addr);
        slow.spawn(async move {
            let response = client.get(url).header("host", "life-scale.paas.test").send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load = Load::start(&server.router_addr, "life-scale", "/", 2);
    let out = server.cli_ok(cfg, &["ps:scale", "web=1", "-a", "life-scale"]);
    assert!(out.contains("Stopping web.2 ... done") && out.contains("Stopping web.3 ... done"), "{out}");
    let mut served_by = std::collections::BTreeSet::new();
    while let Some(answer) = slow.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 200, "an in-flight request was cut: {body}");
        served_by.insert(body.trim().rsplit(' ').next().unwrap_or_default().to_string());
    }
    assert_eq!(served_by.into_iter().collect::<Vec<_>>(), ["web.1", "web.2", "web.3"], "each had one in flight");
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());
    let down = processes("life-scale");
    assert_eq!(down.keys().collect::<Vec<_>>(), ["web.1"]);
    assert_eq!(down["web.1"], before["web.1"], "web.1 was never restarted");

    // A restart with a slow request in flight: the replaced web.1 shows as
    // stopping beside the new one until it has answered.
    let client = server.http.clone();
    let url = format!("http://{}/cgi-bin/slow?3", server.router_addr);
    let slow = tokio::spawn(async move {
        let response = client.get(url).header("host", "life-scale.paas.test").send().await.unwrap();
        response.status().as_u16()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.cli_ok(cfg, &["ps:restart", "-a", "life-scale"]);
    let out = server.cli_ok(cfg, &["ps", "-a", "life-scale"]);
    let web = |state: &str| out.lines().filter(|l| l.starts_with("web.1") && l.contains(state)).count();
    assert_eq!((web(" up "), web(" stopping ")), (1, 1), "the new web.1 up, the old one stopping:\n{out}");
    assert_eq!(slow.await.unwrap(), 200, "the replaced process finished its request");
    wait_until("the replaced web.1 to stop", Duration::from_secs(20), || async {
        let out = server.cli_ok(cfg, &["ps", "-a", "life-scale"]);
        out.lines().filter(|l| l.starts_with("web.")).count() == 1
    })
    .await;
}

#[tokio::test]
async fn a_process_over_its_memory_limit_shows_as_crashed_with_oom() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "life-oom").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    repo.write(
        "Procfile",
        "web: exec httpd -f -p $PORT -h /www\nhog: echo hog starting; sleep 3; echo allocating; x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 60\n",
    );
    repo.commit("hog");
    assert!(repo.push(&server.git_url("life-oom", &token)).0);
    let home = server.cli_home(&token);
    let cfg = home.path();
    server.cli_ok(cfg, &["ps:resize", "hog", "--memory", "24m", "-a", "life-oom"]);
    server.cli_ok(cfg, &["ps:scale", "hog=1", "-a", "life-oom"]);
    wait_until("hog to be OOM-killed", Duration::from_secs(60), || async {
        let (_, ps) = server.call("GET", "/apps/life-oom/ps", &token, None).await;
        ps.as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "hog.1" && p["state"].as_str().unwrap_or("").contains("crashed (OOM)"))
    })
    .await;
    let out = server.cli_ok(cfg, &["ps", "-a", "life-oom"]);
    assert!(out.lines().any(|l| l.starts_with("hog.1") && l.contains("crashed (OOM)")), "{out}");
    let logs = server.cli_ok(cfg, &["logs", "-a", "life-oom"]);
    assert!(logs.contains("hog.1 crashed: killed for exceeding its memory limit (OOM)"), "{logs}");
    assert_eq!(server.app_get("life-oom", "/").await.0, 200, "web keeps serving");
}

#[tokio::test]
async fn logs_keep_replaced_containers_lines_and_stream_live() {
    let (server, token, _repo) = TestServer::with_deployed_app("life-logs").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    server.cli_ok(cfg, &["ps:restart", "-a", "life-logs"]);
    let logs = server.cli_ok(cfg, &["logs", "-n", "500", "-a", "life-logs"]);
    let boots = logs.lines().filter(|l| l.contains("app[web.1]: hello booting on port 5000")).count();
    assert_eq!(boots, 2, "the replaced container's lines remain:\n{logs}");
    assert!(logs.contains("paas[paas]: Rolling out v1"), "deploy events are logged:\n{logs}");

    // A live tail sees a new line within seconds, and ends cleanly on Ctrl-C.
    let mut tail = std::process::Command::new(paas_e2e::paas_bin())
        .args(["logs", "-t", "-n", "0", "--ps", "router", "-a", "life-logs"])
        .env("XDG_CONFIG_HOME", cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = tail.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(15) && seen.is_none() {
        let _ = server.app_get("life-logs", "/tail-check").await;
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            seen = Some(line);
        }
    }
    let line = seen.expect("a router line reached `logs -t`");
    assert!(line.contains("paas[router]: GET /tail-check 404"), "{line}");
    paas_e2e::signal(tail.id(), "INT");
    let status = tail.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends logs -t cleanly: {status}");

    let web_only = server.cli_ok(cfg, &["logs", "--ps", "web", "-a", "life-logs"]);
    assert!(web_only.lines().all(|l| l.contains("[web.")), "{web_only}");
}

#[tokio::test]
async fn custom_domains_route_to_their_app() {
    let (server, token, _repo) = TestServer::with_deployed_app("life-domains").await;
    server.create_app(&token, "life-other").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    server.cli_ok(cfg, &["domains:add", "www.example.com", "-a", "life-domains"]);
    let out = server.cli_ok(cfg, &["domains", "-a", "life-domains"]);
    assert!(out.contains("www.example.com"), "{out}");
    let get = |host: &'static str| {
        let (http, router) = (server.http.clone(), server.router_addr.clone());
        async move {
            let r = http.get(format!("http://{router}/")).header("host", host).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("www.example.com").await, (200, "hello from v1\n".to_string()));
    let err = server.cli_err(cfg, &["domains:add", "www.example.com", "-a", "life-other"]);
    assert!(err.contains("already attached"), "{err}");
    let err = server.cli_err(cfg, &["domains:add", "not a host", "-a", "life-other"]);
    assert!(err.contains("not a valid domain"), "{err}");
    server.cli_ok(cfg, &["domains:remove", "www.example.com", "-a", "life-domains"]);
    assert_eq!(get("www.example.com").await.0, 404);
}

#[tokio::test]
async fn build_logs_stay_readable_and_destroy_removes_everything() {
    let (server, token, _repo) = TestServer::with_deployed_app("life-builds").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    let out = server.cli_ok(cfg, &["builds", "-a", "life-builds"]);
    let id = out.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap().to_string();
    assert!(out.contains("succeeded"), "{out}");
    let log = server.cli_ok(cfg, &["builds:info", &id, "-a", "life-builds"]);
    assert!(log.contains("Step 1/") && log.contains("Successfully tagged paas/life-builds:"), "{log}");

    server.cli_ok(cfg, &["apps:destroy", "life-builds", "--confirm", "life-builds"]);
    assert!(containers("life-builds").is_empty());
    let images = std::process::Command::new("docker").args(["images", "-q", "paas/life-builds"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&images.stdout).trim(), "", "the app's images are gone");
    assert!(!server.data_path().join("data/repos/life-builds.git").exists(), "the repository is gone");
    assert_eq!(server.app_get("life-builds", "/").await.0, 404);
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_from_where() {
    let (server, token, _repo) = TestServer::with_deployed_app("life-audit").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    server.cli_ok(cfg, &["config:set", "A=1", "-a", "life-audit"]);
    let out = server.cli_ok(cfg, &["audit", "-a", "life-audit"]);
    for expected in ["config.update", "deploy", "git", "app.create", "api", paas_e2e::ADMIN_EMAIL] {
        assert!(out.contains(expected), "{expected:?} missing:\n{out}");
    }
    assert!(!out.contains("A=1"), "values never reach the audit log");
    let dev = server.user_token(&token, "dev@example.com").await;
    server
        .call("POST", "/teams/main/members", &token, Some(json!({ "email": "dev@example.com", "role": "developer" })))
        .await;
    let (status, _) = server.call("GET", "/audit?app=life-audit", &dev, None).await;
    assert_eq!(status, 403, "developers don't read the audit log");
    let (status, events) = server.call("GET", "/audit", &token, None).await;
    assert_eq!(status, 200);
    assert!(events.as_array().unwrap().iter().any(|e| e["action"] == "user.create"));
}
