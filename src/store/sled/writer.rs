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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use ulid::Ulid;

use super::encode::EncodedPlan;
use super::flusher::Flusher;
use super::log::Log;
use super::point::answer;
use super::purge::PurgePlan;
use super::repair::Repair;
use super::round::{panic_text, round};
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
/// writer parked on that lock and was woken again at every transaction; the writer is the
/// one thread that never waits for it, and under load it is awake anyway.
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
                answer(trees, job);
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
                Ok(Queued::Read(job)) => answer(trees, job),
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
