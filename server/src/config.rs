//! One `Config` for `paas serve`, filled from flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Where apps' processes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerKind {
    /// The one Docker engine of this machine.
    Docker,
    /// The nodes of a Docker Swarm this machine's engine manages (a swarm
    /// of this one machine is made when it is in none).
    Swarm,
}

#[derive(Clone, Args)]
pub struct Config {
    /// Address of the control plane (REST API, dashboard, git endpoints).
    #[arg(long, env = "PAAS_LISTEN", default_value = "0.0.0.0:5000")]
    pub listen: SocketAddr,

    /// Address of the app router (HTTP traffic for APP.BASE_DOMAIN).
    #[arg(long, env = "PAAS_ROUTER_LISTEN", default_value = "0.0.0.0:8080")]
    pub router_listen: SocketAddr,

    /// Address the router serves HTTPS on (certificates by SNI: issued
    /// through ACME or uploaded with `paas certs:add`). Without it the router
    /// speaks plain HTTP only.
    #[arg(long, env = "PAAS_HTTPS_LISTEN")]
    pub https_listen: Option<SocketAddr>,

    /// Contact email for the ACME account. Setting it (or
    /// --acme-directory) turns on automatic certificates for apps' names
    /// and custom domains, from Let's Encrypt unless --acme-directory says
    /// otherwise. Needs --https-listen, and the router reachable on port 80
    /// for the HTTP-01 challenge.
    #[arg(long, env = "PAAS_ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// ACME directory URL (default: Let's Encrypt's production directory
    /// once --acme-email is set).
    #[arg(long, env = "PAAS_ACME_DIRECTORY")]
    pub acme_directory: Option<String>,

    /// CA certificate (PEM) the ACME directory's HTTPS is verified with,
    /// instead of the system's: a private or test ACME server.
    #[arg(long, env = "PAAS_ACME_CA_FILE")]
    pub acme_ca_file: Option<PathBuf>,

    /// Days before expiry an ACME certificate is renewed.
    #[arg(long, env = "PAAS_ACME_RENEW_DAYS", default_value_t = 30)]
    pub acme_renew_days: u64,

    /// Seconds between looks for certificates to renew (and failed ones to
    /// retry).
    #[arg(long, env = "PAAS_ACME_CHECK_INTERVAL", default_value_t = 3600, hide = true)]
    pub acme_check_interval: u64,

    /// Directory for everything the server keeps on disk: the embedded
    /// database, git repositories, keys.
    #[arg(long, env = "PAAS_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,

    /// Where add-on backups are kept (encrypted). Default: DATA_DIR/backups.
    #[arg(long, env = "PAAS_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    /// PostgreSQL to use. Without it the server runs a private PostgreSQL
    /// cluster inside the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Unprivileged system user that runs the embedded PostgreSQL when the
    /// server runs as root (initdb refuses to run as root).
    #[arg(long, env = "PAAS_PG_USER", default_value = "postgres")]
    pub pg_user: String,

    /// Apps are served at http://APP.BASE_DOMAIN by the router.
    #[arg(long, env = "PAAS_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,

    /// URL users reach the control plane at, used in printed git remotes and
    /// links. Defaults to http://<listen address>.
    #[arg(long, env = "PAAS_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Log format on stderr.
    #[arg(long, env = "PAAS_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Password for the admin user created on first start. Without it a
    /// random one is generated and printed once.
    #[arg(long, env = "PAAS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Seconds a new web process may take to pass its health check (Heroku's
    /// boot timeout is 60).
    #[arg(long, env = "PAAS_HEALTH_TIMEOUT", default_value_t = 60)]
    pub health_timeout: u64,

    /// Consecutive non-5xx answers that make a web process healthy.
    #[arg(long, env = "PAAS_HEALTH_CHECKS", default_value_t = 3)]
    pub health_checks: u32,

