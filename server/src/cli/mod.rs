//! The client subcommands: Heroku-style verbs that call the REST API.
//! Errors print as ` ▸    message` on stderr and exit with status 1.

mod addons;
mod app_arg;
mod apps;
mod certs;
mod client;
mod config;
mod credentials;
mod domains;
mod login;
mod logs;
mod operations;
mod platform;
mod ps;
mod releases;
mod run;
mod sse;
mod teams;
mod terminal;
mod tokens;
mod volumes;

use clap::Subcommand;

pub use client::Client;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a paas server and store an API token locally
    Login(login::LoginArgs),
    /// Forget the stored token
    Logout,
    /// Show who you are logged in as
    #[command(name = "auth:whoami")]
    Whoami(JsonFlag),
    /// List your apps
    Apps(apps::ListArgs),
    /// Create an app
    #[command(name = "apps:create")]
    AppsCreate(apps::CreateArgs),
    /// Show an app
    #[command(name = "apps:info", visible_alias = "info")]
    AppsInfo(apps::InfoArgs),
    /// Print the app's URL (and open it in a browser, when there is one)
    Open(app_arg::AppArg),
    /// Rename an app (its URL, repository and domains follow; the old name stops routing)
    #[command(name = "apps:rename")]
    AppsRename(apps::RenameArgs),
    /// Permanently destroy an app
    #[command(name = "apps:destroy")]
    AppsDestroy(apps::DestroyArgs),
    /// List the stacks, the app's marked
    Stack(app_arg::AppArg),
    /// Build the app on another stack from its next push
    #[command(name = "stack:set")]
    StackSet(apps::StackSetArgs),
    /// List your teams
    Teams(JsonFlag),
    /// Create a team (you become its owner)
    #[command(name = "teams:create")]
    TeamsCreate(teams::CreateArgs),
    /// List a team's members and roles
    #[command(name = "teams:members")]
    TeamsMembers(teams::MembersArgs),
    /// Add an existing user to a team
    #[command(name = "teams:add-member")]
    TeamsAddMember(teams::AddMemberArgs),
    /// Change a member's role
    #[command(name = "teams:set-role")]
    TeamsSetRole(teams::SetRoleArgs),
    /// Remove a member from a team
    #[command(name = "teams:remove-member")]
    TeamsRemoveMember(teams::RemoveMemberArgs),
    /// List your API tokens
    Tokens(JsonFlag),
    /// Create an API token (printed once)
    #[command(name = "tokens:create")]
    TokensCreate(tokens::CreateArgs),
    /// Revoke an API token
    #[command(name = "tokens:revoke")]
    TokensRevoke(tokens::RevokeArgs),
    /// Create a user account (server admins)
    #[command(name = "users:create")]
    UsersCreate(tokens::CreateUserArgs),
    /// List the routers running apart from the control plane (server admins)
    Routers(JsonFlag),
    /// List the machines processes run on, with what is placed on each (server admins)
    Nodes(JsonFlag),
    /// Print the command that adds a worker machine to the swarm (server admins)
    #[command(name = "nodes:join-command")]
    NodesJoinCommand,
    /// Move every process off a swarm node with no downtime; it then takes none (server admins)
    #[command(name = "nodes:drain")]
    NodesDrain { node: String },
    /// Let a drained swarm node take processes again (server admins)
    #[command(name = "nodes:activate")]
    NodesActivate { node: String },
    /// Add the app's repository as a git remote (`paas` by default)
    #[command(name = "git:remote")]
    GitRemote(domains::RemoteArgs),
    /// Git credential helper (set up by git:remote; not for direct use)
    #[command(name = "git:credentials", hide = true)]
    GitCredentials { action: String },
    /// Show config vars
    Config(config::ShowArgs),
    /// Show one config var's value
    #[command(name = "config:get")]
    ConfigGet(config::GetArgs),
    /// Set config vars (a new release rolls out)
    #[command(name = "config:set")]
    ConfigSet(config::SetArgs),
    /// Unset config vars (a new release rolls out)
    #[command(name = "config:unset")]
    ConfigUnset(config::UnsetArgs),
    /// List releases
    Releases(app_arg::AppListArgs),
    /// Show one release
    #[command(name = "releases:info")]
    ReleasesInfo(releases::InfoArgs),
    /// Show what a release's release command printed
    #[command(name = "releases:output")]
    ReleasesOutput(releases::InfoArgs),
    /// Roll back to an earlier release (as a new release)
    Rollback(releases::RollbackArgs),
    /// List builds
    Builds(app_arg::AppListArgs),
    /// Show a build's log
    #[command(name = "builds:info")]
    BuildsInfo(releases::BuildInfoArgs),
    /// Empty the app's build cache (the next build installs everything anew)
    #[command(name = "builds:cache:purge")]
    BuildsCachePurge(app_arg::AppArg),
    /// List the app's operations (every change, with its outcome)
    Operations(app_arg::AppListArgs),
    /// Show an operation with its output
    #[command(name = "operations:info")]
    OperationsInfo(operations::InfoArgs),
    /// List the app's processes
    Ps(app_arg::AppListArgs),
    /// Scale process types: web=2 worker=1
    #[command(name = "ps:scale")]
    PsScale(ps::ScaleArgs),
    /// Set memory and CPU limits of a process type
    #[command(name = "ps:resize")]
    PsResize(ps::ResizeArgs),
    /// Restart processes, rolling and health-gated
    #[command(name = "ps:restart")]
    PsRestart(ps::RestartArgs),
    /// Stop a process (web.2) or a type's (web); the platform starts them anew, a one-off ends
    #[command(name = "ps:stop")]
    PsStop(ps::StopArgs),
    /// Kill a process at once (SIGKILL, no drain); the platform starts it anew
    #[command(name = "ps:kill")]
    PsKill(ps::StopArgs),
    /// Run a one-off process with the current release (attached; -d: detached)
    Run(run::RunArgs),
    /// Run a command (default: a shell) inside a running process
    #[command(name = "ps:exec")]
    PsExec(run::ExecArgs),
    /// Show (-t: stream) the app's logs
    Logs(logs::LogsArgs),
    /// List custom domains
    Domains(app_arg::AppListArgs),
    /// Route a custom domain to the app
    #[command(name = "domains:add")]
    DomainsAdd(domains::HostArgs),
    /// Stop routing a custom domain
    #[command(name = "domains:remove")]
    DomainsRemove(domains::HostArgs),
    /// Show the certificate of each of the app's names
    Certs(app_arg::AppListArgs),
    /// Serve an uploaded certificate (PEM chain and key) for the names it covers
    #[command(name = "certs:add")]
    CertsAdd(certs::AddArgs),
    /// Request automatic certificates again where they failed or are pending
    #[command(name = "certs:refresh")]
    CertsRefresh(app_arg::AppArg),
    /// Show or change HTTPS settings: --redirect on|off, --hsts on|off
    Https(certs::HttpsArgs),
    /// Say whether the app is in maintenance mode
    Maintenance(app_arg::AppArg),
    /// Answer every request with the maintenance page (503; the
    /// MAINTENANCE_PAGE_HTML config var, or a default); processes keep running
    #[command(name = "maintenance:on")]
    MaintenanceOn(app_arg::AppArg),
    /// Serve the app again
    #[command(name = "maintenance:off")]
    MaintenanceOff(app_arg::AppArg),
    /// List the app's persistent volumes
    Volumes(app_arg::AppListArgs),
    /// Create a volume mounted in a process type's processes (a restart rolls out)
    #[command(name = "volumes:create")]
    VolumesCreate(volumes::CreateArgs),
    /// Unmount a volume and delete it with its data
    #[command(name = "volumes:destroy")]
    VolumesDestroy(volumes::DestroyArgs),
    /// List the add-ons attached to the app
    Addons(app_arg::AppListArgs),
    /// Create an add-on (postgres) for the app; its URL is set as DATABASE_URL (or --as NAME: NAME_URL)
    #[command(name = "addons:create", disable_version_flag = true)]
    AddonsCreate(addons::CreateArgs),
    /// Show an add-on: its state, attachments and facts
    #[command(name = "addons:info")]
    AddonsInfo(addons::AddonArgs),
    /// Attach an add-on of another app of the team to this app
    #[command(name = "addons:attach")]
    AddonsAttach(addons::AttachArgs),
    /// Detach another app's add-on from this app
    #[command(name = "addons:detach")]
    AddonsDetach(addons::AddonArgs),
    /// Destroy an add-on with its data and backups
    #[command(name = "addons:destroy")]
    AddonsDestroy(addons::DestroyArgs),
    /// Show a PostgreSQL add-on's state, size and connections
    #[command(name = "pg:info")]
    PgInfo(addons::AddonArgs),
    /// Open psql on a PostgreSQL add-on (-c: run one command)
    #[command(name = "pg:psql")]
    PgPsql(addons::PsqlArgs),
    /// Print a PostgreSQL add-on's URL, password included
    #[command(name = "pg:credentials:url")]
    PgCredentialsUrl(addons::AddonArgs),
    /// List a PostgreSQL add-on's backups
    #[command(name = "pg:backups")]
    PgBackups(addons::AddonArgs),
    /// Capture a backup of a PostgreSQL add-on (kept encrypted)
    #[command(name = "pg:backups:capture")]
    PgBackupsCapture(addons::AddonArgs),
    /// Restore a backup into a PostgreSQL add-on (its tables become the backup's)
    #[command(name = "pg:backups:restore")]
    PgBackupsRestore(addons::RestoreArgs),
    /// Back a PostgreSQL add-on up every day at an hour (UTC)
    #[command(name = "pg:backups:schedule")]
    PgBackupsSchedule(addons::ScheduleArgs),
    /// Stop a PostgreSQL add-on's scheduled backups
    #[command(name = "pg:backups:unschedule")]
    PgBackupsUnschedule(addons::AddonArgs),
    /// Delete a backup of a PostgreSQL add-on
    #[command(name = "pg:backups:delete")]
    PgBackupsDelete(addons::DeleteBackupArgs),
    /// Download a backup (pg_dump's custom format, for pg_restore)
    #[command(name = "pg:backups:download")]
    PgBackupsDownload(addons::DownloadArgs),
    /// Say whether the app is on its team's private network
    Internal(app_arg::AppArg),
    /// Put the app on its team's private network: the team's apps there reach
    /// its web processes at http://APP.internal:5000, and it reaches theirs
    #[command(name = "internal:on")]
    InternalOn(app_arg::AppArg),
    /// Take the app off its team's private network
    #[command(name = "internal:off")]
    InternalOff(app_arg::AppArg),
    /// Show the audit log (team admins)
    Audit(domains::AuditArgs),
}

