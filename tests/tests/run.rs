//! One-off processes (`paas run`) and commands in running processes
//! (`paas ps:exec`), through the real CLI: output, input and exit status
//! come back exactly, with a terminal (under `script`, which gives the CLI
//! a pseudo-terminal) and without; a detached run logs as `run.N`; a run
//! whose client disappears is ended; viewers can run nothing.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use paas_e2e::{apps, paas_bin, wait_until, TestServer};
use serde_json::json;

/// The ids of the app's web containers.
fn web_ids(app: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=paas.app={app}"), "--filter", "label=paas.process=web"])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// The CLI in the background (`run -a APP COMMAND`, say), its output dropped.
fn in_background(cfg: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(paas_bin())
        .args(args)
        .env("XDG_CONFIG_HOME", cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The app's one-off containers (`docker ps -a`).
fn one_offs(app: &str) -> Vec<String> {
    apps::containers(app).into_iter().filter(|c| c.contains("-run-")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_passes_output_input_and_exit_status_with_and_without_a_terminal() {
    let (server, token, _repo) = TestServer::with_deployed_app("oneoff").await;
    let home = server.cli_home(&token);
    let cfg = home.path();

    // Pipes: stdout and stderr apart, the exit status passed through.
    let (code, out, err) = server.cli(cfg, &["run", "-a", "oneoff", "echo out; echo err >&2; exit 3"], "");
    assert_eq!((code, out.as_str()), (3, "out\n"), "{err}");
    assert!(err.contains("err\n") && err.contains("up, run.1"), "{err}");
    // Input reaches it, and its end ends the command.
    let (code, out, err) = server.cli(cfg, &["run", "-a", "oneoff", "tr a-z A-Z"], "hello stdin\nsecond line\n");
    assert_eq!((code, out.as_str()), (0, "HELLO STDIN\nSECOND LINE\n"), "{err}");
    // Several arguments are the program and its arguments, as given.
    let (code, out, _) = server.cli(cfg, &["run", "-a", "oneoff", "--", "sh", "-c", "echo \"[$1]\"", "x", "a b"], "");
    assert_eq!((code, out.as_str()), (0, "[a b]\n"));
    // The release's config and the run's own, as run.N; no terminal here.
    let (code, out, _) =
        server.cli(cfg, &["run", "-e", "GREETING=hi", "-a", "oneoff", "echo $GREETING $DYNO $PAAS_APP; tty"], "");
    assert_eq!(code, 1, "tty fails without a terminal: {out}");
    assert_eq!(out, "hi run.1 oneoff\nnot a tty\n");

    // A terminal: `script` runs the CLI on a pseudo-terminal, keys go to the
    // remote shell, and its exit status comes back.
    let command = format!("{} run -a oneoff sh", paas_bin().display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("XDG_CONFIG_HOME", cfg)
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    let mut keys = child.stdin.take().unwrap();
    keys.write_all(b"tty; echo \"term=$TERM\"\rexit 7\r").unwrap();
    let waited = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = tokio::time::timeout(Duration::from_secs(60), waited).await.expect("the run ends").unwrap().unwrap();
    drop(keys);
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(7), "{shown}");
    assert!(shown.contains("/dev/pts/"), "the process has a terminal: {shown}");
    assert!(shown.contains("term=xterm-256color"), "it has this terminal's type: {shown}");

    // Every one-off went when it ended, and each was audited with its command.
    wait_until("one-offs to be removed", Duration::from_secs(20), || async { one_offs("oneoff").is_empty() }).await;
    let (_, events) = server.call("GET", "/audit?app=oneoff", &token, None).await;
    let runs: Vec<String> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "run")
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert!(runs.iter().any(|d| d == "run.1: tr a-z A-Z"), "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_run_logs_as_run_n_and_one_offs_end_with_their_client_or_server() {
    let (mut server, token, _repo) = TestServer::with_deployed_app("batch").await;
    let home = server.cli_home(&token);
    let cfg = home.path();

    let started = server.cli_ok(cfg, &["run", "--detached", "-a", "batch", "echo detached-hello; sleep 2; exit 5"]);
    assert!(started.contains("up, run.1"), "{started}");
    let (_, ps) = server.call("GET", "/apps/batch/ps", &token, None).await;
    let run = ps.as_array().unwrap().iter().find(|p| p["name"] == "run.1").cloned();
    assert_eq!(run.map(|r| r["command"].clone()), Some(json!("echo detached-hello; sleep 2; exit 5")), "{ps}");
    wait_until("the detached run's output and end in the logs", Duration::from_secs(30), || async {
        let logs = server.cli_ok(cfg, &["logs", "-a", "batch", "-n", "200"]);
        logs.contains("app[run.1]: detached-hello") && logs.contains("run.1 exited with status 5")
    })
    .await;
    wait_until("the detached run to be removed", Duration::from_secs(20), || async { one_offs("batch").is_empty() })
        .await;

    // An attached run whose client is killed (no goodbye) is ended.
    let mut client = in_background(cfg, &["run", "-a", "batch", "sleep 300"]);
    wait_until("the attached run in ps", Duration::from_secs(30), || async {
        let (_, ps) = server.call("GET", "/apps/batch/ps", &token, None).await;
        ps.as_array().unwrap().iter().any(|p| p["command"] == "sleep 300")
    })
    .await;
    client.kill().unwrap();
    client.wait().unwrap();
    wait_until("the run to end without its client", Duration::from_secs(30), || async { one_offs("batch").is_empty() })
        .await;
    let (_, ps) = server.call("GET", "/apps/batch/ps", &token, None).await;
    assert_eq!(ps.as_array().unwrap().len(), 1, "only web.1 is left: {ps}");

    // Ctrl-C (SIGINT) in a client without a terminal ends the run: 130, gone.
    let mut client = in_background(cfg, &["run", "-a", "batch", "sleep 300"]);
    wait_until("the run to start", Duration::from_secs(30), || async { one_offs("batch").len() == 1 }).await;
    let interrupted = Command::new("kill").args(["-INT", &client.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    assert_eq!(client.wait().unwrap().code(), Some(130), "the shell's status for an interrupt");
    wait_until("the interrupted run to be removed", Duration::from_secs(30), || async { one_offs("batch").is_empty() })
        .await;

    // A one-off whose server died with it is an orphan: the next start removes it.
    server.cli_ok(cfg, &["run", "-d", "-a", "batch", "sleep 300"]);
    assert_eq!(one_offs("batch").len(), 1);
    server.kill();
    server.restart().await;
    wait_until("the orphaned one-off to be removed", Duration::from_secs(60), || async {
        one_offs("batch").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_exec_runs_in_a_web_process_and_viewers_can_run_nothing() {
    let (server, token, _repo) = TestServer::with_deployed_app("inside").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    let web = apps::containers("inside");

    let (code, out, err) = server.cli(cfg, &["ps:exec", "-a", "inside", "echo $DYNO; ls /www/index.html; exit 4"], "");
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "web.1\n/www/index.html\n", "{err}");
    assert_eq!(apps::containers("inside"), web, "exec starts no container and stops none");
    // A command whose client left goes with it (the engine would keep it
    // running in the process), even one deaf to the hang-up.
    let container = web[0].split_whitespace().next().unwrap().to_string();
    let runs_sleep = || {
        let top = Command::new("docker").args(["top", &container, "-o", "pid,args"]).output().unwrap();
        String::from_utf8_lossy(&top.stdout).lines().any(|l| l.ends_with("sleep 300"))
    };
    let mut client = in_background(cfg, &["ps:exec", "-a", "inside", "trap '' HUP; sleep 300"]);
    wait_until("the command to run in web.1", Duration::from_secs(30), || async { runs_sleep() }).await;
    client.kill().unwrap();
    client.wait().unwrap();
    wait_until("the command to end with its client", Duration::from_secs(30), || async { !runs_sleep() }).await;
    assert_eq!(apps::containers("inside"), web, "web.1 itself runs on");

    let err = server.cli_err(cfg, &["ps:exec", "--dyno", "web.9", "-a", "inside", "true"]);
    assert!(err.contains("inside has no running process web.9"), "{err}");
    let (_, events) = server.call("GET", "/audit?app=inside", &token, None).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "ps.exec" && e["detail"] == "web.1: echo $DYNO; ls /www/index.html; exit 4"),
        "{events}"
    );

    let viewer = server.user_token(&token, "watcher@example.com").await;
    let (status, body) = server
        .call("POST", "/teams/main/members", &token, Some(json!({ "email": "watcher@example.com", "role": "viewer" })))
        .await;
    assert_eq!(status, 201, "{body}");
    let viewer_home = server.cli_home(&viewer);
    for args in [
        &["run", "-a", "inside", "true"][..],
        &["run", "-d", "-a", "inside", "true"],
        &["ps:exec", "-a", "inside", "true"],
    ] {
        let err = server.cli_err(viewer_home.path(), args);
        assert!(err.contains("viewer") && err.contains("running commands"), "{args:?}: {err}");
    }
    assert!(one_offs("inside").is_empty(), "a viewer started nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_stop_starts_processes_anew_one_at_a_time_without_a_crash_and_ends_one_offs() {
    let (server, token, _repo) = TestServer::with_deployed_app("stopper").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    server.cli_ok(cfg, &["ps:scale", "web=2", "-a", "stopper"]);
    let before = web_ids("stopper");
    assert_eq!(before.len(), 2, "{before:?}");

    // Under load, every web process stops and starts anew, one at a time:
    // no request fails.
    let load = paas_e2e::load::Load::start(&server.router_addr.to_string(), "stopper", "/", 2);
    load.wait_for(20, Duration::from_secs(20)).await;
    let out = server.cli_ok(cfg, &["ps:stop", "web", "-a", "stopper"]);
    assert!(out.contains("web.1 is starting again") && out.contains("web.2 is starting again"), "{out}");
    wait_until("both web processes to be replaced", Duration::from_secs(60), || async {
        let (_, ps) = server.call("GET", "/apps/stopper/ps", &token, None).await;
        let list = ps.as_array().unwrap().clone();
        list.len() == 2 && list.iter().all(|p| p["restarts"] == 1 && p["state"] == "up")
    })
    .await;
    load.wait_for(20, Duration::from_secs(20)).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} of {ok} requests failed: {failures:?}", failures.len());
    let after = web_ids("stopper");
    assert!(after.iter().all(|c| !before.contains(c)), "new containers: {before:?} -> {after:?}");
    let (_, ps) = server.call("GET", "/apps/stopper/ps", &token, None).await;
    assert!(ps.as_array().unwrap().iter().all(|p| p["last_crash"].is_null()), "a stop is no crash: {ps}");
    // Thousands of access lines later, the platform's lines are still there.
    let logs = server.cli_ok(cfg, &["logs", "-a", "stopper", "-p", "paas", "-n", "200"]);
    assert!(logs.contains("web.2 stopped on request; starting it anew"), "{logs}");

    // A kill: at once, and back.
    let out = server.cli_ok(cfg, &["ps:kill", "web.1", "-a", "stopper"]);
    assert!(out.contains("Killing web.1") && out.contains("web.1 is starting again"), "{out}");
    wait_until("web.1 to be back after the kill", Duration::from_secs(60), || async {
        let (_, ps) = server.call("GET", "/apps/stopper/ps", &token, None).await;
        ps.as_array().unwrap().iter().any(|p| p["name"] == "web.1" && p["restarts"] == 2 && p["state"] == "up")
    })
    .await;
    let logs = server.cli_ok(cfg, &["logs", "-a", "stopper", "-p", "paas", "-n", "200"]);
    assert!(logs.contains("web.1 killed on request; starting it anew"), "{logs}");

    // A one-off ends, and is gone when the command returns, though its own
    // watcher removes it at the same moment (a few times: that is a race);
    // a name nothing has is refused.
    for _ in 0..3 {
        server.cli_ok(cfg, &["run", "-d", "-a", "stopper", "sleep 300"]);
        let out = server.cli_ok(cfg, &["ps:stop", "run.1", "-a", "stopper"]);
        assert!(out.contains("run.1 ended"), "{out}");
        let left = one_offs("stopper");
        assert!(left.is_empty(), "{left:?} of {:?}", apps::containers("stopper"));
    }
    let err = server.cli_err(cfg, &["ps:stop", "worker.1", "-a", "stopper"]);
    assert!(err.contains("stopper has no process worker.1"), "{err}");

    let (_, events) = server.call("GET", "/audit?app=stopper", &token, None).await;
    let actions: Vec<(String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_string(), e["detail"].as_str().unwrap().to_string()))
        .collect();
    for expected in [("ps.stop", "web.1, web.2"), ("ps.kill", "web.1"), ("ps.stop", "run.1")] {
        assert!(actions.iter().any(|(a, d)| a == expected.0 && d == expected.1), "{expected:?} in {actions:?}");
    }
}
