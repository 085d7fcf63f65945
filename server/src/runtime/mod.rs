//! The Scheduler boundary: the only place that knows how containers run.
//! `DockerScheduler` drives the local Docker engine; `SwarmScheduler` runs
//! apps' processes as services across a Docker Swarm's nodes.

mod attach;
mod docker;
mod fence;
mod swarm;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;

pub use attach::{Output, Session, Target};
pub use docker::DockerScheduler;
pub use swarm::SwarmScheduler;

/// Labels every app container carries, so actual state can be rebuilt from
/// the engine alone.
pub const LABEL_APP: &str = "paas.app";
pub const LABEL_RELEASE: &str = "paas.release";
pub const LABEL_PROCESS: &str = "paas.process";
pub const LABEL_INDEX: &str = "paas.index";
/// The rollout that started a container: each rollout starts a fresh set.
pub const LABEL_DEPLOYMENT: &str = "paas.deployment";
/// Which paas installation owns a container; each installation sees only its own.
pub const LABEL_INSTANCE: &str = "paas.instance";
/// A one-off's command, for `ps`.
pub const LABEL_COMMAND: &str = "paas.command";
/// The process type of one-offs (`run.N`).
pub const RUN: &str = "run";
/// The id of the add-on a container runs (add-on containers carry no
/// `paas.app`: they belong to no app's deployments).
pub const LABEL_ADDON: &str = "paas.addon";

/// The network of an app's processes, release phase and builds: a bridge of
/// its own, so no other app's containers reach them. (A team network for
/// apps that opt in can join them later as a second network.)
pub fn app_network(app: &str) -> String {
    format!("app-{app}")
}

/// A team's private network: its apps that opt in join it, their web
/// processes known there as `APP.internal`.
pub fn team_network(team_id: i64) -> String {
    format!("team-{team_id}")
}

/// An app's name on its team's private network.
pub fn internal_host(app: &str) -> String {
    format!("{app}.internal")
}

/// An add-on's own network, where it is alone.
pub fn addon_network(addon_id: i64) -> String {
    format!("addon-{addon_id}")
}

/// The network of one attachment: the add-on and the processes of that one
/// app, so two apps sharing an add-on do not reach each other through it.
pub fn attachment_network(addon_id: i64, app_id: i64) -> String {
    format!("addon-{addon_id}-app-{app_id}")
}

/// The port an app's web process is told to listen on inside its container.
pub const CONTAINER_PORT: u16 = 5000;

#[derive(Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Command override; `None` runs the image's own command.
    pub command: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: HashMap<String, String>,
    /// Publish `CONTAINER_PORT` on an ephemeral 127.0.0.1 port.
    pub publish_port: bool,
    /// The network it joins (scoped to this installation; created when
    /// missing); containers of other networks cannot reach it.
    pub network: String,
    /// Further names it answers to on that network.
    pub aliases: Vec<String>,
    pub limits: Limits,
    /// Host files mounted read-only: (host path, path in the container).
    pub read_only_files: Vec<(std::path::PathBuf, String)>,
    /// Named volumes (scoped to this installation; made with
    /// `create_volume`): (volume name, path in the container).
    pub volumes: Vec<(String, String)>,
    /// Further networks it joins (scoped, created when missing), with the
    /// names it answers to there.
    pub extra_networks: Vec<(String, Vec<String>)>,
}

/// What a container may use of the machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub memory_mb: i32,
    /// A CPU quota in cores.
    pub cpus: f64,
    /// How many processes (and threads) it may run.
    pub pids: i64,
}

