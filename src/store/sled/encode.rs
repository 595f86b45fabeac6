//! A write plan turned into sled operations, before it reaches the writer: every check
//! (a key must hold exactly these bytes, or be absent) and every insert and removal,
//! values already encoded. The writer then only compares bytes and writes them, so the one
//! writer thread does no JSON work for a webhook and makes no decision.
//!
//! This is also the one place that knows which indexes a callback lives in (see
//! `keys.rs`): an index is written only when its key changes.

use std::sync::Arc;

use ulid::Ulid;

use super::keys::{self, Tree};
use super::log::Dictionaries;
use super::logged::LogEntry;
use super::records;
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::Delivery;
use crate::store::{CallbackWrite, CustomerWrite, Lease, Plan, StoreError, Version};

/// A key that must hold exactly `expect` (or be absent, for `None`).
#[derive(Debug, Clone)]
pub struct Check {
    pub tree: Tree,
    pub key: Vec<u8>,
    pub expect: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub enum Op {
    Insert(Tree, Vec<u8>, Vec<u8>),
    Remove(Tree, Vec<u8>),
}

#[derive(Debug, Clone, Default)]
pub struct EncodedPlan {
    pub checks: Vec<Check>,
    pub ops: Vec<Op>,
    /// Callbacks opened minus callbacks resolved.
    pub pending_delta: i64,
    /// Frames for the event log: a plan's one (its event, if any, and these writes), or an
    /// import's events.
    pub log: Vec<LogEntry>,
    /// Whether the log frames alone make the plan durable (every plan: its writes are in its
    /// frame). An import's event-only frames do not: it needs sled flushed before it is
    /// answered.
    pub logged: bool,
    /// The webhook event the plan stores, if any, and its call (for logs, and test faults).
    pub event: Option<Ulid>,
    pub call_id: Option<String>,
    /// A settlement's delivery and the lease it was taken under, which must still be held.
    pub settles: Option<(Ulid, Lease)>,
    /// What the plan does to the outbox's time index (held in memory, `outbox_index.rs`):
    /// deliveries recorded or moved, and (`None`) settled.
    pub outbox: Vec<(Ulid, Option<chrono::DateTime<chrono::Utc>>)>,
}

impl EncodedPlan {
    fn check(&mut self, tree: Tree, key: impl AsRef<[u8]>, expect: Option<&[u8]>) {
        self.checks.push(Check {
            tree,
            key: key.as_ref().to_vec(),
            expect: expect.map(<[u8]>::to_vec),
        });
    }

    pub(super) fn insert(&mut self, tree: Tree, key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) {
        self.ops
            .push(Op::Insert(tree, key.as_ref().to_vec(), value.into()));
    }

    pub(super) fn remove(&mut self, tree: Tree, key: impl AsRef<[u8]>) {
        self.ops.push(Op::Remove(tree, key.as_ref().to_vec()));
    }
}

pub fn encode(plan: &Plan, dictionaries: &Arc<Dictionaries>) -> Result<EncodedPlan, StoreError> {
    let mut out = EncodedPlan {
        event: plan.event.as_ref().map(|e| e.record.id),
        call_id: plan.event.as_ref().and_then(|e| e.record.call_id.clone()),
        ..EncodedPlan::default()
    };
    if let Some(call) = &plan.call {
        let expect = call.expected.as_ref().map(Version::as_bytes);
        out.check(Tree::Calls, call.call_id.as_bytes(), expect);
        out.insert(
            Tree::Calls,
            call.call_id.as_bytes(),
            records::encode_call(&call.state),
        );
    }
    if let Some(dedup) = &plan.dedup {
        let key = keys::dedup(&dedup.key);
        out.check(Tree::EventDedup, &key, None);
        out.insert(Tree::EventDedup, &key, dedup.event.to_bytes());
    }
    if let Some(customer) = &plan.customer {
        encode_customer(customer, &mut out)?;
    }
    for write in &plan.callbacks {
        encode_callback(write, &mut out)?;
    }
    for delivery in &plan.deliveries {
        add_delivery(delivery, &mut out);
    }
    if let Some(settle) = &plan.settle {
        let id = settle.taken.delivery.id;
        out.check(
            Tree::Outbox,
            id.to_bytes(),
            Some(settle.taken.version.as_bytes()),
        );
        out.settles = Some((id, settle.taken.lease));
        match &settle.keep {
            Some(keep) => add_delivery(keep, &mut out),
            None => {
                out.remove(Tree::Outbox, id.to_bytes());
                out.outbox.push((id, None));
            }
        }
    }
    if let Some(claim) = &plan.digest {
        let key = keys::digest(&claim.schedule, claim.occurrence);
        out.check(Tree::Digests, &key, None);
        out.insert(Tree::Digests, &key, records::encode(claim));
    }
    // Last, so the frame carries every write of the plan: a webhook's with its event, any
    // other plan's (a claim, a settlement, an action) with none. The frame alone makes the
    // plan durable; sled is flushed on its own schedule.
    if plan.event.is_some() || !out.ops.is_empty() {
        out.log.push(LogEntry::new(
            plan.event.as_ref(),
            &out.ops,
            out.pending_delta,
            dictionaries,
        ));
    }
    out.logged = true;
    Ok(out)
}

pub(super) fn add_delivery(delivery: &Delivery, out: &mut EncodedPlan) {
    out.insert(
        Tree::Outbox,
        delivery.id.to_bytes(),
        records::encode_delivery(delivery, None),
    );
    out.outbox
        .push((delivery.id, Some(delivery.next_attempt_at)));
}

/// A customer's version, as [`customer_version`] made it: the pending index value and the
/// latest answered time, each length-prefixed.
fn encode_customer(customer: &CustomerWrite, out: &mut EncodedPlan) -> Result<(), StoreError> {
    let key = customer.number.as_str().as_bytes();
    let (pending, answered) = split_customer_version(customer.expected.as_bytes())
        .ok_or_else(|| StoreError::backend("a customer version from another backend"))?;
    out.check(Tree::PendingByCustomer, key, pending);
    out.check(Tree::LastAnswered, key, answered);
    if let Some(at) = customer.last_answered_at {
        out.insert(Tree::LastAnswered, key, keys::time(at));
    }
    Ok(())
}

/// The version of what is stored about one customer.
pub fn customer_version(pending: Option<&[u8]>, answered: Option<&[u8]>) -> Version {
    let mut bytes = Vec::with_capacity(2 + 16 + 8);
    for part in [pending, answered] {
        match part {
            Some(p) => {
                bytes.push(1 + u8::try_from(p.len()).unwrap_or(u8::MAX - 1));
                bytes.extend_from_slice(p);
            }
            None => bytes.push(0),
        }
    }
    Version::from_bytes(&bytes)
}

/// The pending index value and the latest answered time a customer version was made of.
type CustomerParts<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

fn split_customer_version(bytes: &[u8]) -> Option<CustomerParts<'_>> {
    let mut rest = bytes;
    let mut parts = [None, None];
    for part in &mut parts {
        let (&len, tail) = rest.split_first()?;
        if len == 0 {
            rest = tail;
            continue;
        }
        let len = usize::from(len - 1);
        *part = Some(tail.get(..len)?);
        rest = &tail[len..];
    }
    rest.is_empty().then_some((parts[0], parts[1]))
}

