//! Test support: `TestServer` starts the real `paas serve` binary on port 0
//! against a fresh database (a new database in the shared test cluster named
//! by `PAAS_TEST_DATABASE_URL`, or else its own embedded cluster), and gives
//! helpers to call its API and CLI.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod acme;
pub mod apps;
pub mod browser;
pub mod load;
pub mod swarm;

use anyhow::{bail, Context};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Path of the `paas` binary built alongside the tests.
pub fn paas_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PAAS_BIN") {
        return PathBuf::from(bin);
    }
    // target/debug/deps/<test> -> target/debug/paas
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).map(|dir| dir.join("paas")).expect("target dir")
}

pub struct TestServer {
    pub data_dir: tempfile::TempDir,
    database_url: Option<String>,
    child: Option<Child>,
    pub url: String,
    pub router_addr: String,
    /// The installation id its containers are labelled with.
    pub instance: String,
    /// How many times the server was started on this data dir.
    starts: usize,
    /// Environment added to every start.
    env: Vec<(String, String)>,
    pub http: reqwest::Client,
}

impl TestServer {
    /// A server on a fresh database in the shared test cluster if there is
    /// one, else on its own embedded cluster.
    pub async fn start() -> Self {
        Self::start_with_env(&[]).await
    }

    /// As `start`, with environment variables added to every start (settings
    /// such as `PAAS_STOP_GRACE`).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Self {
        let database_url = match std::env::var("PAAS_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Some(fresh_database(&admin_url).await),
            _ => None,
        };
        Self::start_with(database_url, env).await
    }

    /// A server that runs its own embedded PostgreSQL in its data dir.
    pub async fn start_embedded() -> Self {
        Self::start_with(None, &[]).await
    }

    async fn start_with(database_url: Option<String>, env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("paas-test-").tempdir().expect("temp dir");
        // An embedded PostgreSQL runs as an unprivileged user who must reach it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data_dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        let mut server = Self {
            data_dir,
            database_url,
            child: None,
            url: String::new(),
            router_addr: String::new(),
            instance: String::new(),
            starts: 0,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            // Idle connections are dropped well before the server closes
            // them (30 s without a request): reusing one the server is
            // closing that moment fails the request.
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        };
        server.spawn().await.expect("starting paas serve");
        server
    }

    pub fn data_path(&self) -> &Path {
        self.data_dir.path()
    }

    fn log_path(&self, n: usize, stream: &str) -> PathBuf {
        self.data_path().join(format!("server-{n}.{stream}"))
    }

    /// Everything the server wrote to stdout on its `n`th start (1-based).
    pub fn stdout(&self, n: usize) -> String {
        std::fs::read_to_string(self.log_path(n, "stdout")).unwrap_or_default()
    }

    /// All the server's log output (stderr) over every start.
    pub fn all_logs(&self) -> String {
        (1..=self.starts).map(|n| std::fs::read_to_string(self.log_path(n, "stderr")).unwrap_or_default()).collect()
    }

    /// The command line of `paas serve` for this server's data dir (and, once
    /// it ran, its addresses: a restarted server keeps them).
    pub fn serve_command(&self) -> Command {
        let (listen, router) = match self.url.strip_prefix("http://") {
            Some(control) => (control.to_string(), self.router_addr.clone()),
            // `PAAS_LISTEN` in the added environment picks the control
            // plane's first address (tests that need containers to reach it).
            // `PAAS_ROUTER_LISTEN` the router's (an ACME server must know it).
            None => {
                let env = |key: &str| self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
                let (listen, router) = (env("PAAS_LISTEN"), env("PAAS_ROUTER_LISTEN"));
                (listen.unwrap_or("127.0.0.1:0").to_string(), router.unwrap_or("127.0.0.1:0").to_string())
            }
        };
        let mut cmd = Command::new(paas_bin());
        cmd.arg("serve")
            .args(["--listen", &listen, "--router-listen", &router, "--log-format", "json"])
            .arg("--data-dir")
            .arg(self.data_path().join("data"))
            .env("PAAS_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("PAAS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("PAAS_BASE_DOMAIN", "paas.test")
            .env("PAAS_LOG", "info")
            .env("PAAS_HEALTH_TIMEOUT", "8")
            .env("PAAS_DRAIN_TIMEOUT", "5")
            .env("PAAS_STOP_GRACE", "2")
            .env("PAAS_STACK_BASE", apps::DEBIAN_BASE)
            .env("PAAS_TRIXIE_STACK_BASE", apps::DEBIAN_TRIXIE_BASE)
            .env_remove("DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    /// The pid of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let n = self.starts;
        let stdout = std::fs::File::create(self.log_path(n, "stdout"))?;
        let stderr_path = self.log_path(n, "stderr");
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut cmd = self.serve_command();
        cmd.stdout(stdout).stderr(stderr);
        let child = cmd.spawn().with_context(|| format!("spawning {}", paas_bin().display()))?;
        self.child = Some(child);

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = find_listening_line(&stderr_path) {
                // A wildcard listener is called on the loopback address.
                let control = line["control"].as_str().context("control address")?.replace("0.0.0.0:", "127.0.0.1:");
                self.url = format!("http://{control}");
                self.router_addr = line["router"].as_str().context("router address")?.to_string();
                self.instance = line["instance"].as_str().unwrap_or_default().to_string();
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("paas serve exited with {status}:\n{}", std::fs::read_to_string(&stderr_path)?);
            }
            if Instant::now() > deadline {
                bail!("paas serve did not start listening within 60 s:\n{}", std::fs::read_to_string(&stderr_path)?);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop with SIGTERM and wait for a clean exit; returns the exit status.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server is running");
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("paas serve did not exit within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as a crash would: no cleanup of any kind.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("server is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Set an environment variable for the next starts.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Start again on the same data dir, database and addresses.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.stop().await;
        }
        self.spawn().await.expect("restarting paas serve");
    }

    /// Start again (after `kill`), not waiting for it: the child, to poll.
    pub fn respawn_in_background(&mut self) {
        self.starts += 1;
        let n = self.starts;
        let stdout = std::fs::File::create(self.log_path(n, "stdout")).expect("stdout file");
        let stderr = std::fs::File::create(self.log_path(n, "stderr")).expect("stderr file");
        let mut cmd = self.serve_command();
        cmd.stdout(stdout).stderr(stderr);
        self.child = Some(cmd.spawn().expect("spawning paas serve"));
    }

    /// Wait for a respawned server's `listening` line.
    pub async fn wait_listening(&self) {
        let path = self.log_path(self.starts, "stderr");
        crate::wait_until("the server to listen", Duration::from_secs(60), || {
            let found = find_listening_line(&path).is_some();
            async move { found }
        })
        .await;
    }

    /// The URL of the server's database in the shared test cluster.
    pub fn database_url(&self) -> &str {
        self.database_url.as_deref().expect("a database in the shared test cluster (PAAS_TEST_DATABASE_URL)")
    }

    /// The server's database (the shared test cluster's), to read what it
    /// keeps.
    pub async fn database(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(self.database_url()).await.expect("connecting to the server's database")
    }

    /// A `paas router` apart from this server, fed from its database, with
    /// its data in `data_dir`, on `listen` (`127.0.0.1:0` for any port).
    pub async fn start_router_apart(&self, data_dir: &Path, listen: &str) -> RouterApart {
        self.start_router_apart_with(
            data_dir,
            &["--listen", listen],
            self.database_url(),
            &self.data_path().join("data/secret.key"),
        )
        .await
    }

    /// The same, with these arguments (`--listen`, `--https-listen`), and
    /// another database URL (one that does not answer) or another key.
    pub async fn start_router_apart_with(
        &self,
        data_dir: &Path,
        args: &[&str],
        database_url: &str,
        key_file: &Path,
    ) -> RouterApart {
        std::fs::create_dir_all(data_dir).expect("router data dir");
        let n = std::fs::read_dir(data_dir).map(|d| d.count()).unwrap_or(0);
        let (stdout_path, stderr_path) = (data_dir.join(format!("out-{n}")), data_dir.join(format!("err-{n}")));
        let child = Command::new(paas_bin())
            .args(["router", "--name", "edge-test", "--log-format", "json"])
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--secret-key-file")
            .arg(key_file)
            .env("DATABASE_URL", database_url)
            .env("PAAS_BASE_DOMAIN", "paas.test")
            .env("PAAS_LOG", "info")
            .env_remove("PAAS_SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("router stdout"))
            .stderr(std::fs::File::create(&stderr_path).expect("router stderr"))
            .spawn()
            .expect("spawning paas router");
        let mut router = RouterApart { child, addr: String::new(), https: None, stderr: stderr_path };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            if let Some(rest) = out.lines().find_map(|l| l.strip_prefix("paas router is serving on ")) {
                let words: Vec<&str> = rest.split_whitespace().collect();
                router.addr = words[0].to_string();
                if words.get(1..3) == Some(&["and", "HTTPS"]) {
                    router.https = words.get(4).map(|w| w.to_string());
                }
                return router;
            }
            if let Ok(Some(status)) = router.child.try_wait() {
                panic!("paas router exited with {status}:\n{}", router.logs());
            }
            assert!(Instant::now() < deadline, "paas router did not start within 30 s:\n{}", router.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // ---- git and router helpers ----

    /// The app's git remote with a token as the basic-auth password.
    pub fn git_url(&self, app: &str, token: &str) -> String {
        let host = self.url.trim_start_matches("http://");
        format!("http://git:{token}@{host}/git/{app}.git")
    }

    /// GET a path of an app through the router; (status, body). Status 0
    /// means the request itself failed.
    pub async fn app_get(&self, app: &str, path: &str) -> (u16, String) {
        let request =
            self.http.get(format!("http://{}{path}", self.router_addr)).header("host", format!("{app}.paas.test"));
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    /// Create an app as the given user; panics unless created.
    pub async fn create_app(&self, token: &str, name: &str) {
        let (status, body) = self.call("POST", "/apps", token, Some(json!({ "name": name }))).await;
        assert_eq!(status, 201, "creating {name}: {body}");
    }

    /// A fresh server with app `name` created by the admin and the `hello`
    /// fixture pushed to it as v1; the admin's token and the app's repo.
    pub async fn with_deployed_app(name: &str) -> (Self, String, apps::AppRepo) {
        let server = Self::start().await;
        let token = server.admin_token().await;
        server.create_app(&token, name).await;
        let repo = apps::AppRepo::from_fixture("hello");
        let (ok, output) = repo.push(&server.git_url(name, &token));
        assert!(ok, "deploying {name}: {output}");
        (server, token, repo)
    }

    // ---- API helpers ----

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// A new API token for email + password.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .http
            .post(self.api("/tokens"))
            .basic_auth(email, Some(password))
            .json(&json!({ "name": "test" }))
            .send()
            .await
            .expect("POST /tokens");
        assert_eq!(response.status(), 201, "login as {email} failed: {}", response.text().await.unwrap_or_default());
        let body: Value = response.json().await.expect("token JSON");
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Create a user (as admin) and return a token for them.
    pub async fn user_token(&self, admin: &str, email: &str) -> String {
        let password = "password-of-a-test-user";
        let (status, body) =
            self.call("POST", "/users", admin, Some(json!({ "email": email, "password": password }))).await;
        assert_eq!(status, 201, "creating user {email}: {body}");
        self.login(email, password).await
    }

    /// Call the API with a bearer token; returns status and JSON body (Null if empty).
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.api(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    /// Make each call in turn, each answered 2xx, the load loop getting ten
    /// more answers after each (the change is live before the next).
    pub async fn call_each_under(&self, load: &load::Load, token: &str, steps: Vec<(&str, &str, Value)>) {
        for (method, path, body) in steps {
            let (status, answer) = self.call(method, path, token, Some(body)).await;
            assert!(status < 300, "{method} {path}: {status} {answer}");
            load.wait_for(10, Duration::from_secs(10)).await;
        }
    }

    /// Call the API and give only the status (the body is not read: a
    /// stream's answer never ends).
    pub async fn status_of(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> u16 {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.api(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("API request").status().as_u16()
    }

    /// A CLI config dir logged in with `token`.
    pub fn cli_home(&self, token: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().expect("temp dir");
        let (code, _, err) = self.cli(home.path(), &["login", &self.url, "--token", token], "");
        assert_eq!(code, 0, "paas login: {err}");
        home
    }

    /// Run the CLI and expect success; its stdout and stderr together.
    pub fn cli_ok(&self, config_dir: &Path, args: &[&str]) -> String {
        let (code, out, err) = self.cli(config_dir, args, "");
        if code != 0 {
            let logs = self.all_logs();
            let errors: Vec<&str> = logs.lines().filter(|l| l.contains("\"ERROR\"")).collect();
            let last = errors[errors.len().saturating_sub(5)..].join("\n");
            panic!("paas {args:?} failed:\n{out}{err}\nthe server's last errors:\n{last}");
        }
        format!("{out}{err}")
    }

    /// Run the CLI and expect failure; its stderr.
    pub fn cli_err(&self, config_dir: &Path, args: &[&str]) -> String {
        let (code, out, err) = self.cli(config_dir, args, "");
        assert_eq!(code, 1, "paas {args:?} should fail:\n{out}{err}");
        err
    }

    /// Run the CLI with its own config dir; returns (exit code, stdout, stderr).
    pub fn cli(&self, config_dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
        self.cli_in(&std::env::current_dir().expect("cwd"), config_dir, args, stdin)
    }

    /// The CLI run in a given directory (a git work tree, say).
    pub fn cli_in(&self, dir: &Path, config_dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
        use std::io::Write;
        let mut child = Command::new(paas_bin())
            .current_dir(dir)
            .args(args)
            .env("XDG_CONFIG_HOME", config_dir)
            .env_remove("PAAS_SERVER")
            .env_remove("PAAS_API_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the CLI");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        let output = child.wait_with_output().expect("CLI output");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // App containers outlive the server by design; the test's must not.
        if !self.instance.is_empty() {
            // Its apps are its repositories' names.
            let repos = std::fs::read_dir(self.data_path().join("data/repos")).into_iter().flatten().flatten();
            let apps: Vec<String> =
                repos.filter_map(|e| e.file_name().to_str()?.strip_suffix(".git").map(str::to_string)).collect();
            apps::remove_instance(&self.instance, &apps);
        }
    }
}

/// Wait for a condition with a deadline (no fixed sleeps); panics naming `what`.
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// A running `paas router`.
pub struct RouterApart {
    child: Child,
    /// Where it serves.
    pub addr: String,
    /// Where it serves HTTPS, if it does.
    pub https: Option<String>,
    stderr: PathBuf,
}

impl RouterApart {
    /// Its log (stderr).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, and wait for it to exit; whether it exited cleanly.
    pub async fn stop(mut self) -> bool {
        signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for RouterApart {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Send a signal to a process this test started, by PID.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
}

fn find_listening_line(path: &Path) -> Option<Value> {
    let file = std::fs::File::open(path).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
        .find(|v| v["message"] == "listening")
}

/// Create an empty database in the shared test cluster; its URL.
async fn fresh_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("paas_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connecting to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("CREATE DATABASE");
    let _ = conn.close().await;
    // Replace the database in `postgres:///postgres?host=...` style URLs.
    match admin_url.split_once('?') {
        Some((base, query)) => format!("{}/{name}?{query}", base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base)),
        None => format!("{}/{name}", admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin_url)),
    }
}
