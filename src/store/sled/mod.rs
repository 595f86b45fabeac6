//! The sled backend: trees and keys in `keys`, record formats in `records`, plans turned
//! into checks and writes in `encode`, the single writer in `writer` (its work in `ops`,
//! retention in `purge`, repairs in `repair`, copies in `backup`), group commit in
//! `flusher`, reads in `read`, format migrations in `migrate`, one open database in `live`.
//! What sled 0.34.7 does and how this backend answers it: `docs/sled-0.34.md`.
//!
//! After a storage error (a full disk, a read-only file system) sled 0.34 refuses every
//! further write on that database handle; so does a writer thread that ended. A healer
//! thread therefore reopens the database — recovery replays sled's log up to the last
//! flush, so everything acknowledged is kept and nothing unacknowledged is — once the cause
//! is gone; until then writes answer [`StoreError::Unavailable`] and health says why.

mod backup;
mod encode;
mod flusher;
pub mod keys;
mod leases;
mod live;
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
mod transfer;
mod tx;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use ulid::Ulid;

use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::Delivery;
use crate::store::{
    Backup, CallbackDetail, CallbackReads, Cutoffs, Digests, EventLog, EventRecord, FileBackups,
    Found, Health, Lead, Leadership, LeaseOwner, Lifecycle, ListQuery, Lookup, Maintenance, Outbox,
    Page, Part, PendingBreakdown, PendingStats, Plan, Purged, Record, RulesChange, RulesStore,
    Secrets, Sessions, StoreError, StoreResult, Take, Taken, TelegramState, Transfer, UnknownChat,
    Version, Versioned,
};
use keys::Tree;
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

#[async_trait]
impl EventLog for SledStore {
    async fn event(&self, id: Ulid) -> StoreResult<Option<(EventRecord, Vec<u8>)>> {
        self.scan(move |r| r.event(id)).await
    }

    async fn events(&self, after: Option<Ulid>, limit: usize) -> StoreResult<Vec<EventRecord>> {
        self.scan(move |r| r.events(after, limit)).await
    }

    async fn unreadable_numbers(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<EventRecord>> {
        self.scan(move |r| r.unreadable_numbers(since, limit)).await
    }
}

#[async_trait]
impl CallbackReads for SledStore {
    async fn callback(&self, id: CallbackId) -> StoreResult<Option<Versioned<Callback>>> {
        // Written lately: as committed, without waiting behind the writer (`recent.rs`).
        if let Some(bytes) = self.live()?.recent.get(Ulid::from_bytes(id.to_bytes()))
            && let Ok(value) = records::decode_callback(&bytes)
        {
            return Ok(Some(Versioned {
                value,
                version: Version::from_bytes(&bytes),
            }));
        }
        self.point(move |r| r.callback(id)).await
    }

    async fn callbacks(&self, ids: Vec<CallbackId>) -> StoreResult<Vec<Versioned<Callback>>> {
        self.scan(move |r| r.callbacks(&ids)).await
    }

    async fn callback_detail(&self, id: CallbackId) -> StoreResult<Option<CallbackDetail>> {
        self.scan(move |r| r.detail(id)).await
    }

    async fn list_callbacks(&self, query: ListQuery) -> StoreResult<Page> {
        self.scan(move |r| r.list(&query)).await
    }

    async fn pending_stats(&self) -> StoreResult<PendingStats> {
        self.scan(|r| r.pending_stats()).await
    }

    async fn pending_breakdown(&self) -> StoreResult<PendingBreakdown> {
        self.scan(|r| r.pending_breakdown()).await
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Versioned<Callback>>> {
        // Stale index entries are dropped before this answers, so the next `next_due` does
        // not point at them again.
        self.read(Lane::Scan, true, move |r| r.due(now, limit))
            .await
            .map(|(due, _)| due)
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.scan(|r| r.next_due()).await
    }
}

#[async_trait]
impl Lifecycle for SledStore {
    async fn lookup(&self, lookup: Lookup) -> StoreResult<Found> {
        let again = lookup.clone();
        let (found, repaired) = self
            .read(Lane::Writer, true, move |r| r.lookup(&lookup))
            .await?;
        if !repaired {
            return Ok(found);
        }
        // Something read was set aside or pointed nowhere: read once more without it.
        self.read(Lane::Writer, true, move |r| r.lookup(&again))
            .await
            .map(|(found, _)| found)
    }

