//! Add-ons: a PostgreSQL made with one command, used by an app through
//! `DATABASE_URL` (the `notes` fixture writes and reads rows with psql);
//! its data survives a deploy, a rollback (to a release made before it) and
//! a crash of the database; a backup brings a dropped table back; it is
//! published nowhere and reached only by the apps it is attached to; and
//! destroying it takes its process, data, backups and config var with it.

use std::process::Command;
use std::time::Duration;

use paas_e2e::{apps, wait_until, TestServer};
use serde_json::json;

/// The add-on containers of this installation: (id, running).
fn addon_containers(server: &TestServer) -> Vec<(String, bool)> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--format", "{{.ID}} {{.State}}", "--filter", "label=paas.addon"])
        .args(["--filter", &format!("label=paas.instance={}", server.instance)])
        .output()
        .expect("docker ps");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().filter_map(|l| l.split_once(' ')).map(|(id, state)| (id.to_string(), state == "running")).collect()
}

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker").args(["inspect", "--format", format, container]).output().expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn engine_volumes(server: &TestServer) -> Vec<String> {
    let out = Command::new("docker")
        .args(["volume", "ls", "-q", "--filter", &format!("label=paas.instance={}", server.instance)])
        .output()
        .expect("docker volume ls");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// What `paas run -a FROM` gets connecting to `host` port 5432: the exit