    /// Seconds between liveness checks of running web processes (0: none);
    /// app.json's `healthchecks.web` entry of type `liveness` overrides it.
    #[arg(long, env = "PAAS_LIVENESS_INTERVAL", default_value_t = 10)]
    pub liveness_interval: u64,

    /// Seconds a liveness check may take before it counts as failed.
    #[arg(long, env = "PAAS_LIVENESS_TIMEOUT", default_value_t = 5)]
    pub liveness_timeout: u64,

    /// Consecutive failed liveness checks that take a web process out of
    /// rotation and restart it.
    #[arg(long, env = "PAAS_LIVENESS_FAILURES", default_value_t = 3)]
    pub liveness_failures: u32,

    /// Image the bookworm stack's images are built on (users' machines pull
    /// it once; a Debian 12 with apt).
    #[arg(long, env = "PAAS_STACK_BASE", default_value = "debian:bookworm-slim")]
    pub stack_base: String,

    /// Image the trixie stack's images are built on.
    #[arg(long, env = "PAAS_TRIXIE_STACK_BASE", default_value = "debian:trixie-slim")]
    pub trixie_stack_base: String,

    /// The stack apps build on until `paas stack:set` chooses another:
    /// trixie (Debian 13, the current release) or bookworm.
    #[arg(long, env = "PAAS_DEFAULT_STACK", default_value = "trixie", value_parser = stack_name)]
    pub default_stack: String,

    /// Memory limit of a process whose type sets none (`ps:resize`), like
    /// Heroku's standard dyno: 512m.
    #[arg(long, env = "PAAS_DEFAULT_MEMORY", default_value = "512m", value_parser = memory_mb)]
    pub default_memory: i32,

    /// CPU quota, in cores, of a process whose type sets none.
    #[arg(long, env = "PAAS_DEFAULT_CPUS", default_value_t = 1.0)]
    pub default_cpus: f64,

    /// How many processes and threads one process (container) may run.
    #[arg(long, env = "PAAS_DEFAULT_PIDS", default_value_t = 512)]
    pub default_pids: i64,

    /// Memory limit of a build (each build container or Dockerfile step).
    #[arg(long, env = "PAAS_BUILD_MEMORY", default_value = "2g", value_parser = memory_mb)]
    pub build_memory: i32,

    /// Let app containers reach the control plane (an app that drives paas's
    /// API). By default requests from app networks are refused.
    #[arg(long, env = "PAAS_APPS_REACH_CONTROL_PLANE")]
    pub apps_reach_control_plane: bool,

    /// CA bundle (PEM) given to builds, so they trust an intercepting proxy or
    /// a private registry. Default: the host's
    /// /etc/ssl/certs/ca-certificates.crt, when it exists.
    #[arg(long, env = "PAAS_BUILD_CA_FILE")]
    pub build_ca_file: Option<PathBuf>,

    /// Proxy for builds' http:// requests (HTTP_PROXY in every build
    /// container and Dockerfile build), e.g. http://proxy.corp:3128.
    #[arg(long, env = "PAAS_BUILD_HTTP_PROXY")]
    pub build_http_proxy: Option<String>,

    /// Proxy for builds' https:// requests (HTTPS_PROXY).
    #[arg(long, env = "PAAS_BUILD_HTTPS_PROXY")]
    pub build_https_proxy: Option<String>,

    /// Hosts builds reach without the proxy (NO_PROXY), comma-separated.
    #[arg(long, env = "PAAS_BUILD_NO_PROXY")]
    pub build_no_proxy: Option<String>,

    /// Give app processes the build trust settings too: the CA bundle at
    /// /etc/paas/ca-certificates.crt (with SSL_CERT_FILE and the like
    /// pointing at it) and the proxy variables.
    #[arg(long, env = "PAAS_APPS_TRUST")]
    pub apps_trust: bool,

    /// Seconds a build may run before it is stopped and the push refused
    /// (Heroku's limit is 15 minutes).
    #[arg(long, env = "PAAS_BUILD_TIMEOUT", default_value_t = 900)]
    pub build_timeout: u64,