    async fn apply(&self, plan: Plan) -> StoreResult<()> {
        if plan.is_empty() {
            return Ok(());
        }
        let encoded = encode::encode(&plan, self.live()?.log.dictionaries())?;
        self.submit(Work::Apply(Box::new(encoded)))
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Outbox for SledStore {
    async fn take(&self, take: Take) -> StoreResult<Vec<Taken>> {
        match self.submit(Work::Take(take)).await? {
            Done::Taken(taken) => Ok(taken),
            _ => Err(StoreError::backend(
                "the writer answered a take with something else",
            )),
        }
    }

    async fn release(&self, owner: LeaseOwner, deliveries: Vec<Ulid>) -> StoreResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.submit(Work::Release(owner, deliveries))
            .await
            .map(|_| ())
    }

    async fn next_delivery_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        // In memory (`outbox_index.rs`): no read of sled.
        Ok(self.live()?.outbox.next(&self.inner.counters.leases))
    }

    async fn outbox(&self) -> StoreResult<Vec<Delivery>> {
        self.scan(|r| r.outbox()).await
    }
}

#[async_trait]
impl RulesStore for SledStore {
    async fn stored_rules(&self) -> StoreResult<Option<RulesChange>> {
        self.scan(|r| r.stored_rules()).await
    }

    async fn save_rules(&self, change: RulesChange) -> StoreResult<()> {
        self.submit(Work::SaveRules(Box::new(change)))
            .await
            .map(|_| ())
    }

    async fn rules_audit(&self, limit: usize) -> StoreResult<Vec<RulesChange>> {
        self.scan(move |r| r.rules_audit(limit)).await
    }

    async fn schedule_fingerprint(&self) -> StoreResult<Option<String>> {
        self.scan(|r| {
            Ok(r.meta(keys::SCHEDULE_RULES)?
                .map(|v| String::from_utf8_lossy(&v).into_owned()))
        })
        .await
    }

