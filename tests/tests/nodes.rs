//! `paas nodes`: the machines processes run on, with what is placed on each.
//! On the one engine that is a single node holding every process.

use paas_e2e::swarm::SwarmLab;
use paas_e2e::TestServer;

#[tokio::test]
async fn the_one_engine_is_listed_with_what_its_processes_reserve() {
    let (server, token, _repo) = TestServer::with_deployed_app("nodes-app").await;
    let home = server.cli_home(&token);
    server.cli_ok(home.path(), &["ps:scale", "web=2", "-a", "nodes-app"]);

    let (status, nodes) = server.call("GET", "/nodes", &token, None).await;
    assert_eq!(status, 200, "{nodes}");
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    let node = &nodes[0];
    assert_eq!((node["role"].as_str(), node["state"].as_str()), (Some("engine"), Some("ready")), "{node}");
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    assert_eq!(node["cpus"].as_f64(), Some(cpus), "{node}");
    assert!(node["memory_bytes"].as_i64().unwrap() > 1 << 30, "{node}");
    // Two web processes at the default 512 MB, one app.
    assert_eq!(node["memory_reserved_bytes"].as_i64(), Some(1024 * 1024 * 1024), "{node}");
    assert_eq!(node["apps"].as_i64(), Some(1), "{node}");

    let listed = server.cli_ok(home.path(), &["nodes"]);
    let line = listed.lines().nth(1).unwrap_or_default();
    assert!(listed.starts_with("ID ") && line.contains(" engine ") && line.contains(" 1.0/"), "{listed}");
    assert!(line.trim_end().ends_with(" 1"), "one app: {listed}");
}

#[tokio::test]
async fn a_swarms_nodes_are_listed_and_a_worker_is_told_how_to_join() {
    // On the one engine there is no swarm to join, and the answer says so.
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let (status, body) = server.call("GET", "/nodes/join-command", &token, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("in no swarm"), "{body}");
    // Nor a node to drain.
    let (status, body) = server.call("POST", "/nodes/x/drain", &token, None).await;
    assert_eq!(status, 404, "{body}");
    let engine = server.call("GET", "/nodes", &token, None).await.1[0]["name"].as_str().unwrap().to_string();
    let (status, body) = server.call("POST", &format!("/nodes/{engine}/drain"), &token, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("this one machine"), "{body}");
    drop(server);

    // A server whose engine manages a two-node swarm lists both.
    let lab = SwarmLab::start();
    let server = TestServer::start_with_env(&[("DOCKER_HOST", &lab.manager)]).await;
    let token = server.admin_token().await;
    let (status, nodes) = server.call("GET", "/nodes", &token, None).await;
    assert_eq!(status, 200, "{nodes}");
    let mut seen: Vec<(String, String, String, String)> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let text = |k: &str| n[k].as_str().unwrap_or_default().to_string();
            (text("name"), text("address"), text("role"), text("state"))
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("paas-lab-n1".into(), "10.210.0.1".into(), "manager".into(), "ready".into()),
            ("paas-lab-n2".into(), "10.210.0.2".into(), "worker".into(), "ready".into())
        ],
        "{nodes}"
    );
    let home = server.cli_home(&token);
    let join = server.cli_ok(home.path(), &["nodes:join-command"]);
    assert!(
        join.starts_with("docker swarm join --token SWMTKN-") && join.trim_end().ends_with(" 10.210.0.1:2377"),
        "{join}"
    );
    let listed = server.cli_ok(home.path(), &["nodes"]);
    assert!(listed.contains("paas-lab-n2") && listed.contains("10.210.0.2") && listed.contains(" worker "), "{listed}");
}
