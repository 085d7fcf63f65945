//! The release phase (a Procfile `release` command) and app.json.

use paas_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn a_release_command_runs_before_the_rollout_and_its_failure_rejects_the_push() {
    let (server, token, repo) = TestServer::with_deployed_app("phase-release").await;
    repo.write(
        "Procfile",
        "web: exec httpd -f -p $PORT -h /www\nrelease: echo \"migrating database for $PAAS_RELEASE\"; echo migrations done\n",
    );
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("with a release command");
    let (ok, output) = repo.push(&server.git_url("phase-release", &token));
    assert!(ok, "{output}");
    let ran = output.find("migrating database for v2").expect("the release command's output streams into the push");
    let switched = output.find("Switching traffic to v2").unwrap();
    assert!(ran < switched, "it runs before the rollout:\n{output}");
    assert!(output.contains("Release command succeeded"), "{output}");
    assert_eq!(server.app_get("phase-release", "/").await.1, "hello from v2\n");
    // Its output is kept with the release.
    let home = server.cli_home(&token);
    let kept = server.cli_ok(home.path(), &["releases:output", "v2", "-a", "phase-release"]);
    assert!(kept.contains("migrating database for v2\nmigrations done\nrelease command succeeded"), "{kept}");
    let none = server.cli_err(home.path(), &["releases:output", "v1", "-a", "phase-release"]);
    assert!(none.contains("v1 of phase-release ran no release command"), "{none}");

    repo.write(
        "Procfile",
        "web: exec httpd -f -p $PORT -h /www\nrelease: echo 'migration 42 failed: column exists' >&2; exit 2\n",
    );
    repo.write("www/index.html", "hello from v3\n");
    repo.commit("failing release command");
    let (ok, output) = repo.push(&server.git_url("phase-release", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("migration 42 failed: column exists"), "{output}");
    assert!(output.contains("the release command failed with exit code 2"), "{output}");
    assert!(!output.contains("Switching traffic to v3"), "no rollout after a failed release command:\n{output}");
    assert_eq!(server.app_get("phase-release", "/").await.1, "hello from v2\n", "v2 keeps serving");
    let (_, releases) = server.call("GET", "/apps/phase-release/releases", &token, None).await;
    assert_eq!(releases[0]["status"], "failed");
    let kept = server.cli_ok(home.path(), &["releases:output", "v3", "-a", "phase-release"]);
    assert!(kept.contains("migration 42 failed: column exists"), "{kept}");
    assert!(kept.contains("the release command failed with exit code 2"), "{kept}");
    assert_eq!(releases[1]["current"], true);
    let (status, body) = server
        .call(
            "PATCH",
            "/apps/phase-release/formation",
            &token,
            Some(json!({ "updates": [{ "type": "release", "quantity": 1 }] })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn app_json_sets_the_health_check_and_first_formation() {
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "phase-appjson").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    repo.write("Procfile", "web: exec httpd -f -p $PORT -h /www\nworker: while true; do sleep 5; done\n");
    repo.write("app.json", r#"{"name": "hello", "formation": {"worker": {"quantity": 1, "memory": "32m"}}, "healthchecks": {"web": [{"type": "startup", "path": "/index.html", "attempts": 2}]}}"#);
    repo.commit("app.json");
    let (ok, output) = repo.push(&server.git_url("phase-appjson", &token));
    assert!(ok, "{output}");
    assert!(output.contains("healthy (2 checks"), "app.json's attempts are used:\n{output}");
    let (_, formation) = server.call("GET", "/apps/phase-appjson/formation", &token, None).await;
    let worker = formation.as_array().unwrap().iter().find(|f| f["type"] == "worker").cloned().unwrap();
    assert_eq!((worker["quantity"].as_i64(), worker["memory_mb"].as_i64()), (Some(1), Some(32)), "{formation}");
    let (_, ps) = server.call("GET", "/apps/phase-appjson/ps", &token, None).await;
    assert!(ps.as_array().unwrap().iter().any(|p| p["name"] == "worker.1"), "{ps}");

    // A health check path that answers 500 keeps the new release out.
    repo.write("app.json", r#"{"healthchecks": {"web": [{"path": "/cgi-bin/broken", "timeout": 3}]}}"#);
    repo.commit("broken health path");
    let (ok, output) = repo.push(&server.git_url("phase-appjson", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("GET /cgi-bin/broken answered 500"), "names the check:\n{output}");

    repo.write("app.json", "{ not json");
    repo.commit("bad app.json");
    let (ok, output) = repo.push(&server.git_url("phase-appjson", &token));
    assert!(!ok);
    assert!(output.contains("app.json:"), "{output}");
}

#[tokio::test]
async fn a_procfile_with_a_bad_line_is_rejected_with_its_line_number() {
    let (server, token, repo) = TestServer::with_deployed_app("phase-procfile").await;
    repo.write("Procfile", "web: exec httpd -f -p $PORT -h /www\n\nthis is not a process\n");
    repo.commit("bad Procfile");
    let (ok, output) = repo.push(&server.git_url("phase-procfile", &token));
    assert!(!ok);
    assert!(output.contains("Procfile: line 3: expected `name: command`"), "{output}");
    assert_eq!(server.app_get("phase-procfile", "/").await.0, 200);
}
