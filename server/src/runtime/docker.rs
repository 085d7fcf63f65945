//! The Docker engine through bollard, version-negotiated (Debian's engine
//! speaks API 1.41). Nothing here pulls from a registry.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use super::attach::{self, Endpoint, Session, Target};
use super::fence;
use super::{
    BuildSpec, Container, ContainerSpec, ImageConfig, Limits, Payload, Scheduler, Subnet, TaskSpec, Usage,
    CONTAINER_PORT, LABEL_INSTANCE,
};

/// Capabilities a web app never needs: raw sockets (spoofing on the
/// network), device nodes, the audit log, file capabilities, changing its
/// own capability sets, chroot.
pub(super) const CAP_DROP: &[&str] = &["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP", "SETPCAP", "SYS_CHROOT"];
/// Labels a network with the logical name it was asked for.
const LABEL_NETWORK: &str = "paas.network";

/// Time an executed command has, once hung up, before it is killed.
const HANG_UP_GRACE: Duration = Duration::from_secs(2);

pub struct DockerScheduler {
    docker: Docker,
    /// Stamped on every container and image this installation makes.
    instance: String,
    /// Networks known to exist (so each start does not ask the engine).
    networks: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Their address ranges.
    subnets: std::sync::RwLock<Vec<Subnet>>,
    /// Where the engine listens, for attaching to processes.
    endpoint: Endpoint,
    creating_network: tokio::sync::Mutex<()>,
    /// Whether the fence between app networks stands (see `fence`): only
    /// ever for the one engine's bridges.
    fenced: bool,
    /// `bridge` on the one engine; `overlay` (attachable) in a swarm, so
    /// that services on every node and the manager's own containers share it.
    network_driver: &'static str,
}

