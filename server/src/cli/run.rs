//! `paas run` (a one-off process) and `paas ps:exec` (a command in a running
//! process), attached to this terminal both ways over a WebSocket: a TTY
//! when stdin and stdout are terminals (keys, Ctrl-C included, go to the
//! process), pipes otherwise (stdout and stderr kept apart, end of input
//! passed on, Ctrl-C here ends the process). The process's exit status
//! becomes this command's.

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::app_arg::AppArg;
use super::client::{segment, Client};
use super::terminal;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Detached: the output goes to the app's logs (`paas logs -p run.N`)
    #[arg(long, short = 'd')]
    pub detached: bool,
    /// A config var for this run only (repeatable)
    #[arg(long = "env", short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// Memory limit, e.g. 1g (default: the web processes')
    #[arg(long, visible_alias = "size")]
    pub memory: Option<String>,
    /// CPU quota in cores, e.g. 0.5 (default: the web processes')
    #[arg(long)]
    pub cpus: Option<f64>,
    /// No terminal, even when this one is a terminal
    #[arg(long = "no-tty")]
    pub no_tty: bool,
    #[command(flatten)]
    pub app: AppArg,
    /// The command: one argument is a shell command line (`"ls | wc -l"`);
    /// several are the program and its arguments, passed as they are
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The process, e.g. web.2 (default web.1)
    #[arg(long, short = 'd', default_value = "web.1")]
    pub dyno: String,
    /// No terminal, even when this one is a terminal
    #[arg(long = "no-tty")]
    pub no_tty: bool,
    #[command(flatten)]
    pub app: AppArg,
    /// The command (default: a shell)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// What `run` and `ps:exec` end with: the process's exit status.
#[derive(Debug)]
pub struct ExitStatus(pub i32);

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for ExitStatus {}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let command = command_line(&args.command);
    let mut env = serde_json::Map::new();
    for pair in &args.env {
        let Some((key, value)) = pair.split_once('=') else { bail!("--env takes KEY=VALUE, not {pair:?}") };
        env.insert(key.to_string(), Value::String(value.to_string()));
    }
    let mut request = json!({ "command": command, "env": env });
    if let Some(memory) = &args.memory {
        request["memory"] = json!(memory);
    }
    if let Some(cpus) = args.cpus {
        request["cpus"] = json!(cpus);
    }
    if args.detached {
        let started = client.post(&format!("/apps/{}/runs", segment(&app)), &request).await?;
        let name = super::field(&started, "name");
        println!("Running `{command}` on {app}... up, {name}");
        println!("Its output goes to the app's logs: paas logs -a {app} -p {name} -t");
        return Ok(());
    }
    let tty = !args.no_tty && terminal::is_tty(0) && terminal::is_tty(1);
    let socket = client.websocket(&format!("/apps/{}/run", segment(&app))).await?;
    let code = attach(socket, request, tty, |name| eprintln!("Running `{command}` on {app}... up, {name}")).await?;
    exit_with(code)
}

pub async fn exec(args: ExecArgs) -> anyhow::Result<()> {
    let app = args.app.resolve()?;
    let client = Client::from_credentials()?;
    let command = (!args.command.is_empty()).then(|| command_line(&args.command));
    let request = json!({ "command": command });
    let tty = !args.no_tty && terminal::is_tty(0) && terminal::is_tty(1);
    let socket = client.websocket(&format!("/apps/{}/ps/{}/exec", segment(&app), segment(&args.dyno))).await?;
    let code = attach(socket, request, tty, |name| eprintln!("Running in {name} of {app}")).await?;
    exit_with(code)
}

pub(super) fn exit_with(code: i32) -> anyhow::Result<()> {
    match code {
        0 => Ok(()),
        code => Err(ExitStatus(code).into()),
    }
}

/// One argument as the command line it is; several as a program and its
/// arguments, each quoted for the shell where it needs to be.
fn command_line(args: &[String]) -> String {
    if let [one] = args {
        return one.clone();
    }
    let safe = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    args.iter()
        .map(|a| if safe(a) { a.clone() } else { format!("'{}'", a.replace('\'', r"'\''")) })
        .collect::<Vec<_>>()
        .join(" ")
}

type Socket = tokio_tungstenite::WebSocketStream<reqwest::Upgraded>;

