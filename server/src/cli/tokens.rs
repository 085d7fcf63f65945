//! `paas tokens`, `tokens:create`, `tokens:revoke`, and `users:create`.

use serde_json::json;

use super::client::Client;
use super::field;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// A label for the token, e.g. "ci"
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The token's id, from `paas tokens`
    pub id: i64,
}

#[derive(Debug, clap::Args)]
pub struct CreateUserArgs {
    pub email: String,
    /// Make the user a server admin
    #[arg(long)]
    pub admin: bool,
}

pub async fn list(json: bool) -> anyhow::Result<()> {
    let tokens = Client::from_credentials()?.get("/tokens").await?;
    if json {
        super::print_json(&tokens);
        return Ok(());
    }
    println!("=== API tokens");
    for token in tokens.as_array().cloned().unwrap_or_default() {
        let last = token.get("last_used_at").and_then(|v| v.as_str()).unwrap_or("never");
        println!("{:<6} {:<30} last used {}", token["id"], field(&token, "name"), last);
    }
    Ok(())
}

pub async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let created = Client::from_credentials()?.post("/tokens", &json!({ "name": args.name })).await?;
    eprintln!("Created token {} ({}). It is shown only once:", created["id"], args.name);
    println!("{}", field(&created, "token"));
    Ok(())
}

pub async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    Client::from_credentials()?.delete(&format!("/tokens/{}", args.id)).await?;
    println!("Revoked token {}", args.id);
    Ok(())
}

pub async fn create_user(args: CreateUserArgs) -> anyhow::Result<()> {
    let created =
        Client::from_credentials()?.post("/users", &json!({ "email": args.email, "is_admin": args.admin })).await?;
    println!("Created user {}", field(&created, "email"));
    println!("Password (shown only once): {}", field(&created, "password"));
    Ok(())
}
