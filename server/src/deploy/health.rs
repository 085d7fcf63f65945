//! Health checks of web processes: the startup check a new process passes
//! before it gets traffic (in a rollout, or when the reconcile loop replaces
//! one), and the liveness probe that keeps checking it while it runs. A check
//! passes on any answer below 500; redirects are answers, not followed.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::config::Config;
use crate::db::releases::Release;
use crate::runtime::{Container, Scheduler};

/// Non-web processes count as up when still running after this long.
pub const SETTLE: Duration = Duration::from_secs(2);

/// How a release's web processes are checked when they start.
#[derive(Debug, Clone)]
pub struct Startup {
    pub path: String,
    pub attempts: u32,
    pub timeout: Duration,
}

/// How running web processes are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures that make a process unhealthy.
    pub failures: u32,
}

/// The release's checks, with the server's defaults where app.json says nothing.
pub fn checks(config: &Config, release: &Release) -> (Startup, Option<Liveness>) {
    let check = release.healthcheck.as_ref().map(|h| h.0.clone()).unwrap_or_default();
    let path = check.path.clone().unwrap_or_else(|| "/".to_string());
    let startup = Startup {
        path: path.clone(),
        attempts: check.attempts.unwrap_or(config.health_checks).max(1),
        timeout: Duration::from_secs(check.timeout.unwrap_or(config.health_timeout)),
    };
    let live = check.liveness.unwrap_or_default();
    let interval = live.interval.unwrap_or(config.liveness_interval);
    let liveness = (interval > 0).then(|| Liveness {
        path: live.path.unwrap_or(path),
        interval: Duration::from_secs(interval),
        timeout: Duration::from_secs(live.timeout.unwrap_or(config.liveness_timeout).max(1)),
        failures: live.attempts.unwrap_or(config.liveness_failures).max(1),
    });
    (startup, liveness)
}

/// An HTTP client for checks: a per-request timeout, no redirects followed.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default()
}

/// One check of a process at its published address: Ok, or why not.
pub async fn probe(client: &reqwest::Client, addr: std::net::SocketAddr, path: &str) -> Result<(), String> {
    match client.get(format!("http://{addr}{path}")).send().await {
        Ok(response) if !response.status().is_server_error() => Ok(()),
        Ok(response) => Err(format!("GET {path} answered {}", response.status())),
        Err(err) if err.is_timeout() => Err(format!("GET {path} did not answer in time")),
        Err(err) if err.is_connect() => Err(format!("GET {path} on $PORT failed: connection refused")),
        Err(err) => Err(format!("GET {path} on $PORT failed: {err}")),
    }
}

/// Time between the consecutive passing answers a startup check wants.
const PASS_INTERVAL: Duration = Duration::from_millis(25);
/// First wait after a failed probe (a process still booting); it doubles up
/// to `MAX_RETRY_WAIT`.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(20);
const MAX_RETRY_WAIT: Duration = Duration::from_millis(250);

/// Poll a new web process until enough consecutive passing answers; returns
/// the number of checks made. The first probe goes at once; one that fails
/// asks the engine whether the process still runs, so a process that exits
/// fails the check at once, with its exit code.
pub async fn startup(runtime: &dyn Scheduler, container: &Container, check: &Startup) -> anyhow::Result<u32> {
    let path = &check.path;
    let addr = match container.addr {
        Some(addr) => addr,
        // The process may have died before the engine reported its port.
        None => match runtime.inspect(&container.id).await? {
            Some(c) if !c.running => bail!("{}", exited(&c, path)),
            Some(Container { addr: Some(addr), .. }) => addr,
            _ => bail!("the container has no published port"),
        },
    };
    let client = client(Duration::from_secs(2));
    let deadline = Instant::now() + check.timeout;
    let (mut checks, mut streak) = (0u32, 0u32);
    let mut last = String::from("no answer yet");
    let mut retry_wait = FIRST_RETRY_WAIT;
    loop {
        checks += 1;
        let wait = match probe(&client, addr, path).await {
            Ok(()) => {
                streak += 1;
                if streak >= check.attempts {
                    return Ok(checks);
                }
                PASS_INTERVAL
            }
            Err(why) => {
                streak = 0;
                last = why;
                if let Some(current) = runtime.inspect(&container.id).await? {
                    if !current.running {
                        bail!("{}", exited(&current, path));
                    }
                }
                let wait = retry_wait;
                retry_wait = (retry_wait * 2).min(MAX_RETRY_WAIT);
                wait
            }
        };
        if Instant::now() >= deadline {
            bail!(
                "health check failed: no {} consecutive passing answers within {} s (last: {last})",
                check.attempts,
                check.timeout.as_secs()
            );
        }
        tokio::time::sleep(wait).await;
    }
}

fn exited(c: &Container, path: &str) -> String {
    format!(
        "the process exited (code {}{}) before passing its health check on GET {path}",
        c.exit_code.unwrap_or(-1),
        if c.oom_killed { ", killed for exceeding its memory limit" } else { "" }
    )
}

/// A non-web process is up when it still runs after `SETTLE`.
pub async fn settled(runtime: &dyn Scheduler, container: &Container) -> anyhow::Result<()> {
    tokio::time::sleep(SETTLE).await;
    match runtime.inspect(&container.id).await? {
        Some(c) if c.running => Ok(()),
        Some(c) => {
            bail!("the process exited (code {}) within {} s of starting", c.exit_code.unwrap_or(-1), SETTLE.as_secs())
        }
        None => bail!("the container disappeared"),
    }
}
