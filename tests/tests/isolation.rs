//! One team can never read, reach or starve another team's apps: tried as
//! an attacker in another team would, against the real server and engine.

use std::process::Command;

use paas_e2e::apps::AppRepo;
use paas_e2e::TestServer;
use serde_json::json;

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The running web container of an app.
fn web_container(app: &str) -> String {
    let ids = docker(&["ps", "-q", "--filter", &format!("label=paas.app={app}"), "--filter", "label=paas.process=web"]);
    ids.lines().next().unwrap_or_default().to_string()
}

/// A server with team `alpha` (app `{tag}-alpha`, deployed by its admin) and
/// team `beta`, whose developer gets the returned token and app `{tag}-beta`.
async fn two_teams(tag: &str) -> (TestServer, String, String, AppRepo) {
    let (alpha_app, beta_app) = (format!("{tag}-alpha"), format!("{tag}-beta"));
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let (status, body) = server.call("POST", "/teams", &admin, Some(json!({ "name": "alpha" }))).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        server.call("POST", "/apps", &admin, Some(json!({ "name": alpha_app, "team": "alpha" }))).await;
    assert_eq!(status, 201, "{body}");
    let alpha_repo = AppRepo::from_fixture("hello");
    alpha_repo.write("www/secret.html", "alpha's secret\n");
    alpha_repo.commit("a secret");
    let (ok, output) = alpha_repo.push(&server.git_url(&alpha_app, &admin));
    assert!(ok, "{output}");

    let beta = server.user_token(&admin, "mallory@example.com").await;
    let (status, body) = server.call("POST", "/teams", &beta, Some(json!({ "name": "beta" }))).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.call("POST", "/apps", &beta, Some(json!({ "name": beta_app, "team": "beta" }))).await;
    assert_eq!(status, 201, "{body}");
    (server, admin, beta, alpha_repo)
}

#[tokio::test]
async fn a_buildpack_url_other_than_https_is_refused_and_the_host_is_never_read() {
    let (server, _admin, beta, _) = two_teams("iso-bp").await;
    let other_repo = server.data_path().join("data/repos/iso-bp-alpha.git");
    assert!(other_repo.exists());
    for (how, url) in
        [("BUILDPACK_URL", format!("file://{}", other_repo.display())), (".buildpacks", "file:///etc".into())]
    {
        let repo = AppRepo::from_fixture("static");
        if how == "BUILDPACK_URL" {
            let (status, body) =
                server.call("PATCH", "/apps/iso-bp-beta/config", &beta, Some(json!({ "BUILDPACK_URL": url }))).await;
            assert_eq!(status, 200, "{body}");
        } else {
            let (status, body) =
                server.call("PATCH", "/apps/iso-bp-beta/config", &beta, Some(json!({ "BUILDPACK_URL": null }))).await;
            assert_eq!(status, 200, "{body}");
            repo.write(".buildpacks", &format!("{url}\n"));
            repo.commit("a file:// buildpack");
        }
        let (ok, output) = repo.push(&server.git_url("iso-bp-beta", &beta));
        assert!(!ok, "{how}: {output}");
        assert!(output.contains("file:// buildpack URLs are refused; give an https:// git URL"), "{how}: {output}");
        assert!(!output.contains("alpha's secret") && !output.contains("hello from v1"), "{how}: {output}");
    }
    for url in ["http://example.com/bp.git", "ssh://git@example.com/bp.git", "git://example.com/bp.git"] {
        let (status, body) =
            server.call("PATCH", "/apps/iso-bp-beta/config", &beta, Some(json!({ "BUILDPACK_URL": url }))).await;
        assert_eq!(status, 200, "{body}");
        let (ok, output) = AppRepo::from_fixture("static").push(&server.git_url("iso-bp-beta", &beta));
        assert!(!ok && output.contains("buildpack URLs are refused"), "{url}: {output}");
    }
}

/// The address of a container on its (only) network.
fn address_of(container: &str) -> String {
    let ips = docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]);
    ips.split_whitespace().next().expect("the container has an address").to_string()
}

/// The shell line that GETs `path` from `ip:port` with busybox `nc` and
/// prints the raw response (Debian's static busybox `wget` crashes, so it
/// cannot be the probe). The request side stays open a second: busybox `nc`
/// shuts its write half at the end of input, and a server that treats a
/// half-closed request as abandoned (hyper's default) would answer nothing.
fn http_get_line(ip: &str, port: &str, path: &str) -> String {
    format!("{{ printf 'GET {path} HTTP/1.0\\r\\n\\r\\n'; sleep 1; }} | nc -w 3 {ip} {port}")
}

/// What `container` gets for an HTTP GET of `path` at `ip:port`.
fn http_from(container: &str, ip: &str, port: &str, path: &str) -> String {
    let out = Command::new("docker").args(["exec", container, "sh", "-c", &http_get_line(ip, port, path)]).output();
    String::from_utf8_lossy(&out.expect("docker exec").stdout).into_owned()
}

