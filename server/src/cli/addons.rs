//! `paas addons`, `addons:create`, `addons:info`, `addons:attach`,
//! `addons:detach`, `addons:destroy`, and the PostgreSQL verbs: `pg:info`,
//! `pg:psql`, `pg:credentials:url`, `pg:backups`, `pg:backups:capture`,
//! `pg:backups:restore`, `pg:backups:download`. An add-on is named by its
//! name (`postgres-1a2b3c`) or its attachment's (`DATABASE`, the default).

use std::io::Write;

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::{json, Value};

use super::app_arg::{AppArg, AppListArgs};
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The service, e.g. postgres (heroku-postgresql works too)
    pub service: String,
    /// The attachment's name: DATABASE (the default) sets DATABASE_URL
    #[arg(long = "as")]
    pub attachment: Option<String>,
    /// The major version (default: the newest offered)
    #[arg(long)]
    pub version: Option<String>,
    /// Its memory limit, e.g. 1g (default 512m)
    #[arg(long)]
    pub memory: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct AddonArgs {
    /// The add-on, by name or attachment (default DATABASE)
    #[arg(default_value = "DATABASE")]
    pub addon: String,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The add-on's name (postgres-1a2b3c)
    pub addon: String,
    /// The attachment's name on this app (default DATABASE)
    #[arg(long = "as")]
    pub attachment: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    pub addon: String,
    /// The add-on's name again, to confirm
    #[arg(long)]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct PsqlArgs {
    /// The add-on, by name or attachment
    #[arg(default_value = "DATABASE")]
    pub addon: String,
    /// Run this SQL and exit
    #[arg(long, short = 'c')]
    pub command: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup, e.g. b003 (default: the newest completed)
    pub backup: Option<String>,
    /// The add-on to restore into, by name or attachment
    #[arg(default_value = "DATABASE")]
    pub addon: String,
    /// The app's name, to confirm that its data is replaced
    #[arg(long)]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// The add-on, by name or attachment
    #[arg(default_value = "DATABASE")]
    pub addon: String,
    /// The hour of the day, UTC: 02:00
    #[arg(long)]
    pub at: String,
    /// How many scheduled backups to keep
    #[arg(long, default_value_t = 7)]
    pub keep: i32,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct DeleteBackupArgs {
    /// The backup, e.g. b003
    pub backup: String,
    /// The add-on, by name or attachment
    #[arg(long, default_value = "DATABASE")]
    pub addon: String,
    /// The app's name, to confirm
    #[arg(long)]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// The backup, e.g. b003 (default: the newest completed)
    pub backup: Option<String>,
    /// The add-on, by name or attachment
    #[arg(long, default_value = "DATABASE")]
    pub addon: String,
    /// Where to write it (default: latest.dump)
    #[arg(long, short = 'o', default_value = "latest.dump")]
    pub output: std::path::PathBuf,
    #[command(flatten)]
    pub app: AppArg,
}

fn addon_path(app: &str, addon: &str) -> String {
    format!("/apps/{}/addons/{}", segment(app), segment(addon))
}

pub async fn list(args: AppListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let addons = Client::from_credentials()?.get(&format!("/apps/{}/addons", segment(&app))).await?;
    if args.json {
        super::print_json(&addons);
        return Ok(());
    }
    let list = addons.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("{app} has no add-ons. Create one with `paas addons:create postgres`.");
        return Ok(());
    }
    println!("=== {app} add-ons");
    for a in list {
        let owner = match field(&a, "app") {
            owner if owner == app => String::new(),
            owner => format!(" (of {owner})"),
        };
        println!(
            "{:<20} {} {:<4} as {}{owner}",
            field(&a, "name"),
            field(&a, "service"),
            field(&a, "version"),
            field(&a, "config_var")
        );
    }
    Ok(())
}

