//! An append-only event log in segment files: raw webhooks live here rather than in sled.
//! The writer thread appends, a flusher thread makes appends durable with one fdatasync
//! per group commit, readers on any thread read a frame by its position. Maintainer page:
//! `docs/event-log.md`.
//!
//! # On disk
//!
//! A directory of segment files, each named by the global position of its first byte as 20
//! zero-padded decimal digits and `.log` (`00000000000067108864.log`), so a position names
//! its file and offset. Positions between segments (a gap) hold nothing. A segment holds
//! whole frames back to back, never a part of one:
//!
//! ```text
//! offset  size  field
//!      0     4  len      u32 LE: bytes after this and the crc field (9 + data)
//!      4     4  crc      u32 LE: CRC-32 (IEEE) of those len bytes
//!      8     1  codec    0 = data stored as is; 1 = lz4 block, after its u32 LE raw size;
//!                        2 = a zstd frame against a dictionary of this log (`dict.rs`)
//!      9     8  time_ms  i64 LE: the record's time, ms since the epoch (for retention)
//!     17   len-9 data
//! ```
//!
//! A `len` under 9 — in particular the zeros a file system may leave after a crash — is
//! not a frame: reading stops there. Beside the segments, `dict-<n>.zdict` files hold the
//! compression dictionaries trained on this log's own frames (`dict.rs`).
//!
//! # Durability
//!
//! After [`Log::sync`] returns, every frame appended before it survives kill -9 and power
//! loss. Sealing a segment syncs it, and the new segment's directory entry is synced before
//! anything is written into it, so `sync` only syncs the active segment. At open only the
//! last segment can have a torn tail; it is validated frame by frame and cut at the first
//! frame that is partial, fails its checksum or reads as zeros.

mod dict;
mod frame;
mod read;
mod reserve;
mod retain;
mod segment;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_damage;
#[cfg(test)]
mod tests_dict;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

pub use dict::Dictionaries;
pub use frame::{EncodedFrame, MAX_FRAME_BYTES};
use segment::{Segment, io_at, sync_dir};

/// Global byte position of a frame: segment files are named by the global position of their
/// first byte, 20-digit zero-padded decimal + ".log" (e.g. 00000000000067108864.log), so a
/// position says which file and which offset.
pub type Position = u64;

#[derive(Debug, Clone)]
pub struct LogOptions {
    /// A segment is sealed when the next frame would take it past this; retention and
    /// backups work in whole segments.
    pub segment_bytes: u64,
    /// Frames sampled to train a compression dictionary (`dict.rs`).
    pub dictionary_samples: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 32 << 20,
            dictionary_samples: dict::SAMPLES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log I/O on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("event log frame at {at} is corrupt: {reason}")]
    Corrupt { at: Position, reason: String },
    /// Dropped by retention, in a gap between segments, or past the end.
    #[error("no event log frame at {at}")]
    Missing { at: Position },
    #[error("an event log frame of {len} bytes is over the limit of {max}")]
    TooLarge { len: u64, max: u64 },
}

/// What [`Log::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The next append position.
    pub end: Position,
    /// Bytes cut from a torn or corrupt tail.
    pub cut_bytes: u64,
    pub segments: usize,
}

/// The log; `Send + Sync`, shared as `Arc<Log>`.
pub struct Log {
    dir: PathBuf,
    opts: LogOptions,
    /// Serialises appends and segment rolls; holds the active segment.
    writer: Mutex<Arc<Segment>>,
    /// Every segment by base position; the last is the active one. Held only to look a
    /// segment up or to add or remove one, never across I/O on a segment.
    segments: RwLock<BTreeMap<Position, Arc<Segment>>>,
    /// Serialises retention and backups, so a backup never links a file being deleted.
    maintenance: Mutex<()>,
    end: AtomicU64,
    /// Space is allocated up to this position ahead of the end (`reserve.rs`).
    reserved: AtomicU64,
    /// The compression dictionaries trained on this log's frames (`dict.rs`).
    dictionaries: Arc<Dictionaries>,
}

