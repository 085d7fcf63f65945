//! `paas ps`, `ps:scale`, `ps:resize`, `ps:restart`.

use anyhow::bail;
use reqwest::Method;
use serde_json::{json, Value};

use super::app_arg::{AppArg, AppListArgs as ListArgs};
use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// TYPE=QUANTITY pairs, e.g. web=3 worker=1
    #[arg(required = true, value_name = "TYPE=N")]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct ResizeArgs {
    /// The process type, e.g. web
    pub process_type: String,
    /// Memory limit, e.g. 512m or 1g; `default` for the server's
    #[arg(long)]
    pub memory: Option<String>,
    /// CPU quota in cores, e.g. 0.5; `default` for the server's
    #[arg(long)]
    pub cpus: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// A process type or one process (worker, worker.2): those alone restart, one at a time;
    /// without one (or web), every process, rolling and health-gated
    pub process_type: Option<String>,
    #[command(flatten)]
    pub app: AppArg,
}

fn print_processes(app: &str, processes: &Value) {
    let list = processes.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("No processes are running for {app}.");
        return;
    }
    println!("=== {app} processes");
    for p in list {
        let since = p["started_at"].as_str().and_then(|s| s.get(..19)).unwrap_or("-");
        let node = p["node"].as_str().map(|n| format!(" on {n}")).unwrap_or_default();
        if let Some(command) = p["command"].as_str() {
            println!(
                "{:<12} {:<28} {:<5} since {}{node} : {command}",
                field(&p, "name"),
                field(&p, "state"),
                field(&p, "release"),
                since
            );
            continue;
        }
        println!(
            "{:<12} {:<28} {:<5} since {} restarts {}{node}",
            field(&p, "name"),
            field(&p, "state"),
            field(&p, "release"),
            since,
            p["restarts"]
        );
    }
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let processes = client.get(&format!("/apps/{}/ps", segment(&app))).await?;
    if args.json {
        super::print_json(&processes);
        return Ok(());
    }
    print_processes(&app, &processes);
    let formation = client.get(&format!("/apps/{}/formation", segment(&app))).await?;
    let sizes: Vec<String> = formation
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let mark = |default: &Value| if default.as_bool() == Some(true) { "(default)" } else { "" };
            let mem =
                f["memory_mb"].as_i64().map(|m| format!(" {m}MB{}", mark(&f["memory_default"]))).unwrap_or_default();
            let cpu = f["cpus"].as_f64().map(|c| format!(" {c}cpu{}", mark(&f["cpus_default"]))).unwrap_or_default();
            format!("{}={}{mem}{cpu}", field(f, "type"), f["quantity"])
        })
        .collect();
    if !sizes.is_empty() {
        println!("Formation: {}", sizes.join(", "));
    }
    Ok(())
}

async fn update(app: &str, updates: Value, what: &str) -> anyhow::Result<()> {
    eprint!("{what} \u{2b22} {app}... ");
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}/formation", segment(app));
    match super::operations::run(&client, Method::PATCH, &path, &json!({ "updates": updates }), app).await {
        Ok(_) => {
            eprintln!("done");
            let formation = client.get(&path).await?;
            let now: Vec<String> = formation
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{}={}", field(f, "type"), f["quantity"]))
                .collect();
            println!("Now running {}", now.join(", "));
            Ok(())
        }
        Err(err) => {
            eprintln!("failed");
            Err(err)
        }
    }
}

pub async fn scale(args: ScaleArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let mut updates = Vec::new();
    for pair in &args.pairs {
        let Some((kind, n)) = pair.split_once('=') else { bail!("{pair:?} is not TYPE=N, e.g. web=2") };
        let Ok(quantity) = n.parse::<i64>() else { bail!("{n:?} in {pair:?} is not a number") };
        updates.push(json!({ "type": kind, "quantity": quantity }));
    }
    update(&app, Value::Array(updates), &format!("Scaling {} of", args.pairs.join(" "))).await
}

pub async fn resize(args: ResizeArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    if args.memory.is_none() && args.cpus.is_none() {
        bail!("give --memory and/or --cpus");
    }
    let cpus = match args.cpus.as_deref() {
        None => Value::Null,
        Some(c) if c.eq_ignore_ascii_case("default") => json!("default"),
        Some(c) => match c.parse::<f64>() {
            Ok(cores) => json!(cores),
            Err(_) => bail!("--cpus takes a number of cores, like 0.5, or default"),
        },
    };
    let body = json!([{ "type": args.process_type, "memory": args.memory, "cpus": cpus }]);
    update(&app, body, &format!("Resizing {} of", args.process_type)).await
}

pub async fn restart(args: RestartArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let what = args.process_type.as_deref().map(|t| format!("{t} on ")).unwrap_or_default();
    eprint!("Restarting {what}\u{2b22} {app}... ");
    let client = Client::from_credentials()?;
    let path = format!("/apps/{}/ps/restart", segment(&app));
    match super::operations::run(&client, Method::POST, &path, &json!({ "type": args.process_type }), &app).await {
        Ok(_) => {
            eprintln!("done");
            print_processes(&app, &client.get(&format!("/apps/{}/ps", segment(&app))).await?);
            Ok(())
        }
        Err(err) => {
            eprintln!("failed");
            Err(err)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// A process (web.2, run.1) or a process type (web)
    pub process: String,
    #[command(flatten)]
    pub app: AppArg,
}

/// `ps:stop` (`kill`: `ps:kill`): a process of the formation starts anew,
/// a one-off ends.
pub async fn stop(args: StopArgs, kill: bool) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let verb = if kill { "Killing" } else { "Stopping" };
    let path = format!("/apps/{}/ps/{}/stop", segment(&app), segment(&args.process));
    let what = format!("{verb} {} on \u{2b22} {app}", args.process);
    let stopped = super::announced(&what, client.post(&path, &json!({ "kill": kill }))).await?;
    for name in stopped["stopped"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if name.starts_with("run.") {
            println!("{name} ended");
        } else {
            println!("{name} is starting again (the platform keeps the formation running)");
        }
    }
    Ok(())
}
