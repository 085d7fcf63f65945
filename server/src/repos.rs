//! Bare repositories in `DATA_DIR/repos/APP.git`: creating and removing them,
//! reading what a push brought (git2, with the push's quarantined objects
//! added as an alternate), keeping those objects before git accepts the push,
//! and moving a branch to a commit that went live. Used by `git/` (smart
//! HTTP) and `deploy/` (the push pipeline).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

const HOOK: &str = "#!/bin/sh\n\
# Installed by paas: deploy pushes to the deploy branch before accepting them.\n\
if [ -z \"$PAAS_BIN\" ]; then echo 'pushes are accepted only through the paas server' >&2; exit 1; fi\n\
exec \"$PAAS_BIN\" git-hook pre-receive\n";

pub fn path(repos: &Path, app: &str) -> PathBuf {
    repos.join(format!("{app}.git"))
}

/// Create the bare repository with its hook, if missing.
pub async fn ensure(repos: &Path, app: &str) -> anyhow::Result<PathBuf> {
    let dir = path(repos, app);
    let hook = dir.join("hooks/pre-receive");
    if hook.exists() {
        return Ok(dir);
    }
    let dir2 = dir.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        std::fs::create_dir_all(dir2.parent().context("repos dir")?)?;
        let repo = Repository::init_bare(&dir2).with_context(|| format!("creating {}", dir2.display()))?;
        // Clones check out main, the deploy branch.
        repo.set_head("refs/heads/main")?;
        let mut config = repo.config()?;
        config.set_bool("http.receivepack", true)?;
        config.set_bool("receive.denyNonFastForwards", false)?;
        config.set_str("gc.auto", "0")?;
        let hooks = dir2.join("hooks");
        std::fs::create_dir_all(&hooks)?;
        let tmp = hooks.join("pre-receive.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(HOOK.as_bytes())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, hooks.join("pre-receive"))?;
        Ok(())
    })
    .await??;
    Ok(dir)
}

/// Move an app's repository to its new name (missing is fine: nothing was pushed).
pub async fn rename(repos: &Path, old: &str, new: &str) -> anyhow::Result<()> {
    match tokio::fs::rename(path(repos, old), path(repos, new)).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("moving the repository of {old} to {new}")),
    }
}

pub async fn remove(repos: &Path, app: &str) -> anyhow::Result<()> {
    match tokio::fs::remove_dir_all(path(repos, app)).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The commit a branch points at now, if it exists.
pub fn branch_head(repo_dir: &Path, refname: &str) -> anyhow::Result<Option<String>> {
    let repo = Repository::open_bare(repo_dir)?;
    let id = repo.refname_to_id(refname).ok();
    Ok(id.map(|id| id.to_string()))
}

/// Copy a push's quarantined objects into the repository, so its commit stays
/// readable whatever git decides about the push. Existing files are kept;
/// packs are copied before their indexes.
pub fn keep_objects(repo_dir: &Path, quarantine: &Path) -> anyhow::Result<()> {
    copy_objects(quarantine, &repo_dir.join("objects"))
}

fn copy_objects(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<_> =
        std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?.collect::<Result<_, _>>()?;
    // An index makes its pack visible: copy indexes last.
    entries.sort_by_key(|e| e.path().extension().is_some_and(|x| x == "idx"));
    for entry in entries {
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() == "info" {
                continue;
            }
            std::fs::create_dir_all(&target)?;
            copy_objects(&entry.path(), &target)?;
        } else if !target.exists() {
            let tmp = to.join(format!(".{}.tmp", entry.file_name().to_string_lossy()));
            std::fs::copy(entry.path(), &tmp)?;
            std::fs::rename(&tmp, &target)?;
        }
    }
    Ok(())
}

