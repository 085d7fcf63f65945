//! Build trust settings, for companies behind an intercepting proxy or a
//! private certificate authority: the CA bundle (`--build-ca-file`, by
//! default the host's) and the proxy (`--build-http-proxy`,
//! `--build-https-proxy`, `--build-no-proxy`) reach every build, and, with
//! `--apps-trust`, every app process.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;

/// Where builds and trusting apps find the CA bundle.
pub const BUNDLE_PATH: &str = "/etc/paas/ca-certificates.crt";

/// The variables that point the usual tools at it (git, curl, pip, requests,
/// npm, Node.js, Go and OpenSSL users).
const CA_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "NPM_CONFIG_CAFILE",
    "NODE_EXTRA_CA_CERTS",
];

/// The CA bundle's file on this host, if builds are given one: `None` when
/// it is switched off (`--build-ca-file ''`) or the default is absent.
pub fn bundle_file(config: &Config) -> Option<PathBuf> {
    let path = config.build_ca_file()?;
    (config.build_ca_file.is_some() || path.exists()).then_some(path)
}

/// The bundle's content, read anew for each build (so an updated bundle
/// counts without a restart); a configured file that cannot be read fails
/// the build.
pub async fn bundle(config: &Config) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = bundle_file(config) else { return Ok(None) };
    let bundle =
        tokio::fs::read(&path).await.with_context(|| format!("reading the build CA bundle {}", path.display()))?;
    Ok(Some(bundle))
}

/// The proxy variables, in both the upper- and lower-case spellings tools
/// read.
pub fn proxy_env(config: &Config) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let settings = [
        ("HTTP_PROXY", &config.build_http_proxy),
        ("HTTPS_PROXY", &config.build_https_proxy),
        ("NO_PROXY", &config.build_no_proxy),
    ];
    for (name, value) in settings {
        if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            env.push((name.to_string(), value.to_string()));
            env.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    env
}

/// The variables that point tools at the bundle at `BUNDLE_PATH`.
pub fn ca_env() -> Vec<(String, String)> {
    CA_VARS.iter().map(|var| (var.to_string(), BUNDLE_PATH.to_string())).collect()
}

/// What an app process gets with `--apps-trust`: the host file to mount at
/// `BUNDLE_PATH` (if any) and the variables.
pub fn for_apps(config: &Config) -> (Option<PathBuf>, Vec<(String, String)>) {
    if !config.apps_trust {
        return (None, Vec::new());
    }
    let file = bundle_file(config);
    let mut env = if file.is_some() { ca_env() } else { Vec::new() };
    env.extend(proxy_env(config));
    (file, env)
}
