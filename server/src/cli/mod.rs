//! The client subcommands: Heroku-style verbs that call the REST API.
//! Errors print as ` ▸    message` on stderr and exit with status 1.

mod apps;
mod client;
mod credentials;
mod login;
mod teams;
mod tokens;

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
    #[command(name = "apps:info")]
    AppsInfo(apps::InfoArgs),
    /// Permanently destroy an app
    #[command(name = "apps:destroy")]
    AppsDestroy(apps::DestroyArgs),
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
        Err(err) => {
            eprintln!(" \u{25b8}    {err:#}");
            1
        }
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
        Command::AppsDestroy(args) => apps::destroy(args).await,
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
    }
}

/// Print a value as pretty JSON.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A string field of a JSON object, or "".
pub(crate) fn field<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value.get(key).and_then(|v| v.as_str()).unwrap_or("")
}
