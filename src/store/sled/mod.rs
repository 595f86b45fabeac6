//! The sled backend: trees and keys in `keys`, record formats in `records`, plans turned
//! into checks and writes in `encode`, the single writer in `writer` (its work in `ops`,
//! retention in `purge`, repairs in `repair`, copies in `backup`), group commit in
//! `flusher`, reads in `read`, format migrations in `migrate`, one open database in `live`;
//! the store contract in `traits` (callbacks, outbox, rules, upkeep) and `admin` (backups,
//! secrets, sessions, leadership, copying).
//! What sled 0.34.7 does and how this backend answers it: `docs/sled-0.34.md`.
//!
//! After a storage error (a full disk, a read-only file system) sled 0.34 refuses every
//! further write on that database handle; so does a writer thread that ended. A healer
//! thread therefore reopens the database — recovery replays sled's log up to the last
//! flush, so everything acknowledged is kept and nothing unacknowledged is — once the cause
//! is gone; until then writes answer [`StoreError::Unavailable`] and health says why.

mod admin;
mod backup;
mod encode;
mod flusher;
pub mod keys;
mod leases;
mod live;
/// Letting go of a sled database opened directly (a checkpoint, a backup's copy, a test
/// working on a closed store's files) so that the next open does not meet its lock.
pub use live::release;
mod log;
mod logged;
mod migrate;
mod ops;
mod outbox_index;
mod packed;
mod point;
mod purge;
mod read;
mod recent;
mod records;
mod repair;
mod round;
mod traits;
mod transfer;
mod tx;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::store::{StoreError, StoreResult};
use live::{Counters, Live};
use read::Reader;
use writer::{Done, Work};

/// Where a read runs: a webhook's lookup on the writer thread, other keyed reads of a few
/// records on the point reader thread, scans on the blocking pool.
#[derive(Clone, Copy)]
enum Lane {
    /// A webhook's lookup: on the writer thread, between its transactions.
    Writer,
    Point,
    Scan,
}

/// How often the healer looks at a failed store.
const HEAL_EVERY: Duration = Duration::from_secs(2);

pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The open database; `None` while a failed one is being replaced, or once closed.
    live: RwLock<Option<Arc<Live>>>,
    counters: Counters,
    backup_running: AtomicBool,
    /// Set when closing: the healer stops.
    closing: Mutex<bool>,
    wake_healer: Condvar,
    healer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A sled error as a store error: corruption is corruption, anything else is the disk or
/// the file system failing (unavailable until the store is reopened).
fn from_sled(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => StoreError::corrupt("sled page", e),
        other => StoreError::unavailable_from("storage I/O failed", other),
    }
}

impl SledStore {
    /// Opens (creating if needed) the store under `path`, a directory only Ringback reads.
    /// Blocking: callers on a runtime use `store::open`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Counters::default())
    }

    /// Opens a store that is made durable only when it is closed (not per group commit):
    /// for a store being rebuilt from scratch (`ringback replay`), many times faster to fill,
    /// and started again into a new directory should it fail part way.
    pub fn open_deferred(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(
            path,
            Counters {
                deferred_sync: true,
                ..Counters::default()
            },
        )
    }

    fn open_with(path: &Path, counters: Counters) -> Result<Self, StoreError> {
        let live = Live::open(path, &counters)?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            live: RwLock::new(Some(Arc::new(live))),
            counters,
            backup_running: AtomicBool::new(false),
            closing: Mutex::new(false),
            wake_healer: Condvar::new(),
            healer: Mutex::new(None),
        });
        let healer_inner = Arc::clone(&inner);
        let healer = std::thread::Builder::new()
            .name("ringback-storage-healer".into())
            .spawn(move || heal_until_closed(&healer_inner))
            .map_err(|e| StoreError::unavailable_from("starting the storage healer", e))?;
        *inner.healer.lock().unwrap_or_else(|e| e.into_inner()) = Some(healer);
        Ok(Self { inner })
    }

    fn live(&self) -> Result<Arc<Live>, StoreError> {
        self.inner.live()
    }

    fn submit(&self, work: Work) -> BoxFuture<'static, Result<Done, StoreError>> {
        match self.live() {
            Ok(live) => live.submit(work),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    /// Runs a read on a blocking thread; repairs it found go to the writer (`await_repairs`:
    /// durably, before this returns; otherwise in the background).
    async fn read<T: Send + 'static>(
        &self,
        lane: Lane,
        await_repairs: bool,
        read: impl FnOnce(&mut Reader) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<(T, bool)> {
        let live = self.live()?;
        let failed = || StoreError::backend("a storage read failed");
        let (result, repairs) = match lane {
            Lane::Scan => {
                let reading = Arc::clone(&live);
                tokio::task::spawn_blocking(move || {
                    let mut reader = Reader::new(&reading.trees, Some(&reading.log));
                    let result = read(&mut reader);
                    (result, reader.repairs)
                })
                .await
                .map_err(|e| StoreError::backend(format!("a storage read failed: {e}")))?
            }
            Lane::Point | Lane::Writer => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let job: point::Job = Box::new(move |trees| {
                    let mut reader = Reader::new(trees, None);
                    let result = read(&mut reader);
                    let _ = reply.send((result, reader.repairs));
                });
                match lane {
                    Lane::Writer => live.read_on_writer(job).await?,
                    _ if !live.point.run(job) => return Err(failed()),
                    _ => {}
                }
                answer.await.map_err(|_| match lane {
                    Lane::Writer => live.writer_ended().unwrap_or_else(failed),
                    _ => failed(),
                })?
            }
        };
        let repaired = !repairs.is_empty();
        let pending: Vec<_> = repairs
            .into_iter()
            .map(|r| live.submit(Work::Repair(r)))
            .collect();
        if await_repairs {
            for repair in pending {
                repair.await?;
            }
        } else if repaired {
            tokio::spawn(async move {
                for repair in pending {
                    if let Err(e) = repair.await {
                        tracing::warn!(error = %e.describe(), "a storage repair failed; it is tried again at the next read");
                    }
                }
            });
        }
        Ok((result?, repaired))
    }

    /// A read whose repairs may finish in the background.
    async fn scan<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Reader) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.read(Lane::Scan, false, read)
            .await
            .map(|(value, _)| value)
    }

    /// A keyed read of a few records (see `point.rs`).
    async fn point<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Reader) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.read(Lane::Point, false, read)
            .await
            .map(|(value, _)| value)
    }

    /// Test support: the writer meets `fault` when it applies a plan storing an event of
    /// the call `call_id`.
    #[cfg(test)]
    pub fn inject_fault(&self, call_id: &str, fault: writer::Fault) {
        self.inner
            .counters
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(call_id.to_string(), fault);
    }
}