    async fn set_schedule_fingerprint(&self, fingerprint: String) -> StoreResult<()> {
        self.submit(Work::SetMeta(
            keys::SCHEDULE_RULES,
            fingerprint.into_bytes(),
        ))
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl TelegramState for SledStore {
    async fn telegram_offset(&self) -> StoreResult<i64> {
        self.scan(|r| {
            Ok(r.meta(keys::TELEGRAM_OFFSET)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(0, i64::from_be_bytes))
        })
        .await
    }

    async fn save_telegram_offset(&self, offset: i64) -> StoreResult<()> {
        self.submit(Work::SetMeta(
            keys::TELEGRAM_OFFSET,
            offset.to_be_bytes().to_vec(),
        ))
        .await
        .map(|_| ())
    }

    async fn note_unknown_chat(&self, chat: UnknownChat) -> StoreResult<()> {
        self.submit(Work::NoteChat(Box::new(chat)))
            .await
            .map(|_| ())
    }

    async fn unknown_chats(&self) -> StoreResult<Vec<UnknownChat>> {
        self.scan(|r| r.unknown_chats()).await
    }
}

#[async_trait]
impl Digests for SledStore {
    async fn last_digest(&self, schedule: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let schedule = schedule.to_string();
        self.scan(move |r| r.last_digest(&schedule)).await
    }
}

#[async_trait]
impl Maintenance for SledStore {
    async fn probe(&self) -> StoreResult<()> {
        self.submit(Work::Probe(Utc::now())).await.map(|_| ())
    }

    fn health(&self) -> Health {
        match self.inner.live() {
            Ok(live) if !live.failed() => Health::Ready,
            Ok(_) => Health::Unavailable(
                "storage failed (a full disk or a read-only file system?); reopening it".into(),
            ),
            Err(e) => Health::Unavailable(e.to_string()),
        }
    }

    async fn purge(&self, cutoffs: Cutoffs, limit: usize) -> StoreResult<Purged> {
        let live = self.live()?;
        let planning = Arc::clone(&live);
        let plan = tokio::task::spawn_blocking(move || {
            purge::plan(&planning.trees, &planning.log, cutoffs, limit)
        })
        .await
        .map_err(|e| StoreError::backend(format!("planning retention failed: {e}")))??;
        let purged = match live.submit(Work::Purge(Box::new(plan))).await? {
            Done::Purged(purged) => purged,
            _ => {
                return Err(StoreError::backend(
                    "the writer answered a purge with something else",
                ));
            }
        };
        // The last batch of events before the cutoff is gone: whole log segments older than
        // it can go too (a segment ends before the next one's first frame; only sealed ones).
        if let Some(cutoff) = cutoffs.events
            && purged.events < limit
        {
            let dropping = Arc::clone(&live);
            let (segments, bytes) = tokio::task::spawn_blocking(move || {
                dropping.log.drop_older_than(cutoff.timestamp_millis())
            })
            .await
            .map_err(|e| StoreError::backend(format!("dropping log segments failed: {e}")))?
            .map_err(|e| StoreError::unavailable_from("dropping old event log segments", e))?;
            if segments > 0 {
                tracing::info!(segments, bytes, "event log segments past retention deleted");
            }
        }
        Ok(purged)
    }

    fn quarantined(&self) -> u64 {
        self.inner.counters.quarantined.load(Ordering::Relaxed)
    }

    async fn close(&self) -> StoreResult<()> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.close())
            .await
            .map_err(|e| StoreError::backend(format!("closing storage failed: {e}")))?
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

#[async_trait]
impl FileBackups for SledStore {
    async fn backup(&self, target: PathBuf) -> StoreResult<Backup> {
        if self.inner.backup_running.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Busy(
                "a backup is running; try again when it is done".into(),
            ));
        }
        let result = self
            .submit(Work::Backup(self.inner.path.clone(), target))
            .await;
        self.inner.backup_running.store(false, Ordering::SeqCst);
        match result? {
            Done::BackedUp(backup) => Ok(backup),
            _ => Err(StoreError::backend(
                "the writer answered a backup with something else",
            )),
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Dropping the store closes the database (and releases sled's lock on its files).
        let _ = self.inner.close();
    }
}

/// Names of the secrets kept as files in the data directory.
fn secret_file(name: &str) -> Result<&str, StoreError> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        && !name.starts_with('.');
    if plain {
        Ok(name)
    } else {
        Err(StoreError::backend(format!(
            "{name:?} is not a secret's name"
        )))
    }
}

#[async_trait]
impl Secrets for SledStore {
    async fn secret(&self, name: &str, fresh: String) -> StoreResult<(String, bool)> {
        let path = self.inner.path.join(secret_file(name)?);
        tokio::task::spawn_blocking(move || {
            let io = |e: std::io::Error| {
                StoreError::unavailable_from(format!("reading or writing {}", path.display()), e)
            };
            if let Some(existing) = crate::data_dir::read_private(&path).map_err(io)? {
                return Ok((existing, false));
            }
            crate::data_dir::write_private(&path, &fresh).map_err(io)?;
            Ok((fresh, true))
        })
        .await
        .map_err(|e| StoreError::backend(format!("keeping a secret failed: {e}")))?
    }

    fn secret_location(&self, name: &str) -> String {
        self.inner.path.join(name).display().to_string()
    }
}

#[async_trait]
impl Sessions for SledStore {
    async fn end_session(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let key = keys::ended_session(id);
        let (forget, kept) = {
            let key = key.clone();
            self.scan(move |r| Ok((r.sessions_ended_before(now)?, r.meta_time(&key)?)))
                .await?
        };
        let mut plan = encode::EncodedPlan::default();
        for old in forget.into_iter().filter(|k| *k != key) {
            plan.remove(Tree::Meta, old);
        }
        // Ending a session again never shortens how long it is remembered.
        let until = kept.map_or(until, |kept| kept.max(until));
        plan.insert(Tree::Meta, key, keys::time(until).to_vec());
        self.submit(Work::Apply(Box::new(plan))).await.map(|_| ())
    }

