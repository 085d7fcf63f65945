//! `app.json`: the parts paas reads. `healthchecks.web` sets how web
//! processes are checked: an entry of `"type": "startup"` (or without a type;
//! `path`, `attempts`, `timeout`) during a rollout, an entry of
//! `"type": "liveness"` (`path`, `interval`, `timeout`, `attempts`) while they
//! run. `formation` gives process types their first quantity and memory.
//! `builder` (`dockerfile` or `buildpacks`) chooses how the app is built,
//! unless the BUILDER config var does. Everything else in the file is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::db::releases::{HealthCheck, Liveness};

#[derive(Debug, Default, Deserialize)]
pub struct AppJson {
    #[serde(default)]
    pub healthchecks: BTreeMap<String, Vec<HealthCheckEntry>>,
    #[serde(default)]
    pub formation: BTreeMap<String, FormationDefaults>,
    #[serde(default)]
    pub builder: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct HealthCheckEntry {
    /// `startup` (the default) or `liveness`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub path: Option<String>,
    pub attempts: Option<u32>,
    pub timeout: Option<u64>,
    pub interval: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct FormationDefaults {
    pub quantity: Option<i32>,
    /// Memory limit, e.g. "512m".
    pub memory: Option<String>,
}

impl FormationDefaults {
    pub fn memory_mb(&self) -> anyhow::Result<Option<i32>> {
        self.memory
            .as_deref()
            .map(|m| super::formation::parse_memory(m).map_err(|e| anyhow::anyhow!("app.json formation: {e}")))
            .transpose()
    }
}

impl AppJson {
    pub fn web_healthcheck(&self) -> Option<HealthCheck> {
        let entries = self.healthchecks.get("web")?;
        let startup = entries.iter().find(|e| e.kind.as_deref().is_none_or(|k| k == "startup"));
        let liveness = entries.iter().find(|e| e.kind.as_deref() == Some("liveness")).map(|e| Liveness {
            path: e.path.clone(),
            interval: e.interval,
            timeout: e.timeout,
            attempts: e.attempts,
        });
        if startup.is_none() && liveness.is_none() {
            return None;
        }
        Some(HealthCheck {
            path: startup.and_then(|e| e.path.clone()),
            attempts: startup.and_then(|e| e.attempts),
            timeout: startup.and_then(|e| e.timeout),
            liveness,
        })
    }
}

pub fn parse(text: &str) -> Result<AppJson, String> {
    let parsed: AppJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for entry in parsed.healthchecks.get("web").into_iter().flatten() {
        if let Some(kind) = entry.kind.as_deref().filter(|k| !["startup", "liveness"].contains(k)) {
            return Err(format!("healthchecks.web type {kind:?} is not one of startup, liveness"));
        }
        if let Some(path) = entry.path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(format!("healthchecks.web path {path:?} must start with /"));
        }
        if entry.timeout == Some(0) {
            return Err("healthchecks.web timeout must be at least 1 second".into());
        }
    }
    for (name, f) in &parsed.formation {
        if f.quantity.is_some_and(|q| !(0..=super::formation::MAX_QUANTITY).contains(&q)) {
            return Err(format!("formation.{name}.quantity must be 0 to {}", super::formation::MAX_QUANTITY));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_healthchecks_and_formation() {
        let app = parse(r#"{"name":"x","healthchecks":{"web":[{"type":"startup","path":"/health","attempts":2,"timeout":5}]},"formation":{"worker":{"quantity":1,"memory":"64m"}}}"#).unwrap();
        let check = app.web_healthcheck().unwrap();
        assert_eq!(check.path.as_deref(), Some("/health"));
        assert_eq!((check.attempts, check.timeout), (Some(2), Some(5)));
        assert!(check.liveness.is_none());
        assert_eq!(app.formation["worker"].memory_mb().unwrap(), Some(64));
        assert!(parse("{}").unwrap().web_healthcheck().is_none());
        assert!(parse(r#"{"healthchecks":{"web":[{"path":"health"}]}}"#).unwrap_err().contains("must start with /"));
        assert!(parse("not json").is_err());
    }

    #[test]
    fn reads_a_liveness_check_beside_the_startup_one() {
        let app = parse(
            r#"{"healthchecks":{"web":[{"path":"/"},{"type":"liveness","path":"/health","interval":2,"timeout":1,"attempts":2}]}}"#,
        )
        .unwrap();
        let check = app.web_healthcheck().unwrap();
        assert_eq!(check.path.as_deref(), Some("/"));
        let live = check.liveness.unwrap();
        assert_eq!(
            (live.path.as_deref(), live.interval, live.timeout, live.attempts),
            (Some("/health"), Some(2), Some(1), Some(2))
        );
        assert!(parse(r#"{"healthchecks":{"web":[{"type":"sometimes"}]}}"#).is_err());
    }
}
