//! Docker Swarm: an app's processes run as Swarm services on the swarm's
//! nodes; builds, the release phase, one-offs and add-ons run on the
//! manager's own engine as on the one engine (through `DockerScheduler`).
//!
//! Each process slot (app, deployment, type, index) is a service of one
//! replica that Swarm never restarts by itself. The rollout, the reconcile
//! loop and `deploy/` keep their per-process model (start, health-gate,
//! switch, drain, stop; replace what died) and stay the only ones that
//! replace a process; Swarm chooses the node by the memory the process
//! reserves, pulls the image from the registry and publishes `$PORT` in host
//! mode on that node, where the routers reach it (node address and port:
//! two nodes may give the same port). The manager's event stream carries no
//! task events, so task states are polled.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, EndpointSpecModeEnum, Limit, Mount,
    MountTypeEnum, NetworkAttachmentConfig, ResourceObject, Service, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, Task, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{ListServicesOptionsBuilder, ListTasksOptionsBuilder};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use super::attach::{Output, Session, Target};
use super::docker::{not_found, DockerScheduler, CAP_DROP};
use super::{
    BuildSpec, Container, ContainerEvent, ContainerSpec, Happened, ImageConfig, ImageInfo, Node, Payload, Scheduler,
    Subnet, TaskSpec as BuildTask, Usage, CONTAINER_PORT, LABEL_APP, LABEL_DEPLOYMENT, LABEL_INSTANCE,
};

/// How long a process may take to be placed and started (its image pulled
/// on a node that lacks it) before the start counts as failed.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How often task states are read for the event stream.
const POLL_EVERY: Duration = Duration::from_secs(1);

pub struct SwarmScheduler {
    /// The manager's engine: builds, one-offs, add-ons; and the swarm's API.
    engine: DockerScheduler,
    /// `HOST:PORT` of the registry every node pulls from; without one every
    /// process runs on the manager, which has the images it built.
    registry: Option<String>,
    /// How long a stopping process has after SIGTERM (set per service).
    stop_grace: Duration,
    /// Images already in the registry.
    pushed: Mutex<HashSet<String>>,
    /// Nodes by id: host name and address.
    nodes: RwLock<HashMap<String, (String, Option<IpAddr>)>>,
    /// This engine's node id.
    manager: String,
    /// Ids of the nodes that take processes (ready and active).
    usable: RwLock<Vec<String>>,
    /// Ids of the nodes that are up (ready), whatever their availability.
    ready: RwLock<HashSet<String>>,
    /// Processes being started, by app/type/deployment and node: placed but
    /// not yet listed.
    starting: Mutex<HashMap<String, HashMap<String, usize>>>,
    /// Other nodes' own engines (`--node-engine`), by host name: their
    /// socket, and the engine once reached.
    node_engines: HashMap<String, (std::path::PathBuf, tokio::sync::OnceCell<DockerScheduler>)>,
    /// Commands running in processes on other nodes: exec id to node name.
    remote_execs: Mutex<HashMap<String, String>>,
}

impl SwarmScheduler {
    /// The manager's engine at `DOCKER_HOST` or the local socket; a swarm
    /// of this one node is made when the engine is in none.
    pub async fn connect(
        instance: String,
        registry: Option<String>,
        node_engines: Vec<(String, std::path::PathBuf)>,
        stop_grace: Duration,
    ) -> anyhow::Result<Self> {
        let engine = DockerScheduler::connect_manager(instance).await?;
        let docker = engine.docker();
        let info = docker.info().await.context("asking the engine about itself")?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.local_node_state != Some(bollard::models::LocalNodeState::ACTIVE) {
            let request =
                bollard::models::SwarmInitRequest { listen_addr: Some("0.0.0.0:2377".into()), ..Default::default() };
            docker.init_swarm(request).await.context(
                "the engine is in no swarm and could not start one (with several network addresses, \
                 run `docker swarm init --advertise-addr ADDRESS` on this machine first)",
            )?;
            tracing::info!(
                "made this engine the manager of a new swarm; `paas nodes:join-command` prints how workers join"
            );
        } else if swarm.control_available != Some(true) {
            bail!("the engine is a swarm worker: `paas serve --scheduler swarm` runs on a manager of the swarm");
        }
        let manager = docker.info().await?.swarm.and_then(|s| s.node_id).context("the swarm did not name this node")?;
        let scheduler = Self {
            engine,
            registry,
            stop_grace,
            pushed: Mutex::default(),
            nodes: RwLock::default(),
            manager,
            usable: RwLock::default(),
            ready: RwLock::default(),
            starting: Mutex::default(),
            node_engines: node_engines
                .into_iter()
                .map(|(node, path)| (node, (path, tokio::sync::OnceCell::new())))
                .collect(),
            remote_execs: Mutex::default(),
        };
        scheduler.refresh_nodes().await?;
        Ok(scheduler)
    }

