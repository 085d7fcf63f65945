//! The dashboard in a real headless Chromium against the real server with a
//! deployed fixture app. Screenshots of each page land in target/screenshots.

use std::time::Duration;

use paas_e2e::browser::Browser;
use paas_e2e::{wait_until, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

async fn log_in(browser: &Browser, server: &TestServer, email: &str, password: &str) {
    browser.goto(&format!("{}/", server.url)).await;
    assert!(browser.has("#email").await, "signed-out visitors land on the login form");
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.click("#login").await;
    browser.wait_for_text("Log out", WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_journey_config_scale_rollback_logs() {
    let (server, token, repo) = TestServer::with_deployed_app("dash-app").await;
    repo.write("www/index.html", "hello from v2\n");
    repo.commit("v2");
    assert!(repo.push(&server.git_url("dash-app", &token)).0);

    let browser = Browser::start().await;
    log_in(&browser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_text("dash-app", WAIT).await;
    let status = browser.client.find(fantoccini::Locator::Css(".app-status")).await.unwrap();
    assert_eq!(status.text().await.unwrap(), "running", "the apps list's status column");
    browser.screenshot("01-apps").await;

    browser.click("a.app-link").await;
    browser.wait_for_text("Processes", WAIT).await;
    browser.wait_for_text("web.1", WAIT).await;
    browser.screenshot("02-overview").await;

    // Set a config var and see the new release.
    browser.goto(&format!("{}/apps/dash-app/config", server.url)).await;
    browser.fill("#config-key", "GREETING").await;
    browser.fill("#config-value", "hello-from-the-dashboard").await;
    browser.click("#config-save").await;
    browser.wait_for_text("Set GREETING: v3 is live.", WAIT).await;
    assert!(!browser.page().await.contains(">hello-from-the-dashboard<"), "values stay masked until revealed");
    browser.click("button.reveal").await;
    browser.wait_for_text("hello-from-the-dashboard", WAIT).await;
    browser.screenshot("03-config").await;
    browser.goto(&format!("{}/apps/dash-app/releases", server.url)).await;
    browser.wait_for_text("Set GREETING config vars", WAIT).await;

    // Scale web to 2 and see two processes.
    browser.goto(&format!("{}/apps/dash-app", server.url)).await;
    browser.fill("#q-web", "2").await;
    browser.click("#save-web").await;
    browser.wait_for_text("now running web=2", WAIT).await;
    browser.wait_for_text("web.2", WAIT).await;
    let page = browser.page().await;
    assert!(page.contains("web.1") && page.contains("web.2"), "two web processes listed");
    browser.screenshot("04-scaled").await;

    // A memory limit is set, then taken back to the server's default by
    // emptying the field (the field shows the limit set).
    let web_memory = || async {
        let (_, formation) = server.call("GET", "/apps/dash-app/formation", &token, None).await;
        let web = formation.as_array().unwrap().iter().find(|f| f["type"] == "web").unwrap().clone();
        (web["memory_mb"].as_i64().unwrap(), web["memory_default"].as_bool().unwrap())
    };
    browser.fill("#m-web", "256m").await;
    browser.click("#save-web").await;
    wait_until("the dashboard to set a memory limit", WAIT, || async { web_memory().await == (256, false) }).await;
    browser.goto(&format!("{}/apps/dash-app", server.url)).await;
    let field = browser.client.find(fantoccini::Locator::Css("#m-web")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some("256m"), "the field shows the limit set");
    browser.fill("#m-web", "").await;
    browser.click("#save-web").await;
    wait_until("the dashboard to remove the memory limit", WAIT, || async { web_memory().await.1 }).await;

    // Roll back to v1 (confirming the dialog) and see v1's content served.
    browser.goto(&format!("{}/apps/dash-app/releases", server.url)).await;
    browser.screenshot("05-releases").await;
    browser.click("#rollback-v1").await;
    browser.client.accept_alert().await.expect("a confirmation dialog");
    browser.wait_for_text("Rolled back to v1", WAIT).await;
    assert_eq!(server.app_get("dash-app", "/").await, (200, "hello from v1\n".to_string()));

    // Every change is an operation, listed on the overview with its output.
    browser.goto(&format!("{}/apps/dash-app", server.url)).await;
    browser.wait_for_text("release.rollback to v1", WAIT).await;
    let response = server
        .http
        .post(server.api("/apps/dash-app/ps/restart"))
        .bearer_auth(&token)
        .header("prefer", "respond-async")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "respond-async answers at once");
    let op: serde_json::Value = response.json().await.unwrap();
    browser.goto(&format!("{}/apps/dash-app/operations/{}", server.url, op["id"])).await;
    // Live while it runs; the page shows the outcome once it ends.
    browser.wait_for_text("Switching traffic to v4", WAIT).await;
    browser.wait_for_text("succeeded", WAIT).await;
    browser.screenshot("06-operation").await;

    // A line the app logs shows up in the live view.
    browser.goto(&format!("{}/apps/dash-app/logs", server.url)).await;
    browser.wait_for_text("live", WAIT).await;
    let _ = server.app_get("dash-app", "/seen-in-the-browser").await;
    browser.wait_for_text("GET /seen-in-the-browser", WAIT).await;
    browser.screenshot("06-logs").await;

    for (page, name, shows) in [
        ("builds", "07-builds", "succeeded"),
        ("activity", "08-activity", "release.rollback"),
        ("settings", "09-settings", "git remote add paas"),
        ("domains", "10-domains", "No custom domains"),
    ] {
        browser.goto(&format!("{}/apps/dash-app/{page}", server.url)).await;
        browser.wait_for_text(shows, WAIT).await;
        browser.screenshot(name).await;
    }
    // Domains and HTTPS: each name's certificate (none here: this server
    // has no ACME), and the redirect and HSTS settings.
    browser.goto(&format!("{}/apps/dash-app/domains", server.url)).await;
    browser.wait_for_text("dash-app.paas.test", WAIT).await;
    assert!(browser.page().await.contains("no ACME set up"), "says why there is no certificate");
    browser.click("#https-settings input[name=redirect]").await;
    browser.click("#https-settings button").await;
    browser.wait_for_text("HTTP to HTTPS redirect on, HSTS off", WAIT).await;
    let (_, info) = server.call("GET", "/apps/dash-app", &token, None).await;
    assert_eq!((info["https_redirect"].as_bool(), info["hsts"].as_bool()), (Some(true), Some(false)), "{info}");
    browser.click("#https-settings input[name=redirect]").await;
    browser.click("#https-settings button").await;
    browser.wait_for_text("HTTP to HTTPS redirect off, HSTS off", WAIT).await;
    // Builds: the stack (from the next push) and the build cache.
    browser.goto(&format!("{}/apps/dash-app/settings", server.url)).await;
    let select = browser.client.find(fantoccini::Locator::Css("#stack-select")).await.unwrap();
    select.select_by_value("bookworm").await.unwrap();
    browser.click("#set-stack").await;
    browser.wait_for_text("dash-app builds on the bookworm stack from its next push", WAIT).await;
    let (_, info) = server.call("GET", "/apps/dash-app", &token, None).await;
    assert_eq!(info["stack"], "bookworm", "{info}");
    browser.click("#purge-cache").await;
    browser.wait_for_text("Build cache purged", WAIT).await;
    // Maintenance mode, on and off again.
    browser.click("#toggle-maintenance").await;
    browser.wait_for_text("Maintenance mode on.", WAIT).await;
    assert_eq!(server.app_get("dash-app", "/").await.0, 503, "the maintenance page");
    let badge = browser.client.find(fantoccini::Locator::Css("#app-status")).await.unwrap();
    assert_eq!(badge.text().await.unwrap(), "maintenance", "the header says so");
    browser.click("#toggle-maintenance").await;
    browser.wait_for_text("Maintenance mode off.", WAIT).await;
    assert_eq!(server.app_get("dash-app", "/").await.0, 200, "served again");
    browser.goto(&format!("{}/teams/main", server.url)).await;
    browser.screenshot("11-team").await;
    browser.goto(&format!("{}/tokens", server.url)).await;
    browser.screenshot("12-tokens").await;

    // Phone width.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&format!("{}/apps/dash-app", server.url)).await;
    browser.screenshot("13-overview-phone").await;
    browser.client.set_window_size(1280, 900).await.unwrap();

    browser.goto(&format!("{}/", server.url)).await;
    browser.click("#logout").await;
    browser.wait_for_text("Logged out", WAIT).await;
    assert!(browser.has("#email").await, "back at the login form");
    browser.goto(&format!("{}/apps/dash-app", server.url)).await;
    assert!(browser.has("#email").await, "the session is gone after logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_no_controls_and_forged_posts_are_refused() {
    let (server, token, _repo) = TestServer::with_deployed_app("dash-viewer").await;
    let (status, _) = server
        .call("POST", "/users", &token, Some(json!({ "email": "viewer@example.com", "password": "viewer-password" })))
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .call("POST", "/teams/main/members", &token, Some(json!({ "email": "viewer@example.com", "role": "viewer" })))
        .await;
    assert_eq!(status, 201);

    let browser = Browser::start().await;
    log_in(&browser, &server, "viewer@example.com", "viewer-password").await;
    browser.goto(&format!("{}/apps/dash-viewer", server.url)).await;
    browser.wait_for_text("web.1", WAIT).await;
    browser.screenshot("20-viewer-overview").await;
    for control in ["#save-web", "#restart"] {
        assert!(!browser.has(control).await, "a viewer sees no {control}");
    }
    for page in ["config", "releases", "domains", "settings"] {
        browser.goto(&format!("{}/apps/dash-viewer/{page}", server.url)).await;
        let html = browser.page().await;
        assert!(!html.contains("method=\"post\" action=\"/apps/"), "no mutating form on {page}");
    }
    assert!(!browser.page().await.contains("/console\""), "a viewer has no Console tab");
    assert!(!browser.page().await.contains("href=\"/nodes\""), "only server admins have the Nodes page");
    browser.goto(&format!("{}/nodes", server.url)).await;
    browser.wait_for_text("only server admins", WAIT).await;
    browser.goto(&format!("{}/apps/dash-viewer/console", server.url)).await;
    browser.wait_for_text("needs the developer role", WAIT).await;

    // The server refuses anyway: a viewer's POST, and an admin's POST without its CSRF token.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let viewer_cookie = browser.session_cookie().await;
    let (csrf, _) = csrf_of(&http, &server, &viewer_cookie).await;
    let response = http
        .post(format!("{}/apps/dash-viewer/restart", server.url))
        .header("cookie", &viewer_cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a viewer cannot restart");

    browser.goto(&format!("{}/", server.url)).await;
    browser.click("#logout").await;
    log_in(&browser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin_cookie = browser.session_cookie().await;
    let response = http
        .post(format!("{}/apps/dash-viewer/restart", server.url))
        .header("cookie", &admin_cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "a POST without the session's CSRF token is refused");
    assert!(response.text().await.unwrap().contains("did not come from this site"));
    let response = http
        .post(format!("{}/apps/dash-viewer/restart", server.url))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "no token at all is refused too");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let attempt = |password: &'static str| {
        let (http, url) = (http.clone(), server.url.clone());
        async move {
            http.post(format!("{url}/login"))
                .form(&[("email", ADMIN_EMAIL), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await, 401);
    }
    assert_eq!(attempt("wrong").await, 429, "the sixth failure in a row is held off");
    assert_eq!(attempt(ADMIN_PASSWORD).await, 429, "even with the right password, until the window passes");
}

#[tokio::test]
async fn session_cookies_are_http_only_and_rotate_at_login() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // A visitor gets a session cookie on the login page redirect chain only after login.
    let response = http
        .post(format!("{}/login", server.url))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();

    // Logging in again with that session gives a new id.
    let again = http
        .post(format!("{}/login", server.url))
        .header("cookie", &session)
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let rotated = again
        .headers()
        .get("set-cookie")
        .expect("a new cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(rotated, session, "the session id changes at login");
    let old = http.get(format!("{}/", server.url)).header("cookie", &session).send().await.unwrap();
    assert_eq!(old.status(), 303, "the old id no longer signs in");
}

/// The CSRF token a signed-in page carries.
async fn csrf_of(http: &reqwest::Client, server: &TestServer, cookie: &str) -> (String, String) {
    let html =
        http.get(format!("{}/tokens", server.url)).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    (html[start..end].to_string(), html)
}

#[tokio::test]
async fn unknown_urls_get_the_styled_error_page_and_there_is_a_favicon() {
    let server = TestServer::start().await;
    let response = server.http.get(format!("{}/no/such/page", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let page = response.text().await.unwrap();
    assert!(page.contains("<h1>Not found</h1>") && page.contains("there is nothing at /no/such/page"), "{page}");
    assert!(page.contains("/static/style.css"), "the styled page: {page}");
    // The API answers its own JSON error.
    let response = server.http.get(format!("{}/api/v1/no-such-thing", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let response = server.http.get(format!("{}/favicon.ico", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert!(response.text().await.unwrap().starts_with("<svg"));
}

/// The apps list, an app's header and overview follow what happens without
/// a reload; a running build's log streams into its page; a failed push is
/// flagged with a link to why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_show_live_in_the_list_the_overview_and_the_build_page() {
    let (server, token, repo) = TestServer::with_deployed_app("dash-live").await;
    let browser = Browser::start().await;
    log_in(&browser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_text("dash-live", WAIT).await;
    // A reload would lose this mark: the page must change in place.
    browser.client.execute("window.unreloaded = true; return null;", vec![]).await.unwrap();
    let unreloaded = || async {
        let mark = browser.client.execute("return window.unreloaded === true;", vec![]).await.unwrap();
        assert_eq!(mark, json!(true), "the page was not reloaded");
    };

    // A push whose build fails: the list says so, with a link to why.
    repo.write("Dockerfile", "FROM paas-test/busybox:latest\nRUN echo broken-on-purpose && exit 3\n");
    repo.commit("broken");
    let (ok, _) = repo.push(&server.git_url("dash-live", &token));
    assert!(!ok, "the broken build is refused");
    browser.wait_for_text("last push failed", WAIT).await;
    unreloaded().await;
    let why = browser.client.find(fantoccini::Locator::LinkText("why")).await.unwrap();
    assert!(why.attr("href").await.unwrap().unwrap_or_default().contains("/apps/dash-live/operations/"));
    browser.screenshot("30-list-failed-push").await;

    // The overview: a config change makes v2, shown without a reload.
    browser.goto(&format!("{}/apps/dash-live", server.url)).await;
    browser.wait_for_text("last push failed", WAIT).await;
    browser.client.execute("window.unreloaded = true; return null;", vec![]).await.unwrap();
    let (status, body) = server.call("PATCH", "/apps/dash-live/config", &token, Some(json!({ "LIVE": "1" }))).await;
    assert_eq!(status, 200, "{body}");
    wait_until("the overview to show v2", WAIT, || async { browser.page().await.contains(">v2<") }).await;
    unreloaded().await;
    browser.wait_for_text("running", WAIT).await;

    // A slow build: its page shows the output while it runs.
    repo.git(&["checkout", "HEAD~1", "--", "Dockerfile"]);
    let dockerfile = std::fs::read_to_string(repo.path().join("Dockerfile")).unwrap();
    let slow = dockerfile.replace("COPY www /www", "RUN echo slow-step-started && sleep 4\nCOPY www /www");
    repo.write("Dockerfile", &slow);
    repo.commit("slow");
    let mut command = repo.push_command(&server.git_url("dash-live", &token), "HEAD:main");
    let pushing = tokio::task::spawn_blocking(move || command.output());
    let building = || async {
        let (_, builds) = server.call("GET", "/apps/dash-live/builds", &token, None).await;
        builds.as_array().and_then(|b| b.iter().find(|b| b["status"] == "building").map(|b| b["id"].clone()))
    };
    wait_until("the slow build to start", WAIT, || async { building().await.is_some() }).await;
    let id = building().await.expect("a build under way");
    browser.goto(&format!("{}/apps/dash-live/builds/{id}", server.url)).await;
    browser.wait_for_text("slow-step-started", WAIT).await;
    let html = browser.page().await;
    assert!(html.contains("Building: the push"), "while it runs: {html}");
    browser.screenshot("31-build-live").await;
    assert!(pushing.await.unwrap().unwrap().status.success(), "the slow push deploys");
    // When it ends the page shows the finished build.
    browser.wait_for_text("succeeded", WAIT).await;
}

/// The Metrics tab draws, from the server's own history, the traffic a test
/// sent and the memory of the app's process; the API gives the same series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_tab_charts_the_traffic_sent_and_the_processes_memory() {
    let server = TestServer::start_with_env(&[("PAAS_METRICS_INTERVAL", "1")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "dash-metrics").await;
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("dash-metrics", &token));
    assert!(ok, "{output}");
    for _ in 0..30 {
        assert_eq!(server.app_get("dash-metrics", "/").await.0, 200);
    }
    for _ in 0..10 {
        assert_eq!(server.app_get("dash-metrics", "/cgi-bin/no-such-script").await.0, 404);
    }
    let history = || async { server.call("GET", "/apps/dash-metrics/metrics?period=hour", &token, None).await.1 };
    wait_until("the history to hold the 40 requests and the web process's memory", WAIT, || async {
        let h = history().await;
        let requests: f64 = h["traffic"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["requests_per_minute"].as_f64().unwrap_or(0.0))
            .sum();
        let web_memory = h["processes"].as_array().into_iter().flatten().any(|s| {
            s["process_type"] == "web"
                && s["points"].as_array().into_iter().flatten().any(|p| p["memory_mb"].as_f64().unwrap_or(0.0) > 0.0)
        });
        requests >= 40.0 && web_memory
    })
    .await;
    let h = history().await;
    assert_eq!(h["step_seconds"], 60, "{h}");
    assert!(h["traffic"].as_array().unwrap().iter().any(|p| p["p50_ms"].as_f64().is_some_and(|v| v > 0.0)), "{h}");
    let (status, _) = server.call("GET", "/apps/dash-metrics/metrics?period=week", &token, None).await;
    assert_eq!(status, 422, "an unknown period is refused");

    let browser = Browser::start().await;
    log_in(&browser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("{}/apps/dash-metrics/metrics", server.url)).await;
    browser.wait_for_text("Latency", WAIT).await;
    let browser = &browser;
    let caption = |id: &'static str| async move {
        let css = format!("#chart-{id} .chart-caption");
        browser.client.find(fantoccini::Locator::Css(&css)).await.unwrap().text().await.unwrap()
    };
    let requests = caption("requests").await;
    let peak: f64 = requests.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0.0);
    assert!(peak >= 20.0, "the requests chart shows the traffic sent: {requests}");
    assert!(caption("memory").await.contains("web"), "the memory chart has the web type");
    let points = browser
        .client
        .find(fantoccini::Locator::Css("#chart-requests polyline"))
        .await
        .unwrap()
        .attr("points")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        points.split(' ').any(|p| p.split(',').nth(1).is_some_and(|y| y.parse::<f64>().unwrap_or(160.0) < 160.0)),
        "a line above zero: {points}"
    );
    browser.screenshot("32-metrics").await;
    browser.goto(&format!("{}/apps/dash-metrics/metrics?period=day", server.url)).await;
    browser.wait_for_text("Last day", WAIT).await;
    browser.screenshot("33-metrics-day").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_runs_a_one_off_in_a_terminal_and_the_settings_manage_volumes_and_the_network() {
    let (server, token, _repo) = TestServer::with_deployed_app("dash-console").await;
    let browser = Browser::start().await;
    log_in(&browser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("{}/apps/dash-console", server.url)).await;
    browser.click("a[href='/apps/dash-console/console']").await;
    browser.wait_for_text("Console", WAIT).await;

    // A command's output in the terminal, and how it exited.
    browser.fill("#console-command", "echo console-says-$((6*7)); exit 3").await;
    browser.click("#console-run").await;
    browser.wait_for_text("console-says-42", WAIT).await;
    browser.wait_for_text("exited with status 3", WAIT).await;

    // A shell, typed into: keys reach the process through the terminal.
    browser.fill("#console-command", "sh").await;
    browser.click("#console-run").await;
    browser.wait_for_text("run.1: running", WAIT).await;
    browser.type_keys(".xterm-helper-textarea", "echo typed-$((2+3))\n").await;
    browser.wait_for_text("typed-5", WAIT).await;
    browser.screenshot("30-console").await;
    browser.type_keys(".xterm-helper-textarea", "exit 0\n").await;
    browser.wait_for_text("exited with status 0", WAIT).await;

    // Audited as the dashboard's; nothing is left running.
    let (_, events) = server.call("GET", "/audit?app=dash-console", &token, None).await;
    let runs: Vec<(&str, &str)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "run")
        .map(|e| (e["detail"].as_str().unwrap(), e["source"].as_str().unwrap()))
        .collect();
    assert!(runs.contains(&("run.1: echo console-says-$((6*7)); exit 3", "dashboard")), "{runs:?}");
    wait_until("the console's one-offs to be removed", WAIT, || async {
        paas_e2e::apps::containers("dash-console").iter().all(|c| !c.contains("-run-"))
    })
    .await;

    // Volumes, in the settings: created (the release rolls out with it),
    // then deleted once its name is typed again.
    browser.goto(&format!("{}/apps/dash-console/settings", server.url)).await;
    browser.fill("#volume-name", "files").await;
    browser.fill("#volume-mount", "/www/files").await;
    browser.click("#add-volume").await;
    browser.wait_for_text("Volume files is mounted at /www/files in web processes.", WAIT).await;
    let (_, volumes) = server.call("GET", "/apps/dash-console/volumes", &token, None).await;
    assert_eq!(volumes[0]["mount"], "/www/files", "{volumes}");
    browser.type_keys("#volume-files input[name=confirm]", "files").await;
    browser.click("#volume-files button").await;
    browser.wait_for_text("Volume files is unmounted; its data is deleted.", WAIT).await;
    let (_, volumes) = server.call("GET", "/apps/dash-console/volumes", &token, None).await;
    assert_eq!(volumes, json!([]));

    // The private network, from the settings.
    browser.click("#toggle-internal").await;
    let on = "dash-console is on the team's private network as dash-console.internal.";
    let deadline = std::time::Instant::now() + WAIT;
    while !browser.page().await.contains(on) {
        if std::time::Instant::now() > deadline {
            let errors: Vec<String> =
                server.all_logs().lines().filter(|l| l.contains("\"ERROR\"")).map(str::to_string).collect();
            panic!("{on:?} never showed; the server's errors: {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.wait_for_text("http://dash-console.internal:5000", WAIT).await;
    let (_, info) = server.call("GET", "/apps/dash-console", &token, None).await;
    assert_eq!(info["internal_url"], "http://dash-console.internal:5000");
    browser.click("#toggle-internal").await;
    browser.wait_for_text("dash-console is off the team's private network.", WAIT).await;

    // Another site's page cannot open the socket with the user's cookie.
    let cookie = browser.session_cookie().await;
    let handshake = |origin: &'static str| {
        reqwest::Client::new()
            .get(format!("{}/apps/dash-console/console/socket", server.url))
            .header("cookie", &cookie)
            .header("origin", origin)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    assert_eq!(handshake("http://evil.example").await.unwrap().status(), 403);
    let ours: &'static str = Box::leak(server.url.clone().into_boxed_str());
    assert_eq!(handshake(ours).await.unwrap().status(), 101, "the dashboard's own origin is let in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_add_ons_tab_creates_reveals_backs_up_restores_and_destroys_a_database() {
    paas_e2e::apps::ensure_debian_suite("bookworm");
    let (server, token, _repo) = TestServer::with_deployed_app("dash-db").await;
    let browser = Browser::start().await;
    log_in(&browser, &server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("{}/apps/dash-db", server.url)).await;
    browser.click("a[href='/apps/dash-db/addons']").await;
    browser.wait_for_text("No add-ons", WAIT).await;

    // Created from the form: PostgreSQL 15, attached as DATABASE.
    browser.click("#addon-version option[value='15']").await;
    browser.click("#add-addon").await;
    browser.wait_for_text("is up and attached to dash-db.", Duration::from_secs(180)).await;
    let (_, addons) = server.call("GET", "/apps/dash-db/addons", &token, None).await;
    let name = addons[0]["name"].as_str().unwrap_or_else(|| panic!("{addons}")).to_string();
    assert_eq!((addons[0]["version"].as_str(), addons[0]["config_var"].as_str()), (Some("15"), Some("DATABASE_URL")));
    browser.wait_for_text("Version", WAIT).await;
    assert!(!browser.page().await.contains("postgres://"), "the credentials are hidden until asked for");
    browser.click(&format!("#addon-{name} .reveal-credentials")).await;
    browser.wait_for_text(&format!("@{name}:5432/paas"), WAIT).await;
    browser.screenshot("40-addons").await;

    // A backup, downloaded as pg_dump's custom format.
    browser.click(&format!("#addon-{name} .capture-backup")).await;
    browser.wait_for_text(&format!("Backup b001 of {name} is captured."), WAIT).await;
    let cookie = browser.session_cookie().await;
    let dump = reqwest::Client::new()
        .get(format!("{}/apps/dash-db/addons/{name}/backups/b001/download", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(dump.status(), 200);
    assert!(dump.bytes().await.unwrap().starts_with(b"PGDMP"), "the download is the dump itself");

    // Daily backups scheduled from the form.
    browser.click(&format!("#addon-{name} .schedule-backups option[value='3']")).await;
    browser.click(&format!("#addon-{name} .schedule-backups button")).await;
    browser.wait_for_text(&format!("{name} is backed up daily at 03:00 UTC, keeping 7."), WAIT).await;
    browser.wait_for_text("Backed up daily at 03:00 UTC", WAIT).await;
    let (_, info) = server.call("GET", &format!("/apps/dash-db/addons/{name}"), &token, None).await;
    assert_eq!(info["backup_hour"], 3, "{info}");

    // Restored once the app's name is typed.
    browser.type_keys("#backup-b001 input[name=confirm]", "dash-db").await;
    browser.click("#backup-b001 button").await;
    browser.wait_for_text(&format!("b001 of {name} is restored."), WAIT).await;

    // Destroyed once its name is typed: its config var goes with it.
    browser.type_keys(&format!("#addon-{name} .destroy-addon input[name=confirm]"), &name).await;
    browser.click(&format!("#addon-{name} .destroy-addon button")).await;
    browser.wait_for_text(&format!("{name} is destroyed with its data and backups."), WAIT).await;
    let (_, addons) = server.call("GET", "/apps/dash-db/addons", &token, None).await;
    assert_eq!(addons, json!([]));
    let (_, config) = server.call("GET", "/apps/dash-db/config", &token, None).await;
    assert!(config.get("DATABASE_URL").is_none(), "{config}");
}
