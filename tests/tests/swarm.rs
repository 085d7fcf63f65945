//! `--scheduler swarm`: apps' processes run as services across a two-node
//! Docker Swarm (the lab: two engines in network namespaces, a registry
//! both pull from), and the same pushes, scaling, config changes and
//! rollbacks keep every request answered.

use std::time::Duration;

use paas_e2e::apps::{ensure_base_image, AppRepo, BASE_IMAGE};
use paas_e2e::browser::Browser;
use paas_e2e::load::Load;
use paas_e2e::swarm::SwarmLab;
use paas_e2e::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::json;

/// A server scheduling onto the lab's swarm, its images pushed to the lab's
/// registry.
async fn swarm_server(lab: &SwarmLab, more: &[(&str, &str)]) -> TestServer {
    ensure_base_image();
    lab.load(BASE_IMAGE);
    let mut env = vec![
        ("DOCKER_HOST", lab.manager.as_str()),
        ("PAAS_SCHEDULER", "swarm"),
        ("PAAS_REGISTRY", "10.210.0.253:5000"),
        ("PAAS_STOP_GRACE", "2"),
    ];
    env.extend_from_slice(more);
    TestServer::start_with_env(&env).await
}

const METRICS_TOKEN: &str = "swarm-metrics-token";

/// The nodes `ps` places the app's web processes on.
fn nodes_of(server: &TestServer, home: &std::path::Path, app: &str) -> Vec<String> {
    let listed = server.cli_ok(home, &["ps", "-a", app]);
    let mut nodes: Vec<String> = listed
        .lines()
        .filter(|l| l.starts_with("web."))
        .map(|l| l.rsplit_once(" on ").map(|(_, node)| node.trim().to_string()).unwrap_or_default())
        .collect();
    nodes.sort();
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_scaling_config_and_rollback_across_two_nodes_drop_no_request() {
    let lab = SwarmLab::start();
    let server = swarm_server(&lab, &[]).await;
    let token = server.admin_token().await;
    let home = server.cli_home(&token);
    server.create_app(&token, "swarm-app").await;
    let repo = AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("swarm-app", &token));
    assert!(ok, "the first deploy onto the swarm: {output}");
    assert_eq!(server.app_get("swarm-app", "/").await, (200, "hello from v1\n".to_string()));
    // The image went to the registry every node pulls from.
    let catalog = reqwest::get("http://10.210.0.253:5000/v2/_catalog").await.unwrap().text().await.unwrap();
    assert!(catalog.contains("paas/swarm-app"), "{catalog}");

    // A second process, on the other node; the output of each reaches the
    // app's log wherever it runs.
    server.cli_ok(home.path(), &["ps:scale", "web=2", "-a", "swarm-app"]);
    assert_eq!(nodes_of(&server, home.path(), "swarm-app"), ["paas-lab-n1", "paas-lab-n2"]);
    // Without the worker's engine given, a command in its process is
    // refused, saying how to give it.
    let listed = server.cli_ok(home.path(), &["ps", "-a", "swarm-app"]);
    let remote = listed.lines().find(|l| l.starts_with("web.") && l.ends_with("paas-lab-n2")).unwrap();
    let dyno = remote.split_whitespace().next().unwrap();
    let refused = server.cli_err(home.path(), &["ps:exec", "--dyno", dyno, "-a", "swarm-app", "true"]);
    assert!(refused.contains("give it with --node-engine paas-lab-n2=unix:///PATH"), "{refused}");
    paas_e2e::wait_until("each process's first line in the log", Duration::from_secs(10), || async {
        let logs = server.cli_ok(home.path(), &["logs", "-a", "swarm-app"]);
        (1..=2).all(|i| logs.contains(&format!("app[web.{i}]: hello booting on port 5000")))
    })
    .await;

    // Requests through the control plane's router and a router apart.
    let dir = tempfile::tempdir().unwrap();
    let apart = server.start_router_apart(dir.path(), "127.0.0.1:0").await;
    let load = Load::start(&server.router_addr, "swarm-app", "/", 1);
    let load_apart = Load::start(&apart.addr, "swarm-app", "/", 1);
    load.wait_for(10, Duration::from_secs(10)).await;
    load_apart.wait_for(10, Duration::from_secs(10)).await;
    // Four processes of 512 MB spread over both nodes.
    server.cli_ok(home.path(), &["ps:scale", "web=4", "-a", "swarm-app"]);
    load.wait_for(10, Duration::from_secs(10)).await;
    // Spread: two on each node (each process is a service of its own; paas
    // places an app's processes apart).
    let nodes = nodes_of(&server, home.path(), "swarm-app");
    assert_eq!(nodes, ["paas-lab-n1", "paas-lab-n1", "paas-lab-n2", "paas-lab-n2"]);
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    let (ok, output) = repo.push(&server.git_url("swarm-app", &token));
    assert!(ok, "a second deploy: {output}");
    load.wait_for(10, Duration::from_secs(10)).await;
    assert_eq!(server.app_get("swarm-app", "/").await, (200, "hello from v2\n".to_string()));

    let steps = vec![
        ("PATCH", "/apps/swarm-app/config", json!({ "GREETING": "hi" })),
        ("PATCH", "/apps/swarm-app/formation", json!({ "updates": [{ "type": "web", "quantity": 2 }] })),
        ("POST", "/apps/swarm-app/rollback", json!({ "version": 1 })),
    ];
    server.call_each_under(&load, &token, steps).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());
    let (ok, failures) = load_apart.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok} through the router apart: {failures:?}", failures.len());
    assert_eq!(server.app_get("swarm-app", "/").await, (200, "hello from v1\n".to_string()), "rolled back");
    // The replaced processes are retired in the background: then two
    // processes, and two services in the swarm, are left.
    paas_e2e::wait_until("the replaced processes to go", Duration::from_secs(30), || async {
        nodes_of(&server, home.path(), "swarm-app").len() == 2
            && lab.docker(&["service", "ls", "-q"]).lines().count() == 2
    })
    .await;

    // The worker is drained under load: its processes move to the manager
    // first, then it takes none.
    let load = Load::start(&server.router_addr, "swarm-app", "/", 2);
    load.wait_for(10, Duration::from_secs(10)).await;
    let drained = server.cli_ok(home.path(), &["nodes:drain", "paas-lab-n2"]);
    assert!(drained.contains("runs no processes now"), "{drained}");
    load.wait_for(10, Duration::from_secs(10)).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok} while draining: {failures:?}", failures.len());
    assert_eq!(nodes_of(&server, home.path(), "swarm-app"), ["paas-lab-n1", "paas-lab-n1"]);
    let (status, nodes) = server.call("GET", "/nodes", &token, None).await;
    assert_eq!(status, 200, "{nodes}");
    let node = |name: &str| nodes.as_array().unwrap().iter().find(|n| n["name"] == name).cloned().unwrap();
    assert_eq!(node("paas-lab-n2")["availability"], "drain", "{nodes}");
    assert_eq!((node("paas-lab-n2")["apps"].as_i64(), node("paas-lab-n1")["apps"].as_i64()), (Some(0), Some(1)));
    assert_eq!(node("paas-lab-n1")["memory_reserved_bytes"].as_i64(), Some(1024 << 20), "two of 512 MB: {nodes}");
    server.cli_ok(home.path(), &["nodes:activate", "paas-lab-n2"]);
    let listed = server.cli_ok(home.path(), &["nodes"]);
    assert!(listed.lines().any(|l| l.contains("paas-lab-n2") && l.contains(" active ")), "{listed}");

    // The dashboard's Nodes page: both nodes with what runs on each, and
    // draining one from there.
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", server.url)).await;
    browser.fill("#email", ADMIN_EMAIL).await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.click("#login").await;
    browser.wait_for_text("Log out", Duration::from_secs(30)).await;
    browser.click("a[href='/nodes']").await;
    browser.wait_for_text("paas-lab-n2", Duration::from_secs(30)).await;
    let page = browser.page().await;
    assert!(page.contains("1.0 of ") && page.contains("10.210.0.2"), "{page}");
    browser.screenshot("40-nodes").await;
    browser.click("form[action='/nodes/drain'] input[value='paas-lab-n2'] + button").await;
    browser.client.accept_alert().await.expect("a confirmation dialog");
    browser.wait_for_text("paas-lab-n2 runs no processes now", Duration::from_secs(60)).await;
    assert!(browser.has("form[action='/nodes/activate']").await, "a drained node can be activated");

    // Destroying the app leaves nothing of it on the swarm.
    let (code, _, err) = server.cli(home.path(), &["apps:destroy", "swarm-app", "--confirm", "swarm-app"], "");
    assert_eq!(
        code,
        0,
        "{err}\n{}",
        server.all_logs().lines().filter(|l| l.contains("ERROR") || l.contains("error")).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(lab.docker(&["service", "ls", "-q"]), "", "no service is left");
    let networks = lab.docker(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains("swarm-app"), "the app's network is gone: {networks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_no_node_can_hold_is_refused_and_a_dead_nodes_processes_come_back_elsewhere() {
    let lab = SwarmLab::start();
    let n2 = format!("paas-lab-n2={}", lab.engine("n2"));
    let mut server = swarm_server(
        &lab,
        &[("PAAS_NODE_ENGINES", &n2), ("PAAS_METRICS_TOKEN", METRICS_TOKEN), ("PAAS_METRICS_INTERVAL", "1")],
    )
    .await;
    let token = server.admin_token().await;
    let home = server.cli_home(&token);
    server.create_app(&token, "swarm-heal").await;
    let repo = AppRepo::from_fixture("hello");
    assert!(repo.push(&server.git_url("swarm-heal", &token)).0);
    server.cli_ok(home.path(), &["ps:scale", "web=2", "-a", "swarm-heal"]);
    let nodes = nodes_of(&server, home.path(), "swarm-heal");
    assert_eq!(nodes, ["paas-lab-n1", "paas-lab-n2"], "one web process on each node");

    // A one-off runs on the manager, on the app's network; a command runs
    // in a process on either node (the worker's through its engine given
    // with --node-engine), and each process is measured where it runs.
    let (code, out, err) = server.cli(home.path(), &["run", "-a", "swarm-heal", "echo one-off as $DYNO"], "");
    assert_eq!((code, out.trim()), (0, "one-off as run.1"), "{err}");
    let listed = server.cli_ok(home.path(), &["ps", "-a", "swarm-heal"]);
    let on = |node: &str| {
        let line = listed.lines().find(|l| l.starts_with("web.") && l.ends_with(node)).unwrap();
        line.split_whitespace().next().unwrap().to_string()
    };
    for node in ["paas-lab-n1", "paas-lab-n2"] {
        let command = ["ps:exec", "--dyno", &on(node), "-a", "swarm-heal", "echo in $DYNO; exit 3"];
        let (code, out, err) = server.cli(home.path(), &command, "");
        assert_eq!((code, out.trim().to_string()), (3, format!("in {}", on(node))), "{node}: {err}");
    }
    let metrics = format!("{}/metrics", server.url);
    paas_e2e::wait_until("both processes' memory in the metrics", Duration::from_secs(20), || async {
        let text = server.http.get(&metrics).bearer_auth(METRICS_TOKEN).send().await.unwrap().text().await.unwrap();
        ["web.1", "web.2"].iter().all(|process| {
            let prefix = format!("paas_process_memory_bytes{{app=\"swarm-heal\",process=\"{process}\"}} ");
            text.lines().filter_map(|l| l.strip_prefix(&prefix)?.parse::<f64>().ok()).any(|m| m > 0.0)
        })
    })
    .await;

    // Apps of a team on its private network reach each other by name across
    // nodes (an overlay network): the processes are replaced to join it.
    server.create_app(&token, "swarm-peer").await;
    assert!(AppRepo::from_fixture("hello").push(&server.git_url("swarm-peer", &token)).0);
    for app in ["swarm-heal", "swarm-peer"] {
        let out = server.cli_ok(home.path(), &["internal:on", "-a", app]);
        assert!(out.contains(&format!("http://{app}.internal:5000")), "{out}");
    }
    assert_eq!(nodes_of(&server, home.path(), "swarm-heal"), ["paas-lab-n1", "paas-lab-n2"]);
    let fetch = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 swarm-heal.internal 5000";
    for _ in 0..4 {
        let (code, out, err) = server.cli(home.path(), &["run", "--no-tty", "-a", "swarm-peer", fetch], "");
        assert!(code == 0 && out.ends_with("hello from v1\n"), "{code} {out} {err}");
    }

    // More memory than any node has: refused with Swarm's reason, at once,
    // and the running processes stay.
    let refused = server.cli_err(home.path(), &["ps:resize", "web", "--memory", "100g", "-a", "swarm-heal"]);
    assert!(refused.contains("no node can run web.") && refused.contains("insufficient resources"), "{refused}");
    assert_eq!(server.app_get("swarm-heal", "/").await, (200, "hello from v1\n".to_string()));
    assert_eq!(nodes_of(&server, home.path(), "swarm-heal").len(), 2);

    // The worker dies under load: its process is started on the manager and
    // routed again; the router's retries on refused connections drop nothing.
    let load = Load::start(&server.router_addr, "swarm-heal", "/", 2);
    load.wait_for(10, Duration::from_secs(10)).await;
    let killed = std::time::Instant::now();
    lab.kill("n2");
    paas_e2e::wait_until("both web processes to run on the manager", Duration::from_secs(60), || async {
        let listed = server.cli_ok(home.path(), &["ps", "-a", "swarm-heal"]);
        let web: Vec<&str> = listed.lines().filter(|l| l.starts_with("web.")).collect();
        web.len() == 2 && web.iter().all(|l| l.contains(" up ") && l.ends_with(" on paas-lab-n1"))
    })
    .await;
    println!("the dead node's process ran again on the manager {:.1} s after the kill", killed.elapsed().as_secs_f64());
    load.wait_for(20, Duration::from_secs(10)).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());

    // The control plane restarts while a router apart serves: its processes
    // are found again on the swarm and kept, and no request is dropped.
    let dir = tempfile::tempdir().unwrap();
    let apart = server.start_router_apart(dir.path(), "127.0.0.1:0").await;
    let services = lab.docker(&["service", "ls", "-q"]);
    let load = Load::start(&apart.addr, "swarm-heal", "/", 2);
    load.wait_for(10, Duration::from_secs(10)).await;
    server.restart().await;
    load.wait_for(20, Duration::from_secs(10)).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok} over the restart: {failures:?}", failures.len());
    assert_eq!(server.app_get("swarm-heal", "/").await, (200, "hello from v1\n".to_string()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(lab.docker(&["service", "ls", "-q"]), services, "the restart kept every process");
}
