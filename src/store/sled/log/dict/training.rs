//! Training a dictionary: frames' payloads sampled (numbers blanked), a dictionary trained
//! from them on a thread of its own, written durably to its own file, then installed; and
//! copying the dictionary files into a backup (`copy_to`).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;
use crate::store::sled::log::segment::{io_at, sync_dir};
use crate::store::sled::log::{LogError, lock};

impl Dictionaries {
    /// Keeps `payload` for training while samples are wanted; starts the training once
    /// there are enough.
    pub(super) fn sample(self: &Arc<Self>, payload: &[u8]) {
        if !self.sampling.load(Ordering::Relaxed) {
            return;
        }
        let mut samples = lock(&self.samples);
        if !samples.wanted || self.training.load(Ordering::Relaxed) {
            return;
        }
        if samples.skip > 0 {
            samples.skip -= 1;
            return;
        }
        samples.bytes += payload.len();
        // A dictionary outlives the frames it was trained on (raw retention does not reach
        // it), so it must not keep customers' numbers: shapes are what it is for.
        samples.taken.push(without_numbers(payload));
        if samples.taken.len() < self.sample_count && samples.bytes < SAMPLE_BYTES {
            return;
        }
        let taken = std::mem::take(&mut samples.taken);
        samples.bytes = 0;
        self.training.store(true, Ordering::Relaxed);
        drop(samples);
        let this = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("log-dictionary".into())
            .spawn(move || {
                let result = this.train(&taken);
                let mut samples = lock(&this.samples);
                match result {
                    Ok(n) => {
                        samples.wanted = false;
                        this.sampling.store(false, Ordering::Relaxed);
                        tracing::info!(dictionary = n, samples = taken.len(), "event log: trained a compression dictionary");
                    }
                    Err(e) => {
                        samples.skip = this.sample_count;
                        this.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "event log: training a compression dictionary failed; frames stay lz4 for now");
                    }
                }
                this.training.store(false, Ordering::Relaxed);
            });
        if spawned.is_err() {
            self.training.store(false, Ordering::Relaxed);
        }
    }

    /// Trains, writes durably, then installs a dictionary; returns its number.
    fn train(&self, samples: &[Vec<u8>]) -> Result<u64, String> {
        let dict = zstd::dict::from_samples(samples, DICT_BYTES).map_err(|e| e.to_string())?;
        let id = zstd::zstd_safe::get_dict_id_from_dict(&dict)
            .ok_or("the trained dictionary has no id")?
            .get();
        if read(&self.readers).contains_key(&id) {
            return Err(format!("a dictionary with id {id} exists already"));
        }
        let (Some(ddict), Some(cdict)) =
            (DDict::try_create(&dict), CDict::try_create(&dict, LEVEL))
        else {
            return Err("zstd could not load the dictionary it trained".into());
        };
        let n = write_durably(&self.dir, self.newest.load(Ordering::Relaxed) + 1, &dict)
            .map_err(|e| e.to_string())?;
        self.newest.store(n, Ordering::Relaxed);
        // Readers first: a frame compressed with it must never meet a reader without it.
        write(&self.readers).insert(id, Arc::new(ddict));
        *write(&self.current) = Some(Arc::new(Current {
            cdict,
            baseline: Mutex::new(None),
        }));
        self.raw.store(0, Ordering::Relaxed);
        self.packed.store(0, Ordering::Relaxed);
        Ok(n)
    }

    /// Copies every dictionary file into `dir` (synced; the caller syncs the directory).
    pub fn copy_to(&self, dir: &Path) -> Result<(), LogError> {
        for entry in fs::read_dir(&self.dir).map_err(io_at(&self.dir))? {
            let entry = entry.map_err(io_at(&self.dir))?;
            let name = entry.file_name();
            let is_dict = name
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX));
            if is_dict {
                let bytes = fs::read(entry.path()).map_err(io_at(&entry.path()))?;
                let to = dir.join(&name);
                let mut file = fs::File::create_new(&to).map_err(io_at(&to))?;
                file.write_all(&bytes).map_err(io_at(&to))?;
                file.sync_all().map_err(io_at(&to))?;
            }
        }
        Ok(())
    }
}

/// Digits that could be (part of) a phone number — a run of [`NUMBER_DIGITS`] or more —
/// replaced by `0`; shorter runs (dates, hours, small ids) are kept, since they are shapes
/// as well.
pub(in crate::store::sled::log) fn without_numbers(payload: &[u8]) -> Vec<u8> {
    let mut out = payload.to_vec();
    let mut i = 0;
    while i < out.len() {
        let start = i;
        while i < out.len() && out[i].is_ascii_digit() {
            i += 1;
        }
        if i - start >= NUMBER_DIGITS {
            out[start..i].fill(b'0');
        }
        i = i.max(start + 1);
    }
    out
}

/// Writes `bytes` as `dict-<n>.zdict` in `dir`, `n` the first number from `from` that no
/// file has, so that the file is there whole after a crash or not at all, and never replaces
/// another (two stores on one directory during a reopen could both be training). Returns
/// `n`.
fn write_durably(dir: &Path, from: u64, bytes: &[u8]) -> Result<u64, LogError> {
    let temporary = dir.join(format!(
        "{PREFIX}{from:06}-{}{TEMPORARY}",
        std::process::id()
    ));
    let mut file = fs::File::create(&temporary).map_err(io_at(&temporary))?;
    file.write_all(bytes).map_err(io_at(&temporary))?;
    file.sync_all().map_err(io_at(&temporary))?;
    let mut n = from;
    let placed = loop {
        let path = dir.join(format!("{PREFIX}{n:06}{SUFFIX}"));
        // A hard link fails rather than replace a file that exists.
        match fs::hard_link(&temporary, &path) {
            Ok(()) => break Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < from + 1_000 => n += 1,
            Err(e) => break Err(io_at(&path)(e)),
        }
    };
    let removed = fs::remove_file(&temporary).map_err(io_at(&temporary));
    let n = placed?;
    removed?;
    sync_dir(dir)?;
    Ok(n)
}
