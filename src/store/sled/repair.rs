//! Keeping one bad record from hurting the rest. Reads that meet a record they cannot
//! decode skip it and ask the writer to set it aside (the `quarantine` tree keeps its
//! bytes, under `tree ++ 0 ++ key`), together with every index entry that points at it, so
//! no later scan meets it again; index entries that point at nothing are dropped. Each
//! repair is checked again inside the writer's transaction before anything moves.

use super::keys::{self, Tree};
use super::records;
use super::tx::{Tx, TxResult};
use crate::domain::callback::{Callback, TimelineEntry};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// A record that could not be read.
    Quarantine {
        tree: Tree,
        key: Vec<u8>,
        reason: String,
    },
    /// A `due` key whose callback is gone or wakes at another time.
    StaleDue(Vec<u8>),
    /// A `pending_by_customer` key whose callback is gone or no longer pending.
    StalePending(Vec<u8>),
}

/// Index entries that point at a record being set aside (found by scanning, before the
/// transaction).
#[derive(Debug, Default)]
pub struct RepairScan {
    entries: Vec<(Tree, sled::IVec)>,
}

pub fn scan(trees: &[sled::Tree], repair: &Repair) -> RepairScan {
    let Repair::Quarantine { tree, key, .. } = repair else {
        return RepairScan::default();
    };
    let tree_of = |t: Tree| &trees[t.index()];
    let mut entries = Vec::new();
    let mut suffix_matches = |t: Tree| {
        for k in tree_of(t).iter().keys().flatten() {
            if k.get(8..) == Some(key.as_slice()) {
                entries.push((t, k));
            }
        }
    };
    match tree {
        Tree::Callbacks => {
            suffix_matches(Tree::PendingByAge);
            suffix_matches(Tree::Due);
            suffix_matches(Tree::ResolvedByTime);
            for (k, v) in tree_of(Tree::PendingByCustomer).iter().flatten() {
                if v.as_ref() == key.as_slice() {
                    entries.push((Tree::PendingByCustomer, k));
                }
            }
            for k in tree_of(Tree::Timeline).scan_prefix(key).keys().flatten() {
                entries.push((Tree::Timeline, k));
            }
        }
        Tree::Events => {
            for k in tree_of(Tree::EventBodies).scan_prefix(key).keys().flatten() {
                entries.push((Tree::EventBodies, k));
            }
        }
        _ => {}
    }
    RepairScan { entries }
}

/// Whether `bytes` read as the record `tree` holds.
fn readable(tree: Tree, bytes: &[u8]) -> bool {
    match tree {
        Tree::Callbacks => records::decode_callback(bytes).is_ok(),
        Tree::Calls => records::decode_call(bytes).is_ok(),
        Tree::Outbox => records::decode_delivery(bytes).is_ok(),
        Tree::Events => super::logged::index_from(bytes).is_some(),
        Tree::Timeline => records::decode::<Vec<TimelineEntry>>("timeline entry", bytes).is_ok(),
        Tree::RulesAudit => {
            records::decode::<crate::store::RulesChange>("rules change", bytes).is_ok()
        }
        Tree::UnknownChats => {
            records::decode::<crate::store::UnknownChat>("unknown chat", bytes).is_ok()
        }
        // The only record decoded from `meta` is the stored rules.
        Tree::Meta => records::decode::<crate::store::RulesChange>("stored rules", bytes).is_ok(),
        _ => true,
    }
}

pub fn apply(tx: &Tx, repair: &Repair, scan: &RepairScan) -> TxResult<()> {
    match repair {
        Repair::Quarantine { tree, key, reason } => {
            let Some(bytes) = tx.tree(*tree).get(key)? else {
                return Ok(());
            };
            if readable(*tree, &bytes) {
                return Ok(());
            }
            tx.quarantine(*tree, key, &bytes, reason.clone())?;
            for (index, entry) in &scan.entries {
                let Some(value) = tx.tree(*index).get(entry)? else {
                    continue;
                };
                match index {
                    Tree::PendingByAge => tx.add_pending(-1),
                    // The lost callback's timeline goes with it, to the same place.
                    Tree::Timeline => {
                        tx.tree(Tree::Quarantine)
                            .insert(keys::quarantine(index.name(), entry), value)?;
                    }
                    _ => {}
                }
                tx.tree(*index).remove(entry)?;
            }
        }
        Repair::StaleDue(key) => {
            let Some(id) = keys::callback_from_index(key) else {
                tx.tree(Tree::Due).remove(key.as_slice())?;
                return Ok(());
            };
            let wakes_here = tx
                .tree(Tree::Callbacks)
                .get(id.to_bytes())?
                .and_then(|b| records::decode_callback(&b).ok())
                .and_then(|cb| cb.next_wake())
                .is_some_and(|at| keys::by_time(at, id).as_slice() == key.as_slice());
            if !wakes_here {
                tx.tree(Tree::Due).remove(key.as_slice())?;
            }
        }
        Repair::StalePending(customer) => {
            let Some(value) = tx.tree(Tree::PendingByCustomer).get(customer)? else {
                return Ok(());
            };
            let stored = match keys::callback_id_from(&value) {
                Some(id) => tx.tree(Tree::Callbacks).get(id.to_bytes())?,
                None => None,
            };
            let still_pending = stored
                .and_then(|b| records::decode_callback(&b).ok())
                .is_some_and(|cb: Callback| {
                    cb.is_pending() && cb.customer_number.as_str().as_bytes() == customer.as_slice()
                });
            if !still_pending {
                tx.tree(Tree::PendingByCustomer)
                    .remove(customer.as_slice())?;
            }
        }
    }
    Ok(())
}
