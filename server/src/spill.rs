//! Large transient data (a pushed tree as a tar, a compiled app) goes to a
//! file under `DATA_DIR/tmp` rather than memory, and streams from there to
//! the engine: a big push costs disk, not twice its size in RAM. A file is
//! removed when its handle is dropped; `clear` removes what a killed server
//! left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file that is removed when the last handle to it goes.
#[derive(Debug, Clone)]
pub struct Spill(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Spill {
    /// A new, empty file's path in `dir` (the file is created by the writer).
    pub fn new(dir: &Path, what: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{what}-{}", uuid::Uuid::new_v4().simple()));
        Ok(Self(Arc::new(Inner { path })))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn len(&self) -> u64 {
        std::fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Remove every spill file a previous run left in `dir`.
pub fn clear(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_spill_file_goes_with_its_last_handle() {
        let dir = std::env::temp_dir().join(format!("paas-spill-{}", uuid::Uuid::new_v4().simple()));
        let spill = super::Spill::new(&dir, "t").unwrap();
        std::fs::write(spill.path(), b"abc").unwrap();
        let other = spill.clone();
        drop(spill);
        assert_eq!(other.len(), 3);
        let path = other.path().to_path_buf();
        drop(other);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
