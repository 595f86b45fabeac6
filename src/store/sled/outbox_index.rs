//! When each delivery in the outbox may next be taken, held in memory, not in sled.
//!
//! The outbox holds only deliveries not yet settled, so it is small (a claim's deliveries
//! until they are sent, and retries waiting). A tree of its times cost two sled writes per
//! delivery — one when it was recorded, one when it was settled — about a fifth of a
//! scheduler tick (sled 0.34 copies a whole leaf per write, `docs/sled-0.34.md`). Like the
//! leases (`leases.rs`), this index is derived state: the store builds it from the outbox
//! each time it opens (`migrate::outbox_at_open`, after the event log is redone, reading the
//! outbox it reads anyway to give back leases), and a reopen after a storage error builds a
//! new one.
//!
//! Only the writer thread changes it, and only after its transaction commits; inside one,
//! changes go to the transaction's overlay (`tx.rs`). Every change to an outbox record goes
//! through the writer and says what it does to the index: a delivery recorded or moved
//! (`EncodedPlan::outbox`), settled, or set aside as unreadable (`Tx::quarantine`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::leases::Leases;

#[derive(Default)]
pub struct OutboxIndex {
    inner: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    by_time: BTreeSet<(DateTime<Utc>, Ulid)>,
    at: HashMap<Ulid, DateTime<Utc>>,
}

impl Index {
    fn set(&mut self, id: Ulid, at: Option<DateTime<Utc>>) {
        if let Some(old) = self.at.remove(&id) {
            self.by_time.remove(&(old, id));
        }
        if let Some(at) = at {
            self.at.insert(id, at);
            self.by_time.insert((at, id));
        }
    }
}

impl OutboxIndex {
    /// The index of an outbox holding `deliveries` (id, and when each may be taken).
    pub fn build(deliveries: impl IntoIterator<Item = (Ulid, DateTime<Utc>)>) -> Self {
        let mut index = Index::default();
        for (id, at) in deliveries {
            index.set(id, Some(at));
        }
        Self {
            inner: Mutex::new(index),
        }
    }

    /// Records what a committed transaction did: a delivery recorded or moved to a time
    /// (`Some`), or gone from the outbox (`None`).
    pub fn apply(&self, changes: impl IntoIterator<Item = (Ulid, Option<DateTime<Utc>>)>) {
        let mut index = self.lock();
        for (id, at) in changes {
            index.set(id, at);
        }
    }

    /// Up to `limit` deliveries takeable by their time at `now`, earliest first, passing
    /// over those `skip` says (held by a lease).
    pub fn due(&self, now: DateTime<Utc>, limit: usize, skip: impl Fn(Ulid) -> bool) -> Vec<Ulid> {
        self.lock()
            .by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .filter(|id| !skip(*id))
            .take(limit)
            .collect()
    }

    /// When the next delivery may be taken: the earliest not being sent, or the end of a
    /// lease before it. Deliveries being sent come first (they were due when taken), so
    /// this looks at as many as are being sent, plus one.
    pub fn next(&self, leases: &Leases) -> Option<DateTime<Utc>> {
        let index = self.lock();
        let mut next: Option<DateTime<Utc>> = None;
        for (at, id) in &index.by_time {
            match leases.get(*id) {
                // Takeable when the lease runs out (or at its own time, if later).
                Some(lease) => {
                    let at = (*at).max(lease.until);
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                None => return Some(next.map_or(*at, |n| n.min(*at))),
            }
        }
        next
    }

    /// Deliveries in the outbox.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().at.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::values::t;
    use crate::store::{Lease, LeaseOwner};

    fn id(n: u128) -> Ulid {
        Ulid::from_parts(1, n)
    }

    #[test]
    fn deliveries_come_due_in_time_order_and_move_when_retried() {
        let index = OutboxIndex::build([(id(1), t(30)), (id(2), t(10)), (id(3), t(20))]);
        assert_eq!(index.due(t(20), 10, |_| false), vec![id(2), id(3)]);
        assert_eq!(index.due(t(20), 1, |_| false), vec![id(2)]);
        assert_eq!(index.due(t(20), 10, |d| d == id(2)), vec![id(3)]);
        // Retried later, then settled.
        index.apply([(id(2), Some(t(40))), (id(3), None)]);
        assert_eq!(index.due(t(35), 10, |_| false), vec![id(1)]);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn the_next_takeable_time_waits_for_leases_to_run_out() {
        let index = OutboxIndex::build([(id(1), t(10)), (id(2), t(50))]);
        let leases = Leases::default();
        assert_eq!(index.next(&leases), Some(t(10)));
        let lease = |until| Lease {
            owner: LeaseOwner(id(9)),
            until,
        };
        leases.apply([(id(1), Some(lease(t(30))))]);
        assert_eq!(index.next(&leases), Some(t(30)));
        leases.apply([(id(1), Some(lease(t(70))))]);
        assert_eq!(index.next(&leases), Some(t(50)));
        index.apply([(id(2), None)]);
        assert_eq!(index.next(&leases), Some(t(70)));
        index.apply([(id(1), None)]);
        assert_eq!(index.next(&leases), None);
    }
}
