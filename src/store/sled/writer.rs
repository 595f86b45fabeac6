//! The single writer: every mutation goes through one thread, which takes whatever has
//! queued up (up to [`MAX_BATCH`]), applies it in one sled transaction, appends the event-log
//! frames of the plans it applied (at the positions the transaction indexed them at), bumps
//! the commit generation and hands the generation to the flusher — saying whether sled must
//! be flushed too (anything but plans and leases) or the log alone makes it durable.
//! Requests then await durability.
//!
//! One writer means transactions never conflict, a batch costs one transaction and one
//! flush however many webhooks it holds, and the async workers never block on sled.
//!
//! No single item can stop it. Each item's outcome is its own: a plan whose checks fail is
//! a conflict for that plan alone. Should applying the batch abort or panic, the batch is
//! run again one item per transaction, so only the item at fault fails; a panic anywhere
//! else in a round answers that round's items with an error and the loop goes on. If the
//! thread ends anyway, the store is marked failed and reopened (`SledStore`'s healer).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sled::Transactional;
use sled::transaction::TransactionError;
use tokio::sync::{mpsc, oneshot};
use ulid::Ulid;

use super::encode::EncodedPlan;
use super::flusher::Flusher;
use super::keys::{self, Tree};
use super::log::{EncodedFrame, Log};
use super::ops;
use super::purge::PurgePlan;
use super::repair::{Repair, RepairScan};
use super::tx::{Quarantined, Tx, TxResult};
use crate::store::{Backup, LeaseOwner, Purged, RulesChange, StoreError, Take, Taken, UnknownChat};

pub const MAX_BATCH: usize = 512;
pub const QUEUE: usize = 8192;

/// One unit of work for the writer.
pub enum Work {
    Apply(Box<EncodedPlan>),
    /// A tiny durable write (readiness probe).
    Probe(chrono::DateTime<chrono::Utc>),
    Take(Take),
    Release(LeaseOwner, Vec<Ulid>),
    SaveRules(Box<RulesChange>),
    NoteChat(Box<UnknownChat>),
    SetMeta(&'static str, Vec<u8>),
    /// Delete what retention found (planned outside the writer).
    Purge(Box<PurgePlan>),
    /// Set aside an unreadable record, or drop an index entry that points nowhere.
    Repair(Repair),
    /// Copy everything, with the data directory's (first) own files, into a new data
    /// directory (second). Runs alone, between batches.
    Backup(std::path::PathBuf, std::path::PathBuf),
}

/// What a unit of work produced.
pub enum Done {
    Applied,
    Taken(Vec<Taken>),
    Purged(Purged),
    BackedUp(Backup),
    Written,
}

/// Work plus where to send its result and commit generation.
pub struct Command {
    pub work: Work,
    pub reply: oneshot::Sender<(Result<Done, StoreError>, u64)>,
}

/// What the writer's queue carries: work for a transaction, or a webhook's lookup, which
/// the writer answers between its transactions. sled 0.34 makes every read outside a
/// transaction wait while one runs (docs/sled-0.34.md), so a reader thread beside the
/// writer spent its time parked on that lock and woken again; the writer is the one thread
/// that never waits for it, and under load it is awake anyway.
pub enum Queued {
    Write(Command),
    /// Runs at once, before the transaction of the batch it arrived with: it sees what
    /// was committed before, as any read would, and nothing of writes not yet answered.
    Read(super::point::Job),
}

/// What the thread shares with the store that owns it.
pub struct Shared {
    pub flusher: Arc<Flusher>,
    /// The event log: plans' frames are appended here once their transaction commits.
    pub log: Arc<Log>,
    /// Set when sled reported an I/O error or the thread ended: the store must be reopened.
    pub failed: Arc<AtomicBool>,
    pub quarantined: Arc<AtomicU64>,
    /// Items applied (counted for the checkpoint at close, `live.rs`).
    pub written: Arc<AtomicU64>,
    /// Delivery leases (`leases.rs`): changed here only, after a transaction commits.
    pub leases: Arc<super::leases::Leases>,
    /// When each outbox delivery may be taken (`outbox_index.rs`): changed here only, after
    /// a transaction commits.
    pub outbox: Arc<super::outbox_index::OutboxIndex>,
    /// Callbacks as last committed (`recent.rs`): changed here only, after a commit.
    pub recent: Arc<super::recent::RecentCallbacks>,
    #[cfg(test)]
    pub faults: Arc<std::sync::Mutex<std::collections::HashMap<String, Fault>>>,
}

/// A fault a test asks the writer to meet when it applies the plan storing an event of a
/// given call.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The transaction aborts with an error.
    Abort,
    /// The writer panics inside the transaction.
    Panic,
}

