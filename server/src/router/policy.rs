//! What the router does with an app's requests besides proxying them: the
//! app's settings that change the answer (maintenance mode, the redirect to
//! HTTPS, HSTS). Most apps have none, and a request then costs one atomic
//! load to find that out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// An app's settings, as the router applies them and as they are published
/// for routers apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Answer plain HTTP with a permanent redirect to HTTPS.
    pub redirect: bool,
    /// Send `Strict-Transport-Security` with responses over HTTPS.
    pub hsts: bool,
    /// In maintenance: every request gets this page (503); its processes
    /// keep running.
    pub maintenance: Option<Arc<str>>,
}

#[derive(Default)]
pub struct Policies {
    by_app: RwLock<HashMap<String, Policy>>,
    /// Whether any app has one.
    any: AtomicBool,
    /// Counts changes, for whoever publishes them.
    changes: crate::changes::Changes,
}

impl Policies {
    pub fn get(&self, app: &str) -> Option<Policy> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.by_app.read().ok()?.get(app).cloned()
    }

    /// Change an app's policy.
    pub fn update(&self, app: &str, change: impl FnOnce(&mut Policy)) {
        let mut by_app = self.by_app.write().unwrap_or_else(|p| p.into_inner());
        let mut policy = by_app.remove(app).unwrap_or_default();
        change(&mut policy);
        if policy != Policy::default() {
            by_app.insert(app.to_string(), policy);
        }
        self.any.store(!by_app.is_empty(), Ordering::Relaxed);
        drop(by_app);
        self.changes.bump();
    }

    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Every app's policy, to publish.
    pub fn export(&self) -> HashMap<String, Policy> {
        self.by_app.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Apply exactly these (a router apart, fed what was published).
    pub fn replace(&self, all: HashMap<String, Policy>) {
        let mut by_app = self.by_app.write().unwrap_or_else(|p| p.into_inner());
        *by_app = all;
        self.any.store(!by_app.is_empty(), Ordering::Relaxed);
    }

    pub fn forget(&self, app: &str) {
        self.update(app, |policy| *policy = Policy::default());
    }
}

/// The maintenance page of an app without a `MAINTENANCE_PAGE_HTML` config var.
pub fn default_maintenance_page(app: &str) -> String {
    let app = app.replace(['<', '>', '&', '"'], "");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Down for maintenance</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;color:#1d2433;background:#f5f6f8;\
         display:grid;place-items:center;min-height:90vh;margin:0}}main{{max-width:32rem;padding:2rem;\
         background:#fff;border:1px solid #e3e6ec;border-radius:10px}}h1{{font-size:1.4rem;margin:0 0 .5rem}}</style>\
         </head><body><main><h1>Down for maintenance</h1>\
         <p>{app} is offline for maintenance and will be back shortly.</p></main></body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_apps_with_a_setting_are_kept() {
        let policies = Policies::default();
        assert_eq!(policies.get("shop"), None);
        policies.update("shop", |p| p.maintenance = Some("down".into()));
        assert_eq!(policies.get("shop").and_then(|p| p.maintenance).as_deref(), Some("down"));
        policies.update("shop", |p| p.hsts = true);
        policies.update("shop", |p| p.maintenance = None);
        assert_eq!(policies.get("shop"), Some(Policy { hsts: true, ..Policy::default() }));
        policies.forget("shop");
        assert_eq!(policies.get("shop"), None);
        assert!(!policies.any.load(Ordering::Relaxed));
    }

    #[test]
    fn published_settings_reach_a_router_apart_as_they_were() {
        let here = Policies::default();
        here.update("shop", |p| (p.hsts, p.maintenance) = (true, Some("<p>back soon</p>".into())));
        let published = serde_json::to_string(&here.export()).unwrap();
        let apart = Policies::default();
        apart.replace(serde_json::from_str(&published).unwrap());
        assert_eq!(apart.get("shop"), here.get("shop"));
        // A setting left out of what was published is off.
        let sparse: HashMap<String, Policy> = serde_json::from_str(r#"{"blog": {"redirect": true}}"#).unwrap();
        assert_eq!(sparse["blog"], Policy { redirect: true, ..Policy::default() });
    }
}
