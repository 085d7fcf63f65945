//! The formation a rollout runs: the app's current rows, defaults for process
//! types the release brings (web: 1, others: 0, as on Heroku, or app.json's),
//! then the changes asked for. Pure, so it is tested without a database.

use std::collections::BTreeMap;

use crate::db::formation::Formation;
use crate::db::releases::ProcessTypes;

pub const MAX_QUANTITY: i32 = 50;

/// What a formation change asks for, per process type. For a limit: None
/// keeps it, `Some(None)` goes back to the server's default.
#[derive(Debug, Clone, Default)]
pub struct FormationChange {
    pub quantity: Option<i32>,
    pub memory_mb: Option<Option<i32>>,
    pub cpus: Option<Option<f64>>,
}

/// First quantity and memory of a process type (app.json `formation`).
#[derive(Debug, Clone, Default)]
pub struct Default {
    pub quantity: i32,
    pub memory_mb: Option<i32>,
}

/// The rows for the release's process types (`release` runs once per deploy,
/// never as a process). A release without `web` is refused while the app
/// runs web processes: it would take the app offline.
pub fn plan(
    app: &str,
    current: &[Formation],
    types: &ProcessTypes,
    defaults: &BTreeMap<String, Default>,
    changes: &[(String, FormationChange)],
) -> Result<Vec<Formation>, String> {
    let mut rows: Vec<Formation> = types
        .keys()
        .filter(|t| *t != "release")
        .map(|t| match current.iter().find(|f| &f.process_type == t) {
            Some(row) => row.clone(),
            None => {
                let d = defaults
                    .get(t)
                    .cloned()
                    .unwrap_or(Default { quantity: if t == "web" { 1 } else { 0 }, memory_mb: None });
                Formation { process_type: t.clone(), quantity: d.quantity, memory_mb: d.memory_mb, cpus: None }
            }
        })
        .collect();
    for (process, change) in changes {
        let Some(row) = rows.iter_mut().find(|f| &f.process_type == process) else {
            let known: Vec<&str> = types.keys().map(String::as_str).filter(|t| *t != "release").collect();
            return Err(format!("no process type {process:?} (there is {})", known.join(", ")));
        };
        if let Some(q) = change.quantity {
            row.quantity = q;
        }
        if let Some(memory) = change.memory_mb {
            row.memory_mb = memory;
        }
        if let Some(cpus) = change.cpus {
            row.cpus = cpus;
        }
    }
    let web_now = current.iter().find(|f| f.process_type == "web").map_or(0, |f| f.quantity);
    if !types.contains_key("web") && web_now > 0 {
        return Err(format!(
            "this release has no web process type, but {app} runs {web_now} web process{} that serve{} its \
             traffic: add a `web:` line to the Procfile, or scale web to 0 first (`paas ps:scale web=0 -a {app}`) \
             if {app} should serve no HTTP traffic",
            if web_now == 1 { "" } else { "es" },
            if web_now == 1 { "s" } else { "" },
        ));
    }
    Ok(rows)
}

/// How many web processes a release runs with this formation.
pub fn web_quantity(formation: &[Formation], types: &ProcessTypes) -> usize {
    if !types.contains_key("web") {
        return 0;
    }
    formation.iter().find(|f| f.process_type == "web").map_or(0, |f| f.quantity.max(0) as usize)
}

pub use crate::config::memory_mb as parse_memory;

/// A limit as a user writes it: a value, or `default` (also `none`: no
/// limit of its own, so the server's default applies).
pub fn parse_limit<T>(text: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("default") || t.eq_ignore_ascii_case("none") => Ok(None),
        t => parse(t).map(Some),
    }
}

/// Whether a change asks for something the engine can run.
pub fn check_change(change: &FormationChange) -> Result<(), (&'static str, String)> {
    if change.quantity.is_some_and(|q| !(0..=MAX_QUANTITY).contains(&q)) {
        return Err(("quantity", format!("quantity must be 0 to {MAX_QUANTITY}")));
    }
    if change.memory_mb.flatten().is_some_and(|m| !(6..=1024 * 1024).contains(&m)) {
        return Err(("memory", "memory must be at least 6 MB".into()));
    }
    if change.cpus.flatten().is_some_and(|c| !(0.01..=256.0).contains(&c)) {
        return Err(("cpus", "cpus must be 0.01 to 256".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(names: &[&str]) -> ProcessTypes {
        names.iter().map(|n| (n.to_string(), None)).collect()
    }

    fn row(t: &str, q: i32) -> Formation {
        Formation { process_type: t.into(), quantity: q, memory_mb: None, cpus: None }
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512m"), Ok(512));
        assert_eq!(parse_memory("1G"), Ok(1024));
        assert_eq!(parse_memory("64"), Ok(64));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("0m").is_err());
    }

    #[test]
    fn new_types_get_defaults_and_changes_apply() {
        let none = BTreeMap::new();
        let rows = plan("a", &[], &types(&["web", "worker", "release"]), &none, &[]).unwrap();
        assert_eq!(rows, vec![row("web", 1), row("worker", 0)]);
        let defaults = BTreeMap::from([("worker".to_string(), Default { quantity: 2, memory_mb: Some(64) })]);
        let change = FormationChange { quantity: Some(3), ..FormationChange::default() };
        let rows =
            plan("a", &[row("web", 2)], &types(&["web", "worker"]), &defaults, &[("web".into(), change)]).unwrap();
        assert_eq!(rows[0], row("web", 3));
        assert_eq!(rows[1], Formation { memory_mb: Some(64), ..row("worker", 2) });
        let err = plan("a", &[], &types(&["web"]), &none, &[("nope".into(), FormationChange::default())]);
        assert!(err.unwrap_err().contains("no process type \"nope\""));
    }

    #[test]
    fn a_release_without_web_is_refused_while_web_runs() {
        let none = BTreeMap::new();
        let err = plan("shop", &[row("web", 1)], &types(&["worker"]), &none, &[]).unwrap_err();
        assert!(err.contains("has no web process type") && err.contains("ps:scale web=0"), "{err}");
        assert!(plan("shop", &[row("web", 0)], &types(&["worker"]), &none, &[]).is_ok());
        assert!(plan("shop", &[], &types(&["worker"]), &none, &[]).is_ok(), "a worker-only app");
    }

    #[test]
    fn a_limit_goes_back_to_the_default_with_default_or_none() {
        assert_eq!(parse_limit("512m", parse_memory), Ok(Some(512)));
        assert_eq!(parse_limit(" none ", parse_memory), Ok(None));
        assert_eq!(parse_limit("Default", parse_memory), Ok(None));
        assert!(parse_limit("lots", parse_memory).is_err());
    }
}
