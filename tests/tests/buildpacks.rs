//! Apps without a Dockerfile deploy with the shipped buildpacks, on stack
//! images built from a Debian base the test setup makes (debootstrap). The
//! real apps here install their dependencies from PyPI and npm through this
//! machine's intercepting proxy, trusting its CA by the build trust setting
//! (the host's bundle, the default).

use std::process::Command;
use std::time::Instant;

use paas_e2e::apps::{ensure_debian_base, AppRepo};
use paas_e2e::TestServer;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A certificate authority the builds are told to trust (the build trust
/// setting), with a server certificate for `bp-server` signed by it.
struct Ca {
    dir: tempfile::TempDir,
}

impl Ca {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
        run(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]).args([
            "-subj",
            "/CN=bp-server",
            "-addext",
            "subjectAltName=DNS:bp-server",
            "-keyout",
            &path("key.pem"),
            "-out",
            &path("cert.pem"),
        ]));
        // What builds trust: the host's bundle plus this CA.
        let host = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        let ca = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
        std::fs::write(dir.path().join("bundle.pem"), format!("{host}\n{ca}")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for f in ["key.pem", "cert.pem", "bundle.pem"] {
            std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Self { dir }
    }

    fn bundle(&self) -> String {
        self.dir.path().join("bundle.pem").to_string_lossy().into_owned()
    }
}

/// The app's network, made now if its first build has not made it yet (as
/// the server would: labelled, so the test's cleanup removes it).
fn app_network(server: &TestServer, app: &str) -> String {
    let network = format!("{}-app-{app}", server.instance);
    let exists = Command::new("docker").args(["network", "inspect", &network]).output().unwrap().status.success();
    if !exists {
        run(Command::new("docker").args(["network", "create"]).args([
            "--label",
            &format!("paas.instance={}", server.instance),
            "--label",
            &format!("paas.network=app-{app}"),
            &network,
        ]));
    }
    network
}

/// Serve a bare repository over HTTPS (git's dumb protocol) as
/// `https://bp-server/bp.git`, from a container on the app's network; the
/// container is labelled with the installation, so the test's cleanup
/// removes it.
fn serve_buildpack_over_https(server: &TestServer, app: &str, bare_parent: &std::path::Path, ca: &Ca) {
    let network = app_network(server, app);
    // The Python app's image has Python; the earlier push made it.
    let image = app_image("bp-python");
    let script = "import http.server, ssl, os\nos.chdir('/srv')\n\
                  h = http.server.HTTPServer(('0.0.0.0', 443), http.server.SimpleHTTPRequestHandler)\n\
                  c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nc.load_cert_chain('/certs/cert.pem', '/certs/key.pem')\n\
                  h.socket = c.wrap_socket(h.socket, server_side=True)\nh.serve_forever()\n";
    run(Command::new("docker").args(["run", "-d", "--network", &network, "--network-alias", "bp-server"]).args([
        "--label",
        &format!("paas.instance={}", server.instance),
        "-v",
        &format!("{}:/srv:ro", bare_parent.display()),
        "-v",
        &format!("{}:/certs:ro", ca.dir.path().display()),
        &image,
        "python3",
        "-c",
        script,
    ]));
}