pub async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let body =
        json!({ "service": args.service, "version": args.version, "as": args.attachment, "memory": args.memory });
    let what = format!("Creating {} on \u{2b22} {app}", args.service);
    let path = format!("/apps/{}/addons", segment(&app));
    super::announced(&what, super::operations::run(&client, Method::POST, &path, &body, &app)).await?;
    let attachment = args.attachment.unwrap_or_else(|| "DATABASE".into()).to_ascii_uppercase();
    let attachment = attachment.trim_end_matches("_URL");
    let info = client.get(&addon_path(&app, attachment)).await?;
    println!("Created {} as {}", field(&info, "name"), field(&info, "config_var"));
    println!("Use `paas addons:info {} -a {app}` to see it", field(&info, "name"));
    Ok(())
}

pub async fn info(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let info = Client::from_credentials()?.get(&addon_path(&app, &args.addon)).await?;
    println!("=== {}", field(&info, "name"));
    println!("{:<17}{} {}", "Service:", field(&info, "service"), field(&info, "version"));
    println!("{:<17}{}", "State:", field(&info, "state"));
    println!("{:<17}{}", "Owning app:", field(&info, "app"));
    println!("{:<17}{} MB", "Memory:", info["memory_mb"]);
    let attached: Vec<String> = info["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{}::{}", field(a, "app"), field(a, "name")))
        .collect();
    println!("{:<17}{}", "Attachments:", attached.join(", "));
    println!("{:<17}{}", "Created:", field(&info, "created_at"));
    print_facts(&info);
    Ok(())
}

fn print_facts(info: &Value) {
    for fact in info["facts"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (fact[0].as_str(), fact[1].as_str()) {
            println!("{:<17}{value}", format!("{name}:"));
        }
    }
}

pub async fn pg_info(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let info = Client::from_credentials()?.get(&addon_path(&app, &args.addon)).await?;
    println!("=== {}", field(&info, "config_var"));
    println!("{:<17}{}", "Add-on:", field(&info, "name"));
    println!("{:<17}{}", "Status:", field(&info, "state"));
    print_facts(&info);
    Ok(())
}

pub async fn credentials_url(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let creds = Client::from_credentials()?.get(&format!("{}/credentials", addon_path(&app, &args.addon))).await?;
    println!("{}", field(&creds, "url"));
    Ok(())
}

pub async fn attach(args: AttachArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let body = json!({ "addon": args.addon, "as": args.attachment });
    let path = format!("/apps/{}/addon-attachments", segment(&app));
    let what = format!("Attaching {} to \u{2b22} {app}", args.addon);
    super::announced(&what, super::operations::run(&client, Method::POST, &path, &body, &app)).await?;
    Ok(())
}

pub async fn detach(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}/addon-attachments/{}", segment(&app), segment(&args.addon));
    let what = format!("Detaching {} from \u{2b22} {app}", args.addon);
    super::announced(&what, super::operations::run(&client, Method::DELETE, &path, &json!({}), &app)).await?;
    Ok(())
}

pub async fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let info = client.get(&addon_path(&app, &args.addon)).await?;
    let name = field(&info, "name").to_string();
    super::confirm(args.confirm, &name, &format!("this destroys {name} of {app} with all its data and backups"))?;
    let what = format!("Destroying {name} of \u{2b22} {app}");
    super::announced(
        &what,
        super::operations::run(&client, Method::DELETE, &addon_path(&app, &name), &json!({}), &app),
    )
    .await?;
    Ok(())
}

pub async fn psql(args: PsqlArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let tty = args.command.is_none() && super::terminal::is_tty(0) && super::terminal::is_tty(1);
    let request = json!({ "command": args.command });
    let socket = client.websocket(&format!("{}/console", addon_path(&app, &args.addon))).await?;
    let code = super::run::attach(socket, request, tty, |name| eprintln!("--> Connecting to {name}")).await?;
    super::run::exit_with(code)
}