/// A container's resource use, as the engine counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU time used since it started, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use (the page cache it could give back left out).
    pub memory_bytes: u64,
    /// Its memory limit, if it has one.
    pub memory_limit_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
    /// Where the router and health checks reach its `$PORT`: the address
    /// the scheduler published it on (on the single engine, a port of
    /// 127.0.0.1). Only while it runs.
    pub addr: Option<std::net::SocketAddr>,
    /// Known once it exited.
    pub exit_code: Option<i64>,
    /// The engine's word for it: running, paused, exited, created, dead.
    pub engine_state: String,
    /// Known from `inspect` only (a listing leaves it false).
    pub oom_killed: bool,
    /// The machine it runs on, in a cluster (none on the one engine).
    pub node: Option<String>,
    /// When the process started (a listing gives the creation time, which
    /// is the same: the engine never restarts a container by itself).
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Container {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// A container made for a build step rather than to serve: files are copied
/// in before it starts; named volumes persist between builds (caches).
#[derive(Clone, Default)]
pub struct TaskSpec {
    pub name: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    /// (directory in the container, tar to unpack there).
    pub uploads: Vec<(String, Payload)>,
    /// (volume name, mount path). Names are scoped to this installation.
    pub volumes: Vec<(String, String)>,
    pub labels: HashMap<String, String>,
    /// The network it joins (scoped, created when missing).
    pub network: String,
    pub limits: Option<Limits>,
}

/// What the engine tells of a local image: who it may belong to.
#[derive(Debug, Clone, Default)]
pub struct ImageInfo {
    pub labels: HashMap<String, String>,
    /// Its names (`paas/shop:abc123`); none for an intermediate image.
    pub tags: Vec<String>,
}

/// What an image built from a container runs with.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub labels: HashMap<String, String>,
}

/// An address range, `10.1.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Subnet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(cidr: &str) -> Option<Self> {
        let (addr, prefix) = cidr.split_once('/')?;
        Some(Self { addr: addr.parse().ok()?, prefix: prefix.parse().ok()? })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (std::net::IpAddr::V4(net), std::net::IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (std::net::IpAddr::V6(net), std::net::IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A machine processes run on.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Node {
    pub id: String,
    /// Its host name.
    pub name: String,
    /// Its address in the cluster (none for the one engine).
    pub address: Option<String>,
    /// `engine` (the one engine), or a cluster's `manager` or `worker`.
    pub role: String,
    /// `ready`, `down`, `unknown`.
    pub state: String,
    /// `active` (takes processes), `pause` or `drain`.
    pub availability: String,
    pub cpus: f64,
    pub memory_bytes: i64,
}

/// Something that happened to a process, in the scheduler's words (each
/// backend translates its own: Docker's `die`/`oom`/`destroy`, a Swarm
/// task's state, a pod's termination reason).
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    pub id: String,
    pub what: Happened,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// It ended, with this exit code when known.
    Exited(Option<i64>),
    /// It ran out of memory (an exit follows).
    OutOfMemory,
    /// It is gone.
    Removed,
}

/// Bytes for the engine: small ones in memory, large ones in a file that is
/// streamed from disk.
#[derive(Debug, Clone)]
pub enum Payload {
    Bytes(Bytes),
    File(crate::spill::Spill),
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload::Bytes(bytes)
    }
}

/// Environment values hold decrypted config: a spec shows their names only.
struct Names<'a>(&'a [(String, String)]);

impl std::fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(k, _)| k)).finish()
    }
}

impl std::fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("env", &Names(&self.env))
            .field("network", &self.network)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("env", &Names(&self.env))
            .field("uploads", &self.uploads.iter().map(|(path, tar)| (path, tar.len())).collect::<Vec<_>>())
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

/// An image build from a tar of the build context.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    pub tag: String,
    pub build_args: HashMap<String, String>,
    /// The network its steps run on (scoped, created when missing); None:
    /// the engine's default.
    pub network: Option<String>,
    /// Memory of each build step, in MB.
    pub memory_mb: Option<i32>,
    /// The only images whose layers the build may reuse as its cache; None:
    /// any the engine has.
    pub cache_from: Option<Vec<String>>,
}

