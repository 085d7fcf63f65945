//! The stored login: `$XDG_CONFIG_HOME/paas/credentials.json` (or
//! `~/.config/paas/...`), mode 0600. `PAAS_SERVER` and `PAAS_API_TOKEN`
//! override it, for scripts and CI.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub email: String,
    pub token: String,
}

pub fn path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config"),
    };
    Ok(base.join("paas").join("credentials.json"))
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("server", &self.server).finish_non_exhaustive()
    }
}

pub fn load() -> anyhow::Result<Credentials> {
    let env_server = std::env::var("PAAS_SERVER").ok().filter(|s| !s.is_empty());
    let env_token = std::env::var("PAAS_API_TOKEN").ok().filter(|s| !s.is_empty());
    let stored = std::fs::read(path()?).ok().and_then(|bytes| serde_json::from_slice::<Credentials>(&bytes).ok());
    match (env_server, env_token, stored) {
        (Some(server), Some(token), _) => Ok(Credentials { server, email: String::new(), token }),
        (server, token, Some(stored)) => Ok(Credentials {
            server: server.unwrap_or(stored.server),
            token: token.unwrap_or(stored.token),
            email: stored.email,
        }),
        _ => bail!("not logged in: run `paas login` (or set PAAS_SERVER and PAAS_API_TOKEN)"),
    }
}

pub fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let path = path()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write a fresh file with mode 0600, then move it into place.
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(&serde_json::to_vec_pretty(credentials)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

pub fn remove() -> anyhow::Result<bool> {
    match std::fs::remove_file(path()?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}
