//! An ACME server for the TLS tests: Debian's pebble, validating HTTP-01
//! challenges on the router's port. Its names resolve through a dnsmasq of
//! its own: every name to 127.0.0.1, but those under `unreachable.test`,
//! which do not exist (an issuance that must fail). Both are stopped by
//! PID when the lab is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct AcmeLab {
    dir: tempfile::TempDir,
    pebble: Child,
    dnsmasq: Child,
    /// The ACME directory URL.
    pub directory: String,
    /// The certificate of pebble's own HTTPS listener (PEM).
    pub ca_file: PathBuf,
    /// The root that issued certificates chain to (PEM), for clients.
    pub root: PathBuf,
}

/// A port of 127.0.0.1 free now (TCP and UDP) for a listener started
/// later, taken below the range the kernel hands out to `bind(0)` and to
/// outgoing connections (32768 and up by default): under the suite's
/// traffic a port from that range can be taken by another test's connection
/// before its listener binds it.
pub fn free_port() -> u16 {
    use std::hash::BuildHasher;
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, span) = (10_000u16, low.saturating_sub(10_000).max(1));
    // A random start (RandomState's keys are), then the ports after it.
    let start = (std::collections::hash_map::RandomState::new().hash_one(std::process::id()) % u64::from(span)) as u16;
    (0..span)
        .map(|i| from + (start + i) % span)
        .find(|&port| {
            TcpListener::bind(("127.0.0.1", port)).is_ok() && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        })
        .expect("a free port below the ephemeral range")
}

impl AcmeLab {
    /// Pebble validating HTTP-01 on `http_port` of 127.0.0.1.
    pub async fn start(http_port: u16) -> Self {
        let dir = tempfile::Builder::new().prefix("paas-acme-").tempdir().expect("temp dir");
        let path = dir.path();
        let ca_file = path.join("pebble.pem");
        openssl_self_signed(path, "localhost", &["DNS:localhost", "IP:127.0.0.1"], &ca_file, &path.join("pebble.key"));
        let (dns, acme, management) = (free_port(), free_port(), free_port());
        let dnsmasq = Command::new("dnsmasq")
            .args(["--keep-in-foreground", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv"])
            .args(["--no-hosts", "--address=/#/127.0.0.1", "--address=/unreachable.test/"])
            .arg(format!("--port={dns}"))
            .arg(format!("--pid-file={}", path.join("dnsmasq.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running dnsmasq (Debian's dnsmasq-base)");
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": ca_file,
            "privateKey": path.join("pebble.key"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(path.join("pebble.json"), config.to_string()).expect("writing pebble's config");
        let log = std::fs::File::create(path.join("pebble.log")).expect("pebble's log");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(path.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random wait before validating, no random nonce rejections.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().expect("pebble's log"))
            .stderr(log)
            .spawn()
            .expect("running pebble (Debian's pebble)");
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&ca_file).expect("pebble's certificate"))
                    .expect("a PEM certificate"),
            )
            .build()
            .expect("an HTTP client");
        let roots = format!("https://127.0.0.1:{management}/roots/0");
        let mut root = Err("not asked".to_string());
        for _ in 0..100 {
            root = match client.get(&roots).send().await {
                Ok(response) if response.status().is_success() => Ok(response.text().await.expect("pebble's root")),
                Ok(response) => Err(format!("pebble answered {}", response.status())),
                Err(err) => Err(format!("{err:?}")),
            };
            if root.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = || std::fs::read_to_string(path.join("pebble.log")).unwrap_or_default();
        let root = root.unwrap_or_else(|err| panic!("pebble does not answer within 10 s: {err}\n{}", log()));
        let root_file = path.join("root.pem");
        std::fs::write(&root_file, root).expect("writing the root");
        Self { directory: format!("https://127.0.0.1:{acme}/dir"), ca_file, root: root_file, pebble, dnsmasq, dir }
    }

    /// What pebble logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// The server settings that get certificates from this lab.
    pub fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PAAS_ACME_DIRECTORY", self.directory.clone()),
            ("PAAS_ACME_CA_FILE", self.ca_file.display().to_string()),
            ("PAAS_ACME_EMAIL", "ops@example.test".to_string()),
        ]
    }
}

impl Drop for AcmeLab {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.dnsmasq] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A self-signed server certificate and key (PEM) made by openssl.
pub fn openssl_self_signed(dir: &Path, cn: &str, names: &[&str], cert: &Path, key: &Path) {
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", &format!("/CN={cn}")])
        .args(["-addext", &format!("subjectAltName={}", names.join(","))])
        // A server certificate, not a CA (rustls refuses a CA as a server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running openssl");
    assert!(status.success(), "openssl made no certificate");
}

/// GET `https://HOST:PORT/PATH` with curl (resolving HOST to 127.0.0.1,
/// trusting `ca`): (status, HTTP version, the response with its headers),
/// or curl's error.
pub fn curl_https(ca: &Path, host: &str, port: u16, path: &str) -> Result<(u16, String, String), String> {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "40", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code} %{http_version}"])
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let (response, last) = text.rsplit_once('\n').unwrap_or_default();
    let (code, version) = last.split_once(' ').unwrap_or_default();
    Ok((code.parse().unwrap_or(0), version.to_string(), response.to_string()))
}