pub fn spawn(
    trees: Vec<sled::Tree>,
    shared: Shared,
    queue: mpsc::Receiver<Queued>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("ringback-writer".into())
        .spawn(move || run(&trees, &shared, queue))
        .expect("spawning the writer thread")
}

/// Marks the store failed if the thread ends other than by its queue closing.
struct Watchdog<'a> {
    failed: &'a AtomicBool,
    clean: bool,
}

impl Drop for Watchdog<'_> {
    fn drop(&mut self) {
        if !self.clean {
            tracing::error!("the storage writer stopped unexpectedly; reopening storage");
            self.failed.store(true, Ordering::SeqCst);
        }
    }
}

fn run(trees: &[sled::Tree], shared: &Shared, mut queue: mpsc::Receiver<Queued>) {
    let mut watchdog = Watchdog {
        failed: &shared.failed,
        clean: false,
    };
    let mut generation = 0u64;
    let mut batch: Vec<Command> = Vec::with_capacity(MAX_BATCH);
    // A backup received while gathering a batch waits for that batch to be applied.
    let mut backup: Option<Command> = None;
    loop {
        if let Some(command) = backup.take() {
            let result = match &command.work {
                Work::Backup(data_dir, target) => {
                    super::backup::copy(trees, &shared.log, data_dir, target)
                }
                _ => unreachable!("only backups are held back"),
            };
            let _ = command.reply.send((result.map(Done::BackedUp), generation));
        }
        let first = match queue.blocking_recv() {
            None => break,
            Some(Queued::Read(job)) => {
                read(trees, job);
                continue;
            }
            Some(Queued::Write(first)) => first,
        };
        if matches!(first.work, Work::Backup(..)) {
            backup = Some(first);
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Queued::Read(job)) => read(trees, job),
                Ok(Queued::Write(c)) if matches!(c.work, Work::Backup(..)) => {
                    backup = Some(c);
                    break;
                }
                Ok(Queued::Write(c)) => batch.push(c),
                Err(_) => break,
            }
        }
        let (work, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch)
            .into_iter()
            .map(|c| (c.work, c.reply))
            .unzip();
        let results = match catch_unwind(AssertUnwindSafe(|| round(trees, shared, &work))) {
            Ok(results) => results,
            Err(panic) => {
                let why = panic_text(&panic);
                tracing::error!(panic = %why, items = work.len(), "the storage writer panicked outside a transaction; those writes failed");
                work.iter()
                    .map(|_| Err(StoreError::backend(format!("the writer failed: {why}"))))
                    .collect()
            }
        };
        let applied = results.iter().filter(|r| r.is_ok()).count();
        shared.written.fetch_add(applied as u64, Ordering::Relaxed);
        if applied > 0 {
            // Plans are durable by their log frames, and leases need no durability (every
            // lease found at open is released); anything else needs sled flushed (which also
            // covers every earlier plan's writes).
            let needs_sled = work
                .iter()
                .zip(&results)
                .any(|(w, r)| r.is_ok() && needs_sled_flushed(w));
            generation += 1;
            shared.flusher.request(generation, needs_sled);
        }
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send((result, generation));
        }
    }
    watchdog.clean = true;
}

/// Answers a read; a read that panics fails its own request (its reply is dropped), not
/// the writer.
fn read(trees: &[sled::Tree], job: super::point::Job) {
    let _ = catch_unwind(AssertUnwindSafe(|| job(trees)));
}

/// Whether `work`, once applied, is durable only when sled has flushed it.
fn needs_sled_flushed(work: &Work) -> bool {
    match work {
        Work::Apply(plan) => !plan.logged,
        // A lease lost in a crash is no loss: every lease found at open belonged to a
        // process that is gone and is released (`migrate::outbox_at_open`).
        Work::Take(_) | Work::Release(..) => false,
        _ => true,
    }
}

