//! What the writer does with each kind of work inside its transaction: apply an encoded
//! plan (compare, then write), lease deliveries, give leases back, and the small writes.

use std::cell::Cell;

use ulid::Ulid;

use super::encode::{EncodedPlan, Op};
use super::keys::{self, Tree};
use super::log::Position;
use super::logged;
use super::records;
use super::tx::{Tx, TxResult};
use crate::store::{Lease, LeaseOwner, RulesChange, StoreError, Take, Taken, UnknownChat, Version};

/// Applies `plan` when every check holds; `Ok(Err(Conflict))` and nothing written when one
/// does not. Its log frames are placed from `log_end` on (the writer appends them once the
/// transaction commits), and each event is indexed at its frame.
pub fn apply(
    tx: &Tx,
    plan: &EncodedPlan,
    log_end: &Cell<Position>,
) -> TxResult<Result<(), StoreError>> {
    for check in &plan.checks {
        let current = tx.tree(check.tree).get(&check.key)?;
        if current.as_deref() != check.expect.as_deref() {
            return Ok(Err(StoreError::Conflict));
        }
    }
    if let Some((id, lease)) = plan.settles {
        // Settled only by whoever holds it: a lease that ran out and was taken by someone
        // else (or given back) makes this settlement theirs to make, not ours.
        if tx.lease(id) != Some(lease) {
            return Ok(Err(StoreError::Conflict));
        }
        tx.set_lease(id, None);
    }
    write(tx, &plan.ops)?;
    for (id, at) in &plan.outbox {
        tx.outbox_at(*id, *at);
    }
    tx.add_pending(plan.pending_delta);
    for entry in &plan.log {
        let at = log_end.get();
        log_end.set(at + entry.frame.len());
        if let Some(id) = entry.event {
            tx.tree(Tree::Events)
                .insert(&id.to_bytes(), &logged::index_value(at, entry.flags))?;
        }
        tx.note_logged(log_end.get());
    }
    Ok(Ok(()))
}

/// Does `ops` (a plan's writes, or a log frame's when they are done again).
pub fn write(tx: &Tx, ops: &[Op]) -> TxResult<()> {
    for op in ops {
        match op {
            Op::Insert(tree, key, value) => {
                tx.tree(*tree).insert(key.as_slice(), value.as_slice())?;
                if *tree == Tree::Callbacks {
                    tx.callback_written(key, Some(value));
                }
            }
            Op::Remove(tree, key) => {
                tx.tree(*tree).remove(key.as_slice())?;
                if *tree == Tree::Callbacks {
                    tx.callback_written(key, None);
                }
            }
        }
    }
    Ok(())
}

/// Leases the takeable deliveries among `candidates` (the outbox index's, up to
/// `take.now`), at most `take.limit`. Each is checked again here: a candidate settled or
/// taken since is skipped; one that cannot be read is set aside.
pub fn take(tx: &Tx, take: &Take, candidates: &[Ulid]) -> TxResult<Vec<Taken>> {
    let mut taken = Vec::new();
    for &id in candidates {
        if taken.len() >= take.limit {
            break;
        }
        let Some(bytes) = tx.tree(Tree::Outbox).get(id.to_bytes())? else {
            // Settled earlier in this batch.
            continue;
        };
        let stored = match records::decode_delivery(&bytes) {
            Ok(d) => d,
            Err(e) => {
                tx.quarantine(Tree::Outbox, &id.to_bytes(), &bytes, e.to_string())?;
                continue;
            }
        };
        let held = tx.lease(id).is_some_and(|l| l.holds_at(take.now));
        if held || stored.takeable_at() > take.now {
            continue;
        }
        // In memory only (`leases.rs`): the delivery's record stays as it is, and a
        // settlement checks both the record and the lease.
        let lease = Lease {
            owner: take.owner,
            until: take.until,
        };
        tx.set_lease(id, Some(lease));
        taken.push(Taken {
            delivery: stored.delivery,
            lease,
            version: Version::from_bytes(&bytes),
        });
    }
    Ok(taken)
}

/// Ends `owner`'s leases on `ids`, making them takeable at their own time again (their
/// entries never moved).
pub fn release(tx: &Tx, owner: LeaseOwner, ids: &[Ulid]) {
    for id in ids {
        if tx.lease(*id).is_some_and(|l| l.owner == owner) {
            tx.set_lease(*id, None);
        }
    }
}