#[tokio::test]
async fn apps_cannot_reach_each_other_from_their_processes_or_their_builds() {
    let (server, _admin, beta, _) = two_teams("iso-net").await;
    let alpha = web_container("iso-net-alpha");
    let alpha_ip = address_of(&alpha);
    let networks = docker(&["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", &alpha]);
    assert!(!networks.split_whitespace().any(|n| n == "bridge"), "not on the engine's shared bridge: {networks}");
    // The probe works: alpha's own process reads its page at that address.
    assert!(http_from(&alpha, &alpha_ip, "5000", "/secret.html").contains("alpha's secret"), "the probe reaches alpha");

    // Beta runs a process of its own.
    let repo = AppRepo::from_fixture("hello");
    repo.write("www/secret.html", "beta's own page\n");
    repo.commit("beta's page");
    let (ok, output) = repo.push(&server.git_url("iso-net-beta", &beta));
    assert!(ok, "{output}");
    let beta_web = web_container("iso-net-beta");
    let beta_ip = address_of(&beta_web);

    // A build step of beta tries alpha's process directly, and its own.
    let dockerfile = format!(
        "FROM paas-test/busybox:latest\nCOPY www /www\n\
         RUN {}; {}; echo PROBED\n\
         CMD [\"sh\", \"-c\", \"exec httpd -f -p $PORT -h /www\"]\n",
        http_get_line(&alpha_ip, "5000", "/secret.html"),
        http_get_line(&beta_ip, "5000", "/secret.html"),
    );
    repo.write("Dockerfile", &dockerfile);
    repo.commit("probe alpha from the build");
    let (ok, output) = repo.push(&server.git_url("iso-net-beta", &beta));
    assert!(ok, "{output}");
    assert!(output.contains("PROBED") && output.contains("beta's own page"), "the build reaches its own app: {output}");
    assert!(!output.contains("alpha's secret"), "the build reached alpha: {output}");

    // And beta's running process tries too.
    let beta_web = web_container("iso-net-beta");
    let reached = http_from(&beta_web, &alpha_ip, "5000", "/secret.html");
    assert!(!reached.contains("HTTP/1."), "beta's process reached alpha: {reached}");

    // Docker's own isolation lapses for a moment each time any network is
    // made (it moves its rules): beta probes alpha, 40 at a time, while
    // networks come and go. A probe that is not refused (busybox `nc` exits
    // 1) connected, whether or not the answer came back before the rules did.
    let probe = format!("printf 'GET /secret.html HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc -w 1 {alpha_ip} 5000");
    let loops =
        format!("for j in $(seq 40); do ( while [ ! -e /probe-stop ]; do {probe}; echo \"rc=$?\"; done ) & done; wait");
    let probes = Command::new("docker")
        .args(["exec", &beta_web, "sh", "-c", &loops])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker exec");
    for i in 0..30 {
        let name = format!("iso-net-churn-{}-{i}", std::process::id());
        docker(&["network", "create", &name]);
        docker(&["network", "rm", &name]);
    }
    docker(&["exec", &beta_web, "touch", "/probe-stop"]);
    let out = probes.wait_with_output().expect("the probes end");
    let out = String::from_utf8_lossy(&out.stdout);
    let tried = out.lines().filter(|l| l.starts_with("rc=")).count();
    let connected = out.lines().filter(|l| l.starts_with("rc=") && *l != "rc=1").count();
    assert!(tried >= 40, "the probes ran: {out}");
    assert_eq!(
        connected, 0,
        "{connected} of {tried} probes from beta's process reached alpha while networks were made"
    );
    assert_eq!(
        server.app_get("iso-net-alpha", "/secret.html").await,
        (200, "alpha's secret\n".to_string()),
        "the router still does"
    );
}

/// The control plane listens on every address by default, the app networks'
/// gateways included: a process calling it there is refused.
#[tokio::test]
async fn app_containers_cannot_call_the_control_plane() {
    let server = TestServer::start_with_env(&[("PAAS_LISTEN", "0.0.0.0:0")]).await;
    let token = server.admin_token().await;
    server.create_app(&token, "iso-cp").await;
    let (ok, output) = AppRepo::from_fixture("hello").push(&server.git_url("iso-cp", &token));
    assert!(ok, "{output}");
    let web = web_container("iso-cp");
    let gateway = docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.Gateway}} {{end}}", &web]);
    let gateway = gateway.split_whitespace().next().expect("the app network has a gateway").to_string();
    let port = server.url.rsplit(':').next().unwrap();
    let answer = http_from(&web, &gateway, port, "/api/v1/apps");
    // Reached and refused, not merely unroutable.
    assert!(answer.starts_with("HTTP/1.0 403"), "the server refused it: {answer}");
    assert!(answer.contains("not reachable from app containers"), "{answer}");
    let (status, _) = server.call("GET", "/apps", &token, None).await;
    assert_eq!(status, 200, "the API still answers on the loopback");
}

