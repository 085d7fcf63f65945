//! `paas teams`, `teams:create`, `teams:members`, `teams:add-member`,
//! `teams:set-role`, `teams:remove-member`.

use serde_json::json;

use super::client::{segment, Client};
use super::field;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct MembersArgs {
    pub team: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct AddMemberArgs {
    pub team: String,
    pub email: String,
    /// owner, admin, developer or viewer
    #[arg(long, default_value = "developer")]
    pub role: String,
}

#[derive(Debug, clap::Args)]
pub struct SetRoleArgs {
    pub team: String,
    pub email: String,
    /// owner, admin, developer or viewer
    pub role: String,
}

#[derive(Debug, clap::Args)]
pub struct RemoveMemberArgs {
    pub team: String,
    pub email: String,
}

pub async fn list(json: bool) -> anyhow::Result<()> {
    let teams = Client::from_credentials()?.get("/teams").await?;
    if json {
        super::print_json(&teams);
        return Ok(());
    }
    let teams = teams.as_array().cloned().unwrap_or_default();
    if teams.is_empty() {
        println!("You are not a member of any team.");
        return Ok(());
    }
    println!("=== Teams");
    for team in &teams {
        println!("{:<30} {}", field(team, "name"), field(team, "role"));
    }
    Ok(())
}

pub async fn create(args: CreateArgs) -> anyhow::Result<()> {
    Client::from_credentials()?.post("/teams", &json!({ "name": args.name })).await?;
    println!("Created team {}; you are its owner", args.name);
    Ok(())
}

pub async fn members(args: MembersArgs) -> anyhow::Result<()> {
    let members = Client::from_credentials()?.get(&format!("/teams/{}/members", segment(&args.team))).await?;
    if args.json {
        super::print_json(&members);
        return Ok(());
    }
    println!("=== {} members", args.team);
    for member in members.as_array().cloned().unwrap_or_default() {
        println!("{:<40} {}", field(&member, "email"), field(&member, "role"));
    }
    Ok(())
}

pub async fn add_member(args: AddMemberArgs) -> anyhow::Result<()> {
    let path = format!("/teams/{}/members", segment(&args.team));
    Client::from_credentials()?.post(&path, &json!({ "email": args.email, "role": args.role })).await?;
    println!("Added {} to {} as {}", args.email, args.team, args.role);
    Ok(())
}

pub async fn set_role(args: SetRoleArgs) -> anyhow::Result<()> {
    let path = format!("/teams/{}/members/{}", segment(&args.team), segment(&args.email));
    Client::from_credentials()?.patch(&path, &json!({ "role": args.role })).await?;
    println!("{} is now {} of {}", args.email, args.role, args.team);
    Ok(())
}

pub async fn remove_member(args: RemoveMemberArgs) -> anyhow::Result<()> {
    let path = format!("/teams/{}/members/{}", segment(&args.team), segment(&args.email));
    Client::from_credentials()?.delete(&path).await?;
    println!("Removed {} from {}", args.email, args.team);
    Ok(())
}
