//! `paas router`, apart from the control plane: fed the routes `paas serve`
//! publishes in PostgreSQL, it serves through deploys and through a restart
//! of the control plane without a failed request, follows the routes after
//! that restart, and serves its last routes after its own restart with the
//! database unreachable.

use std::time::Duration;

use paas_e2e::acme::{curl_https, free_port, AcmeLab};
use paas_e2e::load::Load;
use paas_e2e::{wait_until, TestServer};
use serde_json::json;

async fn get(router: &str, app: &str) -> (u16, String) {
    let client = reqwest::Client::new();
    match client.get(format!("http://{router}/")).header("host", format!("{app}.paas.test")).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

async fn wait_serving(router: &str, app: &str, body: &str) {
    wait_until(&format!("the router apart to serve {body:?}"), Duration::from_secs(30), || async {
        get(router, app).await == (200, body.to_string())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_apart_serves_through_deploys_and_control_plane_restarts() {
    let mut server = TestServer::start_with_env(&[("PAAS_METRICS_TOKEN", "metrics-token")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "apart").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("healing");
    repo.write("www/index.html", "hello from v1\n");
    repo.commit("v1");
    let (ok, out) = repo.push(&server.git_url("apart", &token));
    assert!(ok, "{out}");
    let dir = server.data_path().join("router");
    // A port below the ephemeral range: the router apart restarts on it
    // later, and no outgoing connection may take it in between.
    let router = server.start_router_apart(&dir, &format!("127.0.0.1:{}", free_port())).await;
    wait_serving(&router.addr, "apart", "hello from v1\n").await;
    assert_eq!(get(&router.addr, "nothing-here").await.0, 404, "an unknown app is a 404, as at the embedded router");

    let load = Load::start(&router.addr, "apart", "/", 2);
    load.wait_for(20, Duration::from_secs(10)).await;

    // A deploy: the router apart switches to the new process, and the old
    // one stops only once the router no longer sends it requests: a slow
    // request to it, which the control plane's own router never saw, ends
    // well (it outlasts the stop grace).
    let slow = {
        let url = format!("http://{}/cgi-bin/slow?4", router.addr);
        tokio::spawn(async move {
            let response = reqwest::Client::new().get(url).header("host", "apart.paas.test").send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    let (ok, out) = repo.push(&server.git_url("apart", &token));
    assert!(ok, "{out}");
    wait_serving(&router.addr, "apart", "hello from v2\n").await;
    let (status, body) = slow.await.unwrap();
    assert_eq!((status, body.trim()), (200, "slow done by web.1"), "the request in flight to v1 was cut");
    load.wait_for(20, Duration::from_secs(10)).await;

    // The control plane stops: app traffic goes on as before.
    assert!(server.stop().await.success());
    load.wait_for(50, Duration::from_secs(10)).await;
    server.restart().await;
    load.wait_for(20, Duration::from_secs(10)).await;

    // The restarted control plane's changes reach the router apart.
    repo.write("www/index.html", "hello from v3\n");
    repo.commit("v3");
    let (ok, out) = repo.push(&server.git_url("apart", &token));
    assert!(ok, "{out}");
    wait_serving(&router.addr, "apart", "hello from v3\n").await;
    let (ok, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} failed requests of {ok}: {failures:?}", failures.len());

    // Its access lines are in the app's logs, and its counts in the
    // control plane's metrics: no request went through the control plane's
    // own router.
    let home = server.cli_home(&token);
    wait_until("the router apart's access lines in the app's logs", Duration::from_secs(10), || {
        let logs = server.cli_ok(home.path(), &["logs", "-n", "20", "-p", "router", "-a", "apart"]);
        async move { logs.lines().filter(|l| l.contains("paas[router]: GET / 200")).count() >= 10 }
    })
    .await;
    let metrics = format!("{}/metrics", server.url);
    let requests = || async {
        let text = server.http.get(&metrics).bearer_auth("metrics-token").send().await.unwrap().text().await.unwrap();
        let prefix = "paas_router_requests_total{app=\"apart\",status=\"2xx\"} ";
        text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    };
    wait_until("the router apart's counts in the metrics", Duration::from_secs(10), || async {
        requests().await >= 20
    })
    .await;

    // Its report: the generation it serves is the one published last, and
    // it names the process it sends requests to.
    let db = server.database().await;
    let published: i64 = sqlx::query_scalar("SELECT generation FROM published_routes").fetch_one(&db).await.unwrap();
    wait_until("the router to report the last generation", Duration::from_secs(10), || async {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT applied_generation FROM routers").fetch_optional(&db).await.unwrap();
        applied == Some(published)
    })
    .await;
    // Once its requests to v2 are over, it names only v3's process, and v2's
    // is stopped.
    let v3 = paas_e2e::apps::containers("apart").into_iter().find(|c| c.contains(" v3 ")).expect("v3 runs");
    let v3_name = v3.split_whitespace().next().unwrap().to_string();
    let out = std::process::Command::new("docker").args(["inspect", "--format", "{{.Id}}", &v3_name]).output().unwrap();
    let v3_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    wait_until("the router to name only v3's process", Duration::from_secs(10), || async {
        let busy: Vec<String> = sqlx::query_scalar("SELECT unnest(busy) FROM routers").fetch_all(&db).await.unwrap();
        busy == [v3_id.clone()]
    })
    .await;
    wait_until("v2's process to stop", Duration::from_secs(20), || async {
        paas_e2e::apps::containers("apart").iter().all(|c| c.contains(" v3 "))
    })
    .await;

    // Server admins see it, current; others may not look.
    let listed = server.cli_ok(home.path(), &["routers"]);
    assert!(
        listed.lines().any(|l| l.starts_with("edge-test") && l.contains(&router.addr) && l.contains(" current ")),
        "{listed}"
    );
    let dev = server.user_token(&token, "dev@example.com").await;
    assert_eq!(server.status_of("GET", "/routers", &dev, None).await, 403);

    // Stopped, it withdraws; restarted with the database out of reach, it
    // serves the routes it received last.
    let addr = router.addr.clone();
    assert!(router.stop().await, "a clean exit");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM routers").fetch_one(&db).await.unwrap();
    assert_eq!(left, 0, "a stopped router withdraws its report");
    let unreachable = "postgres:///paas?host=/nonexistent-paas-socket-dir&user=paas";
    let key = server.data_path().join("data/secret.key");
    let router = server.start_router_apart_with(&dir, &["--listen", &addr], unreachable, &key).await;
    assert_eq!(get(&router.addr, "apart").await, (200, "hello from v3\n".to_string()));
    assert!(router.logs().contains("serving the last routes"), "{}", router.logs());
    // It still knows where to hand its access lines (kept with the routes).
    let client = reqwest::Client::new();
    let url = format!("http://{}/not-here-after-restart", router.addr);
    let answer = client.get(url).header("host", "apart.paas.test").send().await.unwrap();
    assert_eq!(answer.status(), 404);
    wait_until("the access line of a request after the restart", Duration::from_secs(10), || {
        let logs = server.cli_ok(home.path(), &["logs", "-n", "50", "-p", "router", "-a", "apart"]);
        async move { logs.contains("GET /not-here-after-restart 404") }
    })
    .await;
}

#[tokio::test]
async fn a_router_apart_needs_the_control_planes_key_and_database() {
    let server = TestServer::start().await;
    let dir = server.data_path().join("router");
    std::fs::create_dir_all(&dir).unwrap();

    // Without a database it does not start, and says what is missing.
    let out = std::process::Command::new(paas_e2e::paas_bin())
        .args(["router", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env_remove("PAAS_SECRET_KEY")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--database-url") && err.contains("--secret-key"), "what is missing is named: {err}");

    // With another key it cannot open what was published: it says so, and
    // routes nothing rather than something wrong.
    let wrong = dir.join("wrong.key");
    std::fs::write(&wrong, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let db = server.database().await;
    wait_until("the control plane to publish its routes", Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, i64>("SELECT generation FROM published_routes")
            .fetch_optional(&db)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let url: String = server.database_url().to_string();
    let router = server.start_router_apart_with(&dir.join("data"), &["--listen", "127.0.0.1:0"], &url, &wrong).await;
    wait_until("the router to name the key", Duration::from_secs(10), || async {
        router.logs().contains("is this the control plane's secret key?")
    })
    .await;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT applied_generation FROM routers").fetch_optional(&db).await.unwrap();
    assert!(applied.is_none_or(|g| g == 0), "nothing applied: {applied:?}");
}

#[tokio::test]
async fn a_router_apart_answers_acme_challenges_and_serves_https() {
    // The ACME server validates on the router apart's port: the control
    // plane's own router is elsewhere, out of its sight.
    let edge = free_port();
    let lab = AcmeLab::start(edge).await;
    let mut env = lab.server_env();
    env.push(("PAAS_HTTPS_LISTEN", "127.0.0.1:0".to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with_env(&env).await;
    let dir = server.data_path().join("router");
    let key = server.data_path().join("data/secret.key");
    let listen = format!("127.0.0.1:{edge}");
    let args = ["--listen", &listen, "--https-listen", "127.0.0.1:0"];
    let router = server.start_router_apart_with(&dir, &args, server.database_url(), &key).await;
    let https: u16 = router.https.as_deref().and_then(|a| a.rsplit_once(':')).unwrap().1.parse().unwrap();

    let token = server.admin_token().await;
    server.create_app(&token, "edge").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    let (ok, out) = repo.push(&server.git_url("edge", &token));
    assert!(ok, "{out}");
    let (status, body) =
        server.call("POST", "/apps/edge/domains", &token, Some(json!({ "hostname": "shop.example.test" }))).await;
    assert_eq!(status, 201, "{body}");
    wait_until("the certificate to be issued through the router apart", Duration::from_secs(60), || async {
        let (_, certs) = server.call("GET", "/apps/edge/certs", &token, None).await;
        let cert = certs.as_array().into_iter().flatten().find(|c| c["hostname"] == "shop.example.test").cloned();
        let state = cert.as_ref().and_then(|c| c["state"].as_str()).unwrap_or_default().to_string();
        assert_ne!(state, "failed", "{cert:?}\n{}", lab.log());
        state == "issued"
    })
    .await;

    // The router apart serves it over HTTPS (HTTP/2), read from the
    // control plane's certificates.
    let mut served = Err("not asked".to_string());
    wait_until("the router apart to serve the new certificate", Duration::from_secs(10), || {
        served = curl_https(&lab.root, "shop.example.test", https, "/");
        let done = matches!(&served, Ok((200, _, _)));
        async move { done }
    })
    .await;
    let (_, version, response) = served.unwrap();
    assert_eq!(version, "2", "{response}");
    assert!(response.contains("hello from v1"), "{response}");
}
