//! `paas apps`, `apps:create`, `apps:info`, `apps:destroy`.

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::app_arg::AppArg;
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only apps of this team
    #[arg(long, short = 't')]
    pub team: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The app's name (lowercase letters, digits, hyphens)
    pub name: String,
    /// The team that owns the app (needed when you are in several)
    #[arg(long, short = 't')]
    pub team: Option<String>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The app (default: -a, PAAS_APP, or the `paas` git remote here)
    #[arg(value_name = "APP", id = "app_name")]
    pub app: Option<String>,
    #[command(flatten)]
    pub app_flag: super::app_arg::AppArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// The app to destroy
    #[arg(value_name = "APP", required_unless_present = "app_flag")]
    pub app: Option<String>,
    #[arg(long = "app", short = 'a', id = "app_flag", value_name = "APP")]
    pub app_flag: Option<String>,
    /// The app's name again, to confirm
    #[arg(long)]
    pub confirm: Option<String>,
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let apps = Client::from_credentials()?.get("/apps").await?;
    let apps: Vec<Value> = apps
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| args.team.as_deref().is_none_or(|t| field(a, "team") == t))
        .collect();
    if args.json {
        super::print_json(&Value::Array(apps));
        return Ok(());
    }
    if apps.is_empty() {
        println!("You have no apps.");
        return Ok(());
    }
    println!("=== Apps");
    for app in &apps {
        println!("{} ({})", field(app, "name"), field(app, "team"));
    }
    Ok(())
}

pub async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let client = Client::from_credentials()?;
    eprint!("Creating \u{2b22} {}... ", args.name);
    let created = client.post("/apps", &json!({ "name": args.name, "team": args.team })).await;
    let app = match created {
        Ok(app) => app,
        Err(err) => {
            eprintln!("failed");
            return Err(err);
        }
    };
    eprintln!("done");
    if args.json {
        super::print_json(&app);
    } else {
        println!("{} | {}", field(&app, "web_url"), field(&app, "git_url"));
    }
    Ok(())
}

pub async fn info(args: InfoArgs) -> anyhow::Result<()> {
    let name = match args.app {
        Some(name) => name,
        None => args.app_flag.resolve()?,
    };
    let client = Client::from_credentials()?;
    let app = client.get(&format!("/apps/{}", segment(&name))).await?;
    if args.json {
        super::print_json(&app);
        return Ok(());
    }
    println!("=== {}", field(&app, "name"));
    println!("Team:     {}", field(&app, "team"));
    println!("Web URL:  {}", field(&app, "web_url"));
    println!("Git URL:  {}", field(&app, "git_url"));
    println!("Stack:    {}", field(&app, "stack"));
    let onoff = |key: &str| if app[key].as_bool().unwrap_or(false) { "on" } else { "off" };
    println!("HTTPS:    redirect {}, HSTS {} (`paas certs` for certificates)", onoff("https_redirect"), onoff("hsts"));
    println!("Maintenance: {}", onoff("maintenance"));
    match app["internal_url"].as_str() {
        Some(url) => println!("Internal: {url} (for the team's apps on its private network)"),
        None => println!("Internal: off (`paas internal:on` puts it on the team's private network)"),
    }
    let addons = client.get(&format!("/apps/{}/addons", segment(&name))).await?;
    let addons: Vec<String> = addons
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{} ({})", field(a, "name"), field(a, "config_var")))
        .collect();
    if !addons.is_empty() {
        println!("Add-ons:  {}", addons.join(", "));
    }
    println!("Created:  {}", field(&app, "created_at"));
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct StackSetArgs {
    /// The stack (see `paas stack`)
    pub stack: String,
    #[command(flatten)]
    pub app: super::app_arg::AppArg,
}

/// The stacks, the app's marked with `*`.
pub async fn stacks(app: super::app_arg::AppArg) -> anyhow::Result<()> {
    let app = app.resolve()?;
    let client = Client::from_credentials()?;
    let info = client.get(&format!("/apps/{}", segment(&app))).await?;
    let stacks = client.get("/stacks").await?;
    println!("=== \u{2b22} {app} Available Stacks");
    for stack in stacks.as_array().cloned().unwrap_or_default() {
        let name = field(&stack, "name");
        let mark = if name == field(&info, "stack") { "*" } else { " " };
        let default = if stack["default"].as_bool() == Some(true) { " (default)" } else { "" };
        println!("{mark} {name:<10} {}{default}", field(&stack, "description"));
    }
    Ok(())
}

/// `open`: the app's URL, in the browser when there is one to open it.
pub async fn open(app: super::app_arg::AppArg) -> anyhow::Result<()> {
    let app = app.resolve()?;
    let info = Client::from_credentials()?.get(&format!("/apps/{}", segment(&app))).await?;
    let url = field(&info, "web_url").to_string();
    let opened = std::io::stdout().is_terminal()
        && std::env::var_os("DISPLAY").or(std::env::var_os("WAYLAND_DISPLAY")).is_some()
        && std::process::Command::new("xdg-open")
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    match opened {
        true => println!("Opening {url}"),
        false => println!("{url}"),
    }
    Ok(())
}

/// An app's on/off setting `field`: turned on or off, or (None) as it is;
/// the app's name and the app as the server then shows it.
async fn switch(app: super::app_arg::AppArg, field: &str, on: Option<bool>) -> anyhow::Result<(String, Value)> {
    let app = app.resolve()?;
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}", segment(&app));
    let info = match on {
        None => client.get(&path).await?,
        Some(on) => client.patch(&path, &serde_json::json!({ field: on })).await?,
    };
    Ok((app, info))
}