    /// Seconds a change waits for the app's deploy lock (another deploy in
    /// progress) before it gives up.
    #[arg(long, env = "PAAS_LOCK_TIMEOUT", default_value_t = 1500)]
    pub lock_timeout: u64,

    /// Seconds any one database statement may run.
    #[arg(long, env = "PAAS_DB_STATEMENT_TIMEOUT", default_value_t = 30)]
    pub db_statement_timeout: u64,

    /// Token Prometheus presents (`Authorization: Bearer`) to read
    /// `GET /metrics`; without one, metrics are off.
    #[arg(long, env = "PAAS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Seconds between the samples of the metrics history the dashboard
    /// charts (requests, latency, errors, CPU, memory; kept two days).
    #[arg(long, env = "PAAS_METRICS_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub metrics_interval: u64,

    /// Largest push accepted, e.g. 500m (Heroku's limit on a slug's source).
    #[arg(long, env = "PAAS_MAX_PUSH_SIZE", default_value = "500m", value_parser = memory_mb)]
    pub max_push_mb: i32,

    /// Seconds a git request (fetch or push, with its deploy) may take.
    #[arg(long, env = "PAAS_GIT_TIMEOUT", default_value_t = 3600)]
    pub git_timeout: u64,

    /// Seconds the release phase (a Procfile `release` command) may run.
    #[arg(long, env = "PAAS_RELEASE_TIMEOUT", default_value_t = 300)]
    pub release_timeout: u64,

    /// How many of an app's newest releases keep their image for a
    /// rollback; older releases' images are removed after each deploy (0:
    /// keep them all).
    #[arg(long, env = "PAAS_KEEP_RELEASE_IMAGES", default_value_t = 10)]
    pub keep_release_images: usize,

    /// Seconds to wait for in-flight requests on replaced processes.
    #[arg(long, env = "PAAS_DRAIN_TIMEOUT", default_value_t = 30)]
    pub drain_timeout: u64,

    /// Where apps' processes run: this machine's Docker engine, or the
    /// nodes of the Docker Swarm it manages.
    #[arg(long, env = "PAAS_SCHEDULER", value_enum, default_value = "docker")]
    pub scheduler: SchedulerKind,

    /// Image registry (HOST:PORT) every swarm node pulls from; images built
    /// here are pushed to it. Without one, a swarm runs every process on
    /// this machine.
    #[arg(long, env = "PAAS_REGISTRY")]
    pub registry: Option<String>,

    /// A swarm node's own engine, `NODE=unix:///PATH` (its socket forwarded
    /// here, e.g. with `ssh -L`), repeatable or comma-separated: `ps:exec`
    /// into its processes and their CPU and memory go through it. Without
    /// one, only the manager's processes can be entered and measured.
    #[arg(long = "node-engine", env = "PAAS_NODE_ENGINES", value_delimiter = ',', value_parser = parse_node_engine)]
    pub node_engines: Vec<(String, std::path::PathBuf)>,

    /// Seconds between SIGTERM and SIGKILL when stopping a process.
    #[arg(long, env = "PAAS_STOP_GRACE", default_value_t = 10)]
    pub stop_grace: u64,

    /// Key for config values at rest: 32 bytes, base64. Without it the key is
    /// kept in DATA_DIR/secret.key (created on first start).
    #[arg(long, env = "PAAS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    #[command(flatten)]
    pub proxy: ProxyOptions,

    /// Email of the admin user created on first start.
    #[arg(long, env = "PAAS_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,
}

/// How the router proxies, the same for the router inside `paas serve` and
/// for `paas router`.
#[derive(Debug, Clone, Args)]
pub struct ProxyOptions {
    /// Seconds the router waits for an app to start answering a request
    /// before it answers 504 (Heroku's router gives 30).
    #[arg(long, env = "PAAS_PROXY_TIMEOUT", default_value_t = 30)]
    pub proxy_timeout: u64,

