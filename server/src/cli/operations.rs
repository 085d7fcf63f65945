//! Changes as operations: the CLI starts one with `Prefer: respond-async`,
//! prints its progress lines on stderr as the server streams them, and ends
//! with its outcome. Interrupting the CLI does not stop the operation.
//! `paas operations` lists an app's, `operations:info ID` shows one whole.

use std::io::Write;

use anyhow::anyhow;
use reqwest::Method;
use serde_json::Value;

use super::app_arg::{AppArg, AppListArgs as ListArgs};
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// The operation's id
    pub id: i64,
    #[command(flatten)]
    pub app: AppArg,
}

/// Start a change, follow it to its end; the finished operation, or why it failed.
pub async fn run(client: &Client, method: Method, path: &str, body: &Value, app: &str) -> anyhow::Result<Value> {
    let started = client.start(method, path, body).await?;
    let Some(id) = started["id"].as_i64() else {
        // A server that answered at once: the change is done.
        return Ok(started);
    };
    eprintln!();
    let response = client.get_stream(&format!("/apps/{}/operations/{id}/stream", segment(app))).await?;
    let mut end = None;
    let mut stderr = std::io::stderr();
    super::sse::read(response, |event, data| {
        match event {
            "line" => {
                let _ = writeln!(stderr, "{data}");
                let _ = stderr.flush();
            }
            "end" => end = serde_json::from_str::<Value>(data).ok(),
            _ => {}
        }
        true
    })
    .await?;
    let op = end.ok_or_else(|| {
        anyhow!("the server stopped streaming operation {id}; `paas operations:info {id}` tells how it ended")
    })?;
    if op["status"] == "failed" {
        return Err(anyhow!("{}", op["error"].as_str().unwrap_or("the operation failed")));
    }
    Ok(op)
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let ops = Client::from_credentials()?.get(&format!("/apps/{}/operations", segment(&app))).await?;
    if args.json {
        super::print_json(&ops);
        return Ok(());
    }
    println!("=== {app} Operations");
    for op in ops.as_array().cloned().unwrap_or_default() {
        println!(
            "{:<6} {:<17} {:<10} {:<20} {:<24} {}",
            op["id"],
            field(&op, "kind"),
            field(&op, "status"),
            field(&op, "created_at").get(..19).unwrap_or(""),
            field(&op, "actor"),
            field(&op, "summary"),
        );
    }
    Ok(())
}

pub async fn info(args: InfoArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let op = Client::from_credentials()?.get(&format!("/apps/{}/operations/{}", segment(&app), args.id)).await?;
    println!("=== Operation {} of {app}: {} {}", args.id, field(&op, "kind"), field(&op, "summary"));
    println!("Status: {}", field(&op, "status"));
    if let Some(error) = op["error"].as_str() {
        println!("Error:  {error}");
    }
    println!("By:     {} ({})", field(&op, "actor"), field(&op, "source"));
    print!("{}", op["output"].as_str().unwrap_or_default());
    Ok(())
}
