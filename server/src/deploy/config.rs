//! Config vars: sealing and opening values, the snapshot a release keeps,
//! key rules and how a change is described.

use std::collections::BTreeMap;

use base64::Engine;

use crate::crypto::config_context;
use crate::db;
use crate::db::apps::App;
use crate::db::config_vars::Sealed;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Set by the platform itself; a user value would be overridden or misleading.
const RESERVED: &[&str] = &["PORT", "DYNO"];

/// Base64 of each sealed value: what a release keeps.
pub fn snapshot(config: &Sealed) -> BTreeMap<String, String> {
    config.iter().map(|(k, v)| (k.clone(), base64::engine::general_purpose::STANDARD.encode(v))).collect()
}

/// A release's snapshot back into sealed values.
pub fn unsnapshot(config: &BTreeMap<String, String>) -> anyhow::Result<Sealed> {
    config.iter().map(|(k, v)| Ok((k.clone(), base64::engine::general_purpose::STANDARD.decode(v)?))).collect()
}

/// The app's config in clear text (for members allowed to read it).
pub async fn reveal(state: &AppState, app: &App) -> AppResult<BTreeMap<String, String>> {
    Ok(open(state, app, &db::config_vars::get(&state.db, app.id).await?)?)
}

/// Decrypt sealed config values already read.
pub fn open(state: &AppState, app: &App, sealed: &Sealed) -> anyhow::Result<BTreeMap<String, String>> {
    sealed
        .iter()
        .map(|(key, value)| Ok((key.clone(), state.secrets.open(&config_context(app.id, key), value)?)))
        .collect()
}

pub fn validate_key(key: &str) -> AppResult<()> {
    let valid = !key.is_empty()
        && key.len() <= 255
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(AppError::validation(
            "key",
            format!("invalid config var name {key:?}: letters, digits and _, not starting with a digit"),
        ));
    }
    if RESERVED.contains(&key) || key.starts_with("PAAS_") {
        return Err(AppError::validation("key", format!("{key} is set by paas itself")));
    }
    Ok(())
}

/// "Set FOO, BAR config vars", "Unset FOO config vars", or both.
pub fn describe(changes: &BTreeMap<String, Option<String>>) -> String {
    let set: Vec<&str> = changes.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.as_str()).collect();
    let unset: Vec<&str> = changes.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.as_str()).collect();
    match (set.is_empty(), unset.is_empty()) {
        (false, true) => format!("Set {} config vars", set.join(", ")),
        (true, false) => format!("Unset {} config vars", unset.join(", ")),
        _ => format!("Set {}; unset {} config vars", set.join(", "), unset.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_env_var_rules() {
        for good in ["FOO", "foo_bar", "_X", "A1"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "PORT", "PAAS_APP", "Ä"] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_name_the_vars() {
        let changes = BTreeMap::from([("A".to_string(), Some("1".to_string())), ("B".to_string(), None)]);
        assert_eq!(describe(&changes), "Set A; unset B config vars");
        let set = BTreeMap::from([("A".to_string(), Some("1".to_string()))]);
        assert_eq!(describe(&set), "Set A config vars");
    }
}
