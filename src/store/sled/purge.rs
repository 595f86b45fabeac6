//! Retention (`[storage].retention`): resolved callbacks and raw events older than the
//! cutoff are deleted, a bounded batch at a time, by the writer (so webhooks interleave).
//!
//! What goes, per tree:
//! - `resolved_by_time` up to the cutoff → the entry, its `callbacks` record and its
//!   `timeline` entries (keys `id ++ 0..timeline_len`; no scan needed);
//! - `events` with an id (ULID: receive time first) before the cutoff → the event, its
//!   `event_bodies` chunks (their count follows from `body_len`), and its call's `calls`
//!   record once every delivery seen for that call is itself older than the cutoff;
//! - `event_dedup` entries pointing at an event before the cutoff.
//!
//! Pending callbacks, the outbox, `last_answered` (one small entry per customer), the rules
//! audit and unknown chats are kept. The keys are found outside the transaction (sled
//! transactions cannot scan), which is safe because only the writer thread writes; inside
//! it each callback and call is checked again before it is removed.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::apply::{Tx, TxResult, abort};
use super::codec::{StoredCall, decode, decode_event};
use super::keys;
use crate::store::{Purged, StoreError};

/// The keys one purge batch removes.
#[derive(Debug, Default)]
pub struct PurgePlan {
    cutoff: Option<DateTime<Utc>>,
    resolved: Vec<sled::IVec>,
    events: Vec<sled::IVec>,
    dedup: Vec<sled::IVec>,
}

/// The smallest event id stamped at `cutoff`: everything before it is older.
fn first_id_at(cutoff: DateTime<Utc>) -> [u8; 16] {
    let ms = u64::try_from(cutoff.timestamp_millis()).unwrap_or(0);
    Ulid::from_parts(ms, 0).to_bytes()
}

/// Finds up to `limit` resolved callbacks, events and dedup entries older than `cutoff`.
pub fn plan(
    trees: &[sled::Tree],
    cutoff: DateTime<Utc>,
    limit: usize,
) -> Result<PurgePlan, StoreError> {
    let tree = |name| &trees[keys::index_of(name)];
    let first_kept = first_id_at(cutoff);
    let collect = |iter: sled::Iter| -> Result<Vec<sled::IVec>, StoreError> {
        iter.keys()
            .take(limit)
            .map(|k| k.map_err(StoreError::from))
            .collect()
    };
    let resolved = collect(tree(keys::RESOLVED_BY_TIME).range(..keys::time(cutoff).to_vec()))?;
    let events = collect(tree(keys::EVENTS).range(..first_kept.to_vec()))?;
    let mut dedup = Vec::new();
    for entry in tree(keys::EVENT_DEDUP).iter() {
        let (key, event) = entry?;
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

impl Tx<'_> {
    /// Removes what `plan` found (see the module documentation).
    pub fn purge(&self, plan: &PurgePlan) -> TxResult<Purged> {
        let mut purged = Purged::default();
        let Some(cutoff) = plan.cutoff else {
            return Ok(purged);
        };
        let first_kept = first_id_at(cutoff);
        for index_key in &plan.resolved {
            let Some(id) = keys::callback_from_index(index_key) else {
                continue;
            };
            if let Some(cb) = self.callback(id)? {
                if cb.is_pending() {
                    continue; // never: a pending callback is not in this index
                }
                for seq in 0..cb.timeline_len {
                    self.timeline().remove(&keys::timeline(id, seq))?;
                }
                self.callbacks().remove(&id.to_bytes())?;
                purged.callbacks += 1;
            }
            self.resolved_by_time().remove(index_key)?;
        }
        for event_key in &plan.events {
            let Some(value) = self.events().get(event_key)? else {
                continue;
            };
            let (record, _) = decode_event(&value).map_err(abort)?;
            let body_len = record.body_len as usize;
            if body_len > keys::BODY_INLINE {
                let id = record.id.to_bytes();
                for chunk in 0..body_len.div_ceil(keys::BODY_CHUNK) {
                    let n = u32::try_from(chunk).unwrap_or(u32::MAX);
                    self.bodies().remove(&keys::body_chunk(id, n))?;
                }
            }
            self.events().remove(event_key)?;
            purged.events += 1;
            if let Some(call_id) = record.call_id.as_deref()
                && let Some(bytes) = self.calls().get(call_id.as_bytes())?
            {
                let call: StoredCall = decode("call record", &bytes).map_err(abort)?;
                if call.seen.iter().all(|d| d.event.to_bytes() < first_kept) {
                    self.calls().remove(call_id.as_bytes())?;
                    purged.calls += 1;
                }
            }
        }
        for key in &plan.dedup {
            self.dedup().remove(key)?;
        }
        Ok(purged)
    }
}
