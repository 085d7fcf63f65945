//! Maintenance mode under load: every request gets the maintenance page
//! while it is on, then the app again, with no failed connection; the
//! processes keep running throughout.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paas_e2e::{apps, wait_until, TestServer};

/// What one request got, and in which phase it was sent.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    App,
    Page(String),
    Other(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_mode_answers_every_request_with_the_page_while_the_app_keeps_running() {
    let (server, token, _repo) = TestServer::with_deployed_app("upkeep").await;
    let home = server.cli_home(&token);
    let before = apps::containers("upkeep");

    // Phases: 0 serving; 1 `maintenance:on` running; 2 on (it returned);
    // 3 `maintenance:off` running; 4 off (it returned). In 1 and 3 either
    // answer is right; in the others only one is.
    let phase = Arc::new(AtomicU8::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(u8, Got)>>> = Arc::default();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (phase, done, seen) = (phase.clone(), done.clone(), seen.clone());
            let url = format!("http://{}/", server.router_addr);
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !done.load(Ordering::SeqCst) {
                    let sent_in = phase.load(Ordering::SeqCst);
                    let got = match client.get(&url).header("host", "upkeep.paas.test").send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let retry_after = r.headers().contains_key("retry-after");
                            let body = r.text().await.unwrap_or_default();
                            match status {
                                200 if body == "hello from v1\n" => Got::App,
                                503 if retry_after => Got::Page(body),
                                _ => Got::Other(format!("{status} {body}")),
                            }
                        }
                        Err(e) => Got::Other(format!("connection: {e}")),
                    };
                    seen.lock().unwrap().push((sent_in, got));
                }
            })
        })
        .collect();
    let count = |phase: u8| seen.lock().unwrap().iter().filter(|(p, _)| *p == phase).count();
    wait_until("requests to reach the app", Duration::from_secs(20), || async { count(0) >= 20 }).await;

    phase.store(1, Ordering::SeqCst);
    let on = server.cli_ok(home.path(), &["maintenance:on", "-a", "upkeep"]);
    assert!(on.contains("upkeep is in maintenance"), "{on}");
    phase.store(2, Ordering::SeqCst);
    wait_until("requests during maintenance", Duration::from_secs(20), || async { count(2) >= 20 }).await;
    assert!(server.cli_ok(home.path(), &["maintenance", "-a", "upkeep"]).contains("is in maintenance"));
    assert!(server.cli_ok(home.path(), &["apps:info", "-a", "upkeep"]).contains("Maintenance: on"));
    // The processes were not touched.
    assert_eq!(apps::containers("upkeep"), before, "maintenance stops no process");
    let (_, ps) = server.call("GET", "/apps/upkeep/ps", &token, None).await;
    assert!(ps.as_array().unwrap().iter().all(|p| p["state"] == "up"), "{ps}");

    // A page of the app's own, from its config, shown at once.
    let set =
        server.cli_ok(home.path(), &["config:set", "MAINTENANCE_PAGE_HTML=<h1>Back at noon</h1>", "-a", "upkeep"]);
    assert!(set.contains("MAINTENANCE_PAGE_HTML"), "{set}");
    let (status, body) = server.app_get("upkeep", "/any/path").await;
    assert_eq!((status, body.as_str()), (503, "<h1>Back at noon</h1>"));

    phase.store(3, Ordering::SeqCst);
    let off = server.cli_ok(home.path(), &["maintenance:off", "-a", "upkeep"]);
    assert!(off.contains("upkeep is not in maintenance"), "{off}");
    phase.store(4, Ordering::SeqCst);
    wait_until("requests after maintenance", Duration::from_secs(20), || async { count(4) >= 20 }).await;
    done.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    let seen = seen.lock().unwrap().clone();
    let others: Vec<_> = seen.iter().filter(|(_, g)| matches!(g, Got::Other(_))).collect();
    assert!(others.is_empty(), "every request got the app or the maintenance page: {others:?}");
    for (phase, got) in &seen {
        match phase {
            0 | 4 => assert_eq!(got, &Got::App, "sent while serving"),
            2 => assert!(matches!(got, Got::Page(_)), "sent during maintenance: {got:?}"),
            _ => {}
        }
    }
    let default_page = seen.iter().find_map(|(_, g)| match g {
        Got::Page(body) if body.contains("Down for maintenance") => Some(body.clone()),
        _ => None,
    });
    assert!(
        default_page.is_some_and(|p| p.contains("upkeep is offline for maintenance")),
        "the default page names the app"
    );

    // The audit log says who did it.
    let (_, events) = server.call("GET", "/audit?app=upkeep", &token, None).await;
    let actions: Vec<&str> = events.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "app.maintenance").count(), 2, "{actions:?}");
}