#[derive(Debug, clap::Args)]
pub struct JsonFlag {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Run a client command; the process exit code.
pub async fn run(command: Command) -> i32 {
    match dispatch(command).await {
        Ok(()) => 0,
        Err(err) => match err.downcast_ref::<run::ExitStatus>() {
            // A remote process's exit status, passed through without a message.
            Some(status) => status.0,
            None => {
                eprintln!(" \u{25b8}    {err:#}");
                1
            }
        },
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => login::login(args).await,
        Command::Logout => login::logout(),
        Command::Whoami(flag) => login::whoami(flag.json).await,
        Command::Apps(args) => apps::list(args).await,
        Command::AppsCreate(args) => apps::create(args).await,
        Command::AppsInfo(args) => apps::info(args).await,
        Command::Open(app) => apps::open(app).await,
        Command::AppsRename(args) => apps::rename(args).await,
        Command::AppsDestroy(args) => apps::destroy(args).await,
        Command::Stack(app) => apps::stacks(app).await,
        Command::StackSet(args) => apps::set_stack(args).await,
        Command::Teams(flag) => teams::list(flag.json).await,
        Command::TeamsCreate(args) => teams::create(args).await,
        Command::TeamsMembers(args) => teams::members(args).await,
        Command::TeamsAddMember(args) => teams::add_member(args).await,
        Command::TeamsSetRole(args) => teams::set_role(args).await,
        Command::TeamsRemoveMember(args) => teams::remove_member(args).await,
        Command::Tokens(flag) => tokens::list(flag.json).await,
        Command::TokensCreate(args) => tokens::create(args).await,
        Command::TokensRevoke(args) => tokens::revoke(args).await,
        Command::UsersCreate(args) => tokens::create_user(args).await,
        Command::Routers(flag) => platform::routers(flag.json).await,
        Command::Nodes(flag) => platform::nodes(flag.json).await,
        Command::NodesJoinCommand => platform::join_command().await,
        Command::NodesDrain { node } => platform::drain(&node).await,
        Command::NodesActivate { node } => platform::activate(&node).await,
        Command::GitRemote(args) => domains::add_remote(args).await,
        Command::GitCredentials { action } => domains::git_credentials(&action),
        Command::Config(args) => config::show(args).await,
        Command::ConfigGet(args) => config::get(args).await,
        Command::ConfigSet(args) => config::set(args).await,
        Command::ConfigUnset(args) => config::unset(args).await,
        Command::Releases(args) => releases::list(args).await,
        Command::ReleasesInfo(args) => releases::info(args).await,
        Command::ReleasesOutput(args) => releases::output(args).await,
        Command::Rollback(args) => releases::rollback(args).await,
        Command::Builds(args) => releases::builds(args).await,
        Command::BuildsInfo(args) => releases::build_info(args).await,
        Command::BuildsCachePurge(app) => releases::purge_build_cache(app).await,
        Command::Operations(args) => operations::list(args).await,
        Command::OperationsInfo(args) => operations::info(args).await,
        Command::Ps(args) => ps::list(args).await,
        Command::PsScale(args) => ps::scale(args).await,
        Command::PsResize(args) => ps::resize(args).await,
        Command::PsRestart(args) => ps::restart(args).await,
        Command::PsStop(args) => ps::stop(args, false).await,
        Command::PsKill(args) => ps::stop(args, true).await,
        Command::Run(args) => run::run(args).await,
        Command::PsExec(args) => run::exec(args).await,
        Command::Logs(args) => logs::logs(args).await,
        Command::Domains(args) => domains::list(args).await,
        Command::DomainsAdd(args) => domains::add(args).await,
        Command::DomainsRemove(args) => domains::remove(args).await,
        Command::Audit(args) => domains::audit(args).await,
        Command::Addons(args) => addons::list(args).await,
        Command::AddonsCreate(args) => addons::create(args).await,
        Command::AddonsInfo(args) => addons::info(args).await,
        Command::AddonsAttach(args) => addons::attach(args).await,
        Command::AddonsDetach(args) => addons::detach(args).await,
        Command::AddonsDestroy(args) => addons::destroy(args).await,
        Command::PgInfo(args) => addons::pg_info(args).await,
        Command::PgPsql(args) => addons::psql(args).await,
        Command::PgCredentialsUrl(args) => addons::credentials_url(args).await,
        Command::PgBackups(args) => addons::backups(args).await,
        Command::PgBackupsCapture(args) => addons::capture(args).await,
        Command::PgBackupsRestore(args) => addons::restore(args).await,
        Command::PgBackupsDownload(args) => addons::download(args).await,
        Command::PgBackupsDelete(args) => addons::delete_backup(args).await,
        Command::PgBackupsSchedule(args) => addons::schedule(args).await,
        Command::PgBackupsUnschedule(args) => addons::unschedule(args).await,
        Command::Internal(app) => apps::internal(app, None).await,
        Command::InternalOn(app) => apps::internal(app, Some(true)).await,
        Command::InternalOff(app) => apps::internal(app, Some(false)).await,
        Command::Volumes(args) => volumes::list(args).await,
        Command::VolumesCreate(args) => volumes::create(args).await,
        Command::VolumesDestroy(args) => volumes::destroy(args).await,
        Command::Certs(args) => certs::list(args).await,
        Command::CertsAdd(args) => certs::add(args).await,
        Command::CertsRefresh(app) => certs::refresh(app).await,
        Command::Https(args) => certs::https(args).await,
        Command::Maintenance(app) => apps::maintenance(app, None).await,
        Command::MaintenanceOn(app) => apps::maintenance(app, Some(true)).await,
        Command::MaintenanceOff(app) => apps::maintenance(app, Some(false)).await,
    }
}

/// Say what is being done (`Creating x... `), then `done` or `failed` once
/// it is.
pub(crate) async fn announced<T>(
    what: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    eprint!("{what}... ");
    let result = work.await;
    eprintln!("{}", if result.is_ok() { "done" } else { "failed" });
    result
}

/// The typed confirmation of something that deletes data: `--confirm`'s
/// value, or asked for on a terminal; it must be `expected`. `warning` says
/// what would be lost.
pub(crate) fn confirm(given: Option<String>, expected: &str, warning: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let typed = match given {
        Some(c) => c,
        None if std::io::stdin().is_terminal() => {
            eprintln!(" \u{25b8}    WARNING: {warning}.");
            eprint!(" \u{25b8}    To proceed, type {expected}: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => anyhow::bail!("{warning}; re-run with --confirm {expected}"),
    };
    if typed != expected {
        anyhow::bail!("confirmation {typed:?} did not match {expected:?}; nothing was changed");
    }
    Ok(())
}

/// Print a value as pretty JSON.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A string field of a JSON object, or "".
pub(crate) fn field<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value.get(key).and_then(|v| v.as_str()).unwrap_or("")
}