/// Applies one batch: prepares what must be read outside sled's transaction (scans), then
/// one transaction for all, or one per item when that fails.
fn round(trees: &[sled::Tree], shared: &Shared, work: &[Work]) -> Vec<Result<Done, StoreError>> {
    let scans: Vec<Scan> = work.iter().map(|w| scan(trees, shared, w)).collect();
    match transact(trees, shared, work, &scans) {
        Ok(results) => results,
        Err(Failure::Storage(e)) => {
            shared.failed.store(true, Ordering::SeqCst);
            tracing::error!(error = %e.describe(), batch = work.len(), "storage write failed");
            work.iter().map(|_| Err(e.clone())).collect()
        }
        Err(failure) => {
            tracing::warn!(reason = %failure, batch = work.len(), "a storage batch failed; applying its items one at a time");
            work.iter()
                .zip(&scans)
                .map(|(w, s)| {
                    match transact(trees, shared, std::slice::from_ref(w), std::slice::from_ref(s)) {
                        Ok(mut one) => one.pop().unwrap_or_else(|| Err(StoreError::backend("no result"))),
                        Err(Failure::Storage(e)) => {
                            shared.failed.store(true, Ordering::SeqCst);
                            Err(e)
                        }
                        Err(failure) => {
                            let (event, call) = match w {
                                Work::Apply(plan) => (plan.event.map(|e| e.to_string()), plan.call_id.clone()),
                                _ => (None, None),
                            };
                            tracing::error!(reason = %failure, event = event.as_deref().unwrap_or("-"), call = call.as_deref().unwrap_or("-"), "a storage write failed on its own; only it is refused");
                            Err(StoreError::backend(failure.to_string()))
                        }
                    }
                })
                .collect()
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{}", .0.describe())]
    Storage(StoreError),
    #[error("aborted: {}", .0.describe())]
    Aborted(StoreError),
    #[error("panicked: {0}")]
    Panicked(String),
}

/// One sled transaction over `work`: per item an outcome (a conflict is an outcome, not a
/// failure), then the batch's pending count.
fn transact(
    trees: &[sled::Tree],
    shared: &Shared,
    work: &[Work],
    scans: &[Scan],
) -> Result<Vec<Result<Done, StoreError>>, Failure> {
    // Room in the log for every frame first: a full disk fails the batch before sled has
    // any of it (see `log/reserve.rs`).
    let room: u64 = work
        .iter()
        .filter_map(|w| match w {
            Work::Apply(plan) => Some(plan.log.iter().map(|e| e.frame.len()).sum::<u64>()),
            _ => None,
        })
        .sum();
    shared
        .log
        .reserve(room)
        .map_err(|e| Failure::Storage(StoreError::unavailable_from("event log full", e)))?;
    let log_start = shared.log.end();
    let run = || {
        trees.transaction(|view| {
            let tx = Tx::with_leases(view, &shared.leases);
            let log_end = Cell::new(log_start);
            let mut results = Vec::with_capacity(work.len());
            for (w, s) in work.iter().zip(scans) {
                results.push(item(&tx, shared, w, s, &log_end)?);
            }
            let quarantined = tx.finish()?;
            let changes = (
                tx.lease_changes(),
                tx.outbox_changes(),
                tx.callback_changes(),
            );
            Ok((results, quarantined, changes))
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok((results, quarantined, (leases, outbox, callbacks)))) => {
            shared.leases.apply(leases);
            shared.outbox.apply(outbox);
            // Retention and repairs remove callbacks without saying which to the cache.
            if work
                .iter()
                .any(|w| matches!(w, Work::Purge(_) | Work::Repair(_)))
            {
                shared.recent.clear();
            }
            shared.recent.apply(callbacks);
            note_quarantined(shared, &quarantined);
            append_frames(shared, work, results, log_start)
        }
        Ok(Err(TransactionError::Abort(e))) => Err(Failure::Aborted(e)),
        Ok(Err(TransactionError::Storage(e))) => Err(Failure::Storage(super::from_sled(e))),
        Err(panic) => Err(Failure::Panicked(panic_text(&panic))),
    }
}

/// Appends the log frames of the plans the transaction applied, where the transaction
/// placed them. If the log cannot take them, those plans fail (they are in sled but not
/// durable; the store is reopened) — nothing is answered as durable that is not.
fn append_frames(
    shared: &Shared,
    work: &[Work],
    mut results: Vec<Result<Done, StoreError>>,
    log_start: u64,
) -> Result<Vec<Result<Done, StoreError>>, Failure> {
    let frames: Vec<EncodedFrame> = work
        .iter()
        .zip(&results)
        .filter_map(|(w, r)| match (w, r) {
            (Work::Apply(plan), Ok(_)) => Some(plan.log.iter().map(|e| e.frame.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    if frames.is_empty() {
        return Ok(results);
    }
    let appended = shared.log.append(&frames);
    let placed = match &appended {
        Ok(at) => at.first() == Some(&log_start),
        Err(_) => false,
    };
    if !placed {
        let why = match appended {
            Err(e) => format!("appending to the event log failed: {e}"),
            Ok(_) => "the event log placed frames elsewhere than planned".to_string(),
        };
        tracing::error!(error = %why, "storage write failed");
        shared.failed.store(true, Ordering::SeqCst);
        for (w, r) in work.iter().zip(results.iter_mut()) {
            if matches!(w, Work::Apply(plan) if !plan.log.is_empty()) && r.is_ok() {
                *r = Err(StoreError::unavailable(why.clone()));
            }
        }
    }
    Ok(results)
}

fn note_quarantined(shared: &Shared, quarantined: &[Quarantined]) {
    for q in quarantined {
        shared.quarantined.fetch_add(1, Ordering::Relaxed);
        let key: String = q.key.iter().map(|b| format!("{b:02x}")).collect();
        tracing::warn!(tree = q.tree, key = %key, reason = %q.reason, "an unreadable stored record was set aside (quarantined); it is kept in the quarantine tree");
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// What an item needs read before the transaction (sled transactions cannot scan; safe
/// because only this thread writes).
enum Scan {
    None,
    Take(Vec<Ulid>),
    Repair(RepairScan),
}

fn scan(trees: &[sled::Tree], shared: &Shared, work: &Work) -> Scan {
    match work {
        Work::Take(take) => {
            // Twice the limit: some candidates may turn out not to be takeable.
            let ids = shared
                .outbox
                .due(take.now, take.limit.saturating_mul(2), |id| {
                    shared.leases.held_at(id, take.now)
                });
            Scan::Take(ids)
        }
        Work::Repair(repair) => Scan::Repair(super::repair::scan(trees, repair)),
        _ => Scan::None,
    }
}

/// One item inside the transaction. `Ok(Err(_))` is this item's own failure (a conflict),
/// `Err(_)` aborts the transaction.
fn item(
    tx: &Tx,
    shared: &Shared,
    work: &Work,
    scan: &Scan,
    log_end: &Cell<u64>,
) -> TxResult<Result<Done, StoreError>> {
    #[cfg(test)]
    if let Work::Apply(plan) = work
        && let Some(call) = &plan.call_id
    {
        let fault = shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(call)
            .copied();
        match fault {
            Some(Fault::Abort) => {
                return Err(super::tx::abort(StoreError::backend("test fault: abort")));
            }
            Some(Fault::Panic) => panic!("test fault: the writer panics on call {call}"),
            None => {}
        }
    }
    #[cfg(not(test))]
    let _ = shared;
    Ok(match (work, scan) {
        (Work::Apply(plan), _) => ops::apply(tx, plan, log_end)?.map(|()| Done::Applied),
        (Work::Probe(at), _) => {
            tx.tree(Tree::Meta)
                .insert(keys::PROBE, at.to_rfc3339().as_bytes())?;
            Ok(Done::Written)
        }
        (Work::Take(take), Scan::Take(candidates)) => {
            Ok(Done::Taken(ops::take(tx, take, candidates)?))
        }
        (Work::Release(owner, ids), _) => {
            ops::release(tx, *owner, ids);
            Ok(Done::Written)
        }
        (Work::SaveRules(change), _) => {
            ops::save_rules(tx, change)?;
            Ok(Done::Written)
        }
        (Work::NoteChat(chat), _) => {
            ops::note_chat(tx, chat)?;
            Ok(Done::Written)
        }
        (Work::SetMeta(key, value), _) => {
            tx.tree(Tree::Meta).insert(*key, value.as_slice())?;
            Ok(Done::Written)
        }
        (Work::Purge(plan), _) => Ok(Done::Purged(super::purge::apply(tx, plan)?)),
        (Work::Repair(repair), Scan::Repair(found)) => {
            super::repair::apply(tx, repair, found)?;
            Ok(Done::Written)
        }
        (Work::Take(_) | Work::Repair(_), _) => Err(StoreError::backend("work without its scan")),
        (Work::Backup(..), _) => Err(StoreError::backend("a backup never enters a transaction")),
    })
}
