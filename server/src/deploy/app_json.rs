//! `app.json`: the parts paas reads. `healthchecks.web` (the first entry:
//! `path`, `attempts`, `timeout`) sets how web processes are checked during a
//! rollout; `formation` gives process types their first quantity and memory.
//! Everything else in the file is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::db::releases::HealthCheck;

#[derive(Debug, Default, Deserialize)]
pub struct AppJson {
    #[serde(default)]
    pub healthchecks: BTreeMap<String, Vec<HealthCheckEntry>>,
    #[serde(default)]
    pub formation: BTreeMap<String, FormationDefaults>,
}

#[derive(Debug, Deserialize)]
pub struct HealthCheckEntry {
    pub path: Option<String>,
    pub attempts: Option<u32>,
    pub timeout: Option<u64>,
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
            .map(|m| super::releases::parse_memory(m).map_err(|e| anyhow::anyhow!("app.json formation: {e}")))
            .transpose()
    }
}

impl AppJson {
    pub fn web_healthcheck(&self) -> Option<HealthCheck> {
        let entry = self.healthchecks.get("web")?.first()?;
        Some(HealthCheck { path: entry.path.clone(), attempts: entry.attempts, timeout: entry.timeout })
    }
}

pub fn parse(text: &str) -> Result<AppJson, String> {
    let parsed: AppJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(path) = parsed.web_healthcheck().and_then(|h| h.path) {
        if !path.starts_with('/') {
            return Err(format!("healthchecks.web path {path:?} must start with /"));
        }
    }
    for (name, f) in &parsed.formation {
        if f.quantity.is_some_and(|q| !(0..=super::releases::MAX_QUANTITY).contains(&q)) {
            return Err(format!("formation.{name}.quantity must be 0 to {}", super::releases::MAX_QUANTITY));
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
        assert_eq!(app.formation["worker"].memory_mb().unwrap(), Some(64));
        assert!(parse("{}").unwrap().web_healthcheck().is_none());
        assert!(parse(r#"{"healthchecks":{"web":[{"path":"health"}]}}"#).unwrap_err().contains("must start with /"));
        assert!(parse("not json").is_err());
    }
}
