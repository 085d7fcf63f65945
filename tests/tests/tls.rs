//! HTTPS: certificates issued through ACME (a real ACME server, Debian's
//! pebble, validating HTTP-01 against the router), on demand and for custom
//! domains, served over HTTP/2 and HTTP/1.1 by SNI; failures shown with the
//! ACME server's reason; uploaded certificates; redirect and HSTS; kept
//! across restarts and renewed.

use std::time::Duration;

use paas_e2e::acme::{curl_https, free_port, openssl_self_signed, AcmeLab};
use paas_e2e::{apps, wait_until, TestServer};
use serde_json::{json, Value};

/// An HTTPS request with curl, trusting `ca`: (status, HTTP version,
/// headers and body), or curl's error.
async fn certs(server: &TestServer, token: &str, app: &str) -> Vec<Value> {
    let (status, body) = server.call("GET", &format!("/apps/{app}/certs"), token, None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

async fn cert_of(server: &TestServer, token: &str, app: &str, hostname: &str) -> Value {
    let all = certs(server, token, app).await;
    all.into_iter().find(|c| c["hostname"] == hostname).unwrap_or_else(|| panic!("no {hostname} in the certs"))
}

async fn wait_state(server: &TestServer, token: &str, app: &str, hostname: &str, state: &str) -> Value {
    wait_until(&format!("{hostname}'s certificate to be {state}"), Duration::from_secs(60), || async {
        cert_of(server, token, app, hostname).await["state"] == state
    })
    .await;
    cert_of(server, token, app, hostname).await
}

#[tokio::test]
async fn apps_get_certificates_through_acme_and_are_served_over_https() {
    let (router, https) = (free_port(), free_port());
    let lab = AcmeLab::start(router).await;
    let mut env = lab.server_env();
    env.push(("PAAS_ROUTER_LISTEN", format!("127.0.0.1:{router}")));
    env.push(("PAAS_HTTPS_LISTEN", format!("127.0.0.1:{https}")));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = TestServer::start_with_env(&env).await;
    let token = server.admin_token().await;
    server.create_app(&token, "secure").await;
    let repo = apps::AppRepo::from_fixture("hello");
    let (ok, output) = repo.push(&server.git_url("secure", &token));
    assert!(ok, "{output}");
    let (_, info) = server.call("GET", "/apps/secure", &token, None).await;
    assert_eq!(info["web_url"], format!("https://secure.paas.test:{https}"));
    // Nothing asked for the app's own name yet: it is issued on demand.
    assert_eq!(cert_of(&server, &token, "secure", "secure.paas.test").await["state"], "pending");

    // A custom domain gets its certificate when it is added.
    let (status, body) =
        server.call("POST", "/apps/secure/domains", &token, Some(json!({ "hostname": "shop.example.test" }))).await;
    assert_eq!(status, 201, "{body}");
    let cert = wait_state(&server, &token, "secure", "shop.example.test", "issued").await;
    assert_eq!(cert["source"], "acme");
    assert!(cert["issuer"].as_str().unwrap_or_default().contains("Pebble"), "{cert}");
    assert!(cert["expires_at"].as_str().is_some(), "{cert}");

    // Served over HTTP/2 with a chain to the ACME root; the app is told the
    // request came over HTTPS.
    let (status, version, response) = curl_https(&lab.root, "shop.example.test", https, "/cgi-bin/headers").unwrap();
    assert_eq!((status, version.as_str()), (200, "2"), "{response}");
    assert!(response.contains("forwarded-proto=https"), "{response}");
    assert!(response.contains("forwarded-host=shop.example.test"), "{response}");

    // The app's own name: the first handshake waits for its certificate.
    let (status, _, response) = curl_https(&lab.root, "secure.paas.test", https, "/").unwrap();
    assert_eq!(status, 200, "{response}");
    let home = server.cli_home(&token);
    let listed = server.cli_ok(home.path(), &["certs", "-a", "secure"]);
    for expected in ["secure.paas.test", "shop.example.test", "issued", "acme", "Pebble"] {
        assert!(listed.contains(expected), "{expected:?} missing from:\n{listed}");
    }
    // Names that are no app's get no certificate (and no handshake).
    assert!(curl_https(&lab.root, "nobody.paas.test", https, "/").is_err());

    // A domain whose DNS does not resolve: the failure and ACME's reason.
    let (status, _) =
        server.call("POST", "/apps/secure/domains", &token, Some(json!({ "hostname": "www.unreachable.test" }))).await;
    assert_eq!(status, 201);
    let failed = wait_state(&server, &token, "secure", "www.unreachable.test", "failed").await;
    let reason = failed["error"].as_str().unwrap_or_default();
    assert!(reason.contains("www.unreachable.test") && reason.contains("could not resolve"), "{failed}");
    assert!(curl_https(&lab.root, "www.unreachable.test", https, "/").is_err());

    // The owner uploads a certificate for it instead.
    let dir = tempfile::tempdir().unwrap();
    let (chain, key) = (dir.path().join("chain.pem"), dir.path().join("key.pem"));
    openssl_self_signed(dir.path(), "www.unreachable.test", &["DNS:www.unreachable.test"], &chain, &key);
    let (chain_arg, key_arg) = (chain.to_str().unwrap(), key.to_str().unwrap());
    let added = server.cli_ok(home.path(), &["certs:add", chain_arg, key_arg, "-a", "secure"]);
    assert!(added.contains("uploaded"), "{added}");
    let (status, _, response) = curl_https(&chain, "www.unreachable.test", https, "/").unwrap();
    assert_eq!(status, 200, "{response}");
    // A certificate for none of the app's names is refused, saying why.
    openssl_self_signed(dir.path(), "other.example.test", &["DNS:other.example.test"], &chain, &key);
    let refused = server.cli_err(home.path(), &["certs:add", chain_arg, key_arg, "-a", "secure"]);
    assert!(refused.contains("other.example.test") && refused.contains("none of secure's names"), "{refused}");

    // A wildcard for the base domain (server admins): every app's own name
    // without a certificate of its own is served with it.
    server.create_app(&token, "wild").await;
    openssl_self_signed(dir.path(), "paas.test", &["DNS:*.paas.test"], &chain, &key);
    let added = server.cli_ok(home.path(), &["certs:add", chain_arg, key_arg, "--base-domain"]);
    assert!(added.contains("*.paas.test"), "{added}");
    let (status, _, response) = curl_https(&chain, "wild.paas.test", https, "/").unwrap();
    assert_eq!(status, 503, "TLS with the wildcard; the app has no release yet: {response}");
    let wild = cert_of(&server, &token, "wild", "wild.paas.test").await;
    assert_eq!((wild["state"].as_str(), wild["source"].as_str()), (Some("issued"), Some("wildcard")), "{wild}");
    // The app whose own name has an ACME certificate keeps it.
    assert!(curl_https(&chain, "secure.paas.test", https, "/").is_err(), "secure.paas.test is not served the wildcard");

    // Redirect and HSTS.
    let set = server.cli_ok(home.path(), &["https", "--redirect", "on", "--hsts", "on", "-a", "secure"]);
    assert!(set.contains("Redirect HTTP to HTTPS: on"), "{set}");
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = plain
        .post(format!("http://127.0.0.1:{router}/cgi-bin/headers?x=1"))
        .header("host", "secure.paas.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("https://secure.paas.test:{https}/cgi-bin/headers?x=1"));
    let (status, _, response) = curl_https(&lab.root, "secure.paas.test", https, "/").unwrap();
    assert_eq!(status, 200);
    assert!(response.to_lowercase().contains("strict-transport-security: max-age=31536000"), "{response}");

    // Kept (encrypted) across a restart; renewed when due: with a window
    // longer than pebble's certificates live, they all are.
    let before = cert_of(&server, &token, "secure", "shop.example.test").await["expires_at"].clone();
    server.set_env("PAAS_ACME_RENEW_DAYS", "3650");
    server.set_env("PAAS_ACME_CHECK_INTERVAL", "2");
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart().await;
    let (status, _, response) = curl_https(&lab.root, "shop.example.test", https, "/").unwrap();
    assert_eq!(status, 200, "{response}");
    wait_until("the certificate to be renewed", Duration::from_secs(60), || async {
        cert_of(&server, &token, "secure", "shop.example.test").await["expires_at"] != before
    })
    .await;
    assert_eq!(cert_of(&server, &token, "secure", "www.unreachable.test").await["source"], "uploaded");
    let logs = server.all_logs();
    assert!(!logs.contains("PRIVATE KEY"), "a private key reached the logs");
    assert!(logs.contains("certificate issued"), "{}", lab.log());
}
