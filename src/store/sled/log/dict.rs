//! Compression dictionaries for the log's frames, trained on this store's own traffic.
//!
//! A frame compressed alone (lz4, zstd) keeps ~0.5–0.65 of a webhook: each body repeats the
//! keys and shapes of every other, but one frame cannot see another. A zstd dictionary
//! trained on a deployment's own frames holds those shapes, and a frame compressed against
//! it keeps ~0.1–0.2 (`docs/event-log.md`). Smartflo's payloads differ between accounts
//! (custom fields, IVR names, which variables a webhook was configured with), so no
//! dictionary shipped in the binary fits every one: each log trains its own.
//!
//! - **Sampling and training.** Until the log has a dictionary, frames are compressed with
//!   lz4 and their payloads are sampled ([`SAMPLES`] of them or [`SAMPLE_BYTES`], whichever
//!   comes first), every run of five or more digits replaced by `0`s: a dictionary
//!   outlives the frames it was trained on, so it must hold no customer's number. A background thread then trains a
//!   dictionary of [`DICT_BYTES`] (`zstd::dict::from_samples`, ~0.1–0.3 s), writes it to
//!   `dict-<n>.zdict` (temporary file, fsync, hard-linked into place — never over another
//!   file — directory fsync) and only then installs it: no frame can name a dictionary
//!   that is not durable. Training that fails (too few distinct samples) is retried after as
//!   many frames again. A leftover temporary file is removed at open.
//! - **Retraining.** When a segment is sealed, the mean compressed size of the frames
//!   written in it against the current dictionary is compared with the first segment's
//!   after that dictionary was installed; 1.3× worse (the traffic changed shape) starts a
//!   new round of sampling and training. Traffic that keeps its shape trains once.
//! - **Frames.** Codec 2 is the payload's CRC-32 (u32 LE) and a zstd frame against a log
//!   dictionary, with its dictionary id and content size in zstd's own frame header. The
//!   CRC catches a payload decoded wrongly, e.g. with a damaged dictionary file; a
//!   dictionary file zstd cannot load is reported at open and the frames naming it read as
//!   corrupt, one by one.
//! - **Dictionaries are kept**: a frame can be read as long as the log keeps it, and which
//!   frames use which dictionary is not tracked. Each is 16 KiB and a new one is trained only
//!   when the traffic changes, so they stay few. Backups copy them with the segments.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use zstd::zstd_safe::{CCtx, CDict, DCtx, DDict};

use super::segment::io_at;
use super::{LogError, MAX_FRAME_BYTES, Position, lock};

mod training;

#[cfg(test)]
pub(super) use training::without_numbers;

/// Frames sampled for one training.
pub const SAMPLES: usize = 2_000;
/// Bytes sampled for one training at most (big bodies fill it before [`SAMPLES`]).
pub const SAMPLE_BYTES: usize = 8 << 20;
/// The size of a trained dictionary.
pub const DICT_BYTES: usize = 16 << 10;
/// zstd level for frames: with a dictionary, 3 is as fast as 1 and a little smaller.
const LEVEL: i32 = 3;
/// How much worse than just after training the frames of a sealed segment may compress
/// before a new dictionary is trained.
const RETRAIN_WORSE: f64 = 1.3;
const PREFIX: &str = "dict-";
const SUFFIX: &str = ".zdict";
const TEMPORARY: &str = ".tmp";
/// Digits in a row taken for a possible phone number (or a part of one written in groups)
/// in training samples: Indian numbers have ten, with their prefixes more.
const NUMBER_DIGITS: usize = 5;

/// The dictionary new frames are compressed with.
struct Current {
    cdict: CDict<'static>,
    /// Mean compressed/raw ratio of the first sealed segment after it was installed.
    baseline: Mutex<Option<f64>>,
}

/// Sampling state.
#[derive(Default)]
struct Samples {
    /// Whether payloads are being collected for a training.
    wanted: bool,
    taken: Vec<Vec<u8>>,
    bytes: usize,
    /// Frames to let pass before sampling again after a failed training.
    skip: usize,
}

/// Every dictionary of one log; `Send + Sync`, shared by its encoders and readers.
pub struct Dictionaries {
    dir: PathBuf,
    readers: RwLock<HashMap<u32, Arc<DDict<'static>>>>,
    current: RwLock<Option<Arc<Current>>>,
    /// The number of the newest `dict-<n>.zdict`.
    newest: AtomicU64,
    samples: Mutex<Samples>,
    /// `samples.wanted`, readable without the lock: every frame asks.
    sampling: AtomicBool,
    training: AtomicBool,
    /// Trainings that failed (tests wait on it).
    failed: AtomicU64,
    /// Raw and compressed bytes of frames compressed against the current dictionary since
    /// the last roll.
    raw: AtomicU64,
    packed: AtomicU64,
    /// Frames to sample per training; [`SAMPLES`] except in tests.
    sample_count: usize,
}

