//! `paas volumes`, `volumes:create`, `volumes:destroy`.

use reqwest::Method;
use serde_json::json;

use super::app_arg::{AppArg, AppListArgs};
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The volume's name (lowercase letters, digits, hyphens)
    pub name: String,
    /// Where it is mounted, e.g. /data
    #[arg(long)]
    pub mount: String,
    /// The process type that mounts it (one-offs and the release phase mount web's)
    #[arg(long, default_value = "web")]
    pub process: String,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    pub name: String,
    /// The volume's name again, to confirm
    #[arg(long)]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

pub async fn list(args: AppListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let volumes = Client::from_credentials()?.get(&format!("/apps/{}/volumes", segment(&app))).await?;
    if args.json {
        super::print_json(&volumes);
        return Ok(());
    }
    let list = volumes.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("{app} has no volumes. Create one with `paas volumes:create NAME --mount /data`.");
        return Ok(());
    }
    println!("=== {app} volumes");
    for v in list {
        println!("{:<20} {:<30} {}", field(&v, "name"), field(&v, "mount"), field(&v, "process_type"));
    }
    Ok(())
}

pub async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let what =
        format!("Creating volume {} at {} for {} processes of \u{2b22} {app}", args.name, args.mount, args.process);
    let body = json!({ "name": args.name, "mount": args.mount, "process": args.process });
    let path = format!("/apps/{}/volumes", segment(&app));
    super::announced(&what, super::operations::run(&client, Method::POST, &path, &body, &app)).await?;
    Ok(())
}

pub async fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let name = &args.name;
    super::confirm(args.confirm, name, &format!("this deletes the volume {name} of {app} and every file in it"))?;
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}/volumes/{}", segment(&app), segment(name));
    let what = format!("Destroying volume {name} of \u{2b22} {app}");
    super::announced(&what, super::operations::run(&client, Method::DELETE, &path, &json!({}), &app)).await?;
    Ok(())
}