/// One test walks every buildpack, so the stacks are built once.
#[tokio::test]
async fn apps_without_a_dockerfile_deploy_with_buildpacks() {
    ensure_debian_base();
    let ca = Ca::new();
    let server = TestServer::start_with_env(&[("PAAS_BUILD_CA_FILE", &ca.bundle())]).await;
    let token = server.admin_token().await;
    for app in ["bp-python", "bp-nodejs", "bp-go", "bp-static", "bp-generic", "bp-none", "bp-custom"] {
        server.create_app(&token, app).await;
    }

    // Python: a virtualenv from requirements.txt, `python3 app.py` by default.
    let python = AppRepo::from_fixture("python");
    let (ok, output) = python.push(&server.git_url("bp-python", &token));
    assert!(ok, "{output}");
    assert!(output.contains("with buildpacks: python"), "{output}");
    assert!(output.contains("-----> Python app detected"), "{output}");
    assert!(
        output.contains("-----> Installing requirements") && !output.contains("using cached dependencies"),
        "{output}"
    );
    assert_eq!(server.app_get("bp-python", "/").await, (200, "hello from python\n".to_string()));

    // A second build with the same requirements reuses the cache.
    let app_py = std::fs::read_to_string(python.path().join("app.py")).unwrap();
    python.write("app.py", &app_py.replace("hello from python", "hello again from python"));
    python.commit("v2");
    let (ok, output) = python.push(&server.git_url("bp-python", &token));
    assert!(ok, "{output}");
    assert!(output.contains("Installing requirements: using cached dependencies"), "{output}");
    assert_eq!(server.app_get("bp-python", "/").await.1, "hello again from python\n");

    // The cache is the app's, whatever its name: renamed, it builds from it.
    let home = server.cli_home(&token);
    server.cli_ok(home.path(), &["apps:rename", "bp-snake", "-a", "bp-python"]);
    python.commit("renamed");
    let (ok, output) = python.push(&server.git_url("bp-snake", &token));
    assert!(ok && output.contains("Installing requirements: using cached dependencies"), "{output}");
    server.cli_ok(home.path(), &["apps:rename", "bp-python", "-a", "bp-snake"]);

    // Node.js: npm ci, `npm start`; the second build reuses node_modules.
    let node = AppRepo::from_fixture("nodejs");
    let (ok, output) = node.push(&server.git_url("bp-nodejs", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Node.js app detected"), "{output}");
    assert_eq!(server.app_get("bp-nodejs", "/").await, (200, "hello from node\n".to_string()));
    node.commit("rebuild");
    let (ok, output) = node.push(&server.git_url("bp-nodejs", &token));
    assert!(ok && output.contains("Installing dependencies: using cached dependencies"), "{output}");

    // Go: the binary is named after the module, as Heroku's Go buildpack
    // names it.
    let go = AppRepo::from_fixture("go");
    let (ok, output) = go.push(&server.git_url("bp-go", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Go app detected"), "{output}");
    assert!(output.contains("go build -o bin/paas-go-fixture example.com/paas-go-fixture"), "{output}");
    assert_eq!(server.app_get("bp-go", "/").await, (200, "hello from go\n".to_string()));
    // `+heroku install` names the packages to install, as on Heroku; Go 1.22
    // is satisfied by the default stack's (trixie: 1.24).
    go.write("go.mod", "module example.com/paas-go-fixture\n// +heroku install ./cmd/...\n\ngo 1.22\n");
    let main = std::fs::read_to_string(go.path().join("main.go")).unwrap();
    go.write("cmd/go-web/main.go", &main.replace("hello from go", "hello from cmd/go-web"));
    go.commit("+heroku install");
    let (ok, output) = go.push(&server.git_url("bp-go", &token));
    assert!(ok, "{output}");
    assert!(output.contains("Go 1.24") && output.contains("(go.mod asks for 1.22)"), "{output}");
    assert!(output.contains("go install ./cmd/... (from go.mod's +heroku install)"), "{output}");
    assert_eq!(server.app_get("bp-go", "/").await, (200, "hello from cmd/go-web\n".to_string()));
    // A newer Go is fetched from GOPROXY, a config var here pointing
    // nowhere: the push names the version and the proxy.
    let (status, _) = server
        .call("PATCH", "/apps/bp-go/config", &token, Some(serde_json::json!({ "GOPROXY": "http://127.0.0.1:9" })))
        .await;
    assert_eq!(status, 200);
    go.write("go.mod", "module example.com/paas-go-fixture\n// +heroku install ./cmd/...\n\ngo 1.99\n");
    go.commit("go 1.99");
    let (ok, output) = go.push(&server.git_url("bp-go", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("Go go1.99.0 could not be fetched from GOPROXY=http://127.0.0.1:9"), "{output}");
    // On bookworm (Go 1.19, which cannot fetch another) Go 1.22 is refused,
    // naming both.
    let (status, body) =
        server.call("PATCH", "/apps/bp-go", &token, Some(serde_json::json!({ "stack": "bookworm" }))).await;
    assert_eq!((status, body["stack"].as_str()), (200, Some("bookworm")), "{body}");
    go.write("go.mod", "module example.com/paas-go-fixture\n// +heroku install ./cmd/...\n\ngo 1.22\n");
    go.commit("go 1.22 on bookworm");
    let (ok, output) = {
        let _stacks = paas_e2e::apps::stacks_lock();
        go.push(&server.git_url("bp-go", &token))
    };
    assert!(!ok, "{output}");
    assert!(
        output.contains("go.mod asks for Go 1.22 (its `go` line), but the stack (bookworm) has Go 1.19"),
        "{output}"
    );
    assert_eq!(server.app_get("bp-go", "/").await, (200, "hello from cmd/go-web\n".to_string()));

    // Static site.
    let site = AppRepo::from_fixture("static");
    let (ok, output) = site.push(&server.git_url("bp-static", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Static site app detected"), "{output}");
    let (status, page) = server.app_get("bp-static", "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("hello from a static site"), "{page}");
    // Lean images: the static site runs on the minimal stack (busybox and
    // the CA certificates); the Python app's image has no Node.js.
    let size: u64 =
        run(Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", &app_image("bp-static")]))
            .parse()
            .unwrap();
    assert!(size < 10 << 20, "the static site's image is {size} bytes");
    let node = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            &app_image("bp-python"),
            "-c",
            "command -v node || command -v nodejs",
        ])
        .output()
        .unwrap();
    assert!(!node.status.success(), "node in the python app's image: {}", String::from_utf8_lossy(&node.stdout));

    // Generic: the Procfile says what runs; a worker runs without a port.
    let generic = AppRepo::from_fixture("generic");
    let (ok, output) = generic.push(&server.git_url("bp-generic", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Procfile app detected"), "{output}");
    assert_eq!(server.app_get("bp-generic", "/").await, (200, "hello from the generic buildpack\n".to_string()));
    let (status, body) = server
        .call(
            "PATCH",
            "/apps/bp-generic/formation",
            &token,
            Some(serde_json::json!({ "updates": [{ "type": "worker", "quantity": 1 }] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, ps) = server.call("GET", "/apps/bp-generic/ps", &token, None).await;
    assert!(ps.as_array().unwrap().iter().any(|p| p["name"] == "worker.1" && p["state"] == "up"), "{ps}");

    // Nothing detects: the push says what was looked for and how to choose.
    let none = AppRepo::from_fixture("static");
    none.git(&["rm", "-q", "index.html"]);
    none.write("README", "just a readme\n");
    none.commit("nothing to build");
    let (ok, output) = none.push(&server.git_url("bp-none", &token));
    assert!(!ok);
    assert!(output.contains("no buildpack detects this app"), "{output}");
    assert!(output.contains("requirements.txt") && output.contains("BUILDPACK_URL"), "{output}");

    // A buildpack from a git repository, as Heroku users bring them: over
    // https only, fetched inside the build container, which trusts the CA
    // the server's build trust setting names.
    let custom = AppRepo::from_fixture("static");
    custom.write("bin/detect", "#!/bin/sh\necho Custom\n");
    custom.write("bin/compile", "#!/bin/sh\necho \"       custom buildpack compiled $1\"\necho made by the custom buildpack > \"$1/made.txt\"\n");
    custom.write(
        "bin/release",
        "#!/bin/sh\necho ---\necho default_process_types:\necho \"  web: busybox httpd -f -p \\$PORT -h /app\"\n",
    );
    for script in ["bin/detect", "bin/compile", "bin/release"] {
        let path = custom.path().join(script);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    custom.commit("a buildpack");
    let bare = tempfile::tempdir().unwrap();
    custom.git(&["clone", "-q", "--bare", ".", &bare.path().join("bp.git").to_string_lossy()]);
    run(Command::new("git").args(["--git-dir", &bare.path().join("bp.git").to_string_lossy(), "update-server-info"]));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bare.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    serve_buildpack_over_https(&server, "bp-custom", bare.path(), &ca);
    let url = "https://bp-server/bp.git#main";
    let (status, body) =
        server.call("PATCH", "/apps/bp-custom/config", &token, Some(serde_json::json!({ "BUILDPACK_URL": url }))).await;
    assert_eq!(status, 200, "{body}");
    let site_for_custom = AppRepo::from_fixture("static");
    let (ok, output) = site_for_custom.push(&server.git_url("bp-custom", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Fetching buildpack https://bp-server/bp.git#main"), "{output}");
    assert!(output.contains("-----> Custom app detected"), "{output}");
    assert!(output.contains("custom buildpack compiled /app"), "{output}");
    assert_eq!(server.app_get("bp-custom", "/made.txt").await, (200, "made by the custom buildpack\n".to_string()));

    // BUILDPACK_URL forces one; here it does not fit, and the push says so.
    let (status, _) = server
        .call("PATCH", "/apps/bp-python/config", &token, Some(serde_json::json!({ "BUILDPACK_URL": "static" })))
        .await;
    assert_eq!(status, 200);
    python.commit("forced");
    let (ok, output) = python.push(&server.git_url("bp-python", &token));
    assert!(!ok, "{output}");
    assert!(output.contains("the static buildpack does not apply"), "{output}");
    assert_eq!(
        server.app_get("bp-python", "/").await.1,
        "hello again from python\n",
        "the running release keeps serving"
    );
}

/// The newest image of an app (`paas/APP:SHA`).
fn app_image(app: &str) -> String {
    let images =
        run(Command::new("docker").args(["images", &format!("paas/{app}"), "--format", "{{.Repository}}:{{.Tag}}"]));
    images.lines().next().unwrap_or_else(|| panic!("no image of {app}")).to_string()
}

/// Whether a push printed this line (git adds `remote: ` and trailing blanks).
fn has_line(output: &str, line: &str) -> bool {
    output.lines().any(|l| l.trim_end().ends_with(line))
}

/// Push and say how long it took (the figures the issue asks for).
fn timed_push(repo: &AppRepo, url: &str, what: &str) -> (bool, String) {
    let began = Instant::now();
    let (ok, output) = repo.push(url);
    println!("push time: {what}: {:.1} s", began.elapsed().as_secs_f64());
    (ok, output)
}

async fn set_config(server: &TestServer, token: &str, app: &str, vars: serde_json::Value) {
    let (status, body) = server.call("PATCH", &format!("/apps/{app}/config"), token, Some(vars)).await;
    assert_eq!(status, 200, "{body}");
}

/// GET through the router with extra headers, as a client behind a proxy.
async fn get_with(server: &TestServer, app: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut request = client.get(format!("http://{}/", server.router_addr)).header("host", format!("{app}.paas.test"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("a request through the router");
    let status = response.status().as_u16();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, response.text().await.unwrap_or_default(), location)
}

/// Real Python apps from PyPI: Flask with gunicorn, Django with static
/// files behind HTTPS redirects; failures fail and cache nothing; config
/// vars reach the build; Heroku's hooks and conventions hold.
#[tokio::test]
async fn real_python_apps_build_as_on_heroku() {
    ensure_debian_base();
    // The test's client is a trusted proxy: its X-Forwarded-Proto counts.
    let server = TestServer::start_with_env(&[("PAAS_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let token = server.admin_token().await;
    for app in ["py-flask", "py-django"] {
        server.create_app(&token, app).await;
    }

    // Flask + gunicorn; a config var reaches bin/post_compile (ENV_DIR).
    set_config(&server, &token, "py-flask", serde_json::json!({ "GREETING": "bonjour" })).await;
    let flask = AppRepo::from_fixture("flask");
    let url = server.git_url("py-flask", &token);
    let (ok, output) = {
        let _stacks = paas_e2e::apps::stacks_lock();
        timed_push(&flask, &url, "flask, first")
    };
    assert!(ok, "{output}");
    assert!(output.contains("Building with buildpacks: there is no Dockerfile"), "{output}");
    assert!(output.contains("Python 3.13") && output.contains("as .python-version asks"), "{output}");
    assert!(output.contains("Successfully installed") && output.contains("gunicorn-23.0.0"), "{output}");
    assert!(output.contains("-----> Running bin/post_compile") && output.contains("sees GREETING=bonjour"), "{output}");
    assert_eq!(
        server.app_get("py-flask", "/").await,
        (200, "hello from flask; built with GREETING=bonjour; home /app\n".to_string())
    );

    // A dependency that cannot be installed fails the push at once, with
    // pip's own error; the running release keeps serving.
    flask.write("requirements.txt", "Flask==3.0.3\ngunicorn==23.0.0\npaas-no-such-package-qq==1.0\n");
    flask.commit("a missing dependency");
    let (ok, output) = timed_push(&flask, &url, "flask, failing install");
    assert!(!ok, "{output}");
    assert!(output.contains("No matching distribution found for paas-no-such-package-qq"), "{output}");
    assert!(output.contains("the buildpack failed") && !output.contains("Releasing v"), "{output}");
    assert!(server.app_get("py-flask", "/").await.1.contains("GREETING=bonjour"));

    // The registry unreachable (PIP_INDEX_URL, a config var, reaches pip):
    // the install fails, and its empty virtualenv is not cached, so once
    // the registry is back the same requirements install anew.
    flask.write("requirements.txt", "Flask==3.0.3\ngunicorn==23.0.0\nblinker\n");
    flask.commit("a new dependency");
    set_config(
        &server,
        &token,
        "py-flask",
        serde_json::json!({ "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "0" }),
    )
    .await;
    let (ok, output) = timed_push(&flask, &url, "flask, registry unreachable");
    assert!(!ok, "{output}");
    assert!(output.contains("127.0.0.1:9"), "pip was told the index: {output}");
    set_config(&server, &token, "py-flask", serde_json::json!({ "PIP_INDEX_URL": null, "PIP_RETRIES": null })).await;
    flask.commit("again");
    let (ok, output) = timed_push(&flask, &url, "flask, registry back");
    assert!(ok, "{output}");
    assert!(has_line(&output, "-----> Installing requirements") && !output.contains("using cached"), "{output}");

    // Unchanged requirements reuse the cached virtualenv.
    flask.write(
        "app.py",
        &std::fs::read_to_string(flask.path().join("app.py")).unwrap().replace("hello from flask", "hi from flask"),
    );
    flask.commit("v2");
    let (ok, output) = timed_push(&flask, &url, "flask, cached");
    assert!(ok, "{output}");
    assert!(output.contains("Installing requirements: using cached dependencies"), "{output}");
    assert!(server.app_get("py-flask", "/").await.1.starts_with("hi from flask"));

    // The cache can be purged: the next build installs anew.
    let home = server.cli_home(&token);
    let said = server.cli_ok(home.path(), &["builds:cache:purge", "-a", "py-flask"]);
    assert!(said.contains("Purged the build cache"), "{said}");
    // BUILDER (here app.json's) picks buildpacks over a Dockerfile.
    flask.write("Dockerfile", "FROM paas-test/busybox:latest\nRUN false\n");
    flask.write("app.json", r#"{ "builder": "buildpacks" }"#);
    flask.commit("a Dockerfile that is not used");
    let (ok, output) = timed_push(&flask, &url, "flask, after a cache purge");
    assert!(ok, "{output}");
    assert!(output.contains("Building with buildpacks: app.json's builder says so"), "{output}");
    assert!(has_line(&output, "-----> Installing requirements"), "{output}");

    // A Python the stack does not have is refused, naming both versions and
    // the stack that has it; the app moves there (from its next push).
    flask.write(".python-version", "3.11\n");
    flask.commit("python 3.11");
    let (ok, output) = flask.push(&url);
    assert!(!ok, "{output}");
    assert!(output.contains(".python-version asks for Python 3.11, but the stack (trixie)"), "{output}");
    assert!(output.contains("has Python 3.13"), "{output}");
    assert!(output.contains("The bookworm stack has Python 3.11: paas stack:set bookworm"), "{output}");
    let said = server.cli_ok(home.path(), &["stack:set", "bookworm", "-a", "py-flask"]);
    assert!(said.contains("its next push builds on it"), "{said}");
    let listed = server.cli_ok(home.path(), &["stack", "-a", "py-flask"]);
    assert!(listed.contains("* bookworm") && listed.contains("  trixie") && listed.contains("(default)"), "{listed}");
    let (ok, output) = {
        let _stacks = paas_e2e::apps::stacks_lock();
        timed_push(&flask, &url, "flask, on bookworm (first: builds its stacks)")
    };
    assert!(ok, "{output}");
    assert!(output.contains("Python 3.11") && output.contains("as .python-version asks"), "{output}");
    assert!(server.app_get("py-flask", "/").await.1.starts_with("hi from flask"));

    // Django: collectstatic at build time; its `/` redirects plain http to
    // https, which passes the health check (an answer, not followed).
    let django = AppRepo::from_fixture("django");
    let (ok, output) = timed_push(&django, &server.git_url("py-django", &token), "django, first");
    assert!(ok, "{output}");
    assert!(output.contains("-----> Running: manage.py collectstatic --noinput"), "{output}");
    assert!(output.contains("static file copied") || output.contains("static files copied"), "{output}");
    let (status, _, location) = get_with(&server, "py-django", &[]).await;
    assert_eq!((status, location.as_str()), (301, "https://py-django.paas.test/"));
    // A trusted proxy's X-Forwarded-Proto reaches the app.
    let (status, body, _) = get_with(&server, "py-django", &[("x-forwarded-proto", "https")]).await;
    assert_eq!((status, body.as_str()), (200, "hello from django over https; collected: body { color: teal; }\n"));
    // A one-off has the app's runtime, dependencies and config, as
    // `heroku run python manage.py ...` does.
    let home = server.cli_home(&token);
    let (code, out, err) = server.cli(home.path(), &["run", "-a", "py-django", "python", "manage.py", "check"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("System check identified no issues"), "{out}{err}");
    // A changed static file is collected anew on a cached build.
    django.write("assets/site.css", "body { color: navy; }\n");
    django.commit("navy");
    let (ok, output) = timed_push(&django, &server.git_url("py-django", &token), "django, cached");
    assert!(ok && output.contains("Installing requirements: using cached dependencies"), "{output}");
    let (_, body, _) = get_with(&server, "py-django", &[("x-forwarded-proto", "https")]).await;
    assert!(body.ends_with("collected: body { color: navy; }\n"), "{body}");
    // DISABLE_COLLECTSTATIC skips it.
    set_config(&server, &token, "py-django", serde_json::json!({ "DISABLE_COLLECTSTATIC": "1" })).await;
    django.commit("no collectstatic");
    let (ok, output) = django.push(&server.git_url("py-django", &token));
    assert!(ok, "{output}");
    assert!(!output.contains("collectstatic"), "{output}");

    // No build container showed up as a crashed process.
    for app in ["py-flask", "py-django"] {
        let (_, logs) = server.call("GET", &format!("/apps/{app}/logs?lines=500"), &token, None).await;
        assert!(!logs.to_string().contains("crashed"), "{logs}");
    }
}

/// A real Express app from npm asking for another Node.js major than the
/// stack's: fetched from the npm registry, cached; its build script runs
/// with devDependencies, which are then pruned.
#[tokio::test]
async fn real_node_apps_get_the_node_they_ask_for() {
    ensure_debian_base();
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    server.create_app(&token, "js-express").await;
    let express = AppRepo::from_fixture("express");
    let url = server.git_url("js-express", &token);
    let (ok, output) = {
        let _stacks = paas_e2e::apps::stacks_lock();
        timed_push(&express, &url, "express, first")
    };
    assert!(ok, "{output}");
    assert!(output.contains("-----> Fetching Node.js \"22.x\" (engines.node)"), "{output}");
    assert!(output.contains("Downloading Node.js 22."), "{output}");
    assert!(output.contains("-----> Running build") && output.contains("build script ran"), "{output}");
    assert!(output.contains("-----> Pruning devDependencies"), "{output}");
    let (status, body) = server.app_get("js-express", "/").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("hello from express on node v22."), "{body}");
    assert!(body.contains("NODE_ENV=production; built=***built; devDependencies pruned=true"), "{body}");

    express.commit("again");
    let (ok, output) = timed_push(&express, &url, "express, cached");
    assert!(ok, "{output}");
    assert!(output.contains(": using the cached copy"), "{output}");
    assert!(output.contains("Installing dependencies: using cached dependencies"), "{output}");
    assert!(server.app_get("js-express", "/").await.1.starts_with("hello from express on node v22."));

    // A version nobody has is refused, naming it and where it looked.
    let package = std::fs::read_to_string(express.path().join("package.json")).unwrap();
    express.write("package.json", &package.replace("\"22.x\"", "\"99.x\""));
    express.commit("node 99");
    let (ok, output) = express.push(&url);
    assert!(!ok, "{output}");
    assert!(output.contains("No Node.js release satisfies engines.node \"99.x\""), "{output}");
    assert!(output.contains("registry.npmjs.org"), "{output}");
}

/// A forward proxy for https (CONNECT), logging each tunnel it opens, run as
/// `build-proxy` on the app's network from an image with Python.
fn start_connect_proxy(server: &TestServer, app: &str, image: &str) -> String {
    let script = "import socket, threading\n\
                  def pipe(a, b):\n    try:\n        while True:\n            d = a.recv(65536)\n            if not d: break\n            b.sendall(d)\n    except OSError: pass\n    finally:\n        b.close()\n\
                  def serve(c):\n    head = b''\n    while b'\\r\\n\\r\\n' not in head:\n        d = c.recv(4096)\n        if not d: return\n        head += d\n\
                  \x20   target = head.split(b' ')[1].decode()\n    print('CONNECT', target, flush=True)\n\
                  \x20   host, port = target.rsplit(':', 1)\n    u = socket.create_connection((host, int(port)))\n\
                  \x20   c.sendall(b'HTTP/1.1 200 Connection established\\r\\n\\r\\n')\n\
                  \x20   threading.Thread(target=pipe, args=(u, c), daemon=True).start()\n    pipe(c, u)\n\
                  s = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', 3128))\ns.listen(64)\n\
                  while True:\n    c, _ = s.accept()\n    threading.Thread(target=serve, args=(c,), daemon=True).start()\n";
    let network = app_network(server, app);
    run(Command::new("docker").args(["run", "-d", "--network", &network, "--network-alias", "build-proxy"]).args([
        "--label",
        &format!("paas.instance={}", server.instance),
        image,
        "python3",
        "-c",
        script,
    ]))
}

/// The build trust settings for a company network: builds reach PyPI
/// through the configured proxy; with --apps-trust the app's processes get
/// the proxy and the CA bundle too.
#[tokio::test]
async fn builds_use_the_configured_proxy_and_trusting_apps_get_it_too() {
    ensure_debian_base();
    let proxy = "http://build-proxy:3128";
    let server = TestServer::start_with_env(&[
        ("PAAS_BUILD_HTTPS_PROXY", proxy),
        ("PAAS_BUILD_NO_PROXY", "localhost"),
        ("PAAS_APPS_TRUST", "true"),
    ])
    .await;
    let token = server.admin_token().await;
    for app in ["py-base", "proxied"] {
        server.create_app(&token, app).await;
    }
    // First a standard-library app (nothing to download) for an image with
    // Python to run the proxy from.
    let plain = AppRepo::from_fixture("python");
    let (ok, output) = {
        let _stacks = paas_e2e::apps::stacks_lock();
        plain.push(&server.git_url("py-base", &token))
    };
    assert!(ok, "{output}");
    let proxy_container = start_connect_proxy(&server, "proxied", &app_image("py-base"));
    let url = server.git_url("proxied", &token);

    let flask = AppRepo::from_fixture("flask");
    let (ok, output) = timed_push(&flask, &url, "flask, through the build proxy");
    assert!(ok, "{output}");
    assert!(output.contains("Successfully installed"), "{output}");
    let tunnels = run(Command::new("docker").args(["logs", &proxy_container]));
    assert!(tunnels.contains("CONNECT pypi.org:443"), "pip went through the proxy: {tunnels}");

    // The app's process has the proxy and the bundle (--apps-trust).
    let container = run(Command::new("docker").args([
        "ps",
        "-q",
        "--filter",
        &format!("label=paas.instance={}", server.instance),
        "--filter",
        "label=paas.app=proxied",
        "--filter",
        "label=paas.process=web",
    ]));
    let seen = run(Command::new("docker").args([
        "exec",
        container.lines().next().expect("the web process"),
        "sh",
        "-c",
        "grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\"; echo \"$HTTPS_PROXY $NO_PROXY\"",
    ]));
    let (certificates, proxy_seen) = seen.split_once('\n').unwrap();
    assert!(certificates.trim().parse::<u32>().unwrap() > 0, "{seen}");
    assert_eq!(proxy_seen, format!("{proxy} localhost"));
}
