//! Add-ons: managed services (PostgreSQL first) that run beside apps as
//! processes of the platform. Each add-on is one container on a network of
//! its own (`addon-ID`), its data in a volume named by its id, its memory
//! limited, never published on the host. Each attachment to an app has a
//! network of its own (`addon-ID-app-APPID`) that the add-on (answering to
//! its name) and that app's processes join, so apps sharing an add-on do
//! not reach each other through it; an attachment sets `NAME_URL` in its
//! app's config. The reconcile loop keeps every
//! add-on running and checks it (`reconcile::addons`); `ops::addons` makes,
//! attaches and destroys them.
//!
//! A kind of service is a `Service`: how its image is made (from a stack's
//! base and Debian's packages, like the stacks, nothing pulled), how it
//! starts, the URL apps use, how it is checked, and its console, facts and
//! backups. Redis, say, is a second implementation beside `postgres`.

pub mod backups;
mod postgres;

use std::time::Duration;

use anyhow::{anyhow, Context};
use rand::Rng;

use crate::config::Config;
use crate::db::addons::{Addon, Attachment};
use crate::progress::Output;
use crate::runtime::{self, Container, ContainerSpec, Limits, Ran};
use crate::state::AppState;

/// What an image is built from.
pub struct Recipe {
    /// (path in the build context, content, mode); a Dockerfile among them.
    pub files: Vec<(&'static str, &'static [u8], u32)>,
    pub args: Vec<(&'static str, String)>,
}

/// A kind of managed service.
pub trait Service: Send + Sync {
    /// What users type: `postgres`.
    fn name(&self) -> &'static str;
    /// Other names users may type for it (`postgresql`, `heroku-postgresql`).
    fn aliases(&self) -> &'static [&'static str];
    /// What it is called in prose: `PostgreSQL`.
    fn title(&self) -> &'static str;
    /// The versions offered, the default first.
    fn versions(&self) -> &'static [&'static str];
    /// The attachment name apps get by default: `DATABASE` (`DATABASE_URL`).
    fn default_attachment(&self) -> &'static str;
    fn default_memory_mb(&self) -> i32;
    /// What the image of a version is built from.
    fn recipe(&self, config: &Config, version: &str) -> Recipe;
    /// Where its data lives in the container (its volume's mount).
    fn data_path(&self) -> &'static str;
    /// The environment it starts with.
    fn env(&self, password: &str, memory_mb: i32) -> Vec<(String, String)>;
    /// The URL apps connect with.
    fn url(&self, host: &str, password: &str) -> String;
    /// A command that exits 0 once it serves.
    fn ready_command(&self) -> Vec<String>;
    /// Its console (`pg:psql`); with `command`, that alone is run.
    fn console_command(&self, command: Option<&str>) -> Vec<String>;
    /// A command printing its facts as `name|value` lines.
    fn info_command(&self) -> Vec<String>;
    /// A command writing a backup of its data to its output, if it has one.
    fn dump_command(&self) -> Option<Vec<String>>;
    /// A command restoring such a backup read from its input.
    fn restore_command(&self) -> Option<Vec<String>>;
}

const SERVICES: &[&dyn Service] = &[&postgres::Postgres];

/// Every kind of add-on there is.
pub fn services() -> &'static [&'static dyn Service] {
    SERVICES
}

/// The service of a name users typed, or why there is none.
pub fn service(name: &str) -> Result<&'static dyn Service, String> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.split(':').next().unwrap_or_default();
    SERVICES.iter().copied().find(|s| s.name() == name || s.aliases().contains(&name)).ok_or_else(|| {
        let names: Vec<&str> = SERVICES.iter().map(|s| s.name()).collect();
        format!("there is no add-on service named {name:?}; the services are {}", names.join(", "))
    })
}

/// The service an add-on row names (it was checked when made).
pub fn of(addon: &Addon) -> anyhow::Result<&'static dyn Service> {
    service(&addon.service).map_err(|e| anyhow!(e))
}

