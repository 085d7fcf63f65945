//! A fence between the app networks of the one engine, in an nftables table
//! of the product's own (`inet paas`), ahead of Docker's rules.
//!
//! Docker keeps its bridge networks apart with iptables rules in FORWARD, but
//! each time any network is created it deletes its isolation jump and inserts
//! it again at the top: for those milliseconds every network's "accept what
//! leaves this bridge" rule lets traffic cross to any other network (measured:
//! a container probing another app's address read its page 11 times while 40
//! networks were made and removed). The fence does not move with Docker's
//! rules: a chain on the forward hook that runs before iptables drops whatever
//! goes from one of this product's bridges to another bridge, or the other
//! way. Traffic inside one bridge, to the host and out to the internet is
//! untouched.
//!
//! The table is shared by every installation on the machine: its chain is
//! written again, atomically, at each start; the sets hold every
//! installation's bridges, added when a network is made (before any process
//! joins it) and removed with it.

use std::process::Stdio;

use anyhow::{anyhow, Context};
use tokio::io::AsyncWriteExt;

/// The table, its chain (a priority before iptables' filter chains) and sets.
const TABLE: &str = "\
table inet paas {
  set bridges { type ifname; }
  set same { type ifname . ifname; }
  chain forward { type filter hook forward priority filter - 1; policy accept; }
}
flush chain inet paas forward
table inet paas {
  chain forward {
    iifname . oifname @same return
    iifname @bridges oifname { \"br-*\", \"docker0\" } drop
    oifname @bridges iifname { \"br-*\", \"docker0\" } drop
  }
}
";

/// The name Docker gives a bridge network's device: its own option, else
/// `br-` and the first 12 characters of the network's id.
pub(super) fn bridge_name(id: &str, options: Option<&std::collections::HashMap<String, String>>) -> String {
    match options.and_then(|o| o.get("com.docker.network.bridge.name")) {
        Some(name) => name.clone(),
        None => format!("br-{}", &id[..id.len().min(12)]),
    }
}

/// Make the table (or write its chain again) and fence these bridges; forget
/// the bridges of networks gone since (an installation's tests, a machine's
/// reboot), which no process can join any more.
pub(super) async fn install(bridges: &[String]) -> anyhow::Result<()> {
    let mut script = TABLE.to_string();
    script.push_str(&elements("add", bridges));
    run(&script).await?;
    let listed = run("list set inet paas bridges").await?;
    let gone: Vec<String> = quoted_names(&listed)
        .into_iter()
        .filter(|name| !std::path::Path::new("/sys/class/net").join(name).exists())
        .collect();
    // One at a time: a name another start removed meanwhile fails alone.
    for name in gone {
        let _ = remove(&name).await;
    }
    Ok(())
}

/// The quoted names in nft's listing of a set.
fn quoted_names(listing: &str) -> Vec<String> {
    listing.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

/// Fence a new bridge, before any process joins it.
pub(super) async fn add(bridge: &str) -> anyhow::Result<()> {
    run(&elements("add", &[bridge.to_string()])).await.map(drop)
}

/// Forget a removed bridge (its name is never reused: nothing is at stake
/// when this fails).
pub(super) async fn remove(bridge: &str) -> anyhow::Result<()> {
    run(&elements("delete", &[bridge.to_string()])).await.map(drop)
}

fn elements(verb: &str, bridges: &[String]) -> String {
    if bridges.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = bridges.iter().map(|b| format!("\"{b}\"")).collect();
    let pairs: Vec<String> = quoted.iter().map(|q| format!("{q} . {q}")).collect();
    format!(
        "{verb} element inet paas bridges {{ {} }}\n{verb} element inet paas same {{ {} }}\n",
        quoted.join(", "),
        pairs.join(", ")
    )
}

/// One `nft -f -` transaction (all of it or none); what it prints.
async fn run(script: &str) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running nft (Debian's nftables package)")?;
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("nft has no input"))?;
    stdin.write_all(script.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(anyhow!("nft: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridges_are_named_as_docker_names_them() {
        let id = "71401ccaf3a1d8e0c1f2";
        assert_eq!(bridge_name(id, None), "br-71401ccaf3a1");
        let options =
            std::collections::HashMap::from([("com.docker.network.bridge.name".to_string(), "paas0".to_string())]);
        assert_eq!(bridge_name(id, Some(&options)), "paas0");
    }

    #[test]
    fn a_bridge_is_fenced_and_may_talk_to_itself() {
        let script = elements("add", &["br-a".into(), "br-b".into()]);
        assert_eq!(
            script,
            "add element inet paas bridges { \"br-a\", \"br-b\" }\n\
             add element inet paas same { \"br-a\" . \"br-a\", \"br-b\" . \"br-b\" }\n"
        );
        assert_eq!(elements("delete", &[]), "");
    }

    #[test]
    fn a_sets_listing_gives_its_names() {
        let listing = "table inet paas {\n\tset bridges {\n\t\ttype ifname\n\t\telements = { \"br-a\",\n\t\t\t     \"br-b\" }\n\t}\n}\n";
        assert_eq!(quoted_names(listing), ["br-a", "br-b"]);
        assert!(quoted_names("table inet paas {\n\tset bridges {\n\t\ttype ifname\n\t}\n}\n").is_empty());
    }
}