/// Move a branch from `old` (the zero id: it did not exist) to `new`, only if
/// it still points at `old`. Returns whether it moved.
pub fn move_branch(repo_dir: &Path, refname: &str, old: &str, new: &str) -> anyhow::Result<bool> {
    let repo = Repository::open_bare(repo_dir)?;
    let current = repo.refname_to_id(refname).ok().map(|id| id.to_string());
    let expected = (old.chars().any(|c| c != '0')).then(|| old.to_string());
    if current != expected {
        return Ok(false);
    }
    let target = Oid::from_str(new)?;
    repo.find_commit(target).with_context(|| format!("commit {new} is not in the repository"))?;
    repo.reference(refname, target, true, "paas: the push went live")?;
    Ok(true)
}

/// What the build needs from a pushed commit.
pub struct Source {
    /// The commit.
    pub sha: String,
    /// A tar of the commit's tree, on disk.
    pub tar: crate::spill::Spill,
    pub files: Vec<String>,
    pub procfile: Option<String>,
    pub app_json: Option<String>,
    pub dot_buildpacks: Option<String>,
    pub dockerfile: Option<String>,
}

impl Source {
    pub fn includes_file(&self, name: &str) -> bool {
        self.files.iter().any(|f| f == name)
    }
}

impl crate::build::detect::SourceView for Source {
    fn includes_file(&self, path: &str) -> bool {
        Source::includes_file(self, path)
    }

    fn read_file(&self, path: &str) -> Option<String> {
        match path {
            "Procfile" => self.procfile.clone(),
            "app.json" => self.app_json.clone(),
            ".buildpacks" => self.dot_buildpacks.clone(),
            _ => None,
        }
    }
}

/// Read a pushed commit (objects may still be in the push's quarantine) and
/// pack its tree as a tar in a file of `spill_dir` (one blob in memory at a
/// time), preserving executable bits and symlinks.
pub fn read_commit(repo_dir: &Path, quarantine: Option<&Path>, sha: &str, spill_dir: &Path) -> anyhow::Result<Source> {
    let repo = Repository::open_bare(repo_dir)?;
    if let Some(dir) = quarantine {
        repo.odb()?.add_disk_alternate(&dir.to_string_lossy())?;
    }
    let commit = repo.find_commit(Oid::from_str(sha)?).with_context(|| format!("commit {sha} is not in the push"))?;
    let mtime = commit.time().seconds().max(0) as u64;
    let tree = commit.tree()?;
    let mut entries = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() == Some(ObjectType::Blob) {
            entries.push((format!("{root}{}", entry.name().unwrap_or("")), entry.id(), entry.filemode()));
        }
        TreeWalkResult::Ok
    })?;
    let tar = crate::spill::Spill::new(spill_dir, "source")?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(std::fs::File::create(tar.path())?));
    let mut files = Vec::new();
    let mut procfile = None;
    let mut app_json = None;
    let mut dot_buildpacks = None;
    let mut dockerfile = None;
    for (path, id, mode) in entries {
        let blob = repo.find_blob(id)?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);
        if mode == 0o120000 {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            builder.append_link(&mut header, &path, target)?;
        } else {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(blob.content().len() as u64);
            header.set_mode(if mode == 0o100755 { 0o755 } else { 0o644 });
            builder.append_data(&mut header, &path, blob.content())?;
        }
        if path == "Procfile" {
            procfile = Some(String::from_utf8_lossy(blob.content()).into_owned());
        }
        if path == "app.json" {
            app_json = Some(String::from_utf8_lossy(blob.content()).into_owned());
        }
        if path == ".buildpacks" {
            dot_buildpacks = Some(String::from_utf8_lossy(blob.content()).into_owned());
        }
        if path == "Dockerfile" {
            dockerfile = Some(String::from_utf8_lossy(blob.content()).into_owned());
        }
        files.push(path);
    }
    use std::io::Write;
    builder.into_inner()?.flush()?;
    if files.is_empty() {
        bail!("the pushed commit has no files");
    }
    Ok(Source { sha: sha.to_string(), tar, files, procfile, app_json, dot_buildpacks, dockerfile })
}
