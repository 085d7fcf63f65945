//! Encryption of config values (and add-on passwords and backups) at rest: ChaCha20-Poly1305 with a 256-bit key
//! from `PAAS_SECRET_KEY` (base64) or `DATA_DIR/secret.key` (made on first
//! start, mode 0600). Each value is bound to its app and key name (AAD), so
//! ciphertexts cannot be swapped between vars. Losing the key loses the
//! values; back it up with the database.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const NONCE_LEN: usize = 12;
const KEY_FILE: &str = "secret.key";

#[derive(Clone)]
pub struct Secrets {
    cipher: ChaCha20Poly1305,
}

impl Secrets {
    /// The key from the environment value, else from (or newly into) the data dir.
    pub fn load(data_dir: &Path, from_env: Option<&str>) -> anyhow::Result<Self> {
        let key = match from_env.filter(|k| !k.is_empty()) {
            Some(encoded) => decode_key(encoded).context("PAAS_SECRET_KEY")?,
            None => key_file(&data_dir.join(KEY_FILE))?,
        };
        Ok(Self { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    /// A key that must exist already (a router apart uses the control
    /// plane's): from the environment value, else from `file`.
    pub fn existing(from_env: Option<&str>, file: Option<&Path>) -> anyhow::Result<Self> {
        let key = match (from_env.filter(|k| !k.is_empty()), file) {
            (Some(encoded), _) => decode_key(encoded).context("PAAS_SECRET_KEY")?,
            (None, Some(path)) => read_key(path)?,
            (None, None) => bail!("the control plane's secret key is needed: --secret-key or --secret-key-file"),
        };
        Ok(Self { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    pub fn seal(&self, context: &str, plaintext: &str) -> anyhow::Result<Vec<u8>> {
        self.seal_bytes(context, plaintext.as_bytes())
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.open_bytes(context, sealed)?)?)
    }

    /// Seal any bytes (a backup's chunk), bound to `context`.
    pub fn seal_bytes(&self, context: &str, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| anyhow!("encryption failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    pub fn open_bytes(&self, context: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("ciphertext too short");
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: context.as_bytes() })
            .map_err(|_| anyhow!("cannot decrypt: wrong secret key, or the data was altered"))
    }
}

/// The context a config value is sealed under.
pub fn config_context(app_id: i64, key: &str) -> String {
    format!("config/{app_id}/{key}")
}

fn decode_key(encoded: &str) -> anyhow::Result<Vec<u8>> {
    let key = base64::engine::general_purpose::STANDARD.decode(encoded.trim())?;
    if key.len() != 32 {
        bail!("the secret key must be 32 bytes, base64-encoded (`head -c 32 /dev/urandom | base64`)");
    }
    Ok(key)
}

fn read_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    decode_key(&text).with_context(|| format!("{}", path.display()))
}

fn key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.exists() {
        return read_key(path);
    }
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", base64::engine::general_purpose::STANDARD.encode(key))?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "created the secret key for config values; back it up with the database");
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_are_bound_to_their_context() {
        let dir = tempfile_dir();
        let secrets = Secrets::load(&dir, None).unwrap();
        let sealed = secrets.seal("config/1/DATABASE_URL", "postgres://secret").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("postgres://secret"));
        assert_eq!(secrets.open("config/1/DATABASE_URL", &sealed).unwrap(), "postgres://secret");
        assert!(secrets.open("config/2/DATABASE_URL", &sealed).is_err(), "another app's context fails");
        // The key file persists: a second load decrypts the same value.
        let again = Secrets::load(&dir, None).unwrap();
        assert_eq!(again.open("config/1/DATABASE_URL", &sealed).unwrap(), "postgres://secret");
        let mode = std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_env_keys_are_refused() {
        assert!(Secrets::load(Path::new("/nonexistent"), Some("c2hvcnQ=")).is_err());
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("paas-crypto-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
