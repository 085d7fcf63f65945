use clap::{Parser, Subcommand};

/// mimalloc: cheaper than glibc's malloc for the router's many small,
/// short-lived allocations, and it gives memory back to the system once a
/// burst of connections is over.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A self-hosted, git-push PaaS: `paas serve` runs the server; every other
/// command is a client of a running server.
#[derive(Debug, Parser)]
#[command(name = "paas", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start; the size of `serve`'s config does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: control plane (API, dashboard, git) and app router
    Serve(paas::config::Config),
    /// Run a router on its own, apart from the control plane: it serves the
    /// routes `paas serve` publishes in PostgreSQL, and keeps serving the
    /// last ones while the control plane or the database is down
    Router(paas::config::RouterConfig),
    #[command(flatten)]
    Client(paas::cli::Command),
    /// Git hook entry point, run by git inside a push (not for direct use)
    #[command(name = "git-hook", hide = true)]
    GitHook { hook: String },
}

fn main() {
    let cli = Cli::parse();
    // The server's logging and its process-wide settings come before the
    // runtime's threads do.
    let log_format = match &cli.command {
        Command::Serve(config) => Some(config.log_format),
        Command::Router(config) => Some(config.log_format),
        _ => None,
    };
    if let Some(format) = log_format {
        paas::telemetry::init(format);
        paas::router::prepare_process();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("paas: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let code = match cli.command {
        Command::Serve(config) => match runtime.block_on(paas::serve::run(config)) {
            Ok(()) => 0,
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "paas serve failed");
                eprintln!("paas serve: {err:#}");
                1
            }
        },
        Command::Router(config) => match runtime.block_on(paas::router::apart::run(config)) {
            Ok(()) => 0,
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "paas router failed");
                eprintln!("paas router: {err:#}");
                1
            }
        },
        Command::Client(command) => {
            // `paas logs | head`: a closed pipe ends the CLI quietly, as it
            // does any Unix tool, instead of a panic on the next write.
            // SAFETY: setting a signal's disposition to the default, before
            // any other thread writes to stdout.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            runtime.block_on(paas::cli::run(command))
        }
        Command::GitHook { hook } if hook == "pre-receive" => {
            match runtime.block_on(paas::git::hook::run_pre_receive()) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(err) => {
                    println!(" !     {err:#}");
                    1
                }
            }
        }
        Command::GitHook { hook } => {
            eprintln!("paas: unknown git hook {hook}");
            1
        }
    };
    std::process::exit(code);
}
