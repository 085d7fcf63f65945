//! `paas routers`: the routers running apart from the control plane.

use super::client::Client;
use super::field;

pub async fn list(json: bool) -> anyhow::Result<()> {
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
