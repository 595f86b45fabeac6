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
    write(tx, &plan.ops)?;
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
            }
            Op::Remove(tree, key) => {
                tx.tree(*tree).remove(key.as_slice())?;
            }
        }
    }
    Ok(())
}

/// Leases the takeable deliveries among `candidates` (`outbox_due` keys up to `take.now`),
/// at most `take.limit`. Each is checked again here: a candidate settled or taken since the
/// scan is skipped; one that cannot be read is set aside; an entry at a time other than
/// its delivery's is moved to that time.
pub fn take(tx: &Tx, take: &Take, candidates: &[sled::IVec]) -> TxResult<Vec<Taken>> {
    let mut taken = Vec::new();
    for index_key in candidates {
        if taken.len() >= take.limit {
            break;
        }
        let Some(id) = keys::ulid_from_index(index_key) else {
            tx.tree(Tree::OutboxDue).remove(index_key)?;
            continue;
        };
        let Some(bytes) = tx.tree(Tree::Outbox).get(id.to_bytes())? else {
            // Settled: its index entry is left over.
            tx.tree(Tree::OutboxDue).remove(index_key)?;
            continue;
        };
        let stored = match records::decode_delivery(&bytes) {
            Ok(d) => d,
            Err(e) => {
                tx.tree(Tree::OutboxDue).remove(index_key)?;
                tx.quarantine(Tree::Outbox, &id.to_bytes(), &bytes, e.to_string())?;
                continue;
            }
        };
        let own_key = keys::outbox_due(stored.takeable_at(), id);
        if own_key[..] != index_key[..] {
            // An entry left over at another time: a settlement done again from the event log
            // after a crash, on a state that never durably had the lease it was settled
            // under (leases are not made durable). The delivery's own entry replaces it.
            tx.tree(Tree::OutboxDue).remove(index_key)?;
            tx.tree(Tree::OutboxDue).insert(&own_key, &[])?;
        }
        if stored.takeable_at() > take.now {
            continue;
        }
        let lease = Lease {
            owner: take.owner,
            until: take.until,
        };
        let value = records::encode_delivery(&stored.delivery, Some(lease));
        tx.tree(Tree::Outbox)
            .insert(&id.to_bytes(), value.as_slice())?;
        tx.tree(Tree::OutboxDue)
            .remove(&keys::outbox_due(stored.takeable_at(), id))?;
        tx.tree(Tree::OutboxDue)
            .insert(&keys::outbox_due(take.until, id), &[])?;
        taken.push(Taken {
            delivery: stored.delivery,
            lease,
            version: Version::from_bytes(&value),
        });
    }
    Ok(taken)
}

/// Clears `owner`'s leases on `ids`, making them takeable at their own time again.
pub fn release(tx: &Tx, owner: LeaseOwner, ids: &[Ulid]) -> TxResult<()> {
    for id in ids {
        let Some(bytes) = tx.tree(Tree::Outbox).get(id.to_bytes())? else {
            continue;
        };
        let Ok(stored) = records::decode_delivery(&bytes) else {
            continue;
        };
        let Some(lease) = stored.lease.filter(|l| l.owner == owner) else {
            continue;
        };
        tx.tree(Tree::Outbox).insert(
            &id.to_bytes(),
            records::encode_delivery(&stored.delivery, None),
        )?;
        tx.tree(Tree::OutboxDue)
            .remove(&keys::outbox_due(lease.until, *id))?;
        tx.tree(Tree::OutboxDue)
            .insert(&keys::outbox_due(stored.delivery.next_attempt_at, *id), &[])?;
    }
    Ok(())
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
