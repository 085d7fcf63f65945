//! `apps:rename` under load: requests to the app's custom domain never fail
//! while its name, repository, images, routes and processes move; the new
//! name serves, the old one does not, and the app's history follows.

use std::time::Duration;

use paas_e2e::load::Load;
use paas_e2e::{apps, wait_until, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_is_renamed_under_load_and_everything_follows() {
    let (server, token, repo) = TestServer::with_deployed_app("before").await;
    let home = server.cli_home(&token);
    let cfg = home.path();
    server.cli_ok(cfg, &["domains:add", "www.renamed.test", "-a", "before"]);
    server.cli_ok(cfg, &["ps:scale", "web=2", "-a", "before"]);

    let load = Load::start_host(&server.router_addr, "www.renamed.test", "/", 2);
    load.wait_for(20, Duration::from_secs(20)).await;
    let out = server.cli_ok(cfg, &["apps:rename", "after", "-a", "before"]);
    assert!(out.contains("http://after.paas.test"), "{out}");
    load.wait_for(20, Duration::from_secs(20)).await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} of {ok} requests failed during the rename: {failures:?}", failures.len());

    // The new name serves; the old one is no app.
    assert_eq!(server.app_get("after", "/").await, (200, "hello from v1\n".to_string()));
    let (status, body) = server.app_get("before", "/").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.call("GET", "/apps/before", &token, None).await;
    assert_eq!(status, 404);
    // Its processes run under the new name, two of them; none keeps the old.
    let (_, ps) = server.call("GET", "/apps/after/ps", &token, None).await;
    assert_eq!(ps.as_array().unwrap().len(), 2, "{ps}");
    wait_until("the old name's containers to go", Duration::from_secs(60), || async {
        apps::containers("before").is_empty()
    })
    .await;
    // History follows: releases, domains, audit (the deploy from before).
    let releases = server.cli_ok(cfg, &["releases", "-a", "after"]);
    assert!(releases.contains("v1"), "{releases}");
    assert!(server.cli_ok(cfg, &["domains", "-a", "after"]).contains("www.renamed.test"));
    let (_, events) = server.call("GET", "/audit?app=after", &token, None).await;
    let actions: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert!(actions.contains(&("app.rename", "before -> after")), "{actions:?}");
    assert!(actions.iter().any(|(a, _)| *a == "deploy"), "the deploy from before the rename: {actions:?}");

    // The repository moved: a push to the new URL deploys; the images were
    // renamed, so a rollback to v1 works.
    repo.write("www/index.html", "after v2\n");
    repo.commit("v2");
    let (pushed, output) = repo.push(&server.git_url("after", &token));
    assert!(pushed, "{output}");
    assert_eq!(server.app_get("after", "/").await.1, "after v2\n");
    server.cli_ok(cfg, &["rollback", "v1", "-a", "after"]);
    assert_eq!(server.app_get("after", "/").await.1, "hello from v1\n");

    // Refusals: a taken name, and the name it has.
    server.create_app(&token, "taken").await;
    let err = server.cli_err(cfg, &["apps:rename", "taken", "-a", "after"]);
    assert!(err.contains("the name taken is taken"), "{err}");
    let err = server.cli_err(cfg, &["apps:rename", "after", "-a", "after"]);
    assert!(err.contains("already named after"), "{err}");
    // The old name is free again.
    server.create_app(&token, "before").await;
}
