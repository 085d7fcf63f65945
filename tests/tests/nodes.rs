//! `paas nodes`: the machines processes run on, with what is placed on each.
//! On the one engine that is a single node holding every process.

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
