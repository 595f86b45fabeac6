//! One open sled database with its writer and flusher threads. [`super::SledStore`] holds
//! the current one and replaces it after a storage failure (see its healer).

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::flusher::{Flusher, wait_durable};
use super::keys;
use super::log::{Log, LogOptions};
use super::outbox_index::OutboxIndex;
use super::recent::RecentCallbacks;
use super::writer::{self, Command, Done, Queued, Shared, Work};
use crate::store::StoreError;

/// sled's page cache; the default (1 GiB) is far more than a call centre's working set.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

pub struct Live {
    db: sled::Db,
    /// The event log (`<path>/log`): raw events and every plan's writes.
    pub log: Arc<Log>,
    /// Every tree, in `keys::WRITTEN_TREES` order (reads use them directly).
    pub trees: Arc<Vec<sled::Tree>>,
    /// Keyed reads other than a webhook's lookup (which the writer answers).
    pub point: super::point::PointReader,
    queue: Mutex<Option<mpsc::Sender<Queued>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    flusher: Arc<Flusher>,
    /// Set by the writer or flusher when sled reported an I/O error (sled 0.34 refuses every
    /// later write on that handle) or the writer ended: the database must be reopened.
    failed: Arc<AtomicBool>,
    /// Items the writer applied since this database was opened (see [`CHECKPOINT_AFTER`]).
    written: Arc<AtomicU64>,
    sled_path: std::path::PathBuf,
    /// When each outbox delivery may be taken (`outbox_index.rs`), built at this open.
    pub outbox: Arc<OutboxIndex>,
    /// Callbacks as the writer last committed them (`recent.rs`).
    pub recent: Arc<RecentCallbacks>,
}

/// Applied items since open past which closing the store opens sled once more, so that it
/// writes its recovery snapshot then (sled 0.34.7 writes one only when it opens a
/// database, and a start replays everything written since the last one: ~1.8 s after a
/// million webhooks). The wait moves from the next start to this stop, where nothing waits
/// for Ringback; below this a start replays little anyway.
const CHECKPOINT_AFTER: u64 = if cfg!(test) { 50 } else { 20_000 };

/// What the store shares with each database it opens.
#[derive(Clone, Default)]
pub struct Counters {
    pub quarantined: Arc<AtomicU64>,
    /// Made durable only at close, not per group commit: a store being rebuilt from scratch
    /// (`ringback replay`), which is started again into a new directory if it fails.
    pub deferred_sync: bool,
    /// Delivery leases (`leases.rs`): the store's, kept across a reopen.
    pub leases: Arc<super::leases::Leases>,
    #[cfg(test)]
    pub faults: Arc<std::sync::Mutex<std::collections::HashMap<String, writer::Fault>>>,
}

