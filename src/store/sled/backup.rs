//! A consistent copy of the store (`ringback backup`, issue 6).
//!
//! The writer thread runs the copy between two batches, so no write lands half way through
//! it and every tree is copied as of the same moment; webhooks queue meanwhile (and are
//! answered once it is done). The copy is itself a complete data directory — a fresh sled
//! database under `sled/`, the event log under `log/` (its sealed segments hard-linked where
//! the file system allows, so a backup no longer copies every raw body through sled), plus
//! the data directory's own files (tokens, the session key) — so
//! restoring is pointing `[storage].path` at it. Every file is fsync'd before the copy is
//! reported done: sled's `flush` alone is not an fsync (`docs/sled-0.34.md`).

use std::fs::File;
use std::path::Path;

use super::log::Log;
use crate::store::{Backup, StoreError};

/// Pairs written to the copy per `apply_batch`.
const BATCH: usize = 10_000;

/// Copies `trees` and the plain files of `data_dir` into `target`, which must not exist or
/// be empty. On failure the partial copy is removed.
pub fn copy(
    trees: &[sled::Tree],
    log: &Log,
    data_dir: &Path,
    target: &Path,
) -> Result<Backup, StoreError> {
    let io =
        |what: &str, e: std::io::Error| StoreError::unavailable_from(format!("backup: {what}"), e);
    if crate::data_dir::has_entries(target) {
        return Err(StoreError::Busy(format!(
            "backup: {} exists and is not empty",
            target.display()
        )));
    }
    crate::data_dir::create_private(target).map_err(|e| io("creating the directory", e))?;
    let result = copy_into(trees, log, data_dir, target);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(target);
    }
    result
}

fn copy_into(
    trees: &[sled::Tree],
    log: &Log,
    data_dir: &Path,
    target: &Path,
) -> Result<Backup, StoreError> {
    let io = |what: String, e: std::io::Error| {
        StoreError::unavailable_from(format!("backup: {what}"), e)
    };
    let sled = super::from_sled;
    let mut report = Backup {
        path: target.to_path_buf(),
        ..Backup::default()
    };
    {
        let copy = sled::Config::new()
            .path(target.join("sled"))
            .cache_capacity(16 << 20)
            .open()
            .map_err(sled)?;
        for tree in trees {
            let into = copy.open_tree(tree.name()).map_err(sled)?;
            let mut batch = sled::Batch::default();
            let mut in_batch = 0;
            for pair in tree.iter() {
                let (key, value) = pair.map_err(sled)?;
                report.keys += 1;
                report.bytes += (key.len() + value.len()) as u64;
                if &*tree.name() == super::keys::CALLBACKS.as_bytes() {
                    report.callbacks += 1;
                }
                batch.insert(key, value);
                in_batch += 1;
                if in_batch == BATCH {
                    into.apply_batch(std::mem::take(&mut batch)).map_err(sled)?;
                    in_batch = 0;
                }
            }
            into.apply_batch(batch).map_err(sled)?;
        }
        copy.flush().map_err(sled)?;
        // A restore may open the copy at once: sled's threads must have let go of it.
        super::live::release(copy, &target.join("sled"));
    }
    sync_tree(&target.join("sled")).map_err(|e| io("syncing the copy".into(), e))?;
    // The event log as of the same moment (the writer appends nothing while this runs):
    // sealed segments are linked or copied whole, the active one up to its end.
    report.log_bytes = log
        .copy_to(&target.join("log"))
        .map_err(|e| StoreError::unavailable_from("backup: copying the event log", e))?;
    // The data directory's own files: tokens and keys (sled's files live under `sled/`,
    // earlier backups under `backups/`; directories are not copied).
    let entries = std::fs::read_dir(data_dir).map_err(|e| io(data_dir.display().to_string(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(data_dir.display().to_string(), e))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let to = target.join(entry.file_name());
        std::fs::copy(entry.path(), &to)
            .and_then(|_| File::open(&to)?.sync_all())
            .map_err(|e| io(format!("copying {}", entry.path().display()), e))?;
        report
            .files
            .push(entry.file_name().to_string_lossy().into_owned());
    }
    report.files.sort();
    File::open(target)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing the directory".into(), e))?;
    if let Some(parent) = target.parent() {
        let _ = File::open(parent).and_then(|d| d.sync_all());
    }
    Ok(report)
}

/// fsyncs every file and directory under `dir`, then `dir` itself.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else {
            File::open(entry.path())?.sync_all()?;
        }
    }
    File::open(dir)?.sync_all()
}