impl Log {
    /// Opens or creates the log in `dir`. Validates only the last segment frame by frame and
    /// truncates (then syncs) a torn or corrupt tail, reporting the bytes cut. If `at_least`
    /// is beyond the valid end, the next append starts a new segment at `at_least`: the sled
    /// state may already reference positions that were lost, and they must never be reused.
    /// Syncs the directory when it created anything.
    pub fn open(
        dir: &Path,
        opts: LogOptions,
        at_least: Position,
    ) -> Result<(Log, Opened), LogError> {
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
            // A relative name's parent is "", which is the working directory.
            match dir.parent() {
                Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new("."))?,
                Some(parent) => sync_dir(parent)?,
                None => {}
            }
        }
        let mut found = segment::list(dir)?;
        let mut segments = BTreeMap::new();
        let mut cut_bytes = 0;
        let last = found.pop();
        for (base, path) in found {
            segments.insert(base, Arc::new(Segment::open_sealed(path, base)?));
        }
        if let Some((base, path)) = last {
            let (active, cut) = Segment::open_active(path, base)?;
            if cut > 0 {
                tracing::warn!(
                    segment = %active.path.display(),
                    cut_bytes = cut,
                    "event log: cut a torn or corrupt tail"
                );
            }
            cut_bytes = cut;
            segments.insert(base, Arc::new(active));
        }

        let end = segments.values().next_back().map_or(0, |s| s.end());
        if segments.is_empty() || at_least > end {
            let base = at_least.max(end);
            // An empty last segment holds nothing; it goes rather than stay as a sealed one.
            if let Some(empty) = segments
                .values()
                .next_back()
                .filter(|s| s.len() == 0)
                .cloned()
            {
                segments.remove(&empty.base);
                fs::remove_file(&empty.path).map_err(io_at(&empty.path))?;
            } else if let Some(previous) = segments.values().next_back() {
                // Now sealed: whole on disk before anything follows it.
                previous.file.sync_data().map_err(io_at(&previous.path))?;
            }
            segments.insert(base, Arc::new(Segment::create(dir, base)?));
            sync_dir(dir)?;
        }

        let active = Arc::clone(segments.values().next_back().expect("an active segment"));
        let dictionaries = Dictionaries::open(dir, opts.dictionary_samples)?;
        let opened = Opened {
            end: active.end(),
            cut_bytes,
            segments: segments.len(),
        };
        let log = Log {
            dir: dir.to_owned(),
            opts,
            end: AtomicU64::new(active.end()),
            reserved: AtomicU64::new(0),
            writer: Mutex::new(active),
            segments: RwLock::new(segments),
            maintenance: Mutex::new(()),
            dictionaries,
        };
        Ok((log, opened))
    }

    /// Writes the frames in order (write only, no sync) and returns each one's position.
    /// Rolls to a new segment when the active one would pass `segment_bytes`; a frame is
    /// never split, and one bigger than a segment gets a segment to itself.
    pub fn append(&self, frames: &[EncodedFrame]) -> Result<Vec<Position>, LogError> {
        if let Some(big) = frames.iter().find(|f| f.len() > MAX_FRAME_BYTES) {
            return Err(LogError::TooLarge {
                len: big.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let mut active = lock(&self.writer);
        let mut positions = Vec::with_capacity(frames.len());
        let mut batch = Vec::new();
        for frame in frames {
            let used = active.len() + batch.len() as u64;
            if used > 0 && used + frame.len() > self.opts.segment_bytes {
                self.write(&active, &batch)?;
                batch.clear();
                *active = self.roll(&active)?;
            }
            positions.push(active.end() + batch.len() as u64);
            batch.extend_from_slice(frame.bytes());
        }
        self.write(&active, &batch)?;
        Ok(positions)
    }

    /// Writes `batch` after the active segment's frames and publishes them to readers.
    fn write(&self, active: &Segment, batch: &[u8]) -> Result<(), LogError> {
        if batch.is_empty() {
            return Ok(());
        }
        let len = active.len();
        if let Err(e) = active.file.write_all_at(batch, len) {
            // Left in place, the part written could pass as frames at the next open though
            // no caller ever got their positions.
            let _ = active.file.set_len(len);
            return Err(io_at(&active.path)(e));
        }
        active.set_len(len + batch.len() as u64);
        self.end.store(active.end(), Ordering::Release);
        Ok(())
    }

    /// Seals the active segment (synced whole) and starts the next one where it ends.
    fn roll(&self, sealing: &Segment) -> Result<Arc<Segment>, LogError> {
        sealing.file.sync_data().map_err(io_at(&sealing.path))?;
        self.dictionaries.sealed();
        let next = Arc::new(Segment::create(&self.dir, sealing.end())?);
        // Room reserved in the sealed segment is not room in this one.
        self.reserved.store(0, Ordering::Release);
        sync_dir(&self.dir)?;
        self.write_segments().insert(next.base, Arc::clone(&next));
        tracing::debug!(segment = %next.path.display(), "event log: new segment");
        Ok(next)
    }

    /// Makes everything appended so far durable (fdatasync of the active segment). Called
    /// from another thread than `append`, concurrently with it.
    pub fn sync(&self) -> Result<(), LogError> {
        // The last segment, not the writer's lock: append may hold that for a whole write.
        // If a roll is under way this is the segment being sealed, which holds everything
        // appended before this call that is not already in a synced sealed segment.
        let active = self.active();
        active.file.sync_data().map_err(io_at(&active.path))
    }

    /// What frames for this log are compressed with: pass it to [`EncodedFrame::encode`].
    pub fn dictionaries(&self) -> &Arc<Dictionaries> {
        &self.dictionaries
    }

    /// The next append position.
    pub fn end(&self) -> Position {
        self.end.load(Ordering::Acquire)
    }

    /// The position of the first frame still kept: the first segment's base.
    pub fn start(&self) -> Position {
        *self
            .read_segments()
            .keys()
            .next()
            .expect("an active segment")
    }

    /// Bytes of all segment files.
    #[cfg(test)]
    pub fn disk_bytes(&self) -> u64 {
        self.read_segments().values().map(|s| s.len()).sum()
    }

    fn active(&self) -> Arc<Segment> {
        Arc::clone(
            self.read_segments()
                .values()
                .next_back()
                .expect("an active segment"),
        )
    }

    /// The segment whose range of positions holds `at`, if any.
    fn segment_at(&self, at: Position) -> Option<Arc<Segment>> {
        let segments = self.read_segments();
        let (_, segment) = segments.range(..=at).next_back()?;
        (at < segment.end()).then(|| Arc::clone(segment))
    }

    fn read_segments(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Position, Arc<Segment>>> {
        self.segments.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_segments(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Position, Arc<Segment>>> {
        self.segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Every lock here guards state that is whole between statements (lengths are published
/// after the bytes are written), so a panic elsewhere leaves nothing half-done to refuse.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