/// status of busybox's nc (0: it connected).
fn connects(server: &TestServer, cfg: &std::path::Path, from: &str, host: &str) -> i32 {
    let command = format!("printf '' | busybox nc -w 3 {host} 5432");
    server.cli(cfg, &["run", "--no-tty", "-a", from, &command], "").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_add_on_keeps_data_backs_up_and_stays_private() {
    apps::ensure_debian_suite("bookworm");
    let server = TestServer::start().await;
    let token = server.admin_token().await;
    let (status, body) = server.call("POST", "/teams", &token, Some(json!({ "name": "rivals" }))).await;
    assert_eq!(status, 201, "{body}");
    let home = server.cli_home(&token);
    let cfg = home.path();
    let mut repos = Vec::new();
    for (app, team, fixture) in
        [("shop", "main", "notes"), ("shop-admin", "main", "notes"), ("rival", "rivals", "hello")]
    {
        let (status, body) = server.call("POST", "/apps", &token, Some(json!({ "name": app, "team": team }))).await;
        assert_eq!(status, 201, "{body}");
        let repo = apps::AppRepo::from_fixture(fixture);
        let (ok, output) = repo.push(&server.git_url(app, &token));
        assert!(ok, "{app}: {output}");
        repos.push(repo);
    }
    let notes = |app: &'static str, query: &'static str| {
        let server = &server;
        async move { server.app_get(app, &format!("/cgi-bin/notes{query}")).await }
    };

    // Bad requests are refused and make nothing.
    let err = server.cli_err(cfg, &["addons:create", "mysql", "-a", "shop"]);
    assert!(err.contains("the services are postgres"), "{err}");
    let err = server.cli_err(cfg, &["addons:create", "postgres", "--version", "9.6", "-a", "shop"]);
    assert!(err.contains("the versions are 17, 15"), "{err}");

    // One command: a database, and DATABASE_URL set by a release.
    let out = server.cli_ok(cfg, &["addons:create", "postgres", "--version", "15", "-a", "shop"]);
    let addon = out
        .split_whitespace()
        .skip_while(|w| *w != "Created")
        .nth(1)
        .unwrap_or_else(|| panic!("no add-on name in {out}"))
        .to_string();
    assert!(addon.starts_with("postgres-") && out.contains("as DATABASE_URL"), "{out}");
    let config = server.cli_ok(cfg, &["config", "-a", "shop"]);
    assert!(config.contains(&format!("@{addon}:5432/paas")), "{config}");
    let releases = server.cli_ok(cfg, &["releases", "-a", "shop"]);
    assert!(releases.contains("v2") && releases.contains("DATABASE_URL"), "{releases}");
    let url = server.cli_ok(cfg, &["pg:credentials:url", "-a", "shop"]);
    let password = url.split_once("paas:").and_then(|(_, rest)| rest.split_once('@')).map(|(p, _)| p.to_string());
    let password = password.unwrap_or_else(|| panic!("no password in {url}"));
    assert_eq!(password.len(), 32, "{url}");
    let err = server.cli_err(cfg, &["config:set", "DATABASE_URL=postgres://elsewhere/db", "-a", "shop"]);
    assert!(err.contains("set by an add-on"), "{err}");

    // The app writes and reads through it, over the router.
    assert_eq!(notes("shop", "?add=kept").await, (200, "kept\n".to_string()));
    // Clients that require TLS (Heroku's apps ask for sslmode=require) get it.
    let tls = r#"psql "$DATABASE_URL?sslmode=require" -tAc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()""#;
    let (code, out, err) = server.cli(cfg, &["run", "--no-tty", "-a", "shop", tls], "");
    assert_eq!((code, out.as_str()), (0, "t\n"), "{err}");
    let info = server.cli_ok(cfg, &["apps:info", "-a", "shop"]);
    assert!(info.contains(&format!("Add-ons:  {addon} (DATABASE_URL)")), "{info}");
    let info = server.cli_ok(cfg, &["pg:info", "-a", "shop"]);
    assert!(info.contains("up") && info.contains("15.") && info.contains("Tables:"), "{info}");

    // Survives a deploy of new code, and a rollback to v1, a release made
    // before the database: the app keeps its add-on.
    repos[0].write("www/index.html", "notes v2\n");
    repos[0].commit("v2");
    let (ok, output) = repos[0].push(&server.git_url("shop", &token));
    assert!(ok, "{output}");
    assert_eq!(server.app_get("shop", "/").await, (200, "notes v2\n".to_string()));
    assert_eq!(notes("shop", "").await, (200, "kept\n".to_string()), "after a deploy");
    server.cli_ok(cfg, &["rollback", "v1", "-a", "shop"]);
    assert_eq!(server.app_get("shop", "/").await, (200, "notes v1\n".to_string()));
    assert_eq!(notes("shop", "").await, (200, "kept\n".to_string()), "after a rollback to before the add-on");

    // The database process dies: the platform starts it again on its data.
    let before = addon_containers(&server);
    assert_eq!(before.len(), 1, "{before:?}");
    let killed = Command::new("docker").args(["kill", &before[0].0]).output().unwrap();
    assert!(killed.status.success());
    wait_until("the database to be started again", Duration::from_secs(60), || async {
        let now = addon_containers(&server);
        now.len() == 1 && now[0].1 && now[0].0 != before[0].0 && notes("shop", "").await.1 == "kept\n"
    })
    .await;
    let logs = server.cli_ok(cfg, &["logs", "-a", "shop"]);
    assert!(logs.contains(&format!("{addon} stopped (exit 137)")), "{logs}");

    // Never published on the host; only on its own network and its one
    // attachment's.
    let container = addon_containers(&server)[0].0.clone();
    assert_eq!(inspect(&container, "{{json .HostConfig.PortBindings}}"), "{}");
    assert_eq!(inspect(&container, "{{json .NetworkSettings.Ports}}"), "{}");
    let networks = inspect(&container, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}");
    assert_eq!(networks.split_whitespace().count(), 2, "{networks}");
    let addresses = inspect(&container, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}");
    // Another team's app reaches it neither by name nor by any address.
    assert_eq!(connects(&server, cfg, "shop", &addon), 0, "the app it is attached to connects");
    assert_ne!(connects(&server, cfg, "rival", &addon), 0, "another team's app resolved and reached it");
    for ip in addresses.split_whitespace() {
        assert_ne!(connects(&server, cfg, "rival", ip), 0, "another team's app reached it at {ip}");
        // Nor does an app of the same team it is not attached to.
        assert_ne!(connects(&server, cfg, "shop-admin", ip), 0, "an app not attached reached it at {ip}");
    }
    let err = server.cli_err(cfg, &["addons:attach", &addon, "-a", "rival"]);
    assert!(err.contains("no add-on"), "another team attaches: {err}");

    // Shared within the team: attached to a second app, which sees the data.
    server.cli_ok(cfg, &["addons:attach", &addon, "-a", "shop-admin"]);
    assert_eq!(notes("shop-admin", "").await, (200, "kept\n".to_string()));
    let listed = server.cli_ok(cfg, &["addons", "-a", "shop-admin"]);
    assert!(listed.contains(&addon) && listed.contains("(of shop)"), "{listed}");
    // Sharing a database does not put the two apps on one network: shop's
    // web process stays out of shop-admin's reach at every address it has.
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", "label=paas.app=shop", "--filter", "label=paas.process=web"])
        .args(["--filter", &format!("label=paas.instance={}", server.instance)])
        .output()
        .unwrap();
    let web = String::from_utf8_lossy(&out.stdout).lines().next().expect("shop's web process").to_string();
    let addresses = inspect(&web, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}");
    assert_eq!(addresses.split_whitespace().count(), 2, "its own network and its attachment's: {addresses}");
    for address in addresses.split_whitespace() {
        let command = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {address} 5000");
        let (code, out, _) = server.cli(cfg, &["run", "--no-tty", "-a", "shop-admin", &command], "");
        assert!(code != 0 || !out.contains("notes"), "shop-admin reached shop at {address}: {out}");
    }

    // A backup, a dropped table, a restore: the row is back.
    let out = server.cli_ok(cfg, &["pg:backups:capture", "-a", "shop"]);
    assert!(out.contains("b00") && out.contains("encrypted"), "{out}");
    let listed = server.cli_ok(cfg, &["pg:backups", "-a", "shop"]);
    assert!(listed.contains("completed"), "{listed}");
    let backups: Vec<_> = std::fs::read_dir(server.data_path().join("data/backups")).unwrap().flatten().collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let sealed = std::fs::read(backups[0].path()).unwrap();
    assert!(!sealed.windows(5).any(|w| w == b"PGDMP"), "the backup is kept encrypted");
    let dump = tempfile::tempdir().unwrap();
    let file = dump.path().join("shop.dump");
    server.cli_ok(cfg, &["pg:backups:download", "-a", "shop", "-o", file.to_str().unwrap()]);
    assert!(std::fs::read(&file).unwrap().starts_with(b"PGDMP"), "the download is pg_dump's custom format");
    server.cli_ok(cfg, &["pg:psql", "-a", "shop", "-c", "DROP TABLE notes"]);
    let (_, gone) = notes("shop", "").await;
    assert!(gone.contains("does not exist"), "{gone}");
    let err = server.cli_err(cfg, &["pg:backups:restore", "-a", "shop"]);
    assert!(err.contains("--confirm shop"), "{err}");
    server.cli_ok(cfg, &["pg:backups:restore", "-a", "shop", "--confirm", "shop"]);
    assert_eq!(notes("shop", "").await, (200, "kept\n".to_string()), "restored");
    // A second backup, deleted: its file goes with it.
    server.cli_ok(cfg, &["pg:backups:capture", "-a", "shop"]);
    assert_eq!(std::fs::read_dir(server.data_path().join("data/backups")).unwrap().count(), 2);
    server.cli_ok(cfg, &["pg:backups:delete", "b002", "-a", "shop", "--confirm", "shop"]);
    assert_eq!(std::fs::read_dir(server.data_path().join("data/backups")).unwrap().count(), 1);
    assert!(!server.cli_ok(cfg, &["pg:backups", "-a", "shop"]).contains("b002"));

    // Scheduled backups: daily at an hour (UTC); set to this hour, one is
    // taken within the scheduler's next ticks, in the scheduling member's name.
    let into_hour = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 3600;
    if into_hour() > 3540 {
        tokio::time::sleep(Duration::from_secs(70)).await; // not across the hour's end
    }
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let hour = format!("{:02}:00", epoch % 86400 / 3600);
    let err = server.cli_err(cfg, &["pg:backups:schedule", "--at", "02:00 America/New_York", "-a", "shop"]);
    assert!(err.contains("schedules are in UTC"), "{err}");
    server.cli_ok(cfg, &["pg:backups:schedule", "--at", &hour, "--keep", "1", "-a", "shop"]);
    assert!(server.cli_ok(cfg, &["pg:backups", "-a", "shop"]).contains(&format!("daily at {hour} UTC, keeping 1")));
    wait_until("the scheduled backup", Duration::from_secs(60), || async {
        let (_, list) = server.call("GET", &format!("/apps/shop/addons/{addon}/backups"), &token, None).await;
        list.as_array().is_some_and(|l| l.iter().any(|b| b["scheduled"] == true && b["status"] == "completed"))
    })
    .await;
    let (_, events) = server.call("GET", "/audit?app=shop", &token, None).await;
    let by_schedule =
        events.as_array().unwrap().iter().any(|e| e["action"] == "addon.backup" && e["source"] == "schedule");
    assert!(by_schedule, "{events}");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (_, list) = server.call("GET", &format!("/apps/shop/addons/{addon}/backups"), &token, None).await;
    let scheduled = list.as_array().unwrap().iter().filter(|b| b["scheduled"] == true).count();
    assert_eq!(scheduled, 1, "one a day: {list}");
    server.cli_ok(cfg, &["pg:backups:unschedule", "-a", "shop"]);
    assert!(server.cli_ok(cfg, &["pg:backups", "-a", "shop"]).contains("Scheduled: no"));

    // Destroy: refused while another app uses it; then it goes whole.
    let err = server.cli_err(cfg, &["addons:destroy", &addon, "--confirm", &addon, "-a", "shop"]);
    assert!(err.contains("detach it there first"), "{err}");
    server.cli_ok(cfg, &["addons:detach", &addon, "-a", "shop-admin"]);
    assert!(!server.cli_ok(cfg, &["config", "-a", "shop-admin"]).contains("DATABASE_URL"));
    assert_ne!(connects(&server, cfg, "shop-admin", &addon), 0, "a detached app still reaches the database");
    let err = server.cli_err(cfg, &["addons:destroy", &addon, "-a", "shop"]);
    assert!(err.contains(&format!("--confirm {addon}")), "{err}");
    let volume_id = engine_volumes(&server).into_iter().find(|v| v.contains("-addon-"));
    assert!(volume_id.is_some(), "its volume exists");
    server.cli_ok(cfg, &["addons:destroy", &addon, "--confirm", &addon, "-a", "shop"]);
    assert!(addon_containers(&server).is_empty(), "its process is gone");
    assert!(!engine_volumes(&server).iter().any(|v| v.contains("-addon-")), "its data is gone");
    wait_until("its networks to go once the apps' replaced processes stopped", Duration::from_secs(60), || async {
        let out = Command::new("docker").args(["network", "ls", "--format", "{{.Name}}"]).output().unwrap();
        let prefix = format!("{}-addon-", server.instance);
        !String::from_utf8_lossy(&out.stdout).lines().any(|n| n.starts_with(&prefix))
    })
    .await;
    assert_eq!(std::fs::read_dir(server.data_path().join("data/backups")).unwrap().count(), 0, "its backups are gone");
    assert!(!server.cli_ok(cfg, &["config", "-a", "shop"]).contains("DATABASE_URL"), "its config var is gone");
    assert!(server.cli_ok(cfg, &["addons", "-a", "shop"]).contains("no add-ons"));
    let (_, events) = server.call("GET", "/audit?app=shop", &token, None).await;
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    let actions_wanted = [
        "addon.create",
        "addon.backup",
        "addon.restore",
        "addon.backup.delete",
        "addon.backup.schedule",
        "addon.destroy",
    ];
    for action in actions_wanted {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(!server.all_logs().contains(&password), "the password appeared in the server's logs");
}

/// A server killed while a database is being made leaves no half of it: at
/// the next start the add-on is removed (its process and data), the app's
/// config never got its URL, and the operation says it was interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cut_short_by_a_crash_leaves_nothing_behind() {
    apps::ensure_debian_suite("bookworm");
    let (mut server, token, _repo) = TestServer::with_deployed_app("half-db").await;
    let response = server
        .http
        .post(server.api("/apps/half-db/addons"))
        .bearer_auth(&token)
        .header("prefer", "respond-async")
        .json(&json!({ "service": "postgres", "version": "15" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_until("the database's process to be started", Duration::from_secs(180), || async {
        !addon_containers(&server).is_empty()
    })
    .await;
    server.kill();
    server.restart().await;
    wait_until("the half-made database to be removed", Duration::from_secs(60), || async {
        addon_containers(&server).is_empty()
    })
    .await;
    assert!(!engine_volumes(&server).iter().any(|v| v.contains("-addon-")), "its data went too");
    let (_, addons) = server.call("GET", "/apps/half-db/addons", &token, None).await;
    assert_eq!(addons, json!([]));
    let (_, config) = server.call("GET", "/apps/half-db/config", &token, None).await;
    assert!(config.get("DATABASE_URL").is_none(), "{config}");
    let (_, ops) = server.call("GET", "/apps/half-db/operations", &token, None).await;
    let create = ops.as_array().unwrap().iter().find(|o| o["kind"] == "addon.create").cloned();
    let ended = create.map(|o| (o["status"].clone(), o["error"].as_str().unwrap_or_default().to_string()));
    assert!(ended.is_some_and(|(status, error)| status == "failed" && error.starts_with("interrupted")), "{ops}");
    // And the app makes one whole afterwards.
    let home = server.cli_home(&token);
    let out = server.cli_ok(home.path(), &["addons:create", "postgres", "--version", "15", "-a", "half-db"]);
    assert!(out.contains("as DATABASE_URL"), "{out}");
}