/// The version asked for (the default when none), or why it is not offered.
pub fn version(service: &dyn Service, asked: Option<&str>) -> Result<&'static str, String> {
    let versions = service.versions();
    match asked.map(str::trim) {
        None | Some("") => Ok(versions[0]),
        Some(v) => {
            versions.iter().copied().find(|known| *known == v).ok_or_else(|| {
                format!("{} {v} is not offered; the versions are {}", service.title(), versions.join(", "))
            })
        }
    }
}

/// A fresh add-on name: the service and six random hex digits.
pub fn new_name(service: &dyn Service) -> String {
    format!("{}-{:06x}", service.name(), rand::thread_rng().gen_range(0..0x100_0000))
}

/// A fresh password: 32 letters and digits.
pub fn new_password() -> String {
    rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(32).map(char::from).collect()
}

/// What an add-on's password is sealed under.
pub fn password_context(name: &str) -> String {
    format!("addon/{name}/password")
}

/// The engine's name of an add-on's data volume (by id).
pub fn volume_name(addon_id: i64) -> String {
    format!("addon-{addon_id}")
}

/// The URL the apps attached to an add-on connect with.
pub fn url(state: &AppState, addon: &Addon) -> anyhow::Result<String> {
    let password = state.secrets.open(&password_context(&addon.name), &addon.password)?;
    Ok(of(addon)?.url(&addon.name, &password))
}

/// Make sure the image of an add-on's service and version exists, building
/// it the first time (from the stack base and Debian's packages).
pub async fn ensure_image(state: &AppState, addon: &Addon, out: &Output) -> anyhow::Result<String> {
    let service = of(addon)?;
    let recipe = service.recipe(&state.config, &addon.version);
    let mut parts: Vec<&str> =
        recipe.files.iter().map(|(_, content, _)| std::str::from_utf8(content).unwrap_or("")).collect();
    parts.extend(recipe.args.iter().map(|(_, v)| v.as_str()));
    let tag = crate::build::stacks::tag(&format!("paas/addon-{}", service.name()), &parts);
    if !state.runtime.image_exists(&tag).await? {
        out.step(format!("Preparing the {} {} image (first time only)", service.title(), addon.version));
        let args: Vec<(&str, &str)> = recipe.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::build::stacks::build_local_image(state, &recipe.files, &tag, &args, out).await?;
    }
    Ok(tag)
}

/// The container of an add-on: alone on its own network, and on the network
/// of each attachment as its name.
pub fn container_spec(
    state: &AppState,
    addon: &Addon,
    image: String,
    attachments: &[Attachment],
) -> anyhow::Result<ContainerSpec> {
    let service = of(addon)?;
    let password = state.secrets.open(&password_context(&addon.name), &addon.password)?;
    Ok(ContainerSpec {
        name: format!("addon-{}", addon.name),
        image,
        command: None,
        env: service.env(&password, addon.memory_mb),
        labels: [(runtime::LABEL_ADDON.to_string(), addon.id.to_string())].into(),
        publish_port: false,
        network: runtime::addon_network(addon.id),
        aliases: Vec::new(),
        limits: Limits { memory_mb: addon.memory_mb, cpus: state.config.default_cpus.max(1.0), pids: 512 },
        read_only_files: Vec::new(),
        volumes: vec![(volume_name(addon.id), service.data_path().to_string())],
        extra_networks: attachments
            .iter()
            .map(|a| (runtime::attachment_network(addon.id, a.app_id), vec![addon.name.clone()]))
            .collect(),
    })
}

/// Start an add-on's container (its image and volume made first if missing).
pub async fn start(state: &AppState, addon: &Addon, out: &Output) -> anyhow::Result<Container> {
    let image = ensure_image(state, addon, out).await?;
    state.runtime.create_volume(&volume_name(addon.id)).await?;
    let attachments = crate::db::addons::attachments(&state.db, addon.id).await?;
    state.runtime.start(container_spec(state, addon, image, &attachments)?).await
}

