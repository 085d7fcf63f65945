//! Dashboard pages that show things: apps, an app's overview, releases,
//! builds, config, domains, logs, activity, settings.

use std::convert::Infallible;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use futures_util::Stream;
use serde::Deserialize;

use super::{render, DashError, DashUser, Layout};
use crate::auth::{app_access, Role};
use crate::db;
use crate::db::apps::App;
use crate::error::AppError;
use crate::reconcile::processes::{self, Process};
use crate::state::AppState;

/// What the app pages' frame shows: the app, its URL, the tab, the caller's powers.
pub struct AppFrame {
    pub name: String,
    pub team: String,
    pub web_url: String,
    pub git_url: String,
    pub tab: &'static str,
    /// Developer or above: may change what runs.
    pub can_edit: bool,
    /// Admin or above: may destroy, read the audit log.
    pub can_admin: bool,
    /// What runs, what is under way, what failed (updated live).
    pub status: Status,
    /// The fingerprint of what the page shows, for `live_events`.
    pub live: String,
}

pub(super) async fn frame(
    state: &AppState,
    dash: &DashUser,
    name: &str,
    tab: &'static str,
) -> Result<(App, AppFrame), DashError> {
    let (app, role) = app_access(state, &dash.user, name, Role::Viewer, "viewing apps").await?;
    let row = rows(state, vec![app.clone()]).await?;
    let live = fingerprint(state, &row);
    let status = row.into_iter().next().map(|row| row.status).unwrap_or_default();
    let frame = AppFrame {
        status,
        live,
        name: app.name.clone(),
        team: app.team_name.clone(),
        web_url: state.app_url(&app.name),
        git_url: format!("{}/git/{}.git", state.public_url, app.name),
        tab,
        can_edit: role >= Role::Developer,
        can_admin: role >= Role::Admin,
    };
    Ok((app, frame))
}

pub struct AppRow {
    pub name: String,
    pub team: String,
    pub web_url: String,
    pub release: String,
    pub deployed: String,
    pub status: Status,
}

/// What the apps list says of an app: what runs, what is under way, what
/// failed last.
#[derive(Debug, PartialEq, Default)]
pub struct Status {
    pub text: String,
    /// `ok`, `busy`, `bad` or empty (the badge's colour).
    pub class: &'static str,
    /// The reason of a failure.
    pub detail: String,
    /// The operation to look at (under way or failed), if any.
    pub operation: Option<i64>,
}

/// The kinds of operation that change what runs.
const ROLLOUTS: &[&str] = &["deploy", "config.update", "formation.update", "ps.restart", "release.rollback"];

pub fn app_status(
    has_release: bool,
    maintenance: bool,
    latest: Option<&crate::db::operations::Operation>,
    crashed: usize,
) -> Status {
    let status =
        |text: String, class, detail: &str| Status { text, class, detail: detail.to_string(), operation: None };
    match latest {
        Some(op) if op.status == "running" => {
            // A push builds, then deploys the release it made (vN).
            let commit = op.summary.rsplit(' ').next().unwrap_or_default();
            let text = match (op.kind.as_str(), op.version) {
                ("deploy", Some(v)) => format!("deploying v{v}"),
                ("deploy", None) => format!("building {commit}"),
                (_, Some(v)) => format!("rolling out v{v}"),
                (kind, None) => format!("{kind}: under way"),
            };
            return Status { operation: Some(op.id), ..status(text, "busy", "") };
        }
        Some(op) if op.status == "failed" => {
            let text = match (op.kind.as_str(), op.version) {
                ("deploy", Some(v)) => format!("v{v} failed"),
                ("deploy", None) => "last push failed".to_string(),
                (kind, _) => format!("{kind} failed"),
            };
            let detail = op.error.as_deref().unwrap_or_default();
            return Status { operation: Some(op.id), ..status(text, "bad", detail) };
        }
        _ => {}
    }
    match (has_release, crashed) {
        (false, _) => status("not deployed".into(), "", ""),
        (true, 0) if maintenance => status("maintenance".into(), "busy", "every request gets the maintenance page"),
        (true, 0) => status("running".into(), "ok", ""),
        (true, n) => status(format!("{n} crashed"), "bad", ""),
    }
}