#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Build an image from a tar of the build context, streaming output lines.
    async fn build_image(
        &self,
        context: Payload,
        spec: BuildSpec,
        output: UnboundedSender<String>,
    ) -> anyhow::Result<()>;

    /// Remove a network (scoped to this installation); missing is fine.
    async fn remove_network(&self, name: &str) -> anyhow::Result<()>;

    /// The address ranges of this installation's networks (where app
    /// containers connect from), asked of the engine; `known_subnets` keeps
    /// them, and those of networks made since.
    async fn subnets(&self) -> anyhow::Result<Vec<Subnet>>;

    fn known_subnets(&self) -> Vec<Subnet>;

    /// Create a container for a task and copy its files in, without starting it.
    async fn create_task(&self, task: TaskSpec) -> anyhow::Result<String>;

    /// Start a created task, stream its output lines, wait; its exit code.
    async fn run_task(&self, id: &str, output: UnboundedSender<String>) -> anyhow::Result<i64>;

    /// A directory of a container, as a tar written to a file in `spill_dir`.
    async fn download(&self, id: &str, path: &str, spill_dir: &std::path::Path) -> anyhow::Result<Payload>;

    /// Make an image of a container's filesystem with the given run config.
    async fn commit(&self, id: &str, tag: &str, config: ImageConfig) -> anyhow::Result<()>;

    /// Whether an image exists locally.
    async fn image_exists(&self, image: &str) -> anyhow::Result<bool> {
        Ok(self.image_info(image).await?.is_some())
    }

    /// An image's labels and names, or None when the engine does not have it.
    async fn image_info(&self, image: &str) -> anyhow::Result<Option<ImageInfo>>;

    /// Whether the engine answers.
    async fn ping(&self) -> anyhow::Result<()>;

    /// The machines processes run on: the one engine, or a cluster's nodes.
    async fn nodes(&self) -> anyhow::Result<Vec<Node>>;

    /// The command that makes another machine a worker of the cluster; an
    /// error that says why when there is no cluster.
    async fn join_command(&self) -> anyhow::Result<String>;

    /// Set a node's availability (`active`, `pause`: takes no new
    /// processes, `drain`: runs none); the node by id or host name. Only a
    /// cluster's nodes have one.
    async fn set_availability(&self, node: &str, availability: &str) -> anyhow::Result<()> {
        let _ = (node, availability);
        anyhow::bail!(
            "every process runs on this one machine's engine: there is no node to drain (see --scheduler swarm)"
        )
    }

    /// Create and start a container (replacing a leftover of the same name).
    /// The engine never restarts it: the reconcile loop decides that. Returns
    /// it as inspected after start.
    async fn start(&self, spec: ContainerSpec) -> anyhow::Result<Container>;

    /// Create and start a one-off container with its input open (and a TTY
    /// when asked), attached before it starts.
    async fn start_attached(&self, spec: ContainerSpec, tty: bool) -> anyhow::Result<(Container, Session)>;

    /// Run a command inside a running container, attached (with a TTY when
    /// asked).
    async fn exec(&self, id: &str, command: Vec<String>, tty: bool) -> anyhow::Result<Session>;

    /// Set the size of a session's terminal.
    async fn resize(&self, target: &Target, cols: u16, rows: u16) -> anyhow::Result<()>;

    /// How a session's process ended, once it has (a container: waited for).
    async fn exit_code(&self, target: &Target) -> anyhow::Result<i64>;

    /// End what a session runs once its client has gone, as a closed
    /// terminal would: an executed command (and what it started) is hung up,
    /// then killed. A one-off container is left to its own end.
    async fn hang_up(&self, target: &Target) -> anyhow::Result<()>;

    async fn inspect(&self, id: &str) -> anyhow::Result<Option<Container>>;

    /// Wait for a container to exit; its exit code.
    async fn wait(&self, id: &str) -> anyhow::Result<i64>;

    /// SIGTERM, then SIGKILL after `grace`, then remove. Missing is fine.
    async fn stop_and_remove(&self, id: &str, grace: Duration) -> anyhow::Result<()>;

    /// This installation's containers (running or not) carrying all the given
    /// labels, from one listing call.
    async fn list(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<Container>>;

    /// The last `lines` lines of a container's output.
    async fn logs_tail(&self, id: &str, lines: usize) -> anyhow::Result<Vec<String>>;

    /// A container's output lines from `since` (unix seconds; 0: the start),
    /// following until the process stops.
    fn follow_logs(&self, id: &str, since: i64) -> futures_util::stream::BoxStream<'static, String>;

    /// This installation's container exits as they happen: `die` with its exit
    /// code, `oom` when the kernel killed a process for its memory limit,
    /// `destroy` when a container was removed.
    fn events(&self) -> futures_util::stream::BoxStream<'static, ContainerEvent>;

    /// Join a running (or created) container to a network (scoped, created
    /// when missing), answering to `aliases` there.
    async fn connect(&self, id: &str, network: &str, aliases: Vec<String>) -> anyhow::Result<()>;

    /// Whether a running app process can join or leave a network where it
    /// runs (`connect`); if not, it takes new networks only when replaced.
    fn joins_networks_live(&self) -> bool {
        true
    }

    /// Take a container off a network; not on it is fine.
    async fn disconnect(&self, id: &str, network: &str) -> anyhow::Result<()>;

    /// Make a named volume (scoped to this installation) if it is missing.
    async fn create_volume(&self, name: &str) -> anyhow::Result<()>;

    /// This installation's named volumes, by the names they were made with.
    async fn volumes(&self) -> anyhow::Result<Vec<String>>;

    /// Remove a named volume (scoped to this installation); missing is fine.
    async fn remove_volume(&self, name: &str) -> anyhow::Result<()>;

    /// Give an image another name (`paas/NEW:SHA` for `paas/OLD:SHA`).
    async fn tag_image(&self, source: &str, target: &str) -> anyhow::Result<()>;

    /// Remove the images of an app that no container uses.
    async fn remove_images(&self, app: &str) -> anyhow::Result<()>;

    /// Remove one image by name, unless a container uses it (then it stays,
    /// and the error says so). One that is missing is fine.
    async fn remove_image(&self, image: &str) -> anyhow::Result<()>;

    /// What a running container uses: CPU time so far and memory now. None
    /// when it is gone.
    async fn usage(&self, id: &str) -> anyhow::Result<Option<Usage>>;
}