/// Put a running add-on on the network of each of its attachments (already
/// on it is fine): what an attach does at once, and every check repeats.
pub async fn connect_attachments(state: &AppState, addon: &Addon, container: &str) -> anyhow::Result<()> {
    for attachment in crate::db::addons::attachments(&state.db, addon.id).await? {
        let network = runtime::attachment_network(addon.id, attachment.app_id);
        state.runtime.connect(container, &network, vec![addon.name.clone()]).await?;
    }
    Ok(())
}

/// The add-on's running container, if it has one.
pub async fn running(state: &AppState, addon: &Addon) -> anyhow::Result<Option<Container>> {
    let id = addon.id.to_string();
    let containers = state.runtime.list(&[(runtime::LABEL_ADDON, &id)]).await?;
    Ok(containers.into_iter().find(|c| c.running))
}

/// Run a command in the add-on's container; an error when it is not running.
pub async fn exec(state: &AppState, addon: &Addon, command: Vec<String>, limit: usize) -> anyhow::Result<Ran> {
    let container = running(state, addon).await?.ok_or_else(|| anyhow!("{} is not running", addon.name))?;
    runtime::exec_output(state.runtime.as_ref(), &container.id, command, limit).await
}

/// Whether a running add-on container serves (its ready command passes in time).
pub async fn serves(state: &AppState, addon: &Addon, container: &str) -> Result<(), String> {
    let command = of(addon).map_err(|e| e.to_string())?.ready_command();
    let check = runtime::exec_output(state.runtime.as_ref(), container, command, 64 * 1024);
    match tokio::time::timeout(Duration::from_secs(10), check).await {
        Ok(Ok(ran)) if ran.code == 0 => Ok(()),
        Ok(Ok(ran)) => Err(format!("its check exited with {}: {}", ran.code, ran.stderr.trim())),
        Ok(Err(err)) => Err(format!("{err:#}")),
        Err(_) => Err("its check did not answer within 10 s".into()),
    }
}

/// Wait until the add-on serves (the reconcile loop starts it).
pub async fn wait_ready(state: &AppState, addon: &Addon, patience: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut last = "it has not started".to_string();
    while tokio::time::Instant::now() < deadline {
        if let Some(container) = running(state, addon).await? {
            match serves(state, addon, &container.id).await {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
        }
        state.reconcile.wake();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(anyhow!("{} did not come up within {} s: {last}", addon.name, patience.as_secs()))
}

/// Whether an add-on is `up`, `starting` or `down`, and its facts when up.
pub async fn state_and_facts(state: &AppState, addon: &Addon) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let Some(container) = running(state, addon).await? else { return Ok(("down".into(), Vec::new())) };
    Ok(match serves(state, addon, &container.id).await {
        Err(_) => ("starting".into(), Vec::new()),
        Ok(()) => ("up".into(), info(state, addon).await.unwrap_or_default()),
    })
}

/// An add-on's facts (`pg:info`): (name, value) pairs.
pub async fn info(state: &AppState, addon: &Addon) -> anyhow::Result<Vec<(String, String)>> {
    let ran = exec(state, addon, of(addon)?.info_command(), 1024 * 1024).await?;
    if ran.code != 0 {
        return Err(anyhow!("reading its facts failed: {}", ran.stderr.trim()));
    }
    let text = String::from_utf8(ran.stdout).context("its facts")?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{new_name, service, version};

    #[test]
    fn services_are_found_by_their_names_and_versions_checked() {
        let pg = service("postgres").unwrap();
        assert_eq!(service("heroku-postgresql:essential-0").unwrap().name(), "postgres");
        assert_eq!(service("PostgreSQL").unwrap().name(), "postgres");
        assert!(service("mysql").err().is_some_and(|e| e.contains("the services are postgres")));
        assert_eq!(version(pg, None).unwrap(), pg.versions()[0]);
        assert_eq!(version(pg, Some("15")).unwrap(), "15");
        assert!(version(pg, Some("9.6")).unwrap_err().contains("the versions are"));
        let name = new_name(pg);
        assert!(name.starts_with("postgres-") && name.len() == "postgres-".len() + 6, "{name}");
    }
}