    /// Seconds an idle connection to an app process is kept for reuse.
    #[arg(long, env = "PAAS_PROXY_IDLE_TIMEOUT", default_value_t = 60)]
    pub proxy_idle_timeout: u64,

    /// Idle connections kept open to each app process for reuse, at most.
    #[arg(long, env = "PAAS_PROXY_MAX_IDLE", default_value_t = 128)]
    pub proxy_max_idle: usize,

    /// Addresses (CIDR ranges, comma-separated) of proxies in front of the
    /// router, such as a TLS terminator or load balancer: their
    /// X-Forwarded-Proto and X-Forwarded-For reach apps. From anyone else
    /// the router sets them itself.
    #[arg(long, env = "PAAS_TRUSTED_PROXIES", value_delimiter = ',', value_parser = cidr)]
    pub trusted_proxies: Vec<crate::runtime::Subnet>,

    /// Threads the router serves on, each with its own event loop and
    /// connection pool (0: one per CPU core).
    #[arg(long, env = "PAAS_ROUTER_WORKERS", default_value_t = 0)]
    pub router_workers: usize,
}

impl ProxyOptions {
    pub fn limits(&self) -> crate::router::Limits {
        crate::router::Limits {
            response: std::time::Duration::from_secs(self.proxy_timeout),
            idle: std::time::Duration::from_secs(self.proxy_idle_timeout),
            max_idle: self.proxy_max_idle,
        }
    }

    /// Worker threads to start.
    pub fn workers(&self) -> usize {
        match self.router_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// `paas router`: a router on its own, apart from the control plane, fed
/// the routes the control plane publishes in PostgreSQL.
#[derive(Clone, Args)]
pub struct RouterConfig {
    /// Address to serve apps' HTTP traffic on.
    #[arg(long, env = "PAAS_ROUTER_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Address to serve HTTPS on, with the certificates the control plane
    /// keeps (issued through ACME or uploaded).
    #[arg(long, env = "PAAS_HTTPS_LISTEN")]
    pub https_listen: Option<SocketAddr>,

    /// The control plane's PostgreSQL, where it publishes the routes.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,

    /// The control plane's secret key (base64), which seals the published
    /// routes. Or give --secret-key-file.
    #[arg(long, env = "PAAS_SECRET_KEY", hide_env_values = true, required_unless_present = "secret_key_file")]
    pub secret_key: Option<String>,

    /// A file holding the control plane's secret key, such as its
    /// DATA_DIR/secret.key.
    #[arg(long, env = "PAAS_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Where this router keeps the last routes it received, to serve them
    /// at once after a restart, even with the database down.
    #[arg(long, env = "PAAS_ROUTER_DATA_DIR", default_value = "/var/lib/paas-router")]
    pub data_dir: PathBuf,

    /// Apps are served at http://APP.BASE_DOMAIN (as the control plane's).
    #[arg(long, env = "PAAS_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,

    /// Where to hand access lines and request counts to the control plane
    /// (default: the public URL it publishes).
    #[arg(long, env = "PAAS_CONTROL_URL")]
    pub control_url: Option<String>,

    /// This router's name in `paas routers` (default: the host's name).
    #[arg(long, env = "PAAS_ROUTER_NAME")]
    pub name: Option<String>,

    /// Log format on stderr.
    #[arg(long, env = "PAAS_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub proxy: ProxyOptions,
}

impl std::fmt::Debug for RouterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("base_domain", &self.base_domain)
            .finish_non_exhaustive()
    }
}

/// Secrets show as `<redacted>`: a config printed in a log or a panic gives
/// none away.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "<redacted>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("router_listen", &self.router_listen)
            .field("https_listen", &self.https_listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &hidden(self.database_url.is_some()))
            .field("admin_password", &hidden(self.admin_password.is_some()))
            .field("secret_key", &hidden(self.secret_key.is_some()))
            .field("base_domain", &self.base_domain)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

fn stack_name(text: &str) -> Result<String, String> {
    crate::build::stacks::validate(text.trim()).map(|s| s.name.to_string())
}