/// What a command run inside a container printed, and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Run a command inside a running container without a TTY, with nothing on
/// its input, and collect what it prints (at most `limit` bytes of each
/// stream; a command that prints more is an error).
pub async fn exec_output(runtime: &dyn Scheduler, id: &str, command: Vec<String>, limit: usize) -> anyhow::Result<Ran> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let mut session = runtime.exec(id, command, false).await?;
    session.input.shutdown().await.ok();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(chunk) = session.output.next().await {
        let (buffer, bytes) = match chunk? {
            Output::Stdout(bytes) => (&mut stdout, bytes),
            Output::Stderr(bytes) => (&mut stderr, bytes),
        };
        if buffer.len() + bytes.len() > limit {
            anyhow::bail!("the command printed more than {limit} bytes");
        }
        buffer.extend_from_slice(&bytes);
    }
    let code = runtime.exit_code(&session.target).await?;
    Ok(Ran { code, stdout, stderr: String::from_utf8_lossy(&stderr).into_owned() })
}

#[cfg(test)]
mod tests {
    use super::{ContainerSpec, Limits, Subnet};

    #[test]
    fn a_spec_shows_environment_names_never_values() {
        let spec = ContainerSpec {
            name: "c".into(),
            image: "i".into(),
            command: None,
            env: vec![("DATABASE_URL".into(), "postgres://u:hunter2@db".into())],
            labels: Default::default(),
            publish_port: false,
            network: "n".into(),
            aliases: Vec::new(),
            limits: Limits { memory_mb: 1, cpus: 1.0, pids: 1 },
            read_only_files: Vec::new(),
            volumes: Vec::new(),
            extra_networks: Vec::new(),
        };
        let shown = format!("{spec:?}");
        assert!(shown.contains("DATABASE_URL") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn subnets_contain_their_addresses() {
        let net = Subnet::parse("172.18.0.0/16").unwrap();
        assert!(net.contains("172.18.3.4".parse().unwrap()));
        assert!(net.contains("::ffff:172.18.0.2".parse().unwrap()), "IPv4 as IPv6");
        assert!(!net.contains("172.19.0.1".parse().unwrap()));
        assert!(!net.contains("127.0.0.1".parse().unwrap()));
        assert!(Subnet::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(Subnet::parse("nonsense").is_none());
    }
}
