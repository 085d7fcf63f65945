//! `paas logs [-n N] [-t] [--ps TYPE]`.

use std::io::Write;

use super::app_arg::AppArg;
use super::client::{segment, Client};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub app: AppArg,
    /// How many recent lines
    #[arg(long = "num", short = 'n', default_value_t = 100)]
    pub num: usize,
    /// Keep streaming new lines (Ctrl-C ends)
    #[arg(long, short = 't')]
    pub tail: bool,
    /// Only this process type (web) or process (web.1); also router, paas
    #[arg(long = "ps", short = 'p')]
    pub ps: Option<String>,
}

pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let filter = args.ps.as_deref().map(|p| format!("&ps={}", segment(p))).unwrap_or_default();
    if !args.tail {
        print!("{}", client.get_text(&format!("/apps/{}/logs?lines={}{filter}", segment(&app), args.num)).await?);
        return Ok(());
    }
    let response =
        client.get_stream(&format!("/apps/{}/logs/stream?lines={}{filter}", segment(&app), args.num)).await?;
    let mut stdout = std::io::stdout();
    let print = super::sse::read(response, |_, line| writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_ok());
    tokio::select! {
        result = print => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