pub async fn backups(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let info = client.get(&addon_path(&app, &args.addon)).await?;
    match info["backup_hour"].as_i64() {
        Some(hour) => println!("Scheduled: daily at {hour:02}:00 UTC, keeping {}", info["backup_keep"]),
        None => println!("Scheduled: no (`paas pg:backups:schedule --at 02:00`)"),
    }
    let list = client.get(&format!("{}/backups", addon_path(&app, &args.addon))).await?;
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("No backups. Capture one with `paas pg:backups:capture -a {app}`.");
        return Ok(());
    }
    println!("=== Backups of {app}'s {}", args.addon);
    for b in list {
        let size = b["size_bytes"].as_i64().map(|s| format!("{s} bytes")).unwrap_or_default();
        let error = field(&b, "error");
        let how = if b["scheduled"].as_bool() == Some(true) { "scheduled" } else { "asked" };
        let (name, at, status) = (field(&b, "name"), field(&b, "created_at"), field(&b, "status"));
        println!("{name:<6} {at:<26} {how:<9} {status:<10} {size}{error}");
    }
    Ok(())
}

pub async fn schedule(args: ScheduleArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let path = format!("{}/backup-schedule", addon_path(&app, &args.addon));
    let body = json!({ "at": args.at, "keep": args.keep });
    Client::from_credentials()?.start(Method::PUT, &path, &body).await?;
    println!("Scheduled daily backups of {app}'s {} at {} UTC, keeping {}", args.addon, args.at, args.keep);
    Ok(())
}

pub async fn unschedule(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let path = format!("{}/backup-schedule", addon_path(&app, &args.addon));
    Client::from_credentials()?.delete(&path).await?;
    println!("Stopped the scheduled backups of {app}'s {} (those taken stay)", args.addon);
    Ok(())
}

pub async fn capture(args: AddonArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let path = format!("{}/backups", addon_path(&app, &args.addon));
    let what = format!("Backing up {} of \u{2b22} {app}", args.addon);
    super::announced(&what, super::operations::run(&client, Method::POST, &path, &json!({}), &app)).await?;
    Ok(())
}

/// The backup named, or the newest completed one.
async fn pick(client: &Client, app: &str, addon: &str, backup: Option<String>) -> anyhow::Result<String> {
    if let Some(backup) = backup {
        return Ok(backup);
    }
    let list = client.get(&format!("{}/backups", addon_path(app, addon))).await?;
    let newest = list.as_array().into_iter().flatten().find(|b| field(b, "status") == "completed");
    match newest {
        Some(b) => Ok(field(b, "name").to_string()),
        None => bail!("{app}'s {addon} has no completed backup"),
    }
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let backup = pick(&client, &app, &args.addon, args.backup).await?;
    super::confirm(
        args.confirm,
        &app,
        &format!("this replaces the data of {app}'s {} with backup {backup}", args.addon),
    )?;
    let path = format!("{}/backups/{}/restore", addon_path(&app, &args.addon), segment(&backup));
    let what = format!("Restoring {backup} into {} of \u{2b22} {app}", args.addon);
    super::announced(&what, super::operations::run(&client, Method::POST, &path, &json!({}), &app)).await?;
    Ok(())
}

pub async fn delete_backup(args: DeleteBackupArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let backup = &args.backup;
    super::confirm(args.confirm, &app, &format!("this deletes backup {backup} of {app}'s {}", args.addon))?;
    let path = format!("{}/backups/{}", addon_path(&app, &args.addon), segment(backup));
    Client::from_credentials()?.delete(&path).await?;
    println!("Deleted {backup}");
    Ok(())
}

pub async fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let backup = pick(&client, &app, &args.addon, args.backup).await?;
    let path = format!("{}/backups/{}/download", addon_path(&app, &args.addon), segment(&backup));
    let mut response = client.get_stream(&path).await?;
    let mut file =
        std::fs::File::create(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    let mut size = 0;
    while let Some(chunk) = response.chunk().await.context("downloading the backup")? {
        size += chunk.len();
        file.write_all(&chunk)?;
    }
    eprintln!("Downloaded {backup} ({size} bytes) to {}", args.output.display());
    Ok(())
}