/// A callback's new state, its timeline value and every index it moves in.
fn encode_callback(write: &CallbackWrite, out: &mut EncodedPlan) -> Result<(), StoreError> {
    let after = &write.after;
    let id = after.id;
    let before = write.before.as_ref();
    out.check(
        Tree::Callbacks,
        id.to_bytes(),
        before.map(|b| b.version.as_bytes()),
    );
    let mut seq = match before {
        Some(b) => records::timeline_len(b.version.as_bytes())?,
        None => 0,
    };
    if !write.timeline.is_empty() {
        out.insert(
            Tree::Timeline,
            keys::timeline(id, seq),
            records::encode(&write.timeline),
        );
        seq = seq.saturating_add(1);
    }
    index_callback(before.map(|b| &b.value), after, out);
    out.insert(
        Tree::Callbacks,
        id.to_bytes(),
        records::encode_callback(after, seq),
    );
    Ok(())
}

pub(super) fn index_callback(before: Option<&Callback>, after: &Callback, out: &mut EncodedPlan) {
    let id: CallbackId = after.id;
    let customer = after.customer_number.as_str().as_bytes();
    let was_pending = before.filter(|b| b.is_pending());
    match (was_pending, after.is_pending()) {
        (None, true) => {
            // At most one pending callback per customer: storage's own invariant.
            out.check(Tree::PendingByCustomer, customer, None);
            out.pending_delta += 1;
            out.insert(
                Tree::PendingByAge,
                keys::by_time(after.first_missed_at, id),
                Vec::new(),
            );
            out.insert(Tree::PendingByCustomer, customer, id.to_bytes());
        }
        (Some(b), true) if b.first_missed_at != after.first_missed_at => {
            out.remove(Tree::PendingByAge, keys::by_time(b.first_missed_at, id));
            out.insert(
                Tree::PendingByAge,
                keys::by_time(after.first_missed_at, id),
                Vec::new(),
            );
        }
        (Some(b), false) => {
            out.pending_delta -= 1;
            out.remove(Tree::PendingByAge, keys::by_time(b.first_missed_at, id));
            out.remove(
                Tree::PendingByCustomer,
                b.customer_number.as_str().as_bytes(),
            );
        }
        _ => {}
    }
    if !after.is_pending()
        && (was_pending.is_some() || before.is_none())
        && let Some(at) = after.resolved_at
    {
        out.insert(Tree::ResolvedByTime, keys::by_time(at, id), Vec::new());
    }
    let (old_wake, new_wake) = (before.and_then(Callback::next_wake), after.next_wake());
    if old_wake != new_wake || before.is_none() {
        if let Some(at) = old_wake {
            out.remove(Tree::Due, keys::by_time(at, id));
        }
        if let Some(at) = new_wake {
            out.insert(Tree::Due, keys::by_time(at, id), Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_version_splits_back_into_its_two_parts() {
        let id = [7u8; 16];
        let at = [1u8; 8];
        for (p, a) in [
            (None, None),
            (Some(&id[..]), None),
            (None, Some(&at[..])),
            (Some(&id[..]), Some(&at[..])),
        ] {
            let v = customer_version(p, a);
            assert_eq!(split_customer_version(v.as_bytes()), Some((p, a)));
        }
        assert_eq!(split_customer_version(&[9]), None);
    }
}