#[derive(Template)]
#[template(path = "apps/list.html")]
struct AppsPage {
    layout: Layout,
    apps: Vec<AppRow>,
    teams: Vec<String>,
    /// The fingerprint of what the page shows, for `live_events`.
    live: String,
}

/// Each app's row in the list: its status and current release.
async fn rows(state: &AppState, apps: Vec<App>) -> Result<Vec<AppRow>, DashError> {
    let ids: Vec<i64> = apps.iter().map(|a| a.id).collect();
    let mut current = db::releases::current_of(&state.db, &ids).await?;
    let mut latest = db::operations::latest_of(&state.db, &ids, ROLLOUTS).await?;
    Ok(apps
        .into_iter()
        .map(|app| {
            let release = current.remove(&app.id);
            let crashed = state.processes.of(&app.name).values().filter(|p| p.state.starts_with("crashed")).count();
            let status = app_status(release.is_some(), app.maintenance, latest.remove(&app.id).as_ref(), crashed);
            AppRow {
                status,
                web_url: state.app_url(&app.name),
                release: release.as_ref().map(|r| format!("v{}", r.version)).unwrap_or_else(|| "no release yet".into()),
                deployed: release.map(|r| r.created_at.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
                name: app.name,
                team: app.team_name,
            }
        })
        .collect())
}

/// What the live pages show, as a short fingerprint: it changes when any of
/// it does (an app's status or release, a process's state or restarts).
fn fingerprint(state: &AppState, rows: &[AppRow]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for row in rows {
        let s = &row.status;
        hash.update(format!("{}|{}|{}|{}|{:?}|{}\n", row.name, s.text, s.class, s.detail, s.operation, row.release));
        let mut processes: Vec<_> = state.processes.of(&row.name).into_iter().collect();
        processes.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, p) in processes {
            hash.update(format!("  {name} {} {}\n", p.state, p.restarts));
        }
    }
    hex::encode(&hash.finalize()[..8])
}

/// The rows a live page shows: one app's, or every app the user sees.
async fn live_rows(state: &AppState, user: &db::users::User, app: Option<&str>) -> Result<Vec<AppRow>, DashError> {
    let apps = match app {
        Some(name) => vec![app_access(state, user, name, Role::Viewer, "viewing apps").await?.0],
        None => db::apps::list_visible(&state.db, user.id, user.is_admin).await?,
    };
    rows(state, apps).await
}

#[derive(Debug, Deserialize)]
pub struct LiveFilter {
    app: Option<String>,
}

/// A `state` event with the fingerprint of what the apps list (or one app's
/// pages) shows, at once and whenever it changes (looked at every second);
/// a page whose own fingerprint differs fetches itself again and swaps its
/// live parts.
pub async fn live_events(
    State(state): State<AppState>,
    dash: DashUser,
    Query(filter): Query<LiveFilter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, DashError> {
    let app = filter.app.filter(|a| !a.is_empty());
    let first = fingerprint(&state, &live_rows(&state, &dash.user, app.as_deref()).await?);
    let event = |fingerprint: &str| Ok(Event::default().event("state").data(fingerprint));
    let now = futures_util::stream::once(std::future::ready(event(&first)));
    let user = dash.user;
    let changes = futures_util::stream::unfold(first, move |last| {
        let (state, user, app) = (state.clone(), user.clone(), app.clone());
        async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let rows = live_rows(&state, &user, app.as_deref()).await.ok()?;
                let now = fingerprint(&state, &rows);
                if now != last {
                    return Some((event(&now), now));
                }
            }
        }
    });
    Ok(Sse::new(futures_util::StreamExt::chain(now, changes)).keep_alive(KeepAlive::default()))
}

