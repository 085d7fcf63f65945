//! `paas login`, `logout`, `auth:whoami`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use serde_json::json;

use super::client::Client;
use super::credentials::{self, Credentials};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The server's URL, e.g. http://paas.example.com:5000 (asked if omitted)
    pub server: Option<String>,
    /// Your email (asked if omitted)
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from standard input instead of asking
    #[arg(long)]
    pub password_stdin: bool,
    /// Log in with an existing API token instead of a password
    #[arg(long, env = "PAAS_LOGIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let server = match args.server {
        Some(s) => s,
        None => prompt("paas server URL: ")?,
    };
    let server = normalize_server(&server)?;
    let (client, email) = match args.token {
        Some(token) => (Client::with_token(&server, &token), None),
        None => {
            let email = match args.email {
                Some(e) => e,
                None => prompt("Email: ")?,
            };
            let password = if args.password_stdin { read_line()? } else { prompt_password("Password: ")? };
            (Client::with_password(&server, &email, &password), Some(email))
        }
    };
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let name = format!("cli on {}", host.trim()).trim().to_string();
    let created = client.post("/tokens", &json!({ "name": name })).await.context("logging in failed")?;
    let token = super::field(&created, "token").to_string();
    let me = Client::with_token(&server, &token).get("/user").await?;
    let email = email.map(|e| e.trim().to_lowercase()).unwrap_or_else(|| super::field(&me, "email").to_string());
    let path = credentials::save(&Credentials { server: server.clone(), email: email.clone(), token })?;
    println!("Logged in as {email} at {server}");
    println!("Token stored in {}", path.display());
    Ok(())
}

pub fn logout() -> anyhow::Result<()> {
    if credentials::remove()? {
        println!("Logged out");
    } else {
        println!("Not logged in");
    }
    Ok(())
}

pub async fn whoami(json: bool) -> anyhow::Result<()> {
    let me = Client::from_credentials()?.get("/user").await?;
    if json {
        super::print_json(&me);
    } else {
        println!("{}", super::field(&me, "email"));
    }
    Ok(())
}

fn normalize_server(server: &str) -> anyhow::Result<String> {
    let server = server.trim().trim_end_matches('/');
    if server.is_empty() {
        bail!("a server URL is required");
    }
    if server.starts_with("http://") || server.starts_with("https://") {
        Ok(server.to_string())
    } else {
        Ok(format!("http://{server}"))
    }
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    read_line()
}

fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no input (standard input is closed)");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Ask for a password without echoing it when a terminal is attached.
fn prompt_password(label: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password(label)?)
    } else {
        prompt(label)
    }
}