/// Replaces (or, for a reset, removes) the stored editable rules and appends the change to
/// the audit trail.
pub fn save_rules(tx: &Tx, change: &RulesChange) -> TxResult<()> {
    let value = records::encode(change);
    if change.reset {
        tx.tree(Tree::Meta).remove(keys::STORED_RULES)?;
    } else {
        tx.tree(Tree::Meta)
            .insert(keys::STORED_RULES, value.as_slice())?;
    }
    let key = keys::by_time(
        change.at,
        crate::domain::callback::CallbackId::new(change.id),
    );
    tx.tree(Tree::RulesAudit).insert(&key, value)?;
    Ok(())
}

/// Records a message from an unknown Telegram chat, keeping when it was first seen.
pub fn note_chat(tx: &Tx, chat: &UnknownChat) -> TxResult<()> {
    let key = keys::signed(chat.chat_id);
    let mut record = chat.clone();
    if let Some(bytes) = tx.tree(Tree::UnknownChats).get(key)?
        && let Ok(previous) = records::decode::<UnknownChat>("unknown chat", &bytes)
    {
        record.first_seen = previous.first_seen;
        record.messages = previous.messages.saturating_add(1);
    }
    tx.tree(Tree::UnknownChats)
        .insert(&key, records::encode(&record))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sled::Transactional;

    use super::*;
    use crate::store::contract::values::{delivery, t};
    use crate::store::sled::leases::Leases;
    use crate::store::sled::log::Dictionaries;
    use crate::store::{Plan, SettleWrite};

    fn owner(n: u128) -> LeaseOwner {
        LeaseOwner(Ulid::from_parts(9, n))
    }

    fn asking(now: i64, who: u128) -> Take {
        Take {
            now: t(now),
            owner: owner(who),
            until: t(now + 5),
            limit: 10,
        }
    }

    /// One writer transaction over `trees` with `leases`, its changes applied once it
    /// commits (as `round.rs` does).
    fn transaction<T>(
        trees: &[sled::Tree],
        leases: &Leases,
        body: impl Fn(&Tx) -> TxResult<T>,
    ) -> T {
        let (out, changes) = trees
            .transaction(|view| {
                let tx = Tx::with_leases(view, leases);
                let out = body(&tx)?;
                Ok((out, tx.lease_changes()))
            })
            .map_err(|e: sled::transaction::TransactionError<StoreError>| e.to_string())
            .unwrap();
        leases.apply(changes);
        out
    }

    /// A lease that ran out is taken again and the late holder's settlement comes in the
    /// same writer batch, after the new take: it must see the new lease, not the table as
    /// it was before the batch, or the delivery would be settled under the new holder.
    #[test]
    fn a_settlement_in_the_batch_that_took_the_delivery_again_conflicts() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees: Vec<sled::Tree> = keys::WRITTEN_TREES
            .iter()
            .map(|name| db.open_tree(name).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let dictionaries: Arc<Dictionaries> = Dictionaries::open(dir.path(), 1).unwrap();
        let leases = Leases::default();
        let d = delivery(1, 0);
        trees[Tree::Outbox.index()]
            .insert(d.id.to_bytes(), records::encode_delivery(&d, None))
            .unwrap();
        // The outbox index's candidates, as the writer finds them before each transaction.
        let candidates = || vec![d.id];

        let due = candidates();
        let first = transaction(&trees, &leases, |tx| super::take(tx, &asking(0, 1), &due));
        assert_eq!(first.len(), 1);
        assert_eq!(leases.get(d.id), Some(first[0].lease));
        // Nothing about the lease went into sled: the record is as it was.
        assert_eq!(
            trees[Tree::Outbox.index()]
                .get(d.id.to_bytes())
                .unwrap()
                .unwrap(),
            records::encode_delivery(&d, None)
        );

        let late = super::super::encode::encode(
            &Plan {
                settle: Some(SettleWrite {
                    taken: first[0].clone(),
                    keep: None,
                }),
                ..Plan::default()
            },
            &dictionaries,
        )
        .unwrap();
        let log_end = Cell::new(0);
        let due = candidates();
        let (second, settled) = transaction(&trees, &leases, |tx| {
            let second = super::take(tx, &asking(6, 2), &due)?;
            Ok((second, apply(tx, &late, &log_end)?))
        });
        assert_eq!(second.len(), 1, "taken again once the first lease ran out");
        assert!(matches!(settled, Err(StoreError::Conflict)), "{settled:?}");
        assert_eq!(leases.get(d.id), Some(second[0].lease));
        assert!(
            trees[Tree::Outbox.index()]
                .get(d.id.to_bytes())
                .unwrap()
                .is_some()
        );
    }
}