pub async fn list_apps(State(state): State<AppState>, dash: DashUser) -> Result<Response, DashError> {
    let apps = db::apps::list_visible(&state.db, dash.user.id, dash.user.is_admin).await?;
    let rows = rows(&state, apps).await?;
    let live = fingerprint(&state, &rows);
    let teams = db::teams::list_for_user(&state.db, dash.user.id, dash.user.is_admin)
        .await?
        .into_iter()
        .filter(|t| t.role >= Role::Developer)
        .map(|t| t.name)
        .collect();
    render(&AppsPage { layout: dash.layout("Apps").await, apps: rows, teams, live })
}

pub struct FormationRow {
    pub process_type: String,
    pub quantity: i32,
    pub memory: String,
    pub cpus: String,
    /// The server's defaults, shown where the type sets none.
    pub default_memory: String,
    pub default_cpus: String,
}

#[derive(Template)]
#[template(path = "apps/show.html")]
struct OverviewPage {
    layout: Layout,
    app: AppFrame,
    release: String,
    release_description: String,
    processes: Vec<Process>,
    formation: Vec<FormationRow>,
    operations: Vec<super::operations::OperationRow>,
}

pub async fn show_app(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "overview").await?;
    let current = db::releases::current(&state.db, app.id).await?;
    let processes = processes::view(&state, &app).await?;
    let formation = db::formation::list(&state.db, app.id)
        .await?
        .into_iter()
        .map(|f| FormationRow {
            process_type: f.process_type,
            quantity: f.quantity,
            memory: f.memory_mb.map(|m| format!("{m}m")).unwrap_or_default(),
            cpus: f.cpus.map(|c| c.to_string()).unwrap_or_default(),
            default_memory: format!("{}m", state.config.default_memory),
            default_cpus: state.config.default_cpus.to_string(),
        })
        .collect();
    render(&OverviewPage {
        layout: dash.layout(app.name.clone()).await,
        app: frame,
        release: current.as_ref().map(|r| format!("v{}", r.version)).unwrap_or_default(),
        release_description: current.map(|r| r.description).unwrap_or_default(),
        processes,
        formation,
        operations: super::operations::recent(&state, app.id).await?,
    })
}

pub struct ReleaseRow {
    pub version: i32,
    pub description: String,
    pub author: String,
    pub when: String,
    pub status: String,
    pub can_rollback: bool,
}

#[derive(Template)]
#[template(path = "apps/releases.html")]
struct ReleasesPage {
    layout: Layout,
    app: AppFrame,
    releases: Vec<ReleaseRow>,
}

pub async fn list_releases(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "releases").await?;
    let current = db::releases::current(&state.db, app.id).await?;
    let current_version = current.as_ref().map(|r| r.version).unwrap_or(0);
    let releases = db::releases::list(&state.db, app.id)
        .await?
        .into_iter()
        .map(|r| {
            let is_current = Some(r.id) == current.as_ref().map(|c| c.id);
            ReleaseRow {
                can_rollback: frame.can_edit && !is_current && r.status == "succeeded" && r.version < current_version,
                status: if is_current { "current".into() } else { r.status.clone() },
                version: r.version,
                description: r.description,
                author: r.author.unwrap_or_default(),
                when: r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            }
        })
        .collect();
    render(&ReleasesPage { layout: dash.layout(format!("{} releases", app.name)).await, app: frame, releases })
}

#[derive(Template)]
#[template(path = "apps/builds.html")]
struct BuildsPage {
    layout: Layout,
    app: AppFrame,
    builds: Vec<crate::db::builds::Build>,
}

pub async fn list_builds(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "builds").await?;
    let builds = db::builds::list(&state.db, app.id).await?;
    render(&BuildsPage { layout: dash.layout(format!("{} builds", app.name)).await, app: frame, builds })
}