thread_local! {
    // One context per thread: creating one costs more than compressing a frame.
    static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

impl Dictionaries {
    /// Loads every dictionary in `dir`; the newest compresses new frames. A file that is not
    /// a dictionary is reported and left alone (frames that name it read as corrupt).
    pub fn open(dir: &Path, sample_count: usize) -> Result<Arc<Self>, LogError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_at(dir))? {
            let entry = entry.map_err(io_at(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
                continue;
            };
            if name.ends_with(TEMPORARY) {
                // A training interrupted before its dictionary was in place: never used.
                let path = entry.path();
                fs::remove_file(&path).map_err(io_at(&path))?;
                continue;
            }
            let Some(n) = name
                .strip_suffix(SUFFIX)
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            found.push((n, entry.path()));
        }
        found.sort();
        let mut readers = HashMap::new();
        let mut newest_loaded = None;
        let mut newest = 0;
        for (n, path) in found {
            // Numbers are never reused, even that of a file that cannot be read (it stays
            // as evidence).
            newest = n;
            let bytes = fs::read(&path).map_err(io_at(&path))?;
            let loaded = zstd::zstd_safe::get_dict_id_from_dict(&bytes)
                .and_then(|id| Some((id, DDict::try_create(&bytes)?)));
            let Some((id, ddict)) = loaded else {
                tracing::error!(file = %path.display(), "event log: not a readable zstd dictionary; frames compressed with it cannot be read");
                continue;
            };
            readers.insert(id.get(), Arc::new(ddict));
            newest_loaded = Some(bytes);
        }
        // Only the newest compresses: its tables are built once, the others' never.
        let current = newest_loaded
            .and_then(|bytes| CDict::try_create(&bytes, LEVEL))
            .map(|cdict| {
                Arc::new(Current {
                    cdict,
                    baseline: Mutex::new(None),
                })
            });
        let sampling = current.is_none();
        let samples = Samples {
            wanted: sampling,
            ..Samples::default()
        };
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            readers: RwLock::new(readers),
            current: RwLock::new(current),
            newest: AtomicU64::new(newest),
            samples: Mutex::new(samples),
            sampling: AtomicBool::new(sampling),
            training: AtomicBool::new(false),
            failed: AtomicU64::new(0),
            raw: AtomicU64::new(0),
            packed: AtomicU64::new(0),
            sample_count: sample_count.max(1),
        }))
    }

    /// How many dictionaries the log has.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        read(&self.readers).len()
    }

    /// Whether appends compress with a dictionary now. A trained dictionary is added for
    /// readers a moment before appends start using it (see `training`), so a test that
    /// waits for [`Self::count`] alone may still append frames without it.
    #[cfg(test)]
    pub fn in_use(&self) -> bool {
        read(&self.current).is_some()
    }

    /// How many trainings failed.
    #[cfg(test)]
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// `payload` compressed against the current dictionary, if there is one and it makes the
    /// payload smaller; otherwise `None`, and the payload may be sampled for training.
    pub fn compress(self: &Arc<Self>, payload: &[u8]) -> Option<Vec<u8>> {
        let current = read(&self.current).clone();
        let Some(current) = current else {
            self.sample(payload);
            return None;
        };
        let frame = CCTX.with(|cell| {
            let mut cell = cell.borrow_mut();
            let cctx = cell.get_or_insert_with(CCtx::create);
            // zstd writes these frames without a checksum of their content, and the frame's
            // own CRC covers only the compressed bytes: this one catches a payload decoded
            // wrongly (a damaged dictionary).
            let mut out = vec![0; 4 + zstd::zstd_safe::compress_bound(payload.len())];
            out[..4].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
            let written = cctx
                .compress_using_cdict(&mut out[4..], payload, &current.cdict)
                .ok()?;
            out.truncate(4 + written);
            Some(out)
        })?;
        self.raw.fetch_add(payload.len() as u64, Ordering::Relaxed);
        self.packed.fetch_add(frame.len() as u64, Ordering::Relaxed);
        self.sample(payload);
        (frame.len() < payload.len()).then_some(frame)
    }

    /// The payload of a codec-2 frame's data: the payload's CRC-32 (u32 LE), then the zstd
    /// frame.
    pub fn decompress(&self, at: Position, data: &[u8]) -> Result<Vec<u8>, LogError> {
        let corrupt = |reason: String| LogError::Corrupt { at, reason };
        let (crc, data) = data
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("zstd data shorter than its checksum".into()))?;
        let crc = u32::from_le_bytes(*crc);
        let id = zstd::zstd_safe::get_dict_id_from_frame(data)
            .ok_or_else(|| corrupt("a zstd frame without a dictionary id".into()))?;
        let ddict = read(&self.readers)
            .get(&id.get())
            .cloned()
            .ok_or_else(|| corrupt(format!("zstd dictionary {id} is not in the log")))?;
        let size = match zstd::zstd_safe::get_frame_content_size(data) {
            Ok(Some(size)) if size <= MAX_FRAME_BYTES => size as usize,
            _ => return Err(corrupt("zstd frame without a size within the limit".into())),
        };
        DCTX.with(|cell| {
            let mut cell = cell.borrow_mut();
            let dctx = cell.get_or_insert_with(DCtx::create);
            let mut out = Vec::with_capacity(size);
            dctx.decompress_using_ddict(&mut out, data, &ddict)
                .map_err(|code| {
                    corrupt(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
                })?;
            if out.len() != size {
                return Err(corrupt("zstd frame shorter than its size".into()));
            }
            if crc32fast::hash(&out) != crc {
                return Err(corrupt(format!(
                    "the payload decoded with dictionary {id} fails its checksum (a damaged dictionary?)"
                )));
            }
            Ok(out)
        })
    }

    /// A segment was sealed: decides, from how its frames compressed, whether the traffic
    /// has changed enough to train a new dictionary.
    pub fn sealed(&self) {
        let raw = self.raw.swap(0, Ordering::Relaxed);
        let packed = self.packed.swap(0, Ordering::Relaxed);
        let Some(current) = read(&self.current).clone() else {
            return;
        };
        if raw == 0 {
            return;
        }
        let ratio = packed as f64 / raw as f64;
        let mut baseline = lock(&current.baseline);
        match *baseline {
            None => *baseline = Some(ratio),
            Some(first) if ratio > first * RETRAIN_WORSE => {
                tracing::info!(
                    ratio,
                    baseline = first,
                    "event log: frames compress worse than when the dictionary was trained; training another"
                );
                lock(&self.samples).wanted = true;
                self.sampling.store(true, Ordering::Relaxed);
            }
            Some(_) => {}
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