    async fn refresh_nodes(&self) -> anyhow::Result<()> {
        let listed = self.engine.docker().list_nodes(None::<bollard::query_parameters::ListNodesOptions>).await?;
        let ready: HashSet<String> = listed
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY))
            .filter_map(|n| n.id.clone())
            .collect();
        let usable = listed
            .iter()
            .filter(|n| n.id.as_ref().is_some_and(|id| ready.contains(id)))
            .filter(|n| {
                n.spec.as_ref().and_then(|s| s.availability) == Some(bollard::models::NodeSpecAvailabilityEnum::ACTIVE)
            })
            .filter_map(|n| n.id.clone())
            .collect();
        let nodes = listed
            .into_iter()
            .filter_map(|node| {
                let name = node.description.and_then(|d| d.hostname).unwrap_or_default();
                // A manager may report 0.0.0.0 as its address; its manager
                // address (host:port) says where it is.
                let addr = node
                    .status
                    .and_then(|s| s.addr)
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .filter(|a| !a.is_unspecified())
                    .or_else(|| {
                        let at = node.manager_status?.addr?;
                        at.rsplit_once(':')?.0.trim_matches(['[', ']']).parse().ok()
                    });
                Some((node.id?, (name, addr)))
            })
            .collect();
        if let Ok(mut known) = self.nodes.write() {
            *known = nodes;
        }
        if let Ok(mut known) = self.usable.write() {
            *known = usable;
        }
        if let Ok(mut known) = self.ready.write() {
            *known = ready;
        }
        Ok(())
    }

    /// A node's host name and address, asking the swarm when it is new.
    async fn node(&self, id: &str) -> Option<(String, Option<IpAddr>)> {
        if let Some(found) = self.nodes.read().ok().and_then(|n| n.get(id).cloned()) {
            return Some(found);
        }
        self.refresh_nodes().await.ok()?;
        self.nodes.read().ok().and_then(|n| n.get(id).cloned())
    }

    /// The image as every node can pull it: pushed to the registry once.
    async fn published_image(&self, image: &str) -> anyhow::Result<String> {
        let Some(registry) = &self.registry else { return Ok(image.to_string()) };
        let remote = format!("{registry}/{image}");
        if self.pushed.lock().is_ok_and(|p| p.contains(&remote)) {
            return Ok(remote);
        }
        self.engine.tag_image(image, &remote).await?;
        let (name, tag) = remote.rsplit_once(':').unwrap_or((&remote, "latest"));
        // A registry may fail a push now and then (a 500 while it writes a
        // layer): tried three times before the deploy fails.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.push(name, tag).await {
                Ok(()) => break,
                Err(err) if attempt < 3 => {
                    tracing::warn!(image = %remote, error = %format!("{err:#}"), "pushing again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => return Err(err.context(format!("pushing {image} to the registry {registry}"))),
            }
        }
        if let Ok(mut pushed) = self.pushed.lock() {
            pushed.insert(remote.clone());
        }
        Ok(remote)
    }

    async fn push(&self, name: &str, tag: &str) -> anyhow::Result<()> {
        let options = bollard::query_parameters::PushImageOptionsBuilder::new().tag(tag).build();
        let mut pushing = self.engine.docker().push_image(name, Some(options), None);
        while let Some(step) = pushing.next().await {
            if let Some(error) = step?.error {
                bail!("{error}");
            }
        }
        Ok(())
    }

    async fn service_spec(&self, spec: &ContainerSpec) -> anyhow::Result<ServiceSpec> {
        let image = self.published_image(&spec.image).await?;
        let mut networks = vec![NetworkAttachmentConfig {
            target: Some(self.engine.ensure_network(&spec.network).await?),
            aliases: Some(spec.aliases.clone()),
            ..Default::default()
        }];
        for (network, aliases) in &spec.extra_networks {
            networks.push(NetworkAttachmentConfig {
                target: Some(self.engine.ensure_network(network).await?),
                aliases: Some(aliases.clone()),
                ..Default::default()
            });
        }
        let mut mounts: Vec<Mount> = spec
            .read_only_files
            .iter()
            .map(|(host, inside)| Mount {
                target: Some(inside.clone()),
                source: Some(host.display().to_string()),
                typ: Some(MountTypeEnum::BIND),
                read_only: Some(true),
                ..Default::default()
            })
            .collect();
        mounts.extend(spec.volumes.iter().map(|(volume, inside)| Mount {
            target: Some(inside.clone()),
            source: Some(self.engine.volume_name(volume)),
            typ: Some(MountTypeEnum::VOLUME),
            ..Default::default()
        }));
        // Host files and named volumes are the manager's; so is every image
        // when there is no registry to pull from.
        let mut constraints = Vec::new();
        if !mounts.is_empty() || self.registry.is_none() {
            constraints.push(format!("node.id=={}", self.manager));
        }
        let memory = i64::from(spec.limits.memory_mb) * 1024 * 1024;
        let mut labels = spec.labels.clone();
        labels.insert(LABEL_INSTANCE.to_string(), self.engine.instance().to_string());
        let ports = spec.publish_port.then(|| {
            vec![EndpointPortConfig {
                target_port: Some(i64::from(CONTAINER_PORT)),
                publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                ..Default::default()
            }]
        });
        Ok(ServiceSpec {
            name: Some(self.engine.container_name(&spec.name)),
            labels: Some(labels),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image),
                    args: spec.command.clone(),
                    env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    init: Some(true),
                    mounts: Some(mounts),
                    stop_grace_period: Some(self.stop_grace.as_nanos() as i64),
                    capability_drop: Some(CAP_DROP.iter().map(|c| c.to_string()).collect()),
                    ..Default::default()
                }),
                // The memory a process may use is what it reserves: Swarm
                // places it where that much is free, and refuses it where
                // none is. CPU is a limit only, so that a rollout's new set
                // fits beside the old one.
                resources: Some(TaskSpecResources {
                    limits: Some(Limit {
                        nano_cpus: Some((spec.limits.cpus * 1e9) as i64),
                        memory_bytes: Some(memory),
                        pids: Some(spec.limits.pids),
                    }),
                    reservations: Some(ResourceObject { memory_bytes: Some(memory), ..Default::default() }),
                }),
                restart_policy: Some(TaskSpecRestartPolicy {
                    condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                    ..Default::default()
                }),
                placement: Some(TaskSpecPlacement { constraints: Some(constraints), ..Default::default() }),
                networks: Some(networks),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            // No virtual IP: the kernel may lack IPVS, and the routers
            // address each process themselves.
            endpoint_spec: Some(EndpointSpec { mode: Some(EndpointSpecModeEnum::DNSRR), ports }),
            ..Default::default()
        })
    }

    /// Our services (with these labels), each with its current task.
    async fn services(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<(Service, Option<Task>)>> {
        let mut filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        filter.push(format!("{LABEL_INSTANCE}={}", self.engine.instance()));
        let filters = HashMap::from([("label".to_string(), filter)]);
        let mut tries = 0;
        loop {
            let options = ListServicesOptionsBuilder::new().filters(&filters).build();
            let services = self.engine.docker().list_services(Some(options)).await?;
            if services.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<String> = services.iter().filter_map(|s| s.id.clone()).collect();
            let mut current = match self.current_tasks(&ids).await {
                Ok(current) => current,
                // A service removed since it was listed (a rollout retiring
                // a process) fails the whole question: ask again.
                Err(e) if not_found(&e) && tries < 3 => {
                    tries += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            return Ok(services
                .into_iter()
                .map(|s| {
                    let task = s.id.as_ref().and_then(|id| current.remove(id));
                    (s, task)
                })
                .collect());
        }
    }

    /// The latest task of each of these services (the engine answers 404
    /// when one of them is gone).
    async fn current_tasks(&self, services: &[String]) -> Result<HashMap<String, Task>, bollard::errors::Error> {
        let filters = HashMap::from([("service".to_string(), services.to_vec())]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let mut current: HashMap<String, Task> = HashMap::new();
        for task in self.engine.docker().list_tasks(Some(options)).await? {
            let Some(service) = task.service_id.clone() else { continue };
            let index = |t: &Task| t.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            if current.get(&service).is_none_or(|seen| index(seen) < index(&task)) {
                current.insert(service, task);
            }
        }
        Ok(current)
    }

    async fn service(&self, id: &str) -> anyhow::Result<Option<(Service, Option<Task>)>> {
        let inspect = None::<bollard::query_parameters::InspectServiceOptions>;
        let service = match self.engine.docker().inspect_service(id, inspect).await {
            Ok(service) => service,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(service_id) = service.id.clone() else { return Ok(None) };
        let task = match self.current_tasks(std::slice::from_ref(&service_id)).await {
            Ok(mut current) => current.remove(&service_id),
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some((service, task)))
    }

    /// A service as the process it runs.
    async fn process(&self, service: Service, task: Option<Task>) -> Container {
        let spec = service.spec.unwrap_or_default();
        let status = task.as_ref().and_then(|t| t.status.clone()).unwrap_or_default();
        let state = status.state.unwrap_or(TaskState::NEW);
        let running =
            state == TaskState::RUNNING && task.as_ref().and_then(|t| t.desired_state) == Some(TaskState::RUNNING);
        let node = match task.as_ref().and_then(|t| t.node_id.as_deref()) {
            Some(id) => self.node(id).await,
            None => None,
        };
        let port = status
            .port_status
            .and_then(|p| p.ports)
            .unwrap_or_default()
            .into_iter()
            .find_map(|p| (p.target_port == Some(i64::from(CONTAINER_PORT))).then_some(p.published_port).flatten());
        let addr = match (&node, port) {
            (Some((_, Some(ip))), Some(port)) if running => u16::try_from(port).ok().map(|p| SocketAddr::new(*ip, p)),
            _ => None,
        };
        let ended = matches!(
            state,
            TaskState::COMPLETE | TaskState::FAILED | TaskState::SHUTDOWN | TaskState::REJECTED | TaskState::ORPHANED
        );
        Container {
            id: service.id.unwrap_or_default(),
            name: spec.name.unwrap_or_default(),
            labels: spec.labels.unwrap_or_default(),
            running,
            addr,
            exit_code: status.container_status.and_then(|c| c.exit_code).filter(|_| ended),
            engine_state: state.to_string(),
            oom_killed: false,
            started_at: status
                .timestamp
                .filter(|_| running)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
            node: node.map(|(name, _)| name),
        }
    }

    /// Wait until the service's task runs (or ended: the health checks tell
    /// why); a task no node can take is refused with Swarm's reason.
    async fn wait_placed(&self, id: &str, name: &str) -> anyhow::Result<Container> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let (service, task) = self.service(id).await?.ok_or_else(|| anyhow!("the service of {name} vanished"))?;
            let status = task.as_ref().and_then(|t| t.status.clone()).unwrap_or_default();
            let state = status.state.unwrap_or(TaskState::NEW);
            let err = status.err.filter(|e| !e.is_empty());
            let failed = match (state, err) {
                (TaskState::PENDING, Some(err)) => {
                    let memory =
                        service.spec.as_ref().and_then(|s| s.task_template.as_ref()).and_then(|t| t.resources.as_ref());
                    let memory = memory.and_then(|r| r.reservations.as_ref()).and_then(|r| r.memory_bytes).unwrap_or(0);
                    Some(format!("no node can run {name} with {} MB of memory: {err}", memory >> 20))
                }
                (TaskState::REJECTED, Some(err)) => Some(format!("{name} could not start: {err}")),
                (
                    TaskState::RUNNING
                    | TaskState::COMPLETE
                    | TaskState::FAILED
                    | TaskState::SHUTDOWN
                    | TaskState::ORPHANED,
                    _,
                ) => return Ok(self.process(service, task).await),
                _ if tokio::time::Instant::now() > deadline => Some(format!(
                    "{name} was not running {} s after it was placed (stuck: {state})",
                    START_TIMEOUT.as_secs()
                )),
                _ => None,
            };
            // What will not run goes, rather than wait in the swarm.
            if let Some(failed) = failed {
                let _ = self.engine.docker().delete_service(id).await;
                bail!(failed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Create the service (replacing a leftover of the same name) and wait
    /// until its task runs.
    async fn create_and_wait(&self, service: ServiceSpec, process: &str) -> anyhow::Result<Container> {
        let name = service.name.clone().unwrap_or_default();
        let created = match self.engine.docker().create_service(service.clone(), None).await {
            // A leftover of an interrupted rollout goes, then it is made again.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => {
                if let Some((old, _)) = self.service(&name).await? {
                    let ours = old.spec.as_ref().and_then(|s| s.labels.as_ref()).and_then(|l| l.get(LABEL_INSTANCE));
                    if ours.map(String::as_str) != Some(self.engine.instance()) {
                        bail!("a service named {name} exists and belongs to something else");
                    }
                    self.stop_and_remove(old.id.as_deref().unwrap_or(&name), Duration::from_secs(1)).await?;
                }
                self.engine.docker().create_service(service, None).await
            }
            created => created,
        }
        .with_context(|| format!("creating the service {name}"))?;
        let id = created.id.ok_or_else(|| anyhow!("the swarm gave the service {name} no id"))?;
        self.wait_placed(&id, process).await
    }

    /// The node a new process of an app's type would best run on: among the
    /// nodes that take processes, the one with the fewest processes of that
    /// type and deployment (running, or being started), so that the death of
    /// one machine leaves the others serving. Each process is a service of
    /// its own, and Swarm spreads the tasks of one service, not an app's.
    /// None with fewer than two nodes to choose from. The choice counts as
    /// in flight until `placed`.
    async fn spread_node(&self, spec: &ContainerSpec) -> Option<(String, String)> {
        let key = [LABEL_APP, super::LABEL_PROCESS, LABEL_DEPLOYMENT].map(|l| spec.labels.get(l));
        let [Some(app), Some(kind), Some(deployment)] = key else { return None };
        self.refresh_nodes().await.ok()?;
        let usable = self.usable.read().ok()?.clone();
        if usable.len() < 2 {
            return None;
        }
        let labels =
            [(LABEL_APP, app.as_str()), (super::LABEL_PROCESS, kind.as_str()), (LABEL_DEPLOYMENT, deployment.as_str())];
        let running = self.services(&labels).await.ok()?;
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for task in running.iter().filter_map(|(_, task)| task.as_ref()) {
            if task.desired_state == Some(TaskState::RUNNING) {
                if let Some(node) = task.node_id.as_deref() {
                    *counts.entry(node).or_default() += 1;
                }
            }
        }
        let key = format!("{app}/{kind}/{deployment}");
        let mut starting = self.starting.lock().ok()?;
        let in_flight = starting.entry(key.clone()).or_default();
        let count =
            |node: &String| counts.get(node.as_str()).copied().unwrap_or(0) + in_flight.get(node).copied().unwrap_or(0);
        let node = usable.iter().min_by_key(|n| count(n))?.clone();
        *in_flight.entry(node.clone()).or_default() += 1;
        Some((key, node))
    }

    /// A process chosen a node for runs there (or failed): the listing
    /// counts it from now on.
    fn placed(&self, key: &str, node: &str) {
        if let Ok(mut starting) = self.starting.lock() {
            if let Some(in_flight) = starting.get_mut(key) {
                if let Some(count) = in_flight.get_mut(node) {
                    *count = count.saturating_sub(1);
                }
                in_flight.retain(|_, c| *c > 0);
                if in_flight.is_empty() {
                    starting.remove(key);
                }
            }
        }
    }

    /// A running task's container on this engine, for `exec`.
    /// The engine a process runs on, its container there, and the node's
    /// name when it is not the manager.
    async fn engine_of(&self, id: &str) -> anyhow::Result<(&DockerScheduler, String, Option<String>)> {
        let Some((service, task)) = self.service(id).await? else { return Ok((&self.engine, id.to_string(), None)) };
        let task = task.ok_or_else(|| anyhow!("the process is not running"))?;
        let on_manager = task.node_id.as_deref() == Some(self.manager.as_str());
        let container = task.status.clone().and_then(|s| s.container_status).and_then(|c| c.container_id);
        let container = container.ok_or_else(|| anyhow!("the process is not running"))?;
        if on_manager {
            return Ok((&self.engine, container, None));
        }
        let name = self.process(service, Some(task)).await.node.unwrap_or_default();
        Ok((self.node_engine(&name).await?, container, Some(name)))
    }

    /// The engine of node `name`, reached on its socket the first time.
    async fn node_engine(&self, name: &str) -> anyhow::Result<&DockerScheduler> {
        let Some((path, engine)) = self.node_engines.get(name) else {
            bail!(
                "the process runs on the node {name}, whose engine this server cannot reach: \
                 give it with --node-engine {name}=unix:///PATH"
            );
        };
        engine.get_or_try_init(|| DockerScheduler::at_socket(self.engine.instance().to_string(), path)).await
    }

    /// A session over: where its exec ran is no longer needed.
    fn forget_exec(&self, target: &Target) {
        if let (Target::Exec(exec), Ok(mut execs)) = (target, self.remote_execs.lock()) {
            execs.remove(exec);
        }
    }

    /// The engine an exec runs on.
    async fn exec_engine(&self, target: &Target) -> anyhow::Result<&DockerScheduler> {
        let node = match target {
            Target::Exec(id) => self.remote_execs.lock().ok().and_then(|execs| execs.get(id).cloned()),
            Target::Container(_) => None,
        };
        match node {
            Some(node) => self.node_engine(&node).await,
            None => Ok(&self.engine),
        }
    }
}

#[async_trait]
impl Scheduler for SwarmScheduler {
    async fn build_image(
        &self,
        context: Payload,
        spec: BuildSpec,
        output: UnboundedSender<String>,
    ) -> anyhow::Result<()> {
        self.engine.build_image(context, spec, output).await
    }

    async fn remove_network(&self, name: &str) -> anyhow::Result<()> {
        self.engine.remove_network(name).await
    }

    async fn subnets(&self) -> anyhow::Result<Vec<Subnet>> {
        self.engine.subnets().await
    }

    fn known_subnets(&self) -> Vec<Subnet> {
        self.engine.known_subnets()
    }

    async fn create_task(&self, task: BuildTask) -> anyhow::Result<String> {
        self.engine.create_task(task).await
    }

    async fn run_task(&self, id: &str, output: UnboundedSender<String>) -> anyhow::Result<i64> {
        self.engine.run_task(id, output).await
    }

    async fn download(&self, id: &str, path: &str, spill_dir: &std::path::Path) -> anyhow::Result<Payload> {
        self.engine.download(id, path, spill_dir).await
    }

    async fn commit(&self, id: &str, tag: &str, config: ImageConfig) -> anyhow::Result<()> {
        self.engine.commit(id, tag, config).await
    }

    async fn image_info(&self, image: &str) -> anyhow::Result<Option<ImageInfo>> {
        self.engine.image_info(image).await
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.engine.ping().await
    }

    async fn nodes(&self) -> anyhow::Result<Vec<Node>> {
        self.engine.nodes().await
    }

    async fn join_command(&self) -> anyhow::Result<String> {
        self.engine.join_command().await
    }

    async fn set_availability(&self, node: &str, availability: &str) -> anyhow::Result<()> {
        let availability = match availability {
            "active" => bollard::models::NodeSpecAvailabilityEnum::ACTIVE,
            "pause" => bollard::models::NodeSpecAvailabilityEnum::PAUSE,
            "drain" => bollard::models::NodeSpecAvailabilityEnum::DRAIN,
            other => bail!("unknown availability {other}"),
        };
        let docker = self.engine.docker();
        // The node's version moves on by itself (status reports): an update
        // made from a version just read may be refused as out of sequence.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let nodes = docker.list_nodes(None::<bollard::query_parameters::ListNodesOptions>).await?;
            let found = nodes
                .into_iter()
                .find(|n| {
                    n.id.as_deref() == Some(node)
                        || n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(node)
                })
                .ok_or_else(|| anyhow!("the swarm has no node {node} (`paas nodes` lists them)"))?;
            let spec = bollard::models::NodeSpec { availability: Some(availability), ..found.spec.unwrap_or_default() };
            let version = found.version.and_then(|v| v.index).unwrap_or(0) as i64;
            let options = bollard::query_parameters::UpdateNodeOptionsBuilder::new().version(version).build();
            match docker.update_node(found.id.as_deref().unwrap_or(node), spec, options).await {
                Ok(()) => return Ok(()),
                Err(err) if attempt < 5 && err.to_string().contains("out of sequence") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    async fn start(&self, spec: ContainerSpec) -> anyhow::Result<Container> {
        // Only a deployment's processes spread over the swarm.
        if !spec.labels.contains_key(LABEL_DEPLOYMENT) {
            return self.engine.start(spec).await;
        }
        // As `ps` names it: web.1.
        let process = match (spec.labels.get(super::LABEL_PROCESS), spec.labels.get(super::LABEL_INDEX)) {
            (Some(kind), Some(index)) => format!("{kind}.{index}"),
            _ => spec.name.clone(),
        };
        let mut service = self.service_spec(&spec).await?;
        let pinned = service_constraints(&service).is_some_and(|c| !c.is_empty());
        let spread = match pinned {
            true => None,
            false => self.spread_node(&spec).await,
        };
        let Some((key, node)) = spread else {
            return self.create_and_wait(service, &process).await;
        };
        // The preferred node first; where it has no room, wherever Swarm
        // finds some.
        let placed = {
            let mut preferred = service.clone();
            set_constraints(&mut preferred, vec![format!("node.id=={node}")]);
            self.create_and_wait(preferred, &process).await
        };
        self.placed(&key, &node);
        match placed {
            Err(err) if format!("{err:#}").contains("no suitable node") => {
                set_constraints(&mut service, Vec::new());
                self.create_and_wait(service, &process).await
            }
            placed => placed,
        }
    }

    async fn start_attached(&self, spec: ContainerSpec, tty: bool) -> anyhow::Result<(Container, Session)> {
        self.engine.start_attached(spec, tty).await
    }

    async fn exec(&self, id: &str, command: Vec<String>, tty: bool) -> anyhow::Result<Session> {
        let (engine, container, node) = self.engine_of(id).await?;
        let session = engine.exec(&container, command, tty).await?;
        if let (Some(node), Target::Exec(exec)) = (node, &session.target) {
            if let Ok(mut execs) = self.remote_execs.lock() {
                execs.insert(exec.clone(), node);
            }
        }
        Ok(session)
    }

    async fn resize(&self, target: &Target, cols: u16, rows: u16) -> anyhow::Result<()> {
        self.exec_engine(target).await?.resize(target, cols, rows).await
    }

    async fn exit_code(&self, target: &Target) -> anyhow::Result<i64> {
        let code = self.exec_engine(target).await?.exit_code(target).await;
        self.forget_exec(target);
        code
    }

    async fn hang_up(&self, target: &Target) -> anyhow::Result<()> {
        let done = self.exec_engine(target).await?.hang_up(target).await;
        self.forget_exec(target);
        done
    }

    async fn inspect(&self, id: &str) -> anyhow::Result<Option<Container>> {
        match self.service(id).await? {
            Some((service, task)) => Ok(Some(self.process(service, task).await)),
            None => self.engine.inspect(id).await,
        }
    }

    async fn wait(&self, id: &str) -> anyhow::Result<i64> {
        self.engine.wait(id).await
    }

    async fn stop_and_remove(&self, id: &str, grace: Duration) -> anyhow::Result<()> {
        // The service's id, for its tasks: a name finds it too.
        let Some((service, _)) = self.service(id).await? else {
            return self.engine.stop_and_remove(id, grace).await;
        };
        let service = service.id.unwrap_or_else(|| id.to_string());
        match self.engine.docker().delete_service(&service).await {
            Ok(()) => {}
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        // Its task is stopped on its node (SIGTERM, the service's grace,
        // SIGKILL) and then removed: done once none is listed (or only on a
        // node that is down, which will never say), so that what follows (a
        // volume or network removed) finds it gone.
        // (A filter by the service answers 404 once it is deleted.)
        let deadline = tokio::time::Instant::now() + self.stop_grace + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            let all = self.engine.docker().list_tasks(None::<bollard::query_parameters::ListTasksOptions>).await?;
            let tasks: Vec<Task> =
                all.into_iter().filter(|t| t.service_id.as_deref() == Some(service.as_str())).collect();
            if !tasks.is_empty() {
                self.refresh_nodes().await?;
            }
            let ready = self.ready.read().map(|r| r.clone()).unwrap_or_default();
            if tasks.iter().all(|t| t.node_id.as_ref().is_none_or(|node| !ready.contains(node))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!(service = %service, "a removed service's task was still listed after its stop grace");
        Ok(())
    }

    async fn list(&self, labels: &[(&str, &str)]) -> anyhow::Result<Vec<Container>> {
        let mut all = self.engine.list(labels).await?;
        for (service, task) in self.services(labels).await? {
            all.push(self.process(service, task).await);
        }
        Ok(all)
    }

    async fn logs_tail(&self, id: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        if self.service(id).await?.is_none() {
            return self.engine.logs_tail(id, lines).await;
        }
        let path = format!("{}/services/{id}/logs?stdout=1&stderr=1&tail={lines}", self.engine.api_prefix());
        let mut output = super::attach::stream(self.engine.endpoint(), &path).await?;
        let mut text = String::new();
        while let Some(Ok(Output::Stdout(bytes) | Output::Stderr(bytes))) = output.next().await {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        Ok(text.lines().map(str::to_string).collect())
    }

    fn follow_logs(&self, id: &str, since: i64) -> futures_util::stream::BoxStream<'static, String> {
        let path = format!("{}/services/{id}/logs?stdout=1&stderr=1&follow=1&since={since}", self.engine.api_prefix());
        let endpoint = self.engine.endpoint().clone();
        let (docker, id) = (self.engine.docker().clone(), id.to_string());
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(256);
        tokio::spawn(async move {
            // A service's logs, or else (no such service) the container's.
            let mut output = match super::attach::stream(&endpoint, &path).await {
                Ok(output) => output,
                Err(_) => {
                    let mut local = super::docker::follow_container_logs(docker, id, since);
                    while let Some(line) = local.next().await {
                        if tx.send(line).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
            };
            let mut partial = String::new();
            while let Some(Ok(Output::Stdout(bytes) | Output::Stderr(bytes))) = output.next().await {
                partial.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    if tx.send(line.trim_end().to_string()).await.is_err() {
                        return;
                    }
                }
            }
        });
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    fn events(&self) -> futures_util::stream::BoxStream<'static, ContainerEvent> {
        let local = self.engine.events();
        let docker = self.engine.docker().clone();
        let instance = self.engine.instance().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            // Each service's last known task: whether it ran, and its id.
            let mut seen: HashMap<String, (String, bool)> = HashMap::new();
            loop {
                if tx.is_closed() {
                    return;
                }
                if let Ok(now) = task_states(&docker, &instance).await {
                    for (service, (task, running, exit)) in &now {
                        let before = seen.get(service);
                        let ended = match before {
                            Some((was, true)) => was != task || !running,
                            _ => false,
                        };
                        if ended {
                            let event = ContainerEvent { id: service.clone(), what: Happened::Exited(*exit) };
                            if tx.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                    for gone in seen.keys().filter(|s| !now.contains_key(*s)) {
                        let event = ContainerEvent { id: gone.clone(), what: Happened::Removed };
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                    seen = now.into_iter().map(|(s, (task, running, _))| (s, (task, running))).collect();
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        });
        let polled = Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        Box::pin(futures_util::stream::select(local, polled))
    }

    async fn connect(&self, id: &str, network: &str, aliases: Vec<String>) -> anyhow::Result<()> {
        self.engine.connect(id, network, aliases).await
    }

    /// A service's networks are part of its spec: changing them replaces
    /// its task (and its address) behind the router's back.
    fn joins_networks_live(&self) -> bool {
        false
    }

    async fn disconnect(&self, id: &str, network: &str) -> anyhow::Result<()> {
        self.engine.disconnect(id, network).await
    }

    async fn create_volume(&self, name: &str) -> anyhow::Result<()> {
        self.engine.create_volume(name).await
    }

    async fn volumes(&self) -> anyhow::Result<Vec<String>> {
        self.engine.volumes().await
    }

    async fn remove_volume(&self, name: &str) -> anyhow::Result<()> {
        self.engine.remove_volume(name).await
    }

    async fn tag_image(&self, source: &str, target: &str) -> anyhow::Result<()> {
        self.engine.tag_image(source, target).await
    }

    async fn remove_images(&self, app: &str) -> anyhow::Result<()> {
        self.engine.remove_images(app).await
    }

    async fn remove_image(&self, image: &str) -> anyhow::Result<()> {
        self.engine.remove_image(image).await
    }

    async fn usage(&self, id: &str) -> anyhow::Result<Option<Usage>> {
        // A process on a node whose engine is not given goes unmeasured.
        match self.engine_of(id).await {
            Ok((engine, container, _)) => engine.usage(&container).await,
            Err(_) => Ok(None),
        }
    }
}

/// Each of our services' current task: its id, whether it runs, and its
/// exit code once it ended.
async fn task_states(
    docker: &bollard::Docker,
    instance: &str,
) -> anyhow::Result<HashMap<String, (String, bool, Option<i64>)>> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_INSTANCE}={instance}")])]);
    let options = ListServicesOptionsBuilder::new().filters(&filters).build();
    let ours: HashSet<String> = docker.list_services(Some(options)).await?.into_iter().filter_map(|s| s.id).collect();
    let mut states: HashMap<String, (u64, String, bool, Option<i64>)> = HashMap::new();
    for task in docker.list_tasks(None::<bollard::query_parameters::ListTasksOptions>).await? {
        let Some(service) = task.service_id.clone().filter(|s| ours.contains(s)) else { continue };
        let index = task.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        if states.get(&service).is_some_and(|(seen, ..)| *seen > index) {
            continue;
        }
        let status = task.status.unwrap_or_default();
        let running = status.state == Some(TaskState::RUNNING) && task.desired_state == Some(TaskState::RUNNING);
        let exit = status.container_status.and_then(|c| c.exit_code);
        states.insert(service, (index, task.id.unwrap_or_default(), running, exit));
    }
    // A service whose task is not listed yet is not running.
    for service in ours {
        states.entry(service).or_insert((0, String::new(), false, None));
    }
    Ok(states.into_iter().map(|(s, (_, task, running, exit))| (s, (task, running, exit))).collect())
}

fn service_constraints(service: &ServiceSpec) -> Option<&Vec<String>> {
    service.task_template.as_ref()?.placement.as_ref()?.constraints.as_ref()
}

fn set_constraints(service: &mut ServiceSpec, constraints: Vec<String>) {
    if let Some(placement) = service.task_template.as_mut().and_then(|t| t.placement.as_mut()) {
        placement.constraints = Some(constraints);
    }
}
