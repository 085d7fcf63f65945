//! The CLI drives a running server end to end.

use std::os::unix::fs::PermissionsExt;

use paas_e2e::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn cli_login_create_list_destroy() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path();

    let (code, _, err) = server.cli(cfg, &["apps"], "");
    assert_eq!(code, 1, "not logged in yet");
    assert!(err.contains("paas login"), "{err}");

    // Interactive-style login: URL, email and password answered on stdin.
    let answers = format!("{}\n{ADMIN_EMAIL}\nwrong-password\n", server.url);
    let (code, _, err) = server.cli(cfg, &["login"], &answers);
    assert_eq!(code, 1, "wrong password fails");
    assert!(err.contains("wrong email or password"), "{err}");

    let answers = format!("{}\n{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n", server.url);
    let (code, out, err) = server.cli(cfg, &["login"], &answers);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Logged in as {ADMIN_EMAIL}")), "{out}");
    let stored = cfg.join("paas/credentials.json");
    let mode = std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token file is private");
    assert!(!std::fs::read_to_string(&stored).unwrap().contains(ADMIN_PASSWORD), "the password is not stored");

    let (code, out, err) = server.cli(cfg, &["apps:create", "hello"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("http://hello.paas.test:"), "{out}");
    assert!(out.contains("/git/hello.git"), "{out}");

    let (code, _, err) = server.cli(cfg, &["apps:create", "hello"], "");
    assert_eq!(code, 1);
    assert!(err.contains("already taken"), "{err}");

    let (code, out, _) = server.cli(cfg, &["apps"], "");
    assert_eq!(code, 0);
    assert!(out.contains("hello (main)"), "{out}");
    let (code, out, _) = server.cli(cfg, &["apps", "--json"], "");
    assert_eq!(code, 0);
    let apps: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(apps[0]["name"], "hello");

    let (code, _, err) = server.cli(cfg, &["apps:destroy", "hello"], "");
    assert_eq!(code, 1, "destroy needs confirmation");
    assert!(err.contains("--confirm hello"), "{err}");
    let (code, _, err) = server.cli(cfg, &["apps:destroy", "hello", "--confirm", "hallo"], "");
    assert_eq!(code, 1);
    assert!(err.contains("did not match"), "{err}");
    let (code, _, err) = server.cli(cfg, &["apps:destroy", "hello", "--confirm", "hello"], "");
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = server.cli(cfg, &["apps"], "");
    assert!(out.contains("You have no apps"), "{out}");
}

#[tokio::test]
async fn cli_manages_teams_and_members() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    server.user_token(&admin, "pat@example.com").await;
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path();
    let (code, _, err) = server.cli(cfg, &["login", &server.url, "--token", &admin], "");
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = server.cli(cfg, &["teams:create", "web"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Created team web"));
    let (code, _, err) = server.cli(cfg, &["teams:add-member", "web", "pat@example.com", "--role", "viewer"], "");
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = server.cli(cfg, &["teams:members", "web"], "");
    assert!(out.contains("pat@example.com") && out.contains("viewer"), "{out}");
    let (_, out, _) = server.cli(cfg, &["teams"], "");
    assert!(out.contains("web") && out.contains("main"), "{out}");
    let (code, _, err) = server.cli(cfg, &["apps:create", "multi"], "");
    assert_eq!(code, 1, "two teams: the team must be named");
    assert!(err.contains("--team"), "{err}");
    let (code, _, err) = server.cli(cfg, &["apps:create", "multi", "--team", "web"], "");
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn git_remote_lets_git_push_with_the_stored_token() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    server.create_app(&admin, "cli-remote").await;
    let home = server.cli_home(&admin);
    let repo = paas_e2e::apps::AppRepo::from_fixture("hello");

    let (code, out, err) = server.cli_in(repo.path(), home.path(), &["git:remote", "cli-remote"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("/git/cli-remote.git"), "{out}");
    let remote = repo.git(&["remote", "get-url", "paas"]);
    assert!(!remote.contains("paas_"), "no token in the remote URL: {remote}");

    // git asks `paas git:credentials` for the password: no prompt, no token in .git/config.
    let out = std::process::Command::new("git")
        .args(["push", "paas", "main"])
        .current_dir(repo.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Deployed v1"), "{text}");
    let config = std::fs::read_to_string(repo.path().join(".git/config")).unwrap();
    assert!(!config.contains(&admin), "the token stays out of .git/config");

    // Inside the repository, app commands find the app from the remote.
    let (code, out, _) = server.cli_in(repo.path(), home.path(), &["releases"], "");
    assert_eq!(code, 0);
    assert!(out.contains("=== cli-remote Releases") && out.contains("Deploy "), "{out}");
    // `info` is `apps:info`, and finds the app the same way; `open` prints
    // the URL where there is no browser to open it in.
    let (code, out, _) = server.cli_in(repo.path(), home.path(), &["info"], "");
    assert_eq!(code, 0);
    assert!(out.contains("=== cli-remote") && out.contains("Web URL:"), "{out}");
    let (code, out, _) = server.cli_in(repo.path(), home.path(), &["open"], "");
    let port = server.router_addr.rsplit(':').next().unwrap();
    assert_eq!((code, out.trim().to_string()), (0, format!("http://cli-remote.paas.test:{port}")));

    // Run again, git:remote says the remote is there already; pointed
    // elsewhere, it says what it changed.
    let (_, out, err) = server.cli_in(repo.path(), home.path(), &["git:remote", "cli-remote"], "");
    assert!(out.contains("git remote paas already points at"), "{out}{err}");
    repo.git(&["remote", "set-url", "paas", "https://elsewhere.example/x.git"]);
    let (_, out, _) = server.cli_in(repo.path(), home.path(), &["git:remote", "cli-remote"], "");
    assert!(out.contains("pointed at https://elsewhere.example/x.git; it now points at"), "{out}");
}

/// `paas logs | head`: the CLI ends quietly when the pipe closes, as Unix
/// tools do, instead of panicking on the next write.
#[tokio::test]
async fn cli_output_into_a_closed_pipe_ends_quietly() {
    let (server, token, _repo) = TestServer::with_deployed_app("cli-pipe").await;
    for _ in 0..600 {
        let _ = server.app_get("cli-pipe", "/a-long-enough-path-to-fill-the-pipe-buffer-with-access-lines").await;
    }
    let home = server.cli_home(&token);
    let paas = paas_e2e::paas_bin();
    let script =
        format!("'{}' logs -n 1500 -a cli-pipe | head -n 1; echo \"status ${{PIPESTATUS[0]}}\"", paas.display());
    let out =
        std::process::Command::new("bash").args(["-c", &script]).env("XDG_CONFIG_HOME", home.path()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "one line through head, then the status: {stdout}");
    // Ended by SIGPIPE (128 + 13), as `yes | head` is, or done writing first.
    let status = stdout.lines().last().unwrap_or_default();
    assert!(status == "status 141" || status == "status 0", "{stdout}{stderr}");
}