    async fn session_ended(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.point(move |r| r.session_ended(&id)).await
    }
}

/// One process holds a sled store (sled locks its files), so it holds every role.
struct SoleProcess;

#[async_trait]
impl Lead for SoleProcess {
    async fn still_held(&mut self) -> bool {
        true
    }
}

#[async_trait]
impl Leadership for SledStore {
    async fn try_lead(&self, _role: &'static str) -> StoreResult<Option<Box<dyn Lead>>> {
        Ok(Some(Box::new(SoleProcess)))
    }
}

/// The secret files a data directory can hold.
const SECRET_FILES: [&str; 4] = ["webhook.token", "api.token", "links.token", "session.key"];

#[async_trait]
impl Transfer for SledStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        let trees_empty = self
            .scan(|r| {
                Ok([
                    Tree::Callbacks,
                    Tree::Events,
                    Tree::Calls,
                    Tree::Outbox,
                    Tree::RulesAudit,
                    Tree::LastAnswered,
                    Tree::EventDedup,
                ]
                .iter()
                .all(|t| r.tree(*t).is_empty()))
            })
            .await?;
        let path = self.inner.path.clone();
        let no_secrets = SECRET_FILES.iter().all(|f| !path.join(f).exists());
        Ok(trees_empty && no_secrets)
    }

    async fn export(
        &self,
        part: Part,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Record>, Option<String>)> {
        if part == Part::Secrets {
            let mut out = Vec::new();
            for name in SECRET_FILES {
                let path = self.inner.path.join(name);
                let read =
                    tokio::task::spawn_blocking(move || crate::data_dir::read_private(&path))
                        .await
                        .map_err(|e| StoreError::backend(e.to_string()))?
                        .map_err(|e| StoreError::unavailable_from("reading a secret", e))?;
                if let Some(value) = read {
                    out.push(Record::Secret {
                        name: name.to_string(),
                        value,
                    });
                }
            }
            return Ok((out, None));
        }
        let limit = limit.max(1);
        self.scan(move |r| transfer::export(r, part, after.as_deref(), limit))
            .await
    }

    async fn import(&self, records: Vec<Record>) -> StoreResult<()> {
        for record in &records {
            if let Record::Secret { name, value } = record {
                let (_, stored) = self.secret(name, value.clone()).await?;
                if !stored {
                    return Err(StoreError::Busy(format!("the target already has a {name}")));
                }
            }
        }
        let plan = transfer::import(&records, self.live()?.log.dictionaries());
        if plan.ops.is_empty() && plan.log.is_empty() {
            return Ok(());
        }
        self.submit(Work::Apply(Box::new(plan))).await.map(|_| ())
    }
}

impl crate::store::AppliedEvents for SledStore {
    fn for_each_applied(
        &self,
        since: Option<DateTime<Utc>>,
        each: &mut dyn FnMut(EventRecord, Vec<u8>) -> bool,
    ) -> StoreResult<u64> {
        let live = self.live()?;
        let since_ms = since.map(|s| s.timestamp_millis());
        let mut called = 0;
        // Frames are in the order their plans were applied (appended as each transaction
        // committed), which is the order to decide them again in.
        for item in live.log.scan(live.log.start()) {
            let scanned = match item {
                Ok(scanned) => scanned,
                Err(e) => {
                    tracing::error!(error = %e, "an event log frame could not be read; skipped");
                    continue;
                }
            };
            if since_ms.is_some_and(|s| scanned.time_ms < s) {
                continue;
            }
            let event = match logged::decode(&scanned.payload, false) {
                Ok(frame) => frame.event,
                Err(e) => {
                    tracing::error!(at = scanned.at, error = %e, "an event log frame could not be decoded; skipped");
                    continue;
                }
            };
            if let Some((record, body)) = event {
                called += 1;
                if !each(record, body) {
                    break;
                }
            }
        }
        Ok(called)
    }
}
