//! `paas certs`, `certs:add`, `certs:refresh` and `https`: HTTPS for an
//! app's names.

use anyhow::Context;
use serde_json::{json, Value};

use super::app_arg::{AppArg, AppListArgs};
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The certificate chain, a PEM file (the app's certificate first)
    pub chain: std::path::PathBuf,
    /// Its private key, a PEM file
    pub key: std::path::PathBuf,
    /// A wildcard for the base domain (*.BASE_DOMAIN), served for every
    /// app's own name without a certificate of its own (server admins)
    #[arg(long)]
    pub base_domain: bool,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct HttpsArgs {
    /// Answer plain HTTP with a redirect to HTTPS: on or off
    #[arg(long, value_parser = on_off)]
    pub redirect: Option<bool>,
    /// Send Strict-Transport-Security over HTTPS (browsers then refuse
    /// plain HTTP for a year): on or off
    #[arg(long, value_parser = on_off)]
    pub hsts: Option<bool>,
    #[command(flatten)]
    pub app: AppArg,
}

fn on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("{text:?}: say on or off")),
    }
}

pub async fn list(args: AppListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let certs = Client::from_credentials()?.get(&format!("/apps/{}/certs", segment(&app))).await?;
    if args.json {
        super::print_json(&certs);
        return Ok(());
    }
    print_certs(&app, &certs);
    Ok(())
}

fn print_certs(app: &str, certs: &Value) {
    println!("=== {app} Certificates");
    println!("{:<40} {:<8} {:<9} {:<20} DETAIL", "HOSTNAME", "STATE", "SOURCE", "EXPIRES");
    for c in certs.as_array().cloned().unwrap_or_default() {
        let expires = c["expires_at"].as_str().map_or("-", |at| at.get(..19).unwrap_or(at)).replace('T', " ");
        let detail = c["error"].as_str().or(c["issuer"].as_str()).unwrap_or("");
        println!(
            "{:<40} {:<8} {:<9} {:<20} {detail}",
            field(&c, "hostname"),
            field(&c, "state"),
            c["source"].as_str().unwrap_or("-"),
            expires
        );
    }
}

pub async fn add(args: AddArgs) -> anyhow::Result<()> {
    let read =
        |path: &std::path::Path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    let body = json!({ "chain": read(&args.chain)?, "key": read(&args.key)? });
    if args.base_domain {
        let added = Client::from_credentials()?.post("/certs", &body).await?;
        let wildcard = field(&added, "hostname");
        println!("{wildcard} is served with the uploaded certificate for apps without one of their own");
        return Ok(());
    }
    let app = args.app.resolve()?;
    let certs = Client::from_credentials()?.post(&format!("/apps/{}/certs", segment(&app)), &body).await?;
    print_certs(&app, &certs);
    Ok(())
}

pub async fn refresh(app: AppArg) -> anyhow::Result<()> {
    let app = app.resolve()?;
    let certs = Client::from_credentials()?.post(&format!("/apps/{}/certs/refresh", segment(&app)), &json!({})).await?;
    println!("Requested certificates again for the names that had none; `paas certs` shows how it goes");
    print_certs(&app, &certs);
    Ok(())
}

pub async fn https(args: HttpsArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}", segment(&app));
    let info = match (args.redirect, args.hsts) {
        (None, None) => client.get(&path).await?,
        (redirect, hsts) => {
            let mut body = serde_json::Map::new();
            if let Some(redirect) = redirect {
                body.insert("https_redirect".into(), redirect.into());
            }
            if let Some(hsts) = hsts {
                body.insert("hsts".into(), hsts.into());
            }
            client.patch(&path, &Value::Object(body)).await?
        }
    };
    let onoff = |key: &str| if info[key].as_bool().unwrap_or(false) { "on" } else { "off" };
    println!("=== {app} HTTPS");
    println!("Redirect HTTP to HTTPS: {}", onoff("https_redirect"));
    println!("HSTS:                   {}", onoff("hsts"));
    Ok(())
}
