//! `paas releases`, `releases:info`, `rollback`, `builds`, `builds:info`.

use reqwest::Method;
use serde_json::{json, Value};

use super::app_arg::{AppArg, AppListArgs as ListArgs};
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The release, e.g. v3 (default: the current one)
    #[arg(value_name = "RELEASE")]
    pub release: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The release to return to, e.g. v3 (default: the previous good one)
    #[arg(value_name = "RELEASE")]
    pub release: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct BuildInfoArgs {
    /// The build's id, from `paas builds`
    pub id: i64,
    #[command(flatten)]
    pub app: AppArg,
}

fn parse_version(text: &str) -> anyhow::Result<i64> {
    text.trim_start_matches(['v', 'V']).parse().map_err(|_| anyhow::anyhow!("{text:?} is not a release like v3"))
}

fn status_of(release: &Value) -> String {
    if release["current"].as_bool() == Some(true) {
        "current".to_string()
    } else {
        field(release, "status").to_string()
    }
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let releases = Client::from_credentials()?.get(&format!("/apps/{}/releases", segment(&app))).await?;
    if args.json {
        super::print_json(&releases);
        return Ok(());
    }
    println!("=== {app} Releases");
    for r in releases.as_array().cloned().unwrap_or_default() {
        println!(
            "v{:<4} {:<36} {:<24} {:<20} {}",
            r["version"],
            field(&r, "description"),
            r["author"].as_str().unwrap_or("-"),
            field(&r, "created_at").get(..19).unwrap_or(""),
            status_of(&r)
        );
    }
    Ok(())
}

/// `releases:output [vN]`: what the release's release command printed.
pub async fn output(args: InfoArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let version = match &args.release {
        Some(v) => parse_version(v)?,
        None => {
            let all = client.get(&format!("/apps/{}/releases", segment(&app))).await?;
            let current = all.as_array().and_then(|a| a.iter().find(|r| r["current"].as_bool() == Some(true)).cloned());
            let current = current.ok_or_else(|| anyhow::anyhow!("{app} has no current release"))?;
            current["version"].as_i64().unwrap_or_default()
        }
    };
    let text = client.get_text(&format!("/apps/{}/releases/{version}/output", segment(&app))).await?;
    print!("{text}");
    Ok(())
}

pub async fn info(args: InfoArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let release = match &args.release {
        Some(v) => client.get(&format!("/apps/{}/releases/{}", segment(&app), parse_version(v)?)).await?,
        None => {
            let all = client.get(&format!("/apps/{}/releases", segment(&app))).await?;
            all.as_array()
                .and_then(|a| a.iter().find(|r| r["current"].as_bool() == Some(true)).cloned())
                .ok_or_else(|| anyhow::anyhow!("{app} has no current release"))?
        }
    };
    if args.json {
        super::print_json(&release);
        return Ok(());
    }
    println!("=== Release v{}", release["version"]);
    println!("Description: {}", field(&release, "description"));
    println!("Status:      {}", status_of(&release));
    println!("By:          {}", release["author"].as_str().unwrap_or("-"));
    println!("When:        {}", field(&release, "created_at"));
    println!("Commit:      {}", release["commit"].as_str().unwrap_or("-"));
    println!("Image:       {}", field(&release, "image"));
    let keys: Vec<&str> = release["config_keys"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    println!("Config vars: {}", if keys.is_empty() { "(none)".to_string() } else { keys.join(", ") });
    Ok(())
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let version = args.release.as_deref().map(parse_version).transpose()?;
    eprint!("Rolling back \u{2b22} {app} to {}... ", args.release.as_deref().unwrap_or("the previous release"));
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}/rollback", segment(&app));
    match super::operations::run(&client, Method::POST, &path, &json!({ "version": version }), &app).await {
        Ok(op) => {
            eprintln!("done, v{}", op["release"]);
            let release = client.get(&format!("/apps/{}/releases/{}", segment(&app), op["release"])).await?;
            println!("{}", field(&release, "description"));
            Ok(())
        }
        Err(err) => {
            eprintln!("failed");
            Err(err)
        }
    }
}

pub async fn builds(args: ListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let builds = Client::from_credentials()?.get(&format!("/apps/{}/builds", segment(&app))).await?;
    if args.json {
        super::print_json(&builds);
        return Ok(());
    }
    println!("=== {app} Builds");
    for b in builds.as_array().cloned().unwrap_or_default() {
        println!(
            "{:<6} {:<10} {:<8} {:<24} {}",
            b["id"],
            field(&b, "status"),
            field(&b, "commit").get(..7).unwrap_or(""),
            b["author"].as_str().unwrap_or("-"),
            field(&b, "created_at").get(..19).unwrap_or("")
        );
    }
    Ok(())
}

pub async fn build_info(args: BuildInfoArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let build = Client::from_credentials()?.get(&format!("/apps/{}/builds/{}", segment(&app), args.id)).await?;
    println!("=== Build {} ({}) of {}", args.id, field(&build, "status"), field(&build, "commit"));
    print!("{}", field(&build, "log"));
    Ok(())
}

pub async fn purge_build_cache(app: super::app_arg::AppArg) -> anyhow::Result<()> {
    let app = app.resolve()?;
    Client::from_credentials()?.delete(&format!("/apps/{}/build-cache", segment(&app))).await?;
    println!("Purged the build cache of \u{2b22} {app}: its next build installs everything anew");
    Ok(())
}
