//! The private PostgreSQL cluster the server runs inside its data dir when no
//! `DATABASE_URL` is given. It uses the machine's PostgreSQL binaries, listens
//! only on a unix socket in the data dir, starts with the server, stops with
//! it, and is reused across restarts (also after the server was killed).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection;
use tokio::process::Command;

const DB_USER: &str = "paas";
const DB_NAME: &str = "paas";

pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    root: PathBuf,
    /// uid/gid the cluster runs as when the server is root.
    run_as: Option<(u32, u32)>,
}

impl EmbeddedPostgres {
    /// Locate the binaries and the unprivileged user; does not start anything.
    pub fn new(data_dir: &Path, pg_user: &str) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().context(
            "no PostgreSQL server binaries found (looked for initdb and pg_ctl in \
             /usr/lib/postgresql/*/bin and on PATH). Install them (Debian: \
             `apt-get install postgresql`) or set DATABASE_URL to use an existing server",
        )?;
        let run_as = if crate::config::is_root() {
            Some(lookup_user(pg_user).with_context(|| {
                format!(
                    "the server runs as root, and initdb refuses to run as root; the embedded \
                     PostgreSQL runs as the system user `{pg_user}`, which does not exist \
                     (create it, pick another with --pg-user, or set DATABASE_URL)"
                )
            })?)
        } else {
            None
        };
        let root = data_dir.join("postgres");
        if root.to_string_lossy().contains('\'') {
            bail!("the data dir path must not contain a single quote: {}", root.display());
        }
        Ok(Self { bin_dir, root, run_as })
    }

    fn pgdata(&self) -> PathBuf {
        self.root.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// How the server connects to it (it need not run yet).
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options(DB_NAME)
    }

    /// Whether the postmaster named in its pid file is alive (not a zombie).
    /// Cheap: reads two small files.
    pub fn is_alive(&self) -> bool {
        let Ok(pid_file) = std::fs::read_to_string(self.pgdata().join("postmaster.pid")) else { return false };
        let Some(pid) = pid_file.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) else { return false };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name in parentheses.
            Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
            Err(_) => false,
        }
    }

    /// Create the cluster if needed, start it unless it already runs, and make
    /// sure the application database exists.
    pub async fn start(&self) -> anyhow::Result<PgConnectOptions> {
        self.prepare_dirs()?;
        if !self.pgdata().join("PG_VERSION").exists() {
            tracing::info!(dir = %self.pgdata().display(), "creating embedded PostgreSQL cluster");
            self.run(
                "initdb",
                &[
                    "-D".as_ref(),
                    self.pgdata().as_os_str(),
                    "-U".as_ref(),
                    DB_USER.as_ref(),
                    "--auth=trust".as_ref(),
                    "-E".as_ref(),
                    "UTF8".as_ref(),
                    "--locale=C".as_ref(),
                ],
            )
            .await?;
        }
        if self.is_running().await {
            tracing::info!("reusing the embedded PostgreSQL that is already running");
        } else {
            let opts = format!(
                "-c listen_addresses='' -c unix_socket_directories='{}' -c max_connections=100",
                self.socket_dir().display()
            );
            let log = self.root.join("postgres.log");
            tracing::info!("starting embedded PostgreSQL");
            self.run(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-D".as_ref(),
                    self.pgdata().as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    opts.as_ref(),
                ],
            )
            .await
            .with_context(|| format!("see {} for PostgreSQL's own log", log.display()))?;
        }
        self.ensure_database().await?;
        Ok(self.options(DB_NAME))
    }

    /// Stop the cluster (fast shutdown: open transactions are rolled back).
    pub async fn stop(&self) -> anyhow::Result<()> {
        if !self.is_running().await {
            return Ok(());
        }
        tracing::info!("stopping embedded PostgreSQL");
        self.run(
            "pg_ctl",
            &["stop".as_ref(), "-w".as_ref(), "-m".as_ref(), "fast".as_ref(), "-D".as_ref(), self.pgdata().as_os_str()],
        )
        .await
    }

    fn options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(self.socket_dir()).username(DB_USER).database(database)
    }

    async fn ensure_database(&self) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect_with(&self.options("postgres"))
            .await
            .context("connecting to the embedded PostgreSQL")?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DB_NAME)
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DB_NAME}")).execute(&mut conn).await?;
        }
        conn.close().await?;
        Ok(())
    }

    async fn is_running(&self) -> bool {
        let status = self
            .command("pg_ctl")
            .args(["status".as_ref(), "-D".as_ref(), self.pgdata().as_os_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        matches!(status, Ok(s) if s.success())
    }

    /// The cluster's directories belong to the user that runs it; the data dir
    /// itself must be traversable by that user.
    fn prepare_dirs(&self) -> anyhow::Result<()> {
        for dir in [&self.root, &self.socket_dir()] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        if let Some((uid, gid)) = self.run_as {
            // The data dir itself is ours to open up for traversal; above it
            // we only check, and say what to change.
            if let Some(data_dir) = self.root.parent() {
                let mode = std::fs::metadata(data_dir)?.permissions().mode();
                if mode & 0o001 == 0 {
                    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(mode | 0o011))?;
                }
                for ancestor in data_dir.ancestors().skip(1) {
                    let mode = std::fs::metadata(ancestor)?.permissions().mode();
                    if mode & 0o001 == 0 {
                        bail!(
                            "the embedded PostgreSQL runs as an unprivileged user, who cannot reach {}: \
                             {} is not traversable (chmod o+x it, or pick a --data-dir elsewhere)",
                            self.root.display(),
                            ancestor.display()
                        );
                    }
                }
            }
            for dir in [&self.root, &self.socket_dir()] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                    .with_context(|| format!("handing {} to the PostgreSQL user", dir.display()))?;
            }
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(&self.root).env("LC_ALL", "C").kill_on_drop(false);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    async fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let output = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            // pg_ctl start leaves the postmaster holding inherited pipes; send
            // its chatter to the log file instead of waiting on them.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await
            .with_context(|| format!("running {program}"))?;
        if !output.status.success() {
            bail!("{program} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }
}

/// Debian keeps server binaries in /usr/lib/postgresql/VERSION/bin; prefer the
/// newest, then fall back to PATH.
fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    versions
        .into_iter()
        .map(|(_, dir)| dir)
        .chain(path_dirs)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

/// uid and gid of a system user, from /etc/passwd.
fn lookup_user(name: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() >= 4 && fields[0] == name)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .with_context(|| format!("no system user named {name}"))
}
