//! Apps without a Dockerfile deploy with the shipped buildpacks, on stack
//! images built from a Debian base the test setup makes (debootstrap).

use std::process::Command;

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

/// Serve a bare repository over HTTPS (git's dumb protocol) as
/// `https://bp-server/bp.git`, from a container on the app's network; the
/// container is labelled with the installation, so the test's cleanup
/// removes it.
fn serve_buildpack_over_https(server: &TestServer, app: &str, bare_parent: &std::path::Path, ca: &Ca) {
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
    // The run stack has Python; the earlier builds made it.
    let image = run(Command::new("docker").args(["images", "paas/stack-run", "--format", "{{.Repository}}:{{.Tag}}"]));
    let image = image.lines().next().expect("a run stack image").to_string();
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

    // Node.js: npm ci, `npm start`; the second build reuses node_modules.
    let node = AppRepo::from_fixture("nodejs");
    let (ok, output) = node.push(&server.git_url("bp-nodejs", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Node.js app detected"), "{output}");
    assert_eq!(server.app_get("bp-nodejs", "/").await, (200, "hello from node\n".to_string()));
    node.commit("rebuild");
    let (ok, output) = node.push(&server.git_url("bp-nodejs", &token));
    assert!(ok && output.contains("Installing dependencies: using cached dependencies"), "{output}");

    // Go: go build into bin/app.
    let go = AppRepo::from_fixture("go");
    let (ok, output) = go.push(&server.git_url("bp-go", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Go app detected"), "{output}");
    assert_eq!(server.app_get("bp-go", "/").await, (200, "hello from go\n".to_string()));

    // Static site.
    let site = AppRepo::from_fixture("static");
    let (ok, output) = site.push(&server.git_url("bp-static", &token));
    assert!(ok, "{output}");
    assert!(output.contains("-----> Static site app detected"), "{output}");
    let (status, page) = server.app_get("bp-static", "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("hello from a static site"), "{page}");

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