impl DockerScheduler {
    /// Connect to the engine at `DOCKER_HOST` or the local socket and agree on
    /// an API version both sides speak.
    pub async fn connect(instance: String) -> anyhow::Result<Self> {
        let mut engine = Self::open(instance, "bridge").await?;
        engine.fenced = match engine.bridges().await {
            Ok(bridges) => match fence::install(&bridges).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(
                        "app networks are not fenced apart ({e:#}): Docker's own isolation lapses for a moment \
                         whenever a network is created; run the server as root with nftables installed"
                    );
                    false
                }
            },
            Err(e) => return Err(e).context("listing the app networks"),
        };
        Ok(engine)
    }

    /// A swarm node's own engine on its (forwarded) socket, for entering
    /// and measuring the processes it runs.
    pub(super) async fn at_socket(instance: String, path: &std::path::Path) -> anyhow::Result<Self> {
        let socket = path.to_str().context("a socket path in UTF-8")?;
        let docker = Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION)?
            .negotiate_version()
            .await
            .with_context(|| format!("the engine at {} does not answer", path.display()))?;
        Ok(Self::on(docker, Endpoint::Unix(path.into()), instance, "overlay"))
    }

    /// The engine of a swarm's manager: its networks span the swarm.
    pub(super) async fn connect_manager(instance: String) -> anyhow::Result<Self> {
        Self::open(instance, "overlay").await
    }

    async fn open(instance: String, network_driver: &'static str) -> anyhow::Result<Self> {
        let docker = Docker::connect_with_defaults().context("connecting to the Docker engine")?;
        let docker = docker
            .negotiate_version()
            .await
            .context("the Docker engine does not answer (is it installed and running? `scripts/serve` starts it)")?;
        Ok(Self::on(docker, Endpoint::from_env(), instance, network_driver))
    }

    /// A scheduler on a connected engine, knowing no network yet, unfenced.
    fn on(docker: Docker, endpoint: Endpoint, instance: String, network_driver: &'static str) -> Self {
        Self {
            docker,
            instance,
            networks: Default::default(),
            subnets: Default::default(),
            endpoint,
            creating_network: tokio::sync::Mutex::new(()),
            fenced: false,
            network_driver,
        }
    }

    /// The bridge devices of this installation's networks.
    async fn bridges(&self) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([
            ("label".to_string(), vec![format!("{LABEL_INSTANCE}={}", self.instance)]),
            ("driver".to_string(), vec!["bridge".to_string()]),
        ]);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::new().filters(&filters).build();
        let networks = self.docker.list_networks(Some(options)).await?;
        Ok(networks.into_iter().filter_map(|n| Some(fence::bridge_name(&n.id?, n.options.as_ref()))).collect())
    }

    pub(super) fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The engine's name of a network: the installation's, and apart for
    /// swarm-wide (overlay) networks, so that an installation moved from the
    /// one engine to a swarm never meets its old bridges under the same name.
    fn scoped(&self, name: &str) -> String {
        match self.network_driver {
            "overlay" => format!("{}-swarm-{name}", self.instance),
            _ => format!("{}-{name}", self.instance),
        }
    }

    /// The engine's name of a named volume.
    pub(super) fn volume_name(&self, name: &str) -> String {
        format!("{}-{name}", self.instance)
    }

    /// Container names are engine-wide: each installation's carry a short
    /// prefix of its own (`paas-1a2b3c4d-APP-v3-web-1-d7`).
    pub(super) fn container_name(&self, name: &str) -> String {
        let short = &self.instance[..self.instance.len().min(8)];
        match name.strip_prefix("paas-") {
            Some(rest) => format!("paas-{short}-{rest}"),
            None => format!("{short}-{name}"),
        }
    }

    /// The engine's name of a network, created (a bridge of its own) if missing.
    pub(super) async fn ensure_network(&self, name: &str) -> anyhow::Result<String> {
        let scoped = self.scoped(name);
        if self.networks.lock().is_ok_and(|known| known.contains(&scoped)) {
            return Ok(scoped);
        }
        // One creation at a time: the engine makes two networks of one name
        // when asked twice at once (processes starting together).
        let _creating = self.creating_network.lock().await;
        let inspect = || bollard::query_parameters::InspectNetworkOptions::default();
        let network = match self.docker.inspect_network(&scoped, Some(inspect())).await {
            Ok(network) => network,
            Err(e) if not_found(&e) => {
                let request = bollard::models::NetworkCreateRequest {
                    name: scoped.clone(),
                    driver: Some(self.network_driver.into()),
                    attachable: (self.network_driver == "overlay").then_some(true),
                    labels: Some(HashMap::from([
                        (LABEL_INSTANCE.to_string(), self.instance.clone()),
                        (LABEL_NETWORK.to_string(), name.to_string()),
                    ])),
                    ..Default::default()
                };
                match self.docker.create_network(request).await {
                    Ok(_) => {}
                    // Another start made it first.
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {}
                    Err(e) => return Err(e).with_context(|| format!("creating the network {scoped}")),
                }
                let made = self.docker.inspect_network(&scoped, Some(inspect())).await?;
                let ranges = made.ipam.clone().and_then(|i| i.config).unwrap_or_default();
                if let Ok(mut subnets) = self.subnets.write() {
                    subnets.extend(ranges.into_iter().filter_map(|c| Subnet::parse(&c.subnet?)));
                }
                made
            }
            Err(e) => return Err(e.into()),
        };
        // Fenced before any process joins it (a network made by an older
        // version is fenced the first time it is used).
        if self.fenced {
            let id = network.id.as_deref().unwrap_or_default();
            fence::add(&fence::bridge_name(id, network.options.as_ref()))
                .await
                .with_context(|| format!("fencing the network {scoped} apart"))?;
        }
        if let Ok(mut known) = self.networks.lock() {
            known.insert(scoped.clone());
        }
        Ok(scoped)
    }

    /// The engine's API path prefix, for the requests made without bollard.
    pub(super) fn api_prefix(&self) -> String {
        let version = self.docker.client_version();
        format!("/v{}.{}", version.major_version, version.minor_version)
    }

    /// Create (not start) a process's container, replacing a leftover of the
    /// same name; `interactive`: with its input open (and a TTY, when true).
    async fn create(&self, spec: &ContainerSpec, interactive: Option<bool>) -> anyhow::Result<String> {
        let name = self.container_name(&spec.name);
        let mut port_bindings = HashMap::new();
        let mut exposed = HashMap::new();
        if spec.publish_port {
            port_bindings.insert(
                port_key(),
                Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]),
            );
            exposed.insert(port_key(), HashMap::new());
        }
        let mut host_config = HostConfig {
            port_bindings: Some(port_bindings),
            // The reconcile loop replaces processes that die (with backoff, on
            // a fresh container); an engine restart would come back unrouted.
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            init: Some(true),
            network_mode: Some(self.ensure_network(&spec.network).await?),
            binds: Some(
                spec.read_only_files
                    .iter()
                    .map(|(host, inside)| format!("{}:{inside}:ro", host.display()))
                    .chain(spec.volumes.iter().map(|(volume, inside)| format!("{}:{inside}", self.volume_name(volume))))
                    .collect(),
            ),
            ..Default::default()
        };
        confine(&mut host_config, &spec.limits);
        let mut labels = spec.labels.clone();
        labels.insert(LABEL_INSTANCE.to_string(), self.instance.clone());
        let networking_config = (!spec.aliases.is_empty()).then(|| bollard::models::NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                self.scoped(&spec.network),
                bollard::models::EndpointSettings { aliases: Some(spec.aliases.clone()), ..Default::default() },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.command.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: Some(exposed),
            host_config: Some(host_config),
            networking_config,
            tty: interactive,
            open_stdin: interactive.map(|_| true),
            // The input closes for good when the one attached client closes it.
            stdin_once: interactive.map(|_| true),
            attach_stdin: interactive.map(|_| true),
            attach_stdout: interactive.map(|_| true),
            attach_stderr: interactive.map(|_| true),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = match self.docker.create_container(Some(options.clone()), body.clone()).await {
            // Idempotent: a leftover with this name (from an interrupted
            // rollout) goes, then the container is made again.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
                if let Some(old) = self.inspect(&name).await? {
                    if old.label(LABEL_INSTANCE) != Some(self.instance.as_str()) {
                        return Err(anyhow!("a container named {name} exists and belongs to something else"));
                    }
                    self.stop_and_remove(&old.id, Duration::from_secs(1)).await?;
                }
                self.docker.create_container(Some(options), body).await
            }
            created => created,
        }
        .with_context(|| format!("creating container {name}"))?;
        Ok(created.id)
    }

    /// Wait, for at most `REMOVAL_WAIT`, until the engine has removed a
    /// container whose removal someone else began.
    async fn removed(&self, id: &str) -> anyhow::Result<()> {
        let options = WaitContainerOptionsBuilder::new().condition("removed").build();
        let mut stream = self.docker.wait_container(id, Some(options));
        match tokio::time::timeout(REMOVAL_WAIT, stream.next()).await {
            Err(_) => Err(anyhow!("container {id} was still being removed after {} s", REMOVAL_WAIT.as_secs())),
            // Gone already, or gone now (a non-zero exit comes as an error).
            Ok(None | Some(Ok(_)) | Some(Err(bollard::errors::Error::DockerContainerWaitError { .. }))) => Ok(()),
            Ok(Some(Err(e))) if not_found(&e) => Ok(()),
            Ok(Some(Err(e))) => Err(e.into()),
        }
    }
}

