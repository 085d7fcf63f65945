//! `paas domains`, `domains:add`, `domains:remove`, `audit`, `git:remote`,
//! and the git credential helper that lets git use the stored token.

use std::io::BufRead;

use anyhow::{bail, Context};
use serde_json::json;

use super::app_arg::{AppArg, AppListArgs as ListArgs};
use super::client::{segment, Client};
use super::credentials;
use super::field;

#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// A host name, e.g. www.example.com
    pub hostname: String,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this app's events
    #[arg(long = "app", short = 'a')]
    pub app: Option<String>,
    /// At most this many events
    #[arg(long = "num", short = 'n', default_value_t = 100)]
    pub num: i64,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    /// The app whose repository to add as a git remote
    #[arg(value_name = "APP", required_unless_present = "app_flag")]
    pub app: Option<String>,
    #[arg(long = "app", short = 'a', id = "app_flag", value_name = "APP")]
    pub app_flag: Option<String>,
    /// The remote's name
    #[arg(long, short = 'r', default_value = "paas")]
    pub remote: String,
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let domains = Client::from_credentials()?.get(&format!("/apps/{}/domains", segment(&app))).await?;
    if args.json {
        super::print_json(&domains);
        return Ok(());
    }
    println!("=== {app} Custom Domains");
    for d in domains.as_array().cloned().unwrap_or_default() {
        println!("{}", field(&d, "hostname"));
    }
    Ok(())
}

pub async fn add(args: HostArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    Client::from_credentials()?
        .post(&format!("/apps/{}/domains", segment(&app)), &json!({ "hostname": args.hostname }))
        .await?;
    println!("Added {} to \u{2b22} {app}; point its DNS at the router", args.hostname);
    Ok(())
}

pub async fn remove(args: HostArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    Client::from_credentials()?.delete(&format!("/apps/{}/domains/{}", segment(&app), segment(&args.hostname))).await?;
    println!("Removed {} from \u{2b22} {app}", args.hostname);
    Ok(())
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let filter = args.app.as_deref().map(|a| format!("&app={}", segment(a))).unwrap_or_default();
    let events = Client::from_credentials()?.get(&format!("/audit?limit={}{filter}", args.num)).await?;
    if args.json {
        super::print_json(&events);
        return Ok(());
    }
    println!("=== Audit log");
    for e in events.as_array().cloned().unwrap_or_default() {
        println!(
            "{} {:<24} {:<10} {:<18} {:<16} {}",
            field(&e, "at").get(..19).unwrap_or(""),
            field(&e, "actor"),
            field(&e, "source"),
            field(&e, "action"),
            e["app"].as_str().unwrap_or("-"),
            field(&e, "detail")
        );
    }
    Ok(())
}

/// Add the app's repository as a git remote, and let git take the token
/// from `paas` (a credential helper) instead of asking for it.
pub async fn add_remote(args: RemoteArgs) -> anyhow::Result<()> {
    let name = args.app.or(args.app_flag).unwrap_or_default();
    let app = Client::from_credentials()?.get(&format!("/apps/{}", segment(&name))).await?;
    let url = field(&app, "git_url").to_string();
    let git = |args: &[&str]| -> anyhow::Result<bool> {
        Ok(std::process::Command::new("git").args(args).status().context("running git")?.success())
    };
    let inside = std::process::Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .context("running git")?
        .status
        .success();
    if !inside {
        bail!("this is not a git repository: run `git init` first, or cd into the app's repository");
    }
    let current = std::process::Command::new("git").args(["remote", "get-url", &args.remote]).output()?;
    let current = current.status.success().then(|| String::from_utf8_lossy(&current.stdout).trim().to_string());
    let said = match current.as_deref() {
        Some(existing) if existing == url => format!("git remote {} already points at {url}", args.remote),
        Some(existing) => {
            if !git(&["remote", "set-url", &args.remote, &url])? {
                bail!("could not change the git remote {}", args.remote);
            }
            format!("git remote {} pointed at {existing}; it now points at {url}", args.remote)
        }
        None => {
            if !git(&["remote", "add", &args.remote, &url])? {
                bail!("could not add the git remote {}", args.remote);
            }
            format!("added git remote {} for {url}", args.remote)
        }
    };
    let exe = std::env::current_exe()?;
    let helper = format!("!'{}' git:credentials", exe.display());
    git(&["config", &format!("credential.{url}.helper"), &helper])?;
    println!("{said}; `git push {} main` deploys {name}", args.remote);
    Ok(())
}

/// git's credential helper protocol: answer `get` with the stored token.
pub fn git_credentials(action: &str) -> anyhow::Result<()> {
    if action != "get" {
        return Ok(());
    }
    // git sends attributes; we only need to consume them.
    for line in std::io::stdin().lock().lines() {
        if line?.is_empty() {
            break;
        }
    }
    let stored = credentials::load()?;
    println!("username={}", if stored.email.is_empty() { "paas" } else { &stored.email });
    println!("password={}", stored.token);
    Ok(())
}
