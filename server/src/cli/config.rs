//! `paas config`, `config:get`, `config:set`, `config:unset`.

use std::collections::BTreeMap;

use anyhow::bail;
use reqwest::Method;
use serde_json::Value;

use super::app_arg::AppArg;
use super::client::{segment, Client};

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Print KEY=VALUE lines (for a .env file)
    #[arg(long)]
    pub shell: bool,
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    pub key: String,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// KEY=VALUE pairs
    #[arg(required = true, value_name = "KEY=VALUE")]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct UnsetArgs {
    #[arg(required = true, value_name = "KEY")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub app: AppArg,
}

async fn fetch(app: &str) -> anyhow::Result<BTreeMap<String, Value>> {
    let config = Client::from_credentials()?.get(&format!("/apps/{}/config", segment(app))).await?;
    Ok(config.as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default())
}

fn shown(value: &Value) -> String {
    value.as_str().map(str::to_string).unwrap_or_else(|| "(hidden: viewers see names only)".to_string())
}

pub async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let config = fetch(&app).await?;
    if args.json {
        super::print_json(&Value::Object(config.into_iter().collect()));
        return Ok(());
    }
    if args.shell {
        for (k, v) in &config {
            println!("{k}={}", v.as_str().unwrap_or(""));
        }
        return Ok(());
    }
    println!("=== {app} Config Vars");
    let width = config.keys().map(String::len).max().unwrap_or(0) + 1;
    for (k, v) in &config {
        println!("{:<width$} {}", format!("{k}:"), shown(v));
    }
    Ok(())
}

pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let config = fetch(&app).await?;
    match config.get(&args.key) {
        Some(v) => {
            println!("{}", shown(v));
            Ok(())
        }
        None => bail!("{} is not set on {app}", args.key),
    }
}

pub async fn set(args: SetArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let mut changes = serde_json::Map::new();
    for pair in &args.pairs {
        let Some((k, v)) = pair.split_once('=') else { bail!("{pair:?} is not KEY=VALUE") };
        changes.insert(k.to_string(), Value::String(v.to_string()));
    }
    let names: Vec<&str> = changes.keys().map(String::as_str).collect();
    eprint!("Setting {} and restarting \u{2b22} {app}... ", names.join(", "));
    finish(&app, changes).await
}

pub async fn unset(args: UnsetArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let changes: serde_json::Map<String, Value> = args.keys.iter().map(|k| (k.clone(), Value::Null)).collect();
    eprint!("Unsetting {} and restarting \u{2b22} {app}... ", args.keys.join(", "));
    finish(&app, changes).await
}

async fn finish(app: &str, changes: serde_json::Map<String, Value>) -> anyhow::Result<()> {
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}/config", segment(app));
    match super::operations::run(&client, Method::PATCH, &path, &Value::Object(changes), app).await {
        Ok(op) => {
            match op["release"].as_i64() {
                Some(v) => eprintln!("done, v{v}"),
                None => eprintln!("done (applies to the first deploy)"),
            }
            Ok(())
        }
        Err(err) => {
            eprintln!("failed");
            Err(err)
        }
    }
}