/// A request body for the engine: bytes at once, or a file streamed.
async fn payload_stream(
    payload: Payload,
) -> anyhow::Result<futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>> {
    Ok(match payload {
        Payload::Bytes(bytes) => Box::pin(futures_util::stream::once(async move { Ok(bytes) })),
        Payload::File(spill) => {
            let file = tokio::fs::File::open(spill.path()).await?;
            // The stream keeps the spill file until the engine has it all.
            // Large reads: a slug is tens of megabytes.
            Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(move |chunk| {
                let _keep = &spill;
                chunk
            }))
        }
    })
}

/// Memory, CPU, pids and privilege limits for a container.
fn confine(host: &mut HostConfig, limits: &Limits) {
    host.memory = Some(i64::from(limits.memory_mb) * 1024 * 1024);
    // No swap beyond the memory limit.
    host.memory_swap = host.memory;
    host.nano_cpus = Some((limits.cpus * 1e9) as i64);
    host.pids_limit = Some(limits.pids);
    host.security_opt = Some(vec!["no-new-privileges".to_string()]);
    host.cap_drop = Some(CAP_DROP.iter().map(|c| c.to_string()).collect());
}

fn port_key() -> String {
    format!("{CONTAINER_PORT}/tcp")
}

/// A container as a listing shows it: enough for the reconcile loop without
/// inspecting each one.
/// A process's `$PORT` as this engine publishes it: on its loopback only.
fn published(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn from_summary(summary: ContainerSummary) -> Option<Container> {
    let running = summary.state == Some(ContainerSummaryStateEnum::RUNNING);
    let engine_state = summary.state.map(|s| s.to_string()).unwrap_or_default();
    let host_port = summary.ports.unwrap_or_default().into_iter().find_map(|p| {
        (p.private_port == CONTAINER_PORT && p.ip.as_deref().is_none_or(|ip| ip == "127.0.0.1"))
            .then_some(p.public_port)
            .flatten()
    });
    // "Exited (137) 3 seconds ago"
    let exit_code = summary
        .status
        .as_deref()
        .and_then(|s| s.strip_prefix("Exited ("))
        .and_then(|s| s.split(')').next())
        .and_then(|code| code.parse().ok());
    Some(Container {
        id: summary.id?,
        name: summary
            .names
            .unwrap_or_default()
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        labels: summary.labels.unwrap_or_default(),
        running,
        addr: host_port.filter(|_| running).map(published),
        exit_code: if running { None } else { exit_code },
        engine_state,
        oom_killed: false,
        node: None,
        started_at: summary.created.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
    })
}

/// How long a removal someone else began may take before it counts as stuck.
const REMOVAL_WAIT: Duration = Duration::from_secs(30);

pub(super) fn not_found(err: &bollard::errors::Error) -> bool {
    matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

#[async_trait]
impl Scheduler for DockerScheduler {
    async fn build_image(
        &self,
        context: Payload,
        spec: BuildSpec,
        output: UnboundedSender<String>,
    ) -> anyhow::Result<()> {
        // Each label would be one more step (a container committed) of the
        // classic builder: images are known by their names instead.
        let mut options =
            BuildImageOptionsBuilder::new().t(&spec.tag).rm(true).forcerm(true).buildargs(&spec.build_args);
        if let Some(network) = &spec.network {
            options = options.networkmode(&self.ensure_network(network).await?);
        }
        if let Some(images) = &spec.cache_from {
            options = options.cachefrom(images);
        }
        if let Some(mb) = spec.memory_mb {
            // The API takes bytes as a 32-bit number.
            let bytes = (i64::from(mb) * 1024 * 1024).min(i64::from(i32::MAX)) as i32;
            options = options.memory(bytes).memswap(-1);
        }
        let options = options.build();
        let mut stream =
            self.docker.build_image(options, None, Some(bollard::body_try_stream(payload_stream(context).await?)));
        let mut partial = String::new();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(anyhow!("{error}")),
                Err(err) => return Err(anyhow!("the Docker build failed: {err}")),
            };
            if let Some(error) = info.error {
                return Err(anyhow!("{}", error.trim()));
            }
            if let Some(text) = info.stream.or(info.status) {
                partial.push_str(&text);
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    let _ = output.send(line.trim_end().to_string());
                }
            }
        }
        if !partial.trim().is_empty() {
            let _ = output.send(partial.trim_end().to_string());
        }
        Ok(())
    }

    async fn create_task(&self, task: TaskSpec) -> anyhow::Result<String> {
        let name = self.container_name(&task.name);
        if let Some(old) = self.inspect(&name).await? {
            self.stop_and_remove(&old.id, Duration::from_secs(1)).await?;
        }
        let mut labels = task.labels.clone();
        labels.insert(LABEL_INSTANCE.to_string(), self.instance.clone());
        let binds: Vec<String> =
            task.volumes.iter().map(|(volume, path)| format!("{}:{path}", self.volume_name(volume))).collect();
        let mut host_config = HostConfig {
            binds: Some(binds),
            init: Some(true),
            network_mode: Some(self.ensure_network(&task.network).await?),
            ..Default::default()
        };
        if let Some(limits) = &task.limits {
            confine(&mut host_config, limits);
        }
        let body = ContainerCreateBody {
            image: Some(task.image.clone()),
            cmd: task.command.clone(),
            env: Some(task.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let created =
            self.docker.create_container(Some(options), body).await.with_context(|| format!("creating {name}"))?;
        for (path, tar) in task.uploads {
            let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new().path(&path).build();
            self.docker
                .upload_to_container(&created.id, Some(options), bollard::body_try_stream(payload_stream(tar).await?))
                .await
                .with_context(|| format!("copying files to {path} in {name}"))?;
        }
        Ok(created.id)
    }

    async fn run_task(&self, id: &str, output: UnboundedSender<String>) -> anyhow::Result<i64> {
        self.docker.start_container(id, None::<bollard::query_parameters::StartContainerOptions>).await?;
        let mut lines = self.follow_logs(id, 0);
        while let Some(line) = lines.next().await {
            let _ = output.send(line);
        }
        self.wait(id).await
    }

    async fn download(&self, id: &str, path: &str, spill_dir: &std::path::Path) -> anyhow::Result<Payload> {
        use tokio::io::AsyncWriteExt;
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new().path(path).build();
        let mut stream = self.docker.download_from_container(id, Some(options));
        let spill = crate::spill::Spill::new(spill_dir, "download")?;
        let mut file = tokio::fs::File::create(spill.path()).await?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).await?;
        }
        file.flush().await?;
        Ok(Payload::File(spill))
    }

    async fn commit(&self, id: &str, tag: &str, config: ImageConfig) -> anyhow::Result<()> {
        let (repo, tag) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
        let mut labels = config.labels.clone();
        labels.insert(LABEL_INSTANCE.to_string(), self.instance.clone());
        let options =
            bollard::query_parameters::CommitContainerOptionsBuilder::new().container(id).repo(repo).tag(tag).build();
        let container_config = bollard::models::ContainerConfig {
            cmd: config.cmd,
            entrypoint: config.entrypoint,
            env: Some(config.env),
            working_dir: config.working_dir,
            labels: Some(labels),
            ..Default::default()
        };
        self.docker.commit_container(options, container_config).await?;
        Ok(())
    }

    async fn image_info(&self, image: &str) -> anyhow::Result<Option<super::ImageInfo>> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(Some(super::ImageInfo {
                labels: info.config.and_then(|c| c.labels).unwrap_or_default(),
                tags: info.repo_tags.unwrap_or_default(),
            })),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn start(&self, spec: ContainerSpec) -> anyhow::Result<Container> {
        let id = self.create(&spec, None).await?;
        for (network, aliases) in &spec.extra_networks {
            self.connect(&id, network, aliases.clone()).await?;
        }
        self.docker
            .start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .with_context(|| format!("starting container {}", spec.name))?;
        self.inspect(&id).await?.ok_or_else(|| anyhow!("container {} vanished after start", spec.name))
    }

    async fn start_attached(&self, spec: ContainerSpec, tty: bool) -> anyhow::Result<(Container, Session)> {
        let id = self.create(&spec, Some(tty)).await?;
        for (network, aliases) in &spec.extra_networks {
            self.connect(&id, network, aliases.clone()).await?;
        }
        // Attached before it starts: nothing it prints first is lost.
        let path = format!("{}/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1", self.api_prefix());
        let session = match attach::hijack(&self.endpoint, &path, None, Target::Container(id.clone()), tty).await {
            Ok(session) => session,
            Err(err) => {
                let _ = self.stop_and_remove(&id, Duration::from_secs(1)).await;
                return Err(err);
            }
        };
        if let Err(err) =
            self.docker.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>).await
        {
            let _ = self.stop_and_remove(&id, Duration::from_secs(1)).await;
            return Err(anyhow::Error::from(err).context(format!("starting container {}", spec.name)));
        }
        let container =
            self.inspect(&id).await?.ok_or_else(|| anyhow!("container {} vanished after start", spec.name))?;
        Ok((container, session))
    }

    async fn exec(&self, id: &str, command: Vec<String>, tty: bool) -> anyhow::Result<Session> {
        let config = bollard::models::ExecConfig {
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(tty),
            cmd: Some(command),
            ..Default::default()
        };
        let exec = match self.docker.create_exec(id, config).await {
            Ok(exec) => exec,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
                return Err(anyhow!("the process is not running"));
            }
            Err(err) => return Err(err.into()),
        };
        let path = format!("{}/exec/{}/start", self.api_prefix(), exec.id);
        let body = serde_json::json!({ "Detach": false, "Tty": tty });
        attach::hijack(&self.endpoint, &path, Some(body), Target::Exec(exec.id), tty).await
    }

    async fn resize(&self, target: &Target, cols: u16, rows: u16) -> anyhow::Result<()> {
        let (w, h) = (i32::from(cols.max(1)), i32::from(rows.max(1)));
        match target {
            Target::Container(id) => {
                let options = bollard::query_parameters::ResizeContainerTTYOptionsBuilder::new().w(w).h(h).build();
                self.docker.resize_container_tty(id, options).await?;
            }
            Target::Exec(id) => {
                let options = bollard::query_parameters::ResizeExecOptionsBuilder::new().w(w).h(h).build();
                self.docker.resize_exec(id, options).await?;
            }
        }
        Ok(())
    }

    async fn exit_code(&self, target: &Target) -> anyhow::Result<i64> {
        match target {
            Target::Container(id) => self.wait(id).await,
            // An exec has no wait: it is done once its output ended, which
            // the engine notes a moment later.
            Target::Exec(id) => {
                for _ in 0..100 {
                    let info = self.docker.inspect_exec(id).await?;
                    if info.running != Some(true) {
                        return Ok(info.exit_code.unwrap_or(-1));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(anyhow!("the command still runs after its output ended"))
            }
        }
    }

    async fn hang_up(&self, target: &Target) -> anyhow::Result<()> {
        let Target::Exec(exec) = target else { return Ok(()) };
        let info = self.docker.inspect_exec(exec).await?;
        match (info.running, info.pid, info.container_id) {
            (Some(true), Some(pid), Some(container)) => attach::hang_up(pid, &container, HANG_UP_GRACE).await,
            _ => Ok(()),
        }
    }

    async fn inspect(&self, id: &str) -> anyhow::Result<Option<Container>> {
        let info =
            match self.docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>).await {
                Ok(info) => info,
                Err(e) if not_found(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
        let state = info.state.unwrap_or_default();
        let host_port: Option<u16> = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| ports.get(&port_key()).cloned().flatten())
            .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port?.parse().ok()));
        let config = info.config.unwrap_or_default();
        Ok(Some(Container {
            id: info.id.unwrap_or_default(),
            name: info.name.unwrap_or_default().trim_start_matches('/').to_string(),
            labels: config.labels.unwrap_or_default(),
            running: state.running.unwrap_or(false),
            addr: host_port.map(published),
            exit_code: state.exit_code.filter(|_| !state.running.unwrap_or(false)),
            engine_state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            oom_killed: state.oom_killed.unwrap_or(false),
            node: None,
            started_at: state
                .started_at
                .filter(|s| !s.starts_with("0001-"))
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
        }))
    }

    async fn wait(&self, id: &str) -> anyhow::Result<i64> {
        let mut stream = self.docker.wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(err)) => Err(err.into()),
            None => Err(anyhow!("the engine stopped reporting on container {id}")),
        }
    }

    async fn stop_and_remove(&self, id: &str, grace: Duration) -> anyhow::Result<()> {
        // 0: SIGKILL at once.
        let stop = StopContainerOptionsBuilder::new().t(grace.as_secs() as i32).build();
        match self.docker.stop_container(id, Some(stop)).await {
            Ok(()) => {}
            Err(e) if not_found(&e) => return Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(id, Some(remove)).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            // Another caller's removal is under way (a one-off's own watcher
            // ends it as it exits): gone only once that removal is done.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => self.removed(id).await,
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<Container>> {
        let mut filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        filter.push(format!("{LABEL_INSTANCE}={}", self.instance));
        let filters = HashMap::from([("label".to_string(), filter)]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let summaries = self.docker.list_containers(Some(options)).await?;
        Ok(summaries.into_iter().filter_map(from_summary).collect())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.docker.ping().await?;
        Ok(())
    }

    async fn join_command(&self) -> anyhow::Result<String> {
        let info = self.docker.info().await.context("asking the engine about itself")?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.local_node_state != Some(bollard::models::LocalNodeState::ACTIVE) {
            anyhow::bail!(
                "the engine is in no swarm: every process runs on this one machine. \
                 `docker swarm init` on it makes it a swarm's manager, which other machines can then join"
            );
        }
        if swarm.control_available != Some(true) {
            anyhow::bail!("the engine is a swarm worker: ask a manager of the swarm for its join command");
        }
        let joined = self.docker.inspect_swarm().await.context("asking the swarm for its join token")?;
        let token = joined.join_tokens.and_then(|t| t.worker).context("the swarm gave no worker join token")?;
        let manager = swarm
            .remote_managers
            .unwrap_or_default()
            .into_iter()
            .find(|peer| peer.node_id == swarm.node_id)
            .and_then(|peer| peer.addr)
            .or_else(|| swarm.node_addr.map(|addr| format!("{addr}:2377")))
            .context("the swarm manager's address is unknown")?;
        Ok(format!("docker swarm join --token {token} {manager}"))
    }

    async fn nodes(&self) -> anyhow::Result<Vec<super::Node>> {
        let info = self.docker.info().await.context("asking the engine about itself")?;
        let swarm = info.swarm.clone().unwrap_or_default();
        let managing = swarm.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE)
            && swarm.control_available == Some(true);
        if !managing {
            return Ok(vec![super::Node {
                id: info.id.unwrap_or_default(),
                name: info.name.unwrap_or_default(),
                address: None,
                role: "engine".into(),
                state: "ready".into(),
                availability: "active".into(),
                cpus: info.ncpu.unwrap_or(0) as f64,
                memory_bytes: info.mem_total.unwrap_or(0),
            }]);
        }
        let nodes = self.docker.list_nodes(None::<bollard::query_parameters::ListNodesOptions>).await?;
        Ok(nodes
            .into_iter()
            .map(|node| {
                let (spec, description, status) = (
                    node.spec.unwrap_or_default(),
                    node.description.unwrap_or_default(),
                    node.status.unwrap_or_default(),
                );
                let resources = description.resources.unwrap_or_default();
                let word = |value: Option<String>| value.unwrap_or_else(|| "unknown".into());
                super::Node {
                    id: node.id.unwrap_or_default(),
                    name: description.hostname.unwrap_or_default(),
                    address: status.addr,
                    role: word(spec.role.map(|r| r.to_string())),
                    state: word(status.state.map(|s| s.to_string())),
                    availability: word(spec.availability.map(|a| a.to_string())),
                    cpus: resources.nano_cpus.unwrap_or(0) as f64 / 1e9,
                    memory_bytes: resources.memory_bytes.unwrap_or(0),
                }
            })
            .collect())
    }

    fn follow_logs(&self, id: &str, since: i64) -> futures_util::stream::BoxStream<'static, String> {
        follow_container_logs(self.docker.clone(), id.to_string(), since)
    }

    fn events(&self) -> futures_util::stream::BoxStream<'static, super::ContainerEvent> {
        let docker = self.docker.clone();
        let instance = self.instance.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            // Reconnect if the engine drops the stream (e.g. it restarts).
            loop {
                let filters = HashMap::from([
                    ("type".to_string(), vec!["container".to_string()]),
                    ("event".to_string(), vec!["die".to_string(), "oom".to_string(), "destroy".to_string()]),
                    ("label".to_string(), vec![format!("{LABEL_INSTANCE}={instance}")]),
                ]);
                let options = bollard::query_parameters::EventsOptionsBuilder::new().filters(&filters).build();
                let mut stream = docker.events(Some(options));
                while let Some(Ok(event)) = stream.next().await {
                    let actor = event.actor.unwrap_or_default();
                    let labels = actor.attributes.unwrap_or_default();
                    let what = match event.action.as_deref() {
                        Some("die") => super::Happened::Exited(labels.get("exitCode").and_then(|c| c.parse().ok())),
                        Some("oom") => super::Happened::OutOfMemory,
                        Some("destroy") => super::Happened::Removed,
                        _ => continue,
                    };
                    let event = super::ContainerEvent { id: actor.id.unwrap_or_default(), what };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    async fn remove_network(&self, name: &str) -> anyhow::Result<()> {
        let scoped = self.scoped(name);
        if let Ok(mut known) = self.networks.lock() {
            known.remove(&scoped);
        }
        // Its bridge's name, for the fence, while it still exists.
        let bridge = match self.fenced {
            true => {
                let inspect = bollard::query_parameters::InspectNetworkOptions::default();
                match self.docker.inspect_network(&scoped, Some(inspect)).await {
                    Ok(n) => Some(fence::bridge_name(n.id.as_deref().unwrap_or_default(), n.options.as_ref())),
                    Err(e) if not_found(&e) => return Ok(()),
                    Err(e) => return Err(e).with_context(|| format!("inspecting the network {scoped}")),
                }
            }
            false => None,
        };
        match self.docker.remove_network(&scoped).await {
            Ok(()) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("removing the network {scoped}")),
        }
        if let Some(bridge) = bridge {
            if let Err(e) = fence::remove(&bridge).await {
                tracing::debug!(network = %scoped, "forgetting its bridge in the fence: {e:#}");
            }
        }
        Ok(())
    }

    async fn subnets(&self) -> anyhow::Result<Vec<Subnet>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_INSTANCE}={}", self.instance)])]);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::new().filters(&filters).build();
        let networks = self.docker.list_networks(Some(options)).await?;
        let subnets: Vec<Subnet> = networks
            .into_iter()
            .filter_map(|n| n.ipam?.config)
            .flatten()
            .filter_map(|c| Subnet::parse(&c.subnet?))
            .collect();
        if let Ok(mut known) = self.subnets.write() {
            known.clone_from(&subnets);
        }
        Ok(subnets)
    }

    fn known_subnets(&self) -> Vec<Subnet> {
        self.subnets.read().map(|s| s.clone()).unwrap_or_default()
    }

    async fn connect(&self, id: &str, network: &str, aliases: Vec<String>) -> anyhow::Result<()> {
        let scoped = self.ensure_network(network).await?;
        let request = bollard::models::NetworkConnectRequest {
            container: Some(id.to_string()),
            endpoint_config: Some(bollard::models::EndpointSettings { aliases: Some(aliases), ..Default::default() }),
        };
        match self.docker.connect_network(&scoped, request).await {
            Ok(()) => Ok(()),
            // Already on it.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 403, message })
                if message.contains("already exists") =>
            {
                Ok(())
            }
            Err(e) => Err(anyhow::Error::from(e).context(format!("connecting a container to {network}"))),
        }
    }

    async fn disconnect(&self, id: &str, network: &str) -> anyhow::Result<()> {
        let scoped = self.scoped(network);
        let request = bollard::models::NetworkDisconnectRequest { container: Some(id.to_string()), force: Some(true) };
        match self.docker.disconnect_network(&scoped, request).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            // Not connected to it.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 403 | 500, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn create_volume(&self, name: &str) -> anyhow::Result<()> {
        let request = bollard::models::VolumeCreateOptions {
            name: Some(self.volume_name(name)),
            labels: Some(HashMap::from([(LABEL_INSTANCE.to_string(), self.instance.clone())])),
            ..Default::default()
        };
        // The engine returns the existing volume of that name.
        self.docker.create_volume(request).await.with_context(|| format!("creating the volume {name}"))?;
        Ok(())
    }

    async fn volumes(&self) -> anyhow::Result<Vec<String>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_INSTANCE}={}", self.instance)])]);
        let options = bollard::query_parameters::ListVolumesOptionsBuilder::new().filters(&filters).build();
        let listed = self.docker.list_volumes(Some(options)).await?;
        let prefix = format!("{}-", self.instance);
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.name.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    async fn remove_volume(&self, name: &str) -> anyhow::Result<()> {
        let scoped = self.volume_name(name);
        match self.docker.remove_volume(&scoped, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn usage(&self, id: &str) -> anyhow::Result<Option<Usage>> {
        // One sample, at once (no second sample a second later for a CPU
        // percentage: callers take their own deltas).
        let options = bollard::query_parameters::StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        let mut stream = self.docker.stats(id, Some(options));
        let stats = match stream.next().await {
            Some(Ok(stats)) => stats,
            Some(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) | None => {
                return Ok(None)
            }
            Some(Err(err)) => return Err(err.into()),
        };
        let cpu_ns = stats.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).unwrap_or(0);
        let memory = stats.memory_stats.unwrap_or_default();
        // As `docker stats` counts it: the inactive page cache is not use.
        let cache =
            memory.stats.as_ref().and_then(|s| s.get("inactive_file").or(s.get("total_inactive_file")).copied());
        let memory_bytes = memory.usage.unwrap_or(0).saturating_sub(cache.unwrap_or(0));
        // Without a limit the engine reports the host's memory.
        let memory_limit_bytes = memory.limit.filter(|l| *l > 0 && *l < host_memory_bytes());
        Ok(Some(Usage { cpu_ns, memory_bytes, memory_limit_bytes }))
    }

    async fn tag_image(&self, source: &str, target: &str) -> anyhow::Result<()> {
        let (repo, tag) = target.rsplit_once(':').unwrap_or((target, "latest"));
        let options = bollard::query_parameters::TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        self.docker.tag_image(source, Some(options)).await.with_context(|| format!("naming {source} {target}"))?;
        Ok(())
    }

    async fn remove_images(&self, app: &str) -> anyhow::Result<()> {
        let filters = HashMap::from([("reference".to_string(), vec![format!("paas/{app}")])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new().filters(&filters).build();
        // By name, not id: an image another app built from the same content
        // has the same id, and keeps its own name.
        let prefix = format!("paas/{app}:");
        for image in self.docker.list_images(Some(options)).await? {
            for tag in image.repo_tags.iter().filter(|t| t.starts_with(&prefix)) {
                let remove = bollard::query_parameters::RemoveImageOptionsBuilder::new().force(true).build();
                if let Err(err) = self.docker.remove_image(tag, Some(remove), None).await {
                    tracing::warn!(image = %tag, error = %err, "could not remove an image");
                }
            }
        }
        Ok(())
    }

    async fn remove_image(&self, image: &str) -> anyhow::Result<()> {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new().build();
        match self.docker.remove_image(image, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing the image {image}")),
        }
    }

    async fn logs_tail(&self, id: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).tail(&lines.to_string()).build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&String::from_utf8_lossy(&output.into_bytes())),
                Err(e) if not_found(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(text.lines().map(str::to_string).collect())
    }
}

/// A container's output from `since` on, line by line, until it stops.
pub(super) fn follow_container_logs(
    docker: Docker,
    id: String,
    since: i64,
) -> futures_util::stream::BoxStream<'static, String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(256);
    tokio::spawn(async move {
        let options = LogsOptionsBuilder::new().follow(true).stdout(true).stderr(true).since(since as i32).build();
        let mut stream = docker.logs(&id, Some(options));
        let mut partial = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            partial.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                if tx.send(line.trim_end().to_string()).await.is_err() {
                    return;
                }
            }
        }
        if !partial.trim().is_empty() {
            let _ = tx.send(partial.trim_end().to_string()).await;
        }
    });
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The machine's memory (a limit this large is no limit).
fn host_memory_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.map_or(u64::MAX, |k| k * 1024)
}