/// An address range, `10.0.0.0/8`, or one address.
fn cidr(text: &str) -> Result<crate::runtime::Subnet, String> {
    let text = text.trim();
    let parsed = match text.parse::<std::net::IpAddr>() {
        Ok(addr) => Some(crate::runtime::Subnet { addr, prefix: if addr.is_ipv4() { 32 } else { 128 } }),
        Err(_) => crate::runtime::Subnet::parse(text),
    };
    parsed
        .filter(|s| s.prefix <= if s.addr.is_ipv4() { 32 } else { 128 })
        .ok_or_else(|| format!("{text:?} is not an address range like 10.0.0.0/8 or an address"))
}

/// Memory as `512m`, `1g`, `256` (MB).
pub fn memory_mb(text: &str) -> Result<i32, String> {
    let t = text.trim().to_ascii_lowercase();
    let (number, factor) = match t.strip_suffix("gb").or_else(|| t.strip_suffix('g')) {
        Some(n) => (n, 1024),
        None => (t.strip_suffix("mb").or_else(|| t.strip_suffix('m')).unwrap_or(&t), 1),
    };
    number
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("cannot read {text:?} as memory (e.g. 512m, 1g)"))
}

/// The host's CA bundle on Debian and Ubuntu.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Config {
    /// The CA bundle builds are given, if any.
    pub fn build_ca_file(&self) -> Option<PathBuf> {
        match &self.build_ca_file {
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(HOST_CA_BUNDLE)),
        }
    }

    /// The ACME directory to get certificates from, when that is on.
    pub fn acme_directory(&self) -> Option<String> {
        let directory = self.acme_directory.clone().filter(|d| !d.is_empty());
        let email = self.acme_email.as_ref().filter(|e| !e.is_empty());
        directory.or_else(|| email.map(|_| crate::tls::acme::LETS_ENCRYPT.to_string()))
    }

    /// The URL printed to users for the control plane.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let host = if bound.ip().is_unspecified() { "127.0.0.1".to_string() } else { bound.ip().to_string() };
        format!("http://{host}:{}", bound.port())
    }
}

fn default_data_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/paas");
    }
    match std::env::var_os("XDG_DATA_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("paas"),
        _ => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".local/share/paas"),
            None => PathBuf::from("./paas-data"),
        },
    }
}

/// Whether this process runs as uid 0 (read from /proc, no libc call).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// `NODE=unix:///PATH`.
fn parse_node_engine(text: &str) -> Result<(String, std::path::PathBuf), String> {
    let (node, url) = text.split_once('=').ok_or("give NODE=unix:///PATH")?;
    let path = url.strip_prefix("unix://").filter(|p| p.starts_with('/')).ok_or_else(|| {
        format!("{url}: a node's engine is reached on a unix socket, unix:///PATH (forward it with `ssh -L`)")
    })?;
    if node.trim().is_empty() {
        return Err("give the node's name before =".into());
    }
    Ok((node.trim().to_string(), path.into()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: super::Config,
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cli = Cli::parse_from([
            "paas",
            "--database-url",
            "postgres://u:hunter2@db/paas",
            "--admin-password",
            "hunter3",
            "--secret-key",
            "c2VjcmV0",
        ]);
        let shown = format!("{:?}", cli.config);
        for secret in ["hunter2", "hunter3", "c2VjcmV0"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn node_engines_are_named_unix_sockets() {
        let cli = Cli::parse_from(["paas", "--node-engine", "n2=unix:///run/n2.sock,n3=unix:///run/n3.sock"]);
        let names: Vec<&str> = cli.config.node_engines.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["n2", "n3"]);
        assert_eq!(cli.config.node_engines[0].1, std::path::Path::new("/run/n2.sock"));
        let refused = Cli::try_parse_from(["paas", "--node-engine", "n2=tcp://10.0.0.2:2375"]).err().unwrap();
        assert!(refused.to_string().contains("reached on a unix socket"), "{refused}");
    }
}
