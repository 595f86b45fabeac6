//! Retention (`[storage].retention`, `raw_retention`): resolved callbacks and raw events
//! older than their cutoffs are deleted, a bounded batch at a time, by the writer (so
//! webhooks interleave).
//!
//! What goes, per tree:
//! - `resolved_by_time` up to the callbacks' cutoff → the entry, its `callbacks` record and
//!   its `timeline` entries (keys `id ++ 0..timeline_len`; no scan needed);
//! - `events` with an id (ULID: receive time first) before the events' cutoff → the index
//!   entry, and its call's `calls` record once every delivery seen for that call is itself
//!   older than the cutoff (the call is read from the event's log frame while planning); the
//!   log's segments go whole once no event before the cutoff is left (`SledStore::purge`);
//! - `event_dedup` entries pointing at an event before the cutoff.
//!
//! Pending callbacks, the outbox, `last_answered` (one small entry per customer), the rules
//! audit and unknown chats are kept. The keys are found by [`plan`], which scans outside the
//! writer (off its thread, so webhooks do not wait for the scan); inside the transaction
//! each callback and call is checked again before it is removed.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::keys::{self, Tree};
use super::log::Log;
use super::logged;
use super::records;
use super::tx::{Tx, TxResult};
use crate::store::{Cutoffs, Purged, StoreError};

/// The keys one purge batch removes.
#[derive(Debug, Default)]
pub struct PurgePlan {
    /// The events' cutoff (calls and dedup entries follow their events).
    cutoff: Option<DateTime<Utc>>,
    resolved: Vec<sled::IVec>,
    /// Event index keys, with the call each event belongs to.
    events: Vec<(sled::IVec, Option<String>)>,
    dedup: Vec<sled::IVec>,
}

/// The smallest event id stamped at `cutoff`: everything before it is older.
fn first_id_at(cutoff: DateTime<Utc>) -> [u8; 16] {
    let ms = u64::try_from(cutoff.timestamp_millis()).unwrap_or(0);
    Ulid::from_parts(ms, 0).to_bytes()
}

/// Finds up to `limit` resolved callbacks, events and dedup entries older than their
/// cutoffs.
pub fn plan(
    trees: &[sled::Tree],
    log: &Log,
    cutoffs: Cutoffs,
    limit: usize,
) -> Result<PurgePlan, StoreError> {
    let tree = |t: Tree| &trees[t.index()];
    let collect = |iter: sled::Iter| -> Result<Vec<sled::IVec>, StoreError> {
        iter.keys()
            .take(limit)
            .map(|k| k.map_err(super::from_sled))
            .collect()
    };
    let resolved = match cutoffs.callbacks {
        Some(cutoff) => collect(tree(Tree::ResolvedByTime).range(..keys::time(cutoff).to_vec()))?,
        None => Vec::new(),
    };
    let Some(cutoff) = cutoffs.events else {
        return Ok(PurgePlan {
            cutoff: None,
            resolved,
            events: Vec::new(),
            dedup: Vec::new(),
        });
    };
    let first_kept = first_id_at(cutoff);
    let events = collect(tree(Tree::Events).range(..first_kept.to_vec()))?
        .into_iter()
        .map(|key| {
            let call = tree(Tree::Events)
                .get(&key)
                .ok()
                .flatten()
                .and_then(|index| logged::index_from(&index))
                .and_then(|(at, _)| log.read(at).ok())
                .and_then(|payload| logged::decode(&payload, false).ok())
                .and_then(|frame| frame.event)
                .and_then(|(record, _)| record.call_id);
            (key, call)
        })
        .collect();
    let mut dedup = Vec::new();
    for entry in tree(Tree::EventDedup).iter() {
        let (key, event) = entry.map_err(super::from_sled)?;
        if event.as_ref() < &first_kept[..] {
            dedup.push(key);
            if dedup.len() == limit {
                break;
            }
        }
    }
    Ok(PurgePlan {
        cutoff: Some(cutoff),
        resolved,
        events,
        dedup,
    })
}

/// Removes what `plan` found (see the module documentation).
pub fn apply(tx: &Tx, plan: &PurgePlan) -> TxResult<Purged> {
    let mut purged = Purged::default();
    for index_key in &plan.resolved {
        let Some(id) = keys::callback_from_index(index_key) else {
            continue;
        };
        if let Some(bytes) = tx.tree(Tree::Callbacks).get(id.to_bytes())? {
            match records::decode_callback(&bytes) {
                Ok(cb) if cb.is_pending() => continue, // never: not in this index
                _ => {}
            }
            // An unreadable one is past its retention too: it goes.
            let timeline_len = records::timeline_len(&bytes).unwrap_or(0);
            for seq in 0..timeline_len {
                tx.tree(Tree::Timeline).remove(&keys::timeline(id, seq))?;
            }
            tx.tree(Tree::Callbacks).remove(&id.to_bytes())?;
            purged.callbacks += 1;
        }
        tx.tree(Tree::ResolvedByTime).remove(index_key)?;
    }
    let Some(cutoff) = plan.cutoff else {
        return Ok(purged);
    };
    let first_kept = first_id_at(cutoff);
    for (event_key, call_id) in &plan.events {
        if tx.tree(Tree::Events).remove(event_key)?.is_none() {
            continue;
        }
        purged.events += 1;
        if let Some(call_id) = call_id.as_deref()
            && let Some(bytes) = tx.tree(Tree::Calls).get(call_id.as_bytes())?
        {
            let done = records::decode_call(&bytes)
                .map(|call| call.seen.iter().all(|d| d.event.to_bytes() < first_kept))
                .unwrap_or(true);
            if done {
                tx.tree(Tree::Calls).remove(call_id.as_bytes())?;
                purged.calls += 1;
            }
        }
    }
    for key in &plan.dedup {
        tx.tree(Tree::EventDedup).remove(key)?;
    }
    Ok(purged)
}
