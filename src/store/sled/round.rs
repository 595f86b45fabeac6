//! One writer batch (`writer.rs` gathers it): what its items need scanned before sled's
//! transaction (transactions cannot scan), one transaction for all of them, or one per
//! item when that aborts or panics, and the event-log frames of the plans that applied,
//! appended right after the commit at the positions the transaction indexed them at.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use sled::Transactional;
use sled::transaction::TransactionError;
use ulid::Ulid;

use super::keys::{self, Tree};
use super::log::EncodedFrame;
use super::ops;
use super::repair::RepairScan;
use super::tx::{Quarantined, Tx, TxResult};
#[cfg(test)]
use super::writer::Fault;
use super::writer::{Done, Shared, Work};
use crate::store::StoreError;

/// Applies one batch: prepares what must be read outside sled's transaction (scans), then
/// one transaction for all, or one per item when that fails.
pub fn round(
    trees: &[sled::Tree],
    shared: &Shared,
    work: &[Work],
) -> Vec<Result<Done, StoreError>> {
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

pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
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