impl Inner {
    fn live(&self) -> Result<Arc<Live>, StoreError> {
        match self.live.read().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(live) => Ok(live),
            None if *self.closing.lock().unwrap_or_else(|e| e.into_inner()) => {
                Err(StoreError::Closed)
            }
            None => Err(StoreError::unavailable(
                "storage is being reopened after an error",
            )),
        }
    }

    fn failed(&self) -> bool {
        self.live().map_or(true, |l| l.failed())
    }

    /// Reopens the database if it failed. `Ok(true)` when it was reopened.
    fn heal(&self) -> Result<bool, StoreError> {
        if !self.failed() {
            return Ok(false);
        }
        let old = self.live.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(old) = old {
            let _ = close_and_release(old);
        }
        let reopened = Live::open(&self.path, &self.counters)?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(reopened));
        tracing::warn!(path = %self.path.display(), "storage reopened after an error; accepting writes again");
        Ok(true)
    }
}

fn heal_until_closed(inner: &Inner) {
    loop {
        {
            let closing = inner.closing.lock().unwrap_or_else(|e| e.into_inner());
            let (closing, _) = inner
                .wake_healer
                .wait_timeout(closing, HEAL_EVERY)
                .unwrap_or_else(|e| e.into_inner());
            if *closing {
                return;
            }
        }
        if let Err(e) = inner.heal() {
            tracing::error!(error = %e.describe(), "storage still failing; retrying in 2 s");
        }
    }
}

impl Inner {
    fn close(&self) -> StoreResult<()> {
        *self.closing.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake_healer.notify_all();
        if let Some(healer) = self.healer.lock().unwrap_or_else(|e| e.into_inner()).take()
            && healer.thread().id() != std::thread::current().id()
        {
            let _ = healer.join();
        }
        match self.live.write().unwrap_or_else(|e| e.into_inner()).take() {
            Some(live) => close_and_release(live),
            None => Ok(()),
        }
    }
}

/// Closes a database and waits (briefly) for in-flight reads to let go of it: sled's lock
/// on its files is only released with the last handle, and a restart opens them again.
/// After many writes, sled is opened once more (a checkpoint: see `live::checkpoint`) so the
/// next start is quick.
fn close_and_release(live: Arc<Live>) -> StoreResult<()> {
    let closed = live.close();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&live) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let checkpoint = (closed.is_ok() && live.wants_checkpoint() && Arc::strong_count(&live) == 1)
        .then(|| live.sled_path().to_path_buf());
    let sled_path = live.sled_path().to_path_buf();
    drop(live);
    // Closed means the files are free: a reopen (the healer's, a restart's, the checkpoint's
    // just below) must not meet sled's lock still held by its own I/O threads.
    if !live::wait_until_released(&sled_path, Duration::from_secs(10)) {
        tracing::warn!("storage closed, but sled still held its files after 10 s");
    }
    if let Some(sled_path) = checkpoint {
        match live::checkpoint(&sled_path) {
            Ok(took) => {
                tracing::info!(took = ?took, "storage checkpointed at close: the next start replays nothing written before it")
            }
            // The next start replays more; nothing is lost.
            Err(e) => {
                tracing::warn!(error = %e.describe(), "storage could not be checkpointed at close; the next start takes longer")
            }
        }
    }
    closed
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Dropping the store closes the database (and releases sled's lock on its files).
        let _ = self.inner.close();
    }
}
