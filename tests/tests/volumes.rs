//! Persistent volumes: a file written into a volume is served (the fixture
//! serves /www, the volume is mounted at /www/files) after a deploy, a
//! rollback, a restart and a scale, and seen by one-offs; destroying the
//! volume (confirmed) deletes its data, and destroying the app its volumes.

use std::process::Command;
use std::time::Duration;

use paas_e2e::{wait_until, TestServer};

/// The engine's volumes of this installation whose names end with `suffix`.
fn engine_volumes(server: &TestServer, suffix: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["volume", "ls", "-q", "--filter", &format!("label=paas.instance={}", server.instance)])
        .output()
        .expect("docker volume ls");
    String::from_utf8_lossy(&out.stdout).lines().filter(|v| v.ends_with(suffix)).map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_data_survives_deploys_rollbacks_restarts_and_scaling() {
    let (mut server, token, repo) = TestServer::with_deployed_app("keeper").await;
    let home = server.cli_home(&token);
    let cfg = home.path();

    let out = server.cli_ok(cfg, &["volumes:create", "files", "--mount", "/www/files", "-a", "keeper"]);
    assert!(out.contains("Mounting files at /www/files in web processes"), "{out}");
    let listed = server.cli_ok(cfg, &["volumes", "-a", "keeper"]);
    assert!(listed.contains("files") && listed.contains("/www/files") && listed.contains("web"), "{listed}");
    assert_eq!(engine_volumes(&server, "-files").len(), 1);
    server.cli_ok(cfg, &["ps:exec", "-a", "keeper", "echo kept > /www/files/note.txt"]);
    let note = || async { server.app_get("keeper", "/files/note.txt").await };
    assert_eq!(note().await, (200, "kept\n".to_string()));

    // A deploy of new code.
    repo.write("www/index.html", "keeper v2\n");
    repo.commit("v2");
    let (ok, output) = repo.push(&server.git_url("keeper", &token));
    assert!(ok, "{output}");
    assert_eq!(server.app_get("keeper", "/").await, (200, "keeper v2\n".to_string()));
    assert_eq!(note().await, (200, "kept\n".to_string()), "after a deploy");
    // A rollback, a restart, a scale: the second process sees the same data.
    server.cli_ok(cfg, &["rollback", "v1", "-a", "keeper"]);
    assert_eq!(server.app_get("keeper", "/").await.1, "hello from v1\n");
    assert_eq!(note().await, (200, "kept\n".to_string()), "after a rollback");
    server.cli_ok(cfg, &["ps:restart", "-a", "keeper"]);
    assert_eq!(note().await, (200, "kept\n".to_string()), "after a restart");
    server.cli_ok(cfg, &["ps:scale", "web=2", "-a", "keeper"]);
    let (code, out, err) =
        server.cli(cfg, &["ps:exec", "--dyno", "web.2", "-a", "keeper", "cat /www/files/note.txt"], "");
    assert_eq!((code, out.as_str()), (0, "kept\n"), "{err}");
    // One-offs mount web's volumes.
    let (code, out, err) = server.cli(cfg, &["run", "-a", "keeper", "cat /www/files/note.txt"], "");
    assert_eq!((code, out.as_str()), (0, "kept\n"), "{err}");

    // Bad input is refused and changes nothing.
    let err = server.cli_err(cfg, &["volumes:create", "etc", "--mount", "/etc", "-a", "keeper"]);
    assert!(err.contains("it would hide a system directory"), "{err}");
    let err = server.cli_err(cfg, &["volumes:create", "files", "--mount", "/other", "-a", "keeper"]);
    assert!(err.contains("a volume named files exists"), "{err}");
    let err = server.cli_err(cfg, &["volumes:destroy", "files", "-a", "keeper"]);
    assert!(err.contains("--confirm files"), "{err}");
    assert_eq!(note().await, (200, "kept\n".to_string()));

    // Destroyed: unmounted, its data gone with it.
    server.cli_ok(cfg, &["volumes:destroy", "files", "--confirm", "files", "-a", "keeper"]);
    assert_eq!(note().await.0, 404, "the file went with the volume");
    wait_until("the volume to be deleted once v1's processes stopped", Duration::from_secs(60), || async {
        engine_volumes(&server, "-files").is_empty()
    })
    .await;
    let (_, events) = server.call("GET", "/audit?app=keeper", &token, None).await;
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"volume.create") && actions.contains(&"volume.destroy"), "{actions:?}");

    // An app's volumes go with it.
    server.cli_ok(cfg, &["volumes:create", "more", "--mount", "/data", "-a", "keeper"]);
    assert_eq!(engine_volumes(&server, "-more").len(), 1);
    server.cli_ok(cfg, &["apps:destroy", "keeper", "--confirm", "keeper"]);
    assert!(engine_volumes(&server, "-more").is_empty(), "destroying the app deletes its volumes");

    // Volumes the engine has and no app's record names (a destroy cut
    // short; a build cache under an earlier version's name-and-id naming)
    // are removed at the next start.
    let label = format!("paas.instance={}", server.instance);
    for ghost in ["vol-999999-ghost", "cache-999999", "cache-keeper-1"] {
        let name = format!("{}-{ghost}", server.instance);
        let made = Command::new("docker").args(["volume", "create", "--label", &label, &name]).output().unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    }
    server.restart().await;
    for ghost in ["-vol-999999-ghost", "-cache-999999", "-cache-keeper-1"] {
        assert!(engine_volumes(&server, ghost).is_empty(), "the unknown volume {ghost} was removed at start");
    }
}