#[tokio::test]
async fn a_build_from_another_apps_image_is_refused() {
    let (server, _admin, beta, alpha_repo) = two_teams("iso-from").await;
    let alpha_image = format!("paas/iso-from-alpha:{}", alpha_repo.head());
    let alpha_id = docker(&["image", "inspect", "-f", "{{.Id}}", &alpha_image]);
    for base in [alpha_image.as_str(), alpha_id.as_str()] {
        let repo = AppRepo::from_fixture("hello");
        repo.write("Dockerfile", &format!("ARG BASE={base}\nFROM $BASE\nCMD [\"cat\", \"/www/secret.html\"]\n"));
        repo.commit("build on alpha's image");
        let (ok, output) = repo.push(&server.git_url("iso-from-beta", &beta));
        assert!(!ok, "{output}");
        assert!(output.contains("which is another app's image"), "{base}: {output}");
    }
    // Its own images and base images are fine.
    let (ok, output) = AppRepo::from_fixture("hello").push(&server.git_url("iso-from-beta", &beta));
    assert!(ok, "{output}");
}

/// The build cache is each app's own: an identical step of another app's
/// build is never reused (its layer holds whatever that build fetched or
/// could reach on its network), while an app's next build reuses its own.
#[tokio::test]
async fn a_build_never_reuses_another_apps_build_steps() {
    let (server, admin, beta, alpha_repo) = two_teams("iso-cache").await;
    let dockerfile = "FROM paas-test/busybox:latest\nRUN head -c 8 /dev/urandom | od -An -tx1 > /marker\n\
                      COPY www /www\nCMD [\"sh\", \"-c\", \"cp /marker /www/marker.txt; exec httpd -f -p $PORT -h /www\"]\n";
    alpha_repo.write("Dockerfile", dockerfile);
    alpha_repo.commit("a random marker");
    let (ok, output) = alpha_repo.push(&server.git_url("iso-cache-alpha", &admin));
    assert!(ok, "{output}");
    let beta_repo = AppRepo::from_fixture("hello");
    beta_repo.write("Dockerfile", dockerfile);
    beta_repo.commit("the same steps");
    let (ok, output) = beta_repo.push(&server.git_url("iso-cache-beta", &beta));
    assert!(ok, "{output}");
    assert!(!output.contains("Using cache"), "beta's build reused alpha's steps: {output}");
    let (alpha_marker, beta_marker) =
        (server.app_get("iso-cache-alpha", "/marker.txt").await, server.app_get("iso-cache-beta", "/marker.txt").await);
    assert_eq!((alpha_marker.0, beta_marker.0), (200, 200));
    assert_ne!(alpha_marker.1, beta_marker.1, "each build ran its own step");

    alpha_repo.write("www/index.html", "alpha again\n");
    alpha_repo.commit("a change after the marker");
    let (ok, output) = alpha_repo.push(&server.git_url("iso-cache-alpha", &admin));
    assert!(ok, "{output}");
    assert!(output.contains("Using cache"), "alpha's next build reuses its own steps: {output}");
    assert_eq!(server.app_get("iso-cache-alpha", "/marker.txt").await, alpha_marker, "the same marker layer");
}

#[tokio::test]
async fn every_process_gets_default_limits_and_resize_goes_back_to_them() {
    let (server, token, _repo) = TestServer::with_deployed_app("iso-limits").await;
    let inspect = |what: &str| docker(&["inspect", "-f", what, &web_container("iso-limits")]);
    assert_eq!(inspect("{{.HostConfig.Memory}}"), (512u64 * 1024 * 1024).to_string(), "512 MiB by default");
    assert_eq!(inspect("{{.HostConfig.NanoCpus}}"), "1000000000", "one core by default");
    assert_eq!(inspect("{{.HostConfig.PidsLimit}}"), "512");
    assert!(inspect("{{.HostConfig.SecurityOpt}}").contains("no-new-privileges"));
    let dropped = inspect("{{.HostConfig.CapDrop}}");
    assert!(dropped.contains("NET_RAW") && dropped.contains("MKNOD"), "{dropped}");

    let home = server.cli_home(&token);
    server.cli_ok(home.path(), &["ps:resize", "web", "--memory", "64m", "--cpus", "0.5", "-a", "iso-limits"]);
    assert_eq!(inspect("{{.HostConfig.Memory}}"), (64u64 * 1024 * 1024).to_string());
    let out = server.cli_ok(home.path(), &["ps", "-a", "iso-limits"]);
    assert!(out.contains("web=1 64MB 0.5cpu"), "{out}");
    server.cli_ok(home.path(), &["ps:resize", "web", "--memory", "default", "--cpus", "default", "-a", "iso-limits"]);
    assert_eq!(inspect("{{.HostConfig.Memory}}"), (512u64 * 1024 * 1024).to_string(), "back to the default");
    assert_eq!(inspect("{{.HostConfig.NanoCpus}}"), "1000000000");
    let out = server.cli_ok(home.path(), &["ps", "-a", "iso-limits"]);
    assert!(out.contains("web=1 512MB(default) 1cpu(default)"), "{out}");
}
