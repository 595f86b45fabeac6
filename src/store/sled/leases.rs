//! Delivery leases, held in memory, not in sled.
//!
//! A lease only has to outlive the process that holds it: every lease found at open
//! belonged to a process that is gone (sled lets one process at a time open a store), so
//! the backend gave them all back at open anyway (`migrate::outbox_at_open`, which
//! still clears the leases a build before this one wrote into sled). Writing them cost
//! three sled writes per delivery taken and three more to give one back — about a sixth of
//! a scheduler tick. The contract is unchanged: one taker until the lease runs out, a
//! settlement from someone whose lease is gone conflicts, a release gives it back.
//!
//! Only the writer thread changes the table, and only after its transaction commits (a
//! transaction closure may run more than once): inside it, changes go to the transaction's
//! own overlay (`tx.rs`), which later items of the same batch see. Readers (the next
//! takeable time) read the table as it is. The table belongs to the store, not to one sled
//! handle, so a reopen after a storage error keeps the leases of sends under way.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::store::Lease;

#[derive(Default)]
pub struct Leases {
    held: Mutex<HashMap<Ulid, Lease>>,
}

impl Leases {
    /// The lease on delivery `id`, if one was taken and not given back (it may have run
    /// out: its `until` says).
    pub fn get(&self, id: Ulid) -> Option<Lease> {
        self.lock().get(&id).copied()
    }

    /// Records what a committed transaction did: a lease taken, or (`None`) given back,
    /// settled, or its delivery gone.
    pub fn apply(&self, changes: impl IntoIterator<Item = (Ulid, Option<Lease>)>) {
        let mut held = self.lock();
        for (id, lease) in changes {
            match lease {
                Some(lease) => held.insert(id, lease),
                None => held.remove(&id),
            };
        }
    }

    /// Whether delivery `id` is held by a lease that has not run out at `now`.
    pub fn held_at(&self, id: Ulid, now: DateTime<Utc>) -> bool {
        self.get(id).is_some_and(|l| l.holds_at(now))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Ulid, Lease>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}
