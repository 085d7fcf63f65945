//! `GET /metrics` in Prometheus' text format, behind the metrics token, read
//! by a real Prometheus (Debian's package) that the test runs as a plain
//! process on 127.0.0.1 and stops by its PID.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use paas_e2e::apps::AppRepo;
use paas_e2e::{wait_until, TestServer};

const TOKEN: &str = "metrics-token-for-the-test";

/// A Prometheus scraping the server's /metrics every second with the token.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = paas_e2e::acme::free_port();
        let config = format!(
            "global: {{scrape_interval: 1s}}\n\
             scrape_configs:\n\
             - job_name: paas\n  authorization: {{type: Bearer, credentials: {TOKEN}}}\n\
             \x20 static_configs: [{{targets: ['{target}']}}]\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's package of that name) is needed");
        Self { child, url: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    /// The value of an instant query's first sample, if any.
    async fn query(&self, query: &str) -> Option<String> {
        let response =
            reqwest::Client::new().get(format!("{}/api/v1/query", self.url)).query(&[("query", query)]).send().await;
        let body: serde_json::Value = response.ok()?.json().await.ok()?;
        body["data"]["result"][0]["value"][1].as_str().map(str::to_string)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        paas_e2e::signal(self.child.id(), "TERM");
        if tokio::task::block_in_place(|| {
            for _ in 0..100 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        }) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_app_traffic_deploys_and_builds() {
    let server = TestServer::start_with_env(&[("PAAS_METRICS_TOKEN", TOKEN), ("PAAS_METRICS_INTERVAL", "1")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "met-app").await;
    let repo = AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("met-app", &token));
    assert!(ok, "{output}");
    for _ in 0..5 {
        assert_eq!(server.app_get("met-app", "/").await.0, 200);
    }
    assert_eq!(server.app_get("met-app", "/no-such-file").await.0, 404);

    // Only the token reads it.
    let metrics = format!("{}/metrics", server.url);
    let response = server.http.get(&metrics).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = server.http.get(&metrics).bearer_auth("a-wrong-token").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = server.http.get(&metrics).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in [
        "paas_router_requests_total{app=\"met-app\",status=\"2xx\"} 5",
        "paas_router_requests_total{app=\"met-app\",status=\"4xx\"} 1",
        "paas_router_request_duration_seconds_count{app=\"met-app\"} 6",
        "paas_router_requests_in_flight{app=\"met-app\"} 0",
        "paas_deploys_total{result=\"succeeded\"} 1",
        "paas_builds_total{result=\"succeeded\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(text.contains("# TYPE paas_router_request_duration_seconds histogram"), "{text}");
    // The reconcile loop's view of the processes.
    wait_until("the process to show in the metrics", Duration::from_secs(20), || async {
        let text = server.http.get(&metrics).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
        text.lines().any(|l| l == "paas_processes{app=\"met-app\",state=\"up\"} 1")
    })
    .await;

    // The engine's view of each process: CPU time, memory against its limit
    // (the server's default, 512 MB).
    wait_until("the process's use to show in the metrics", Duration::from_secs(20), || async {
        let text = server.http.get(&metrics).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap();
        let value = |name: &str| {
            let prefix = format!("{name}{{app=\"met-app\",process=\"web.1\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&prefix)?.parse::<f64>().ok())
        };
        value("paas_process_memory_bytes").is_some_and(|m| m > 0.0)
            && value("paas_process_memory_limit_bytes") == Some(512.0 * 1024.0 * 1024.0)
            && value("paas_process_cpu_seconds_total").is_some_and(|c| c > 0.0)
    })
    .await;

    // A real Prometheus scrapes it and answers a query over the app's requests.
    let target = server.url.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::start(&target);
    let query = "sum(paas_router_requests_total{app=\"met-app\"})";
    wait_until("Prometheus to have scraped the app's requests", Duration::from_secs(60), || async {
        prometheus.query(query).await.as_deref() == Some("6")
    })
    .await;
    assert_eq!(prometheus.query("up{job=\"paas\"}").await.as_deref(), Some("1"));
}
