//! `paas nodes` and `paas routers`: the machines processes run on, and the
//! routers running apart from the control plane (server admins).

use super::client::Client;
use super::field;

pub async fn routers(json: bool) -> anyhow::Result<()> {
    let answer = Client::from_credentials()?.get("/routers").await?;
    if json {
        super::print_json(&answer);
        return Ok(());
    }
    let current = answer["generation"].as_i64();
    let routers = answer["routers"].as_array().cloned().unwrap_or_default();
    if routers.is_empty() {
        println!("No routers apart have reported (the router of `paas serve` serves alone).");
        return Ok(());
    }
    println!("{:<20} {:<22} {:<12} {:<8} LAST SEEN", "NAME", "ADDRESS", "GENERATION", "STATE");
    for router in routers {
        let applied = router["applied_generation"].as_i64().unwrap_or(0);
        let state = match (router["live"].as_bool(), current) {
            (Some(false), _) => "gone",
            (_, Some(current)) if applied < current => "behind",
            _ => "current",
        };
        println!(
            "{:<20} {:<22} {:<12} {:<8} {}",
            field(&router, "name"),
            field(&router, "listen"),
            applied,
            state,
            field(&router, "seen_at")
        );
    }
    Ok(())
}

pub async fn nodes(json: bool) -> anyhow::Result<()> {
    let nodes = Client::from_credentials()?.get("/nodes").await?;
    if json {
        super::print_json(&nodes);
        return Ok(());
    }
    println!(
        "{:<14} {:<20} {:<16} {:<8} {:<8} {:<13} {:<5} {:<14} APPS",
        "ID", "NAME", "ADDRESS", "ROLE", "STATE", "AVAILABILITY", "CPUS", "MEMORY"
    );
    for node in nodes.as_array().cloned().unwrap_or_default() {
        let gib = |key: &str| node[key].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0 * 1024.0);
        let id: String = field(&node, "id").chars().take(12).collect();
        println!(
            "{:<14} {:<20} {:<16} {:<8} {:<8} {:<13} {:<5} {:<14} {}",
            id,
            field(&node, "name"),
            node["address"].as_str().unwrap_or("-"),
            field(&node, "role"),
            field(&node, "state"),
            field(&node, "availability"),
            node["cpus"].as_f64().unwrap_or(0.0),
            format!("{:.1}/{:.1} GiB", gib("memory_reserved_bytes"), gib("memory_bytes")),
            node["apps"]
        );
    }
    Ok(())
}

pub async fn join_command() -> anyhow::Result<()> {
    let answer = Client::from_credentials()?.get("/nodes/join-command").await?;
    println!("{}", field(&answer, "command"));
    Ok(())
}

pub async fn drain(node: &str) -> anyhow::Result<()> {
    eprint!("Draining {node} (its apps' processes move to other nodes)... ");
    let client = Client::from_credentials()?;
    let answer = client.post(&format!("/nodes/{}/drain", super::client::segment(node)), &serde_json::json!({})).await;
    let answer = answer.inspect_err(|_| eprintln!("failed"))?;
    eprintln!("done");
    let moved: Vec<&str> = answer["moved"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
    println!("{}", crate::ops::nodes::drained_sentence(node, &moved));
    Ok(())
}

pub async fn activate(node: &str) -> anyhow::Result<()> {
    Client::from_credentials()?
        .post(&format!("/nodes/{}/activate", super::client::segment(node)), &serde_json::json!({}))
        .await?;
    println!("{}", crate::ops::nodes::activated_sentence(node));
    Ok(())
}
