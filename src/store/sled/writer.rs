//! The single writer: every mutation goes through one thread, which takes whatever has
//! queued up (up to [`MAX_BATCH`]), applies it in one sled transaction, bumps the commit
//! generation and hands the generation to the flusher. Requests then await durability.
//!
//! One writer means transactions never conflict, a batch costs one transaction and one
//! flush however many webhooks it holds, and the async workers never block on sled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sled::Transactional;
use sled::transaction::TransactionError;
use tokio::sync::{mpsc, oneshot};

use super::apply::Tx;
use super::flusher::Flusher;
use super::keys;
use super::purge::{self, PurgePlan};
use crate::domain::callback::CallbackId;
use crate::domain::reminder::Delivery;
use crate::domain::rules::Rules;
use crate::store::{Claim, Receipt, StoreError};

pub const MAX_BATCH: usize = 512;
pub const QUEUE: usize = 8192;

/// One unit of work for the writer.
pub enum Work {
    Ingest(Box<crate::store::Ingest>),
    /// A tiny durable write (readiness probe).
    Probe(chrono::DateTime<chrono::Utc>),
    /// Issue the reminder rounds due at `claim.now`.
    Claim(Claim),
    /// Record what a transport reported for one delivery.
    Settle(ulid::Ulid, crate::domain::reminder::Settlement),
    /// A person's action on a callback.
    Act(crate::store::ActRequest),
    /// Recompute these callbacks' schedules under new rules.
    Reschedule(Vec<CallbackId>, Arc<Rules>),
    SaveRules(crate::store::RulesChange),
    NoteChat(crate::store::UnknownChat),
    SetMeta(&'static str, Vec<u8>),
    /// Delete what retention allows, before this time, a bounded batch.
    Purge(chrono::DateTime<chrono::Utc>, usize),
    /// Copy everything, with the data directory's (first) own files, into a new data
    /// directory (second). Runs alone, between batches.
    Backup(std::path::PathBuf, std::path::PathBuf),
}

/// What a unit of work produced.
pub enum Done {
    Ingest(Receipt),
    Probe,
    Claimed(Vec<Delivery>),
    Settled,
    Acted(crate::store::ActOutcome),
    Purged(crate::store::Purged),
    BackedUp(crate::store::Backup),
    Written,
}

/// Work plus where to send its result and commit generation.
pub struct Command {
    pub work: Work,
    pub reply: oneshot::Sender<Result<(Done, u64), StoreError>>,
}

pub fn spawn(
    trees: Vec<sled::Tree>,
    flusher: Arc<Flusher>,
    mut queue: mpsc::Receiver<Command>,
    failed: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("ringback-writer".into())
        .spawn(move || {
            let due = trees[keys::index_of(keys::DUE)].clone();
            let mut generation = 0u64;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            // A backup received while gathering a batch waits for that batch to be applied.
            let mut backup: Option<Command> = None;
            loop {
                if let Some(command) = backup.take() {
                    let result = match &command.work {
                        Work::Backup(data_dir, target) => {
                            super::backup::copy(&trees, data_dir, target)
                        }
                        _ => unreachable!("only backups are held back"),
                    };
                    let _ = command
                        .reply
                        .send(result.map(|b| (Done::BackedUp(b), generation)));
                }
                let Some(first) = queue.blocking_recv() else {
                    break;
                };
                if matches!(first.work, Work::Backup(..)) {
                    backup = Some(first);
                    continue;
                }
                batch.push(first);
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(c) if matches!(c.work, Work::Backup(..)) => {
                            backup = Some(c);
                            break;
                        }
                        Ok(c) => batch.push(c),
                        Err(_) => break,
                    }
                }
                let (work, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch)
                    .into_iter()
                    .map(|c| (c.work, c.reply))
                    .unzip();
                match apply(&trees, &due, &work) {
                    Ok(done) => {
                        generation += 1;
                        flusher.request(generation);
                        for (reply, result) in replies.into_iter().zip(done) {
                            let _ = reply.send(Ok((result, generation)));
                        }
                    }
                    Err(e) => {
                        if matches!(e, StoreError::Io(_)) {
                            failed.store(true, Ordering::SeqCst);
                        }
                        tracing::error!(error = %e, batch = replies.len(), "storage write failed");
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        })
        .expect("spawning the writer thread")
}

/// Keys of the `due` index at or before `claim.now`, oldest first. Read outside the
/// transaction (sled transactions cannot scan); safe because only this thread writes.
fn due_keys(due: &sled::Tree, claim: &Claim) -> Result<Vec<sled::IVec>, StoreError> {
    let end = keys::time(claim.now + chrono::Duration::milliseconds(1));
    due.range(..end.to_vec())
        .keys()
        .take(claim.limit)
        .map(|k| k.map_err(StoreError::from))
        .collect()
}

fn apply(trees: &[sled::Tree], due: &sled::Tree, work: &[Work]) -> Result<Vec<Done>, StoreError> {
    let claims: Vec<Vec<sled::IVec>> = work
        .iter()
        .map(|w| match w {
            Work::Claim(c) => due_keys(due, c),
            _ => Ok(Vec::new()),
        })
        .collect::<Result<_, _>>()?;
    let purges: Vec<PurgePlan> = work
        .iter()
        .map(|w| match w {
            Work::Purge(cutoff, limit) => purge::plan(trees, *cutoff, *limit),
            _ => Ok(PurgePlan::default()),
        })
        .collect::<Result<_, _>>()?;
    trees
        .transaction(|view| {
            let tx = Tx::new(view);
            work.iter()
                .zip(claims.iter().zip(&purges))
                .map(|(w, (ids, purge))| match w {
                    Work::Ingest(ing) => tx.ingest(ing).map(Done::Ingest),
                    Work::Probe(at) => {
                        tx.meta().insert("probe", at.to_rfc3339().as_bytes())?;
                        Ok(Done::Probe)
                    }
                    Work::Claim(claim) => tx.claim(ids, claim).map(Done::Claimed),
                    Work::Settle(id, settlement) => {
                        tx.settle(*id, settlement).map(|()| Done::Settled)
                    }
                    Work::Act(request) => tx.act(request).map(Done::Acted),
                    Work::Reschedule(ids, rules) => {
                        tx.reschedule(ids, rules).map(|()| Done::Written)
                    }
                    Work::SaveRules(change) => tx.save_rules(change).map(|()| Done::Written),
                    Work::NoteChat(chat) => tx.note_chat(chat).map(|()| Done::Written),
                    Work::SetMeta(key, value) => tx.set_meta(key, value).map(|()| Done::Written),
                    Work::Purge(..) => tx.purge(purge).map(Done::Purged),
                    Work::Backup(..) => unreachable!("backups never enter a transaction"),
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|done| tx.finish().map(|()| done))
        })
        .map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Io(e.to_string()),
        })
}
