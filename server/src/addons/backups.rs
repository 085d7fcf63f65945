//! Backups of an add-on's data: what the service's dump command writes
//! (`pg_dump --format=custom`), sealed with the server's secret key in 1 MiB
//! chunks, each bound to its backup, its place and whether it is the last
//! (so a file cut short, reordered or swapped with another's does not
//! open). Files live in `--backup-dir` (default `DATA_DIR/backups`), mode
//! 0600, named by the backup's id. A restore feeds the opened chunks to the
//! service's restore command.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;
use crate::crypto::Secrets;
use crate::db::addons::Addon;
use crate::runtime::Output;
use crate::state::AppState;

const MAGIC: &[u8] = b"PAASBAK1";
const CHUNK: usize = 1 << 20;
/// What a dump or restore may print on its error stream that is kept.
const STDERR_LIMIT: usize = 16 * 1024;

pub fn dir(config: &Config) -> PathBuf {
    config.backup_dir.clone().unwrap_or_else(|| config.data_dir.join("backups"))
}

pub fn path(config: &Config, backup_id: i64) -> PathBuf {
    dir(config).join(format!("{backup_id}.sealed"))
}

fn context(backup_id: i64, index: u64, last: bool) -> String {
    format!("backup/{backup_id}/{index}/{}", if last { "last" } else { "more" })
}

/// Dump the add-on's data into backup `backup_id`'s file; the dump's size.
pub async fn capture(state: &AppState, addon: &Addon, backup_id: i64) -> anyhow::Result<u64> {
    let service = super::of(addon)?;
    let command = service.dump_command().ok_or_else(|| anyhow!("{} has no backups", service.title()))?;
    let container = super::running(state, addon).await?.ok_or_else(|| anyhow!("{} is not running", addon.name))?;
    let mut session = state.runtime.exec(&container.id, command, false).await?;
    session.input.shutdown().await.ok();
    let folder = dir(&state.config);
    tokio::fs::create_dir_all(&folder).await.with_context(|| format!("creating {}", folder.display()))?;
    tokio::fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o700)).await?;
    let (target, partial) = (path(&state.config, backup_id), folder.join(format!("{backup_id}.partial")));
    let result = async {
        let mut file = private_file(&partial).await?;
        file.write_all(MAGIC).await?;
        let (mut pending, mut index, mut size, mut stderr) = (Vec::with_capacity(CHUNK), 0u64, 0u64, Vec::new());
        while let Some(out) = session.output.next().await {
            match out? {
                Output::Stdout(bytes) => {
                    size += bytes.len() as u64;
                    pending.extend_from_slice(&bytes);
                    while pending.len() >= CHUNK {
                        let rest = pending.split_off(CHUNK);
                        write_chunk(&mut file, &state.secrets, backup_id, index, false, &pending).await?;
                        pending = rest;
                        index += 1;
                    }
                }
                Output::Stderr(bytes) if stderr.len() < STDERR_LIMIT => stderr.extend_from_slice(&bytes),
                Output::Stderr(_) => {}
            }
        }
        write_chunk(&mut file, &state.secrets, backup_id, index, true, &pending).await?;
        let code = state.runtime.exit_code(&session.target).await?;
        if code != 0 {
            bail!("the dump exited with {code}: {}", String::from_utf8_lossy(&stderr).trim());
        }
        file.sync_all().await?;
        tokio::fs::rename(&partial, &target).await?;
        Ok(size)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

async fn private_file(path: &Path) -> anyhow::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    options.open(path).await.with_context(|| format!("creating {}", path.display()))
}

async fn write_chunk(
    file: &mut tokio::fs::File,
    secrets: &Secrets,
    backup_id: i64,
    index: u64,
    last: bool,
    plain: &[u8],
) -> anyhow::Result<()> {
    let sealed = secrets.seal_bytes(&context(backup_id, index, last), plain)?;
    file.write_all(&(sealed.len() as u32).to_be_bytes()).await?;
    file.write_all(&sealed).await?;
    Ok(())
}

/// A backup's dump, opened chunk by chunk as it is read.
pub async fn read(state: &AppState, backup_id: i64) -> anyhow::Result<BoxStream<'static, anyhow::Result<Bytes>>> {
    let file_path = path(&state.config, backup_id);
    let mut file = tokio::fs::File::open(&file_path).await.with_context(|| format!("opening backup {backup_id}"))?;
    let mut magic = [0u8; MAGIC.len()];
    file.read_exact(&mut magic).await.context("reading the backup")?;
    if magic != MAGIC {
        bail!("{} is not a backup file", file_path.display());
    }
    let secrets = state.secrets.clone();
    // (file, next chunk's index, whether the last chunk was read)
    let chunks = futures_util::stream::unfold((file, 0u64, false), move |(mut file, index, done)| {
        let secrets = secrets.clone();
        async move {
            if done {
                return None;
            }
            let next = async {
                let mut len = [0u8; 4];
                file.read_exact(&mut len).await.map_err(|_| anyhow!("the backup file is cut short"))?;
                let mut sealed = vec![0u8; u32::from_be_bytes(len) as usize];
                file.read_exact(&mut sealed).await.map_err(|_| anyhow!("the backup file is cut short"))?;
                if let Ok(plain) = secrets.open_bytes(&context(backup_id, index, false), &sealed) {
                    return Ok((Bytes::from(plain), false));
                }
                let plain = secrets.open_bytes(&context(backup_id, index, true), &sealed)?;
                Ok((Bytes::from(plain), true))
            }
            .await;
            match next {
                Ok((plain, last)) => Some((Ok(plain), (file, index + 1, last))),
                Err(err) => Some((Err(err), (file, index, true))),
            }
        }
    });
    Ok(chunks.boxed())
}

/// Restore backup `backup_id` into the add-on (replacing what its tables hold).
pub async fn restore(state: &AppState, addon: &Addon, backup_id: i64) -> anyhow::Result<()> {
    let service = super::of(addon)?;
    let command = service.restore_command().ok_or_else(|| anyhow!("{} has no backups", service.title()))?;
    let mut dump = read(state, backup_id).await?;
    let container = super::running(state, addon).await?.ok_or_else(|| anyhow!("{} is not running", addon.name))?;
    let session = state.runtime.exec(&container.id, command, false).await?;
    let (target, mut output, mut input) = (session.target, session.output, session.input);
    let feed = async move {
        while let Some(chunk) = dump.next().await {
            input.write_all(&chunk?).await.context("feeding the restore")?;
        }
        input.shutdown().await.ok();
        anyhow::Ok(())
    };
    let collect = async move {
        let mut stderr = Vec::new();
        while let Some(out) = output.next().await {
            if let Ok(Output::Stderr(bytes)) = out {
                if stderr.len() < STDERR_LIMIT {
                    stderr.extend_from_slice(&bytes);
                }
            }
        }
        String::from_utf8_lossy(&stderr).trim().to_string()
    };
    let (fed, stderr) = tokio::join!(feed, collect);
    fed?;
    let code = state.runtime.exit_code(&target).await?;
    if code != 0 {
        bail!("the restore exited with {code}: {stderr}");
    }
    Ok(())
}

/// Delete a backup's file; missing is fine.
pub async fn delete(config: &Config, backup_id: i64) -> anyhow::Result<()> {
    match tokio::fs::remove_file(path(config, backup_id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