#[derive(Template)]
#[template(path = "apps/build.html")]
struct BuildPage {
    layout: Layout,
    app: AppFrame,
    build: crate::db::builds::Build,
    /// The event stream of the push building it, while it runs.
    follow: Option<String>,
}

pub async fn show_build(
    State(state): State<AppState>,
    dash: DashUser,
    Path((name, id)): Path<(String, i64)>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "builds").await?;
    let build =
        db::builds::find(&state.db, app.id, id).await?.ok_or_else(|| AppError::not_found(format!("no build {id}")))?;
    // A build under way: its push's output, live, until it ends.
    let follow = match build.status.as_str() {
        "building" => db::operations::list(&state.db, app.id, 20)
            .await?
            .into_iter()
            .find(|op| op.kind == "deploy" && op.status == "running" && op.created_at <= build.created_at)
            .map(|op| format!("/apps/{}/operations/{}/events", app.name, op.id)),
        _ => None,
    };
    render(&BuildPage { layout: dash.layout(format!("build {id}")).await, app: frame, build, follow })
}

#[derive(Template)]
#[template(path = "apps/config.html")]
struct ConfigPage {
    layout: Layout,
    app: AppFrame,
    /// Values are empty for viewers.
    vars: Vec<(String, String)>,
}

pub async fn show_config(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "config").await?;
    let clear = crate::deploy::config::reveal(&state, &app).await?;
    let vars = clear.into_iter().map(|(k, v)| (k, if frame.can_edit { v } else { String::new() })).collect();
    render(&ConfigPage { layout: dash.layout(format!("{} config", app.name)).await, app: frame, vars })
}

#[derive(Template)]
#[template(path = "apps/domains.html")]
struct DomainsPage {
    layout: Layout,
    app: AppFrame,
    domains: Vec<String>,
    /// Each name's certificate, the app's own name first.
    certs: Vec<crate::ops::certs::CertInfo>,
    https_redirect: bool,
    hsts: bool,
    /// Whether the server gets certificates by itself.
    acme: bool,
}

impl DomainsPage {
    fn expires(cert: &crate::ops::certs::CertInfo) -> String {
        cert.expires_at.map(|at| at.format("%Y-%m-%d").to_string()).unwrap_or_default()
    }
}

pub async fn list_domains(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "domains").await?;
    let domains = db::domains::list(&state.db, app.id).await?.into_iter().map(|d| d.hostname).collect();
    let certs = crate::ops::certs::list(&state, &app).await?;
    render(&DomainsPage {
        layout: dash.layout(format!("{} domains", app.name)).await,
        app: frame,
        domains,
        certs,
        https_redirect: app.https_redirect,
        hsts: app.hsts,
        acme: state.tls.acme_enabled(),
    })
}

#[derive(Template)]
#[template(path = "apps/logs.html")]
struct LogsPage {
    layout: Layout,
    app: AppFrame,
    types: Vec<String>,
}

pub async fn show_logs(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "logs").await?;
    let mut types: Vec<String> =
        db::formation::list(&state.db, app.id).await?.into_iter().map(|f| f.process_type).collect();
    types.extend(["router".to_string(), "paas".to_string()]);
    render(&LogsPage { layout: dash.layout(format!("{} logs", app.name)).await, app: frame, types })
}

#[derive(Debug, Deserialize)]
pub struct LogFilter {
    ps: Option<String>,
}