/// Say what to run, then pass this terminal's input and the process's
/// output until it exits; its exit status.
pub(super) async fn attach(
    mut socket: Socket,
    mut request: Value,
    tty: bool,
    started: impl FnOnce(&str),
) -> anyhow::Result<i32> {
    // Ours from here on: an interrupt while it starts ends it too.
    let signals = Signals::new()?;
    request["tty"] = json!(tty);
    if tty {
        // The process draws for this terminal: it gets its type (a run's own
        // --env TERM=... wins).
        if let (Some(env), Ok(term)) = (request.get_mut("env").and_then(Value::as_object_mut), std::env::var("TERM")) {
            env.entry("TERM").or_insert(json!(term));
        }
        if let Some((cols, rows)) = terminal::size() {
            request["cols"] = json!(cols);
            request["rows"] = json!(rows);
        }
    }
    socket.send(Message::text(request.to_string())).await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) => {
            let hello: Value = serde_json::from_str(&text).unwrap_or_default();
            if let Some(error) = hello.get("error").and_then(Value::as_str) {
                bail!("{error}");
            }
            started(hello.get("process").and_then(Value::as_str).unwrap_or("?"));
        }
        _ => bail!("the server ended the session before the process started"),
    }
    let raw = if tty { Some(terminal::RawMode::enter().context("putting the terminal in raw mode")?) } else { None };
    let code = pump(&mut socket, tty, signals).await;
    drop(raw);
    code
}

/// The signals a session handles: window size changes and, without a
/// terminal, Ctrl-C.
struct Signals {
    resized: tokio::signal::unix::Signal,
    interrupted: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { resized: signal(SignalKind::window_change())?, interrupted: signal(SignalKind::interrupt())? })
    }
}

async fn pump(socket: &mut Socket, tty: bool, signals: Signals) -> anyhow::Result<i32> {
    let Signals { mut resized, mut interrupted } = signals;
    let (input_tx, mut input) = tokio::sync::mpsc::channel::<Option<Vec<u8>>>(8);
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 8192];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = input_tx.send(None).await;
                    return;
                }
                Ok(n) => {
                    if input_tx.send(Some(buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let (mut stdout, mut stderr) = (tokio::io::stdout(), tokio::io::stderr());
    let mut input_open = true;
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Binary(frame))) => {
                    let (stream, bytes) = frame.split_first().map_or((1, &[][..]), |(s, b)| (*s, b));
                    if stream == 2 {
                        stderr.write_all(bytes).await?;
                        stderr.flush().await?;
                    } else {
                        stdout.write_all(bytes).await?;
                        stdout.flush().await?;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(code) = message.get("exit").and_then(Value::as_i64) {
                        let _ = socket.close(None).await;
                        return Ok(i32::try_from(code).unwrap_or(1));
                    }
                    if let Some(error) = message.get("error").and_then(Value::as_str) {
                        bail!("{error}");
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(anyhow!("the connection to the server broke: {err}")),
                None => bail!("the server ended the session without the process's exit status"),
            },
            chunk = input.recv(), if input_open => match chunk {
                Some(Some(bytes)) => socket.send(Message::binary(bytes)).await?,
                _ => {
                    input_open = false;
                    socket.send(Message::text(json!({ "eof": true }).to_string())).await?;
                }
            },
            _ = resized.recv(), if tty => {
                if let Some((cols, rows)) = terminal::size() {
                    socket.send(Message::text(json!({ "resize": [cols, rows] }).to_string())).await?;
                }
            }
            _ = interrupted.recv() => {
                // Without a terminal, Ctrl-C is ours: leaving ends the process.
                let _ = socket.close(None).await;
                return Ok(130);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::command_line;

    #[test]
    fn one_argument_is_a_command_line_several_are_argv() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(command_line(&args(&["ls -la | wc -l"])), "ls -la | wc -l");
        assert_eq!(command_line(&args(&["python", "manage.py", "migrate"])), "python manage.py migrate");
        assert_eq!(command_line(&args(&["sh", "-c", "echo hi; exit 3"])), "sh -c 'echo hi; exit 3'");
        assert_eq!(command_line(&args(&["echo", "it's"])), r"echo 'it'\''s'");
    }
}
