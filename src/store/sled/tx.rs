//! The writer's transaction: the trees by name, and what one batch accumulates.
//!
//! The closure handed to sled may run more than once (sled retries on conflict; with a
//! single writer that should not happen, and after a failed batch the writer re-runs items
//! one at a time), so nothing here has effects outside the transaction: ids are chosen and
//! values encoded before it runs, and logs and counters follow its commit (see `notes`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

#[cfg(test)]
use sled::transaction::ConflictableTransactionError;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

use ulid::Ulid;

use super::keys::{self, Tree};
use super::leases::Leases;
use crate::store::{Lease, StoreError};

/// Outbox index changes: a delivery's takeable time, or (`None`) gone from the outbox.
pub type OutboxChanges = Vec<(Ulid, Option<chrono::DateTime<chrono::Utc>>)>;

/// Callback writes: a callback's new bytes, or (`None`) its removal.
pub type CallbackChanges = Vec<(Ulid, Option<std::sync::Arc<[u8]>>)>;

pub type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

/// Aborts the transaction (test faults use it; items report their own failures as values).
#[cfg(test)]
pub fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// A record set aside inside the transaction: logged and counted once it commits.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub tree: &'static str,
    pub key: Vec<u8>,
    pub reason: String,
}

pub struct Tx<'a> {
    trees: &'a [TransactionalTree],
    pending_delta: Cell<i64>,
    /// The end of the last log frame whose writes this transaction made.
    log_applied: Cell<Option<u64>>,
    quarantined: RefCell<Vec<Quarantined>>,
    /// The store's delivery leases (the writer's transactions; none for migrations and
    /// redone frames, which never lease).
    leases: Option<&'a Leases>,
    /// Leases taken (`Some`) or ended (`None`) by this transaction, applied to `leases`
    /// once it commits.
    lease_changes: RefCell<HashMap<Ulid, Option<Lease>>>,
    /// What this transaction did to the outbox's time index (`outbox_index.rs`), in order,
    /// applied once it commits.
    outbox_changes: RefCell<OutboxChanges>,
    /// Callbacks written (their new bytes) or removed (`None`) by plans in this transaction,
    /// in order, for the writer's cache of them (`recent.rs`).
    callback_changes: RefCell<CallbackChanges>,
}

impl<'a> Tx<'a> {
    pub fn new(trees: &'a [TransactionalTree]) -> Self {
        Self {
            trees,
            pending_delta: Cell::new(0),
            log_applied: Cell::new(None),
            quarantined: RefCell::new(Vec::new()),
            leases: None,
            lease_changes: RefCell::new(HashMap::new()),
            outbox_changes: RefCell::new(Vec::new()),
            callback_changes: RefCell::new(Vec::new()),
        }
    }

    /// A transaction of the writer, which takes, gives back and checks leases.
    pub fn with_leases(trees: &'a [TransactionalTree], leases: &'a Leases) -> Self {
        Self {
            leases: Some(leases),
            ..Self::new(trees)
        }
    }

    /// The lease on delivery `id` as this transaction sees it.
    pub fn lease(&self, id: Ulid) -> Option<Lease> {
        match self.lease_changes.borrow().get(&id) {
            Some(changed) => *changed,
            None => self.leases.and_then(|l| l.get(id)),
        }
    }

    /// Takes (`Some`) or ends (`None`) the lease on delivery `id`, once this commits.
    pub fn set_lease(&self, id: Ulid, lease: Option<Lease>) {
        self.lease_changes.borrow_mut().insert(id, lease);
    }

    /// The lease changes to apply once the transaction has committed.
    pub fn lease_changes(&self) -> Vec<(Ulid, Option<Lease>)> {
        self.lease_changes.borrow_mut().drain().collect()
    }

    /// Records that delivery `id` may be taken from `at` on (`None`: it left the outbox).
    pub fn outbox_at(&self, id: Ulid, at: Option<chrono::DateTime<chrono::Utc>>) {
        self.outbox_changes.borrow_mut().push((id, at));
    }

    /// The outbox index changes to apply once the transaction has committed.
    pub fn outbox_changes(&self) -> OutboxChanges {
        std::mem::take(&mut *self.outbox_changes.borrow_mut())
    }

    /// Records that a plan wrote callback `key` (`None`: removed it).
    pub fn callback_written(&self, key: &[u8], bytes: Option<&[u8]>) {
        if let Ok(raw) = <[u8; 16]>::try_from(key) {
            self.callback_changes
                .borrow_mut()
                .push((Ulid::from_bytes(raw), bytes.map(std::sync::Arc::from)));
        }
    }

    /// The callback writes to publish once the transaction has committed.
    pub fn callback_changes(&self) -> CallbackChanges {
        std::mem::take(&mut *self.callback_changes.borrow_mut())
    }

    pub fn tree(&self, tree: Tree) -> &TransactionalTree {
        &self.trees[tree.index()]
    }

    /// Records that the log frames up to `end` are applied (written at `finish`).
    pub fn note_logged(&self, end: u64) {
        self.log_applied.set(Some(end));
    }

    pub fn add_pending(&self, delta: i64) {
        self.pending_delta.set(self.pending_delta.get() + delta);
    }

    /// Moves `tree[key]` (holding `bytes`) into the quarantine tree.
    pub fn quarantine(&self, tree: Tree, key: &[u8], bytes: &[u8], reason: String) -> TxResult<()> {
        self.tree(Tree::Quarantine)
            .insert(keys::quarantine(tree.name(), key), bytes)?;
        self.tree(tree).remove(key)?;
        if tree == Tree::Outbox
            && let Ok(raw) = <[u8; 16]>::try_from(key)
        {
            self.outbox_at(Ulid::from_bytes(raw), None);
        }
        self.quarantined.borrow_mut().push(Quarantined {
            tree: tree.name(),
            key: key.to_vec(),
            reason,
        });
        Ok(())
    }

    /// Writes what the transaction accumulated (the pending count) and hands back the
    /// records it set aside.
    pub fn finish(&self) -> TxResult<Vec<Quarantined>> {
        let delta = self.pending_delta.get();
        if delta != 0 {
            let meta = self.tree(Tree::Meta);
            let count = keys::count_from(meta.get(keys::PENDING_COUNT)?.as_deref());
            let count = count.saturating_add_signed(delta);
            meta.insert(keys::PENDING_COUNT, &count.to_be_bytes())?;
        }
        if let Some(end) = self.log_applied.get() {
            self.tree(Tree::Meta)
                .insert(keys::LOG_APPLIED, &end.to_be_bytes())?;
        }
        Ok(self.quarantined.borrow_mut().drain(..).collect())
    }
}