/// The live log view's event stream: the last 200 lines, then new ones.
pub async fn log_events(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
    Query(filter): Query<LogFilter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, DashError> {
    let (app, _) = app_access(&state, &dash.user, &name, Role::Viewer, "reading logs").await?;
    let mut lines = state.logs.stream(&app.name, 200, filter.ps.filter(|p| !p.is_empty()));
    let stream = futures_util::stream::poll_fn(move |cx| {
        lines.poll_recv(cx).map(|l| l.map(|l| Ok(Event::default().data(l.render()))))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Template)]
#[template(path = "apps/activity.html")]
struct ActivityPage {
    layout: Layout,
    app: AppFrame,
    events: Vec<db::audit::AuditEvent>,
}

pub async fn show_activity(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "activity").await?;
    // As in the API, the audit log is for team admins and owners.
    let events = if frame.can_admin { db::audit::list(&state.db, None, Some(app.id), 200).await? } else { Vec::new() };
    render(&ActivityPage { layout: dash.layout(format!("{} activity", app.name)).await, app: frame, events })
}

#[derive(Template)]
#[template(path = "apps/settings.html")]
struct SettingsPage {
    layout: Layout,
    app: AppFrame,
    /// The app's stack, and every stack with what it brings.
    stack: String,
    stacks: Vec<(&'static str, &'static str)>,
    maintenance: bool,
    /// Its address on the team's private network, when it is on it.
    internal: Option<String>,
    volumes: Vec<crate::db::volumes::Volume>,
}

pub async fn show_settings(
    State(state): State<AppState>,
    dash: DashUser,
    Path(name): Path<String>,
) -> Result<Response, DashError> {
    let (app, frame) = frame(&state, &dash, &name, "settings").await?;
    let stack = crate::build::stacks::of_app(&state.config, app.stack.as_deref()).to_string();
    let stacks = crate::build::stacks::STACKS.iter().map(|s| (s.name, s.description)).collect();
    render(&SettingsPage {
        layout: dash.layout(format!("{} settings", app.name)).await,
        app: frame,
        stack,
        stacks,
        maintenance: app.maintenance,
        internal: app
            .internal
            .then(|| format!("http://{}:{}", crate::runtime::internal_host(&app.name), crate::runtime::CONTAINER_PORT)),
        volumes: crate::db::volumes::list(&state.db, app.id).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::app_status;
    use crate::db::operations::Operation;

    fn op(kind: &str, status: &str, error: Option<&str>) -> Operation {
        Operation {
            id: 1,
            app_id: Some(1),
            app: "shop".into(),
            kind: kind.into(),
            summary: "main 1a2b3c4".into(),
            status: status.into(),
            error: error.map(str::to_string),
            user_id: None,
            team_id: None,
            actor: "a@example.com".into(),
            source: "git".into(),
            release_id: None,
            version: None,
            refname: None,
            old_commit: None,
            new_commit: None,
            created_at: chrono::Utc::now(),
            finished_at: None,
            output: None,
        }
    }

    #[test]
    fn the_apps_list_says_what_runs_what_is_under_way_and_what_failed() {
        assert_eq!(app_status(false, false, None, 0).text, "not deployed");
        assert_eq!(
            (app_status(true, false, None, 0).text.as_str(), app_status(true, false, None, 0).class),
            ("running", "ok")
        );
        let building = app_status(true, false, Some(&op("deploy", "running", None)), 0);
        assert_eq!((building.text.as_str(), building.class), ("building 1a2b3c4", "busy"));
        let deploying =
            app_status(true, false, Some(&Operation { version: Some(5), ..op("deploy", "running", None) }), 0);
        assert_eq!(deploying.text, "deploying v5");
        let failed = app_status(true, false, Some(&op("deploy", "failed", Some("the build failed"))), 0);
        assert_eq!(
            (failed.text.as_str(), failed.class, failed.detail.as_str()),
            ("last push failed", "bad", "the build failed")
        );
        let unhealthy = Operation { version: Some(6), ..op("deploy", "failed", Some("web.1 never answered")) };
        assert_eq!(app_status(true, false, Some(&unhealthy), 0).text, "v6 failed");
        let rollout = Operation { version: Some(7), ..op("config.update", "running", None) };
        assert_eq!(app_status(true, false, Some(&rollout), 0).text, "rolling out v7");
        assert_eq!(app_status(true, false, Some(&op("config.update", "succeeded", None)), 2).text, "2 crashed");
    }
}