impl Live {
    /// Opens (creating if needed) the store under `path`, a directory only Ringback reads;
    /// migrates an older format and gives back leases held by a process that is gone.
    pub fn open(path: &Path, counters: &Counters) -> Result<Self, StoreError> {
        crate::data_dir::create_private(path)
            .map_err(|e| StoreError::unavailable_from(format!("creating {}", path.display()), e))?;
        let db = open_sled(&path.join("sled")).map_err(|e| opening_error(path, e))?;
        let trees: Vec<sled::Tree> = keys::WRITTEN_TREES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<_, _>>()
            .map_err(super::from_sled)?;
        let log = open_log(path, &trees)?;
        super::migrate::run(&db, &trees, &log)?;
        let redone = super::logged::redo(&trees, &log, applied_end(&trees)?)?;
        if redone.frames > 0 {
            tracing::info!(
                frames = redone.frames,
                unreadable = redone.unreadable,
                "writes acknowledged from the event log but not yet in sled were applied again"
            );
            db.flush().map_err(super::from_sled)?;
        }
        let outbox = super::migrate::outbox_at_open(&trees)?;
        if outbox.released > 0 {
            tracing::info!(
                deliveries = outbox.released,
                "deliveries being sent when Ringback last stopped will be sent again"
            );
        }
        let data_path = path.join("sled").join("db");
        let data_file = File::open(&data_path).map_err(|e| {
            StoreError::unavailable_from(format!("opening {}", data_path.display()), e)
        })?;
        // Make the files' directory entries durable once, so fdatasync of the data file
        // is enough from here on.
        for dir in [path.join("sled"), path.to_path_buf()] {
            File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| {
                StoreError::unavailable_from(format!("syncing {}", dir.display()), e)
            })?;
        }
        release_freed_memory();
        let failed = Arc::new(AtomicBool::new(false));
        let flusher = Arc::new(Flusher::start(
            db.clone(),
            data_file,
            Arc::clone(&log),
            Arc::clone(&failed),
            !counters.deferred_sync,
        ));
        let outbox_index = Arc::new(OutboxIndex::build(outbox.takeable));
        let recent = Arc::new(RecentCallbacks::default());
        let (queue, rx) = mpsc::channel(writer::QUEUE);
        let shared = Shared {
            flusher: Arc::clone(&flusher),
            log: Arc::clone(&log),
            failed: Arc::clone(&failed),
            quarantined: Arc::clone(&counters.quarantined),
            written: Arc::new(AtomicU64::new(0)),
            leases: Arc::clone(&counters.leases),
            outbox: Arc::clone(&outbox_index),
            recent: Arc::clone(&recent),
            #[cfg(test)]
            faults: Arc::clone(&counters.faults),
        };
        let written = Arc::clone(&shared.written);
        let writer = writer::spawn(trees.clone(), shared, rx);
        let trees = Arc::new(trees);
        Ok(Self {
            db,
            log,
            point: super::point::PointReader::start(Arc::clone(&trees)),
            trees,
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
            flusher,
            failed,
            written,
            sled_path: path.join("sled"),
            outbox: outbox_index,
            recent,
        })
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn sender(&self) -> Result<mpsc::Sender<Queued>, StoreError> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }

    /// Queues work for the writer and resolves with its result once it is durable.
    pub fn submit(&self, work: Work) -> BoxFuture<'static, Result<Done, StoreError>> {
        let queue = self.sender();
        let durable = self.flusher.subscribe();
        let failed = Arc::clone(&self.failed);
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            let writer_gone = || writer_gone(&failed);
            queue?
                .send(Queued::Write(Command { work, reply }))
                .await
                .map_err(|_| writer_gone())?;
            let (result, generation) = rx.await.map_err(|_| writer_gone())?;
            let done = result?;
            wait_durable(durable, generation).await?;
            Ok(done)
        })
    }

    /// Queues a read for the writer to answer between transactions (`writer::Queued`).
    /// The job replies itself; when the writer is gone this says so as a write would
    /// (unavailable, the store marked for reopening), so a webhook is told to retry.
    pub async fn read_on_writer(&self, job: super::point::Job) -> Result<(), StoreError> {
        self.sender()?
            .send(Queued::Read(job))
            .await
            .map_err(|_| writer_gone(&self.failed))
    }

    /// What a job queued for the writer gets when its reply never comes: the store's
    /// failure if it failed (the writer ended, or met an I/O error), else `None` (the job
    /// itself failed).
    pub fn writer_ended(&self) -> Option<StoreError> {
        self.failed().then(|| writer_gone(&self.failed))
    }

    /// Lets the writer drain its queue, stops both threads and flushes.
    pub fn close(&self) -> Result<(), StoreError> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
        self.point.stop();
        self.flusher.stop();
        self.db.flush().map_err(super::from_sled)?;
        Ok(())
    }

    /// Whether closing should end with a [`checkpoint`] (many writes since open, and none
    /// failed).
    pub fn wants_checkpoint(&self) -> bool {
        !self.failed() && self.written.load(Ordering::Relaxed) >= CHECKPOINT_AFTER
    }

    pub fn sled_path(&self) -> &Path {
        &self.sled_path
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// sled's database at `sled_path`, as Ringback configures it.
fn open_sled(sled_path: &Path) -> sled::Result<sled::Db> {
    sled::Config::new()
        .path(sled_path)
        .cache_capacity(CACHE_BYTES)
        .open()
}

/// The writer ended while work was queued for it: the store gets reopened (the healer),
/// and the caller is told to retry.
fn writer_gone(failed: &AtomicBool) -> StoreError {
    failed.store(true, Ordering::SeqCst);
    StoreError::unavailable("the storage writer stopped; reopening storage")
}

/// Waits until nothing holds sled's lock on its files (a `flock` on `sled/db`), for at most
/// `within`; whether it was released. The last handle on a database is not the last holder:
/// a segment write sled's own I/O threads still finish after `flush` has returned keeps the
/// file open a moment longer, and an open in that moment fails with "could not acquire
/// lock" (seen about once in twenty close-then-open tests). Probing with our own `flock` on
/// the file answers when sled has let go; it is dropped at once.
pub fn wait_until_released(sled_path: &Path, within: std::time::Duration) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(file) = File::open(sled_path.join("db")) else {
        return true; // no file, no lock
    };
    let deadline = std::time::Instant::now() + within;
    loop {
        // SAFETY: flock on a descriptor this function owns for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            // Closing the file below releases the probe's lock.
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Opens the closed sled database at `sled_path` once and closes it again: sled writes its
/// recovery snapshot while opening, so the next start replays nothing written before now.
/// Must run once every handle on the database is gone (sled locks its files).
pub fn checkpoint(sled_path: &Path) -> Result<std::time::Duration, StoreError> {
    let started = std::time::Instant::now();
    let db = open_sled(sled_path).map_err(super::from_sled)?;
    db.flush().map_err(super::from_sled)?;
    release(db, sled_path);
    Ok(started.elapsed())
}

/// Drops a handle on the sled database at `sled_path` (its last one) and waits, for at most
/// 10 s, until sled's own threads have let go of its files, so that whoever opens it next
/// (a restart, the healer, a restore, a test) does not meet sled's lock.
pub fn release(db: sled::Db, sled_path: &Path) {
    drop(db);
    if !wait_until_released(sled_path, std::time::Duration::from_secs(10)) {
        tracing::warn!(path = %sled_path.display(), "sled still held its files 10 s after the last handle was dropped");
    }
}

/// Where sled's state says the event log was applied up to (0: nothing logged yet).
fn applied_end(trees: &[sled::Tree]) -> Result<u64, StoreError> {
    let meta = &trees[keys::Tree::Meta.index()];
    Ok(meta
        .get(keys::LOG_APPLIED)
        .map_err(super::from_sled)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Opens the event log, cutting a torn tail; never below where sled's state already points
/// (frames lost in a crash before they were acknowledged must not have their positions
/// reused).
fn open_log(path: &Path, trees: &[sled::Tree]) -> Result<Arc<Log>, StoreError> {
    let dir = path.join("log");
    let (log, opened) = Log::open(&dir, LogOptions::default(), applied_end(trees)?)
        .map_err(|e| StoreError::unavailable_from(format!("opening {}", dir.display()), e))?;
    if opened.cut_bytes > 0 {
        tracing::warn!(
            bytes = opened.cut_bytes,
            "the event log ended in a torn record (a crash while writing it, before it was acknowledged); cut off"
        );
    }
    Ok(Arc::new(log))
}

/// sled 0.34.7 says "could not acquire lock" when another process holds the store: that is
/// not an I/O failure but the store being in use, said so that whoever started the second
/// process knows what to do (rather than sled's `Os { code: 11, … }`).
fn opening_error(path: &Path, e: sled::Error) -> StoreError {
    if e.to_string().contains("could not acquire lock") {
        let holder = lock_holder(&path.join("sled").join("db"))
            .map(|pid| format!(" (pid {pid}?)"))
            .unwrap_or_default();
        // What to do about it is the caller's to say (serve, migrate, copy-store, replay).
        StoreError::Busy(format!(
            "the data directory {} is in use by another ringback{holder}",
            path.display()
        ))
    } else {
        super::from_sled(e)
    }
}

/// The process holding sled's lock (a `flock` on its `db` file), as Linux's `/proc/locks`
/// names it; `None` elsewhere or when it cannot be told. Matched by inode only (the device
/// numbers differ under overlay file systems), hence the question mark in the message.
fn lock_holder(db: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(db).ok()?.ino().to_string();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 4321 00:2f:1234567 0 EOF" (waiters have "->" first).
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "FLOCK")?;
        let (pid, file) = (fields.get(at + 3)?, fields.get(at + 4)?);
        (file.rsplit(':').next() == Some(inode.as_str()) && !fields.contains(&"->"))
            .then(|| pid.parse().ok())
            .flatten()
    })
}

/// sled's recovery allocates about twice what it keeps (it rebuilds its page table from the
/// log); hands the freed pages back to the OS now instead of whenever the allocator would.
/// Measured on a store of 84 000 pending callbacks: resident memory after startup 82 → 73 MB.
/// Here rather than in start-up so a reopen after a storage error does it too.
fn release_freed_memory() {
    // SAFETY: `mi_collect` only walks mimalloc's own heaps and may be called from any thread
    // at any time; when mimalloc is not the global allocator (tests) it has nothing to do.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