/// `maintenance` (None: show), `maintenance:on`, `maintenance:off`.
pub async fn maintenance(app: super::app_arg::AppArg, on: Option<bool>) -> anyhow::Result<()> {
    let (app, info) = switch(app, "maintenance", on).await?;
    let on = info["maintenance"].as_bool().unwrap_or(false);
    match on {
        true => {
            println!("{app} is in maintenance: every request gets its maintenance page (503); processes keep running")
        }
        false => println!("{app} is not in maintenance"),
    }
    Ok(())
}

/// Show, or turn on or off, the app's place on its team's private network.
pub async fn internal(app: super::app_arg::AppArg, on: Option<bool>) -> anyhow::Result<()> {
    let (app, info) = switch(app, "internal", on).await?;
    match info["internal_url"].as_str() {
        Some(url) => println!(
            "{app} is on the private network of team {}: its apps there reach it at {url}",
            field(&info, "team")
        ),
        None => println!("{app} is not on its team's private network"),
    }
    Ok(())
}

pub async fn set_stack(args: StackSetArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let body = serde_json::json!({ "stack": args.stack });
    Client::from_credentials()?.patch(&format!("/apps/{}", segment(&app)), &body).await?;
    println!("Set the stack of \u{2b22} {app} to {}: its next push builds on it", args.stack);
    Ok(())
}

pub async fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let name = args.app.or(args.app_flag).unwrap_or_default();
    super::confirm(args.confirm, &name, &format!("this permanently destroys {name}, its releases, add-ons and data"))?;
    eprint!("Destroying \u{2b22} {name}... ");
    match Client::from_credentials()?.delete(&format!("/apps/{}", segment(&name))).await {
        Ok(_) => {
            eprintln!("done");
            Ok(())
        }
        Err(err) => {
            eprintln!("failed");
            Err(err)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    /// The app's new name
    pub new_name: String,
    #[command(flatten)]
    pub app: AppArg,
}

/// Rename an app; the `paas` git remote here follows when it pointed at it.
pub async fn rename(args: RenameArgs) -> anyhow::Result<()> {
    let old = args.app.resolve()?;
    let new = &args.new_name;
    let client = Client::from_credentials()?;
    let (path, body) = (format!("/apps/{}", segment(&old)), json!({ "name": new }));
    let app = super::announced(&format!("Renaming {old} to {new}"), client.patch(&path, &body)).await?;
    println!("{} | {}", field(&app, "web_url"), field(&app, "git_url"));
    let remote = std::process::Command::new("git").args(["config", "--get", "remote.paas.url"]).output();
    let remote = remote.ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    if remote.ends_with(&format!("/{old}.git")) {
        // As `git:remote` does it: the URL and the credential helper for it.
        let args = super::domains::RemoteArgs { app: Some(new.clone()), app_flag: None, remote: "paas".into() };
        super::domains::add_remote(args).await?;
    } else {
        println!("Point your git remotes at the new URL (`paas git:remote -a {new}`).");
    }
    Ok(())
}
