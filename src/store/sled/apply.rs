//! Applying a batch of writes in one sled transaction.
//!
//! The closure handed to sled may run more than once (sled retries on conflict; with a
//! single writer that should not happen, but correctness must not depend on it), so it only
//! reads and writes trees and computes values: ids are chosen before it runs, and replies
//! and notifications happen after it returns.
//!
//! Each sled insert costs 10–30 µs here, so an event writes as few keys as it can: the
//! event (record and body in one value), its call (which also remembers the deliveries seen,
//! for duplicate detection), and — only when something changed — the callback, one
//! timeline value and the indexes.

use std::cell::Cell;

use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionalTree,
};
use ulid::Ulid;

use super::codec::{decode, encode};
use super::keys;
use crate::domain::actions;
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::reminder::{self, Delivery, Settlement};
use crate::domain::rules::Rules;
use crate::store::{ActOutcome, ActRequest, Claim, RulesChange, StoreError, UnknownChat};

pub(super) type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

pub(super) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// The trees of one transaction, by name (indices follow `keys::WRITTEN_TREES`).
pub struct Tx<'a> {
    trees: &'a [TransactionalTree],
    /// Callbacks opened minus callbacks resolved in this transaction; written once at the
    /// end (`finish`) rather than per event.
    pending_delta: Cell<i64>,
}

impl<'a> Tx<'a> {
    pub fn new(trees: &'a [TransactionalTree]) -> Self {
        Self {
            trees,
            pending_delta: Cell::new(0),
        }
    }

    /// Writes what the transaction accumulated (the pending count).
    pub fn finish(&self) -> TxResult<()> {
        let delta = self.pending_delta.get();
        if delta != 0 {
            let count = keys::count_from(self.meta().get(keys::PENDING_COUNT)?.as_deref());
            let count = count.saturating_add_signed(delta);
            self.meta()
                .insert(keys::PENDING_COUNT, &count.to_be_bytes())?;
        }
        Ok(())
    }

    /// Replaces the stored editable rules and appends the change to the audit trail.
    pub fn save_rules(&self, change: &RulesChange) -> TxResult<()> {
        self.meta()
            .insert(keys::STORED_RULES, encode(change).map_err(abort)?)?;
        let key = keys::by_time(change.at, CallbackId::new(change.id));
        self.rules_audit()
            .insert(&key, encode(change).map_err(abort)?)?;
        Ok(())
    }

    pub fn set_meta(&self, key: &str, value: &[u8]) -> TxResult<()> {
        self.meta().insert(key, value)?;
        Ok(())
    }
    pub(super) fn events(&self) -> &TransactionalTree {
        &self.trees[0]
    }
    pub(super) fn bodies(&self) -> &TransactionalTree {
        &self.trees[1]
    }
    pub(super) fn dedup(&self) -> &TransactionalTree {
        &self.trees[2]
    }
    pub(super) fn callbacks(&self) -> &TransactionalTree {
        &self.trees[3]
    }
    pub(super) fn timeline(&self) -> &TransactionalTree {
        &self.trees[4]
    }
    pub(super) fn pending_by_customer(&self) -> &TransactionalTree {
        &self.trees[5]
    }
    pub(super) fn pending_by_age(&self) -> &TransactionalTree {
        &self.trees[6]
    }
    pub(super) fn resolved_by_time(&self) -> &TransactionalTree {
        &self.trees[7]
    }
    pub(super) fn calls(&self) -> &TransactionalTree {
        &self.trees[8]
    }
    pub(super) fn last_answered(&self) -> &TransactionalTree {
        &self.trees[9]
    }
    pub fn meta(&self) -> &TransactionalTree {
        &self.trees[10]
    }
    pub(super) fn due(&self) -> &TransactionalTree {
        &self.trees[11]
    }
    pub(super) fn outbox(&self) -> &TransactionalTree {
        &self.trees[12]
    }
    pub(super) fn rules_audit(&self) -> &TransactionalTree {
        &self.trees[13]
    }
    pub(super) fn unknown_chats(&self) -> &TransactionalTree {
        &self.trees[14]
    }

    /// Records a message from an unknown Telegram chat, keeping when it was first seen.
    pub fn note_chat(&self, chat: &UnknownChat) -> TxResult<()> {
        let key = keys::signed(chat.chat_id);
        let mut record = chat.clone();
        if let Some(bytes) = self.unknown_chats().get(key)? {
            let previous: UnknownChat = decode("unknown chat", &bytes).map_err(abort)?;
            record.first_seen = previous.first_seen;
            record.messages = previous.messages.saturating_add(1);
        }
        self.unknown_chats()
            .insert(&key, encode(&record).map_err(abort)?)?;
        Ok(())
    }

    pub(super) fn callback(&self, id: CallbackId) -> TxResult<Option<Callback>> {
        match self.callbacks().get(id.to_bytes())? {
            Some(bytes) => Ok(Some(decode("callback", &bytes).map_err(abort)?)),
            None => Ok(None),
        }
    }

    /// Issues the due reminder rounds of `ids`: advances each callback's schedule and puts
    /// one delivery per recipient and channel in the outbox, before anything is sent.
    pub fn claim(&self, due_keys: &[sled::IVec], claim: &Claim) -> TxResult<Vec<Delivery>> {
        let mut deliveries = Vec::new();
        for key in due_keys {
            let id = keys::callback_from_index(key)
                .ok_or_else(|| abort(StoreError::Corrupt("due index key".into())))?;
            let cb = self.callback(id)?;
            let due_at = cb.as_ref().and_then(Callback::next_wake);
            let work = cb
                .as_ref()
                .and_then(|cb| reminder::take_due(cb, claim.now, &claim.rules, &claim.roster));
            let (Some(cb), Some(work)) = (cb, work) else {
                // An entry that does not match its callback's schedule: drop it. (The
                // callback's own entry, if it has one, is kept by `write_callback`.)
                if self
                    .callback(id)?
                    .and_then(|c| c.next_wake())
                    .map(|t| keys::by_time(t, id).to_vec())
                    != Some(key.to_vec())
                {
                    self.due().remove(key)?;
                }
                continue;
            };
            for (purpose, round, recipient) in work.sends {
                let delivery = Delivery {
                    id: Ulid::new(),
                    callback: id,
                    purpose,
                    round,
                    recipient,
                    attempts: 0,
                    next_attempt_at: claim.now,
                    created_at: claim.now,
                    last_error: None,
                    due_at,
                    message: None,
                };
                self.outbox()
                    .insert(&delivery.id.to_bytes(), encode(&delivery).map_err(abort)?)?;
                deliveries.push(delivery);
            }
            self.write_callback(Some(&cb), work.callback, &work.timeline)?;
        }
        Ok(deliveries)
    }

    /// Applies a person's action (SPEC §5.2).
    pub fn act(&self, request: &ActRequest) -> TxResult<ActOutcome> {
        let Some(cb) = self.callback(request.id)? else {
            return Ok(ActOutcome::NotFound);
        };
        match actions::apply(
            &cb,
            &request.action,
            &request.who,
            request.now,
            &request.rules,
        ) {
            Ok((after, timeline)) => {
                self.write_callback(Some(&cb), after.clone(), &timeline)?;
                Ok(ActOutcome::Done(Box::new(after)))
            }
            Err(refused) => Ok(ActOutcome::Refused(refused)),
        }
    }

    /// Recomputes `next_reminder_at` of `ids` under `rules`.
    pub fn reschedule(&self, ids: &[CallbackId], rules: &Rules) -> TxResult<()> {
        for id in ids {
            let Some(cb) = self.callback(*id)? else {
                continue;
            };
            let mut after = cb.clone();
            after.reschedule(rules);
            if after != cb {
                self.write_callback(Some(&cb), after, &[])?;
            }
        }
        Ok(())
    }

    /// Applies a transport's result to its delivery and callback.
    pub fn settle(&self, id: Ulid, settlement: &Settlement) -> TxResult<()> {
        let Some(bytes) = self.outbox().get(id.to_bytes())? else {
            return Ok(()); // already settled
        };
        let delivery: Delivery = decode("delivery", &bytes).map_err(abort)?;
        let cb = self.callback(delivery.callback)?;
        let settled = reminder::settle(cb.as_ref(), &delivery, settlement);
        match &settled.keep {
            Some(keep) => {
                self.outbox()
                    .insert(&id.to_bytes(), encode(keep).map_err(abort)?)?;
            }
            None => {
                self.outbox().remove(&id.to_bytes())?;
            }
        }
        if let Some(after) = settled.callback {
            self.write_callback(cb.as_ref(), after, &settled.timeline)?;
        }
        Ok(())
    }

    /// Writes a callback's new state, appends its timeline entries (one value per change)
    /// and keeps every index in step with it. The one place that knows which indexes a
    /// callback lives in; an index is written only when its key changes.
    pub fn write_callback(
        &self,
        before: Option<&Callback>,
        mut after: Callback,
        entries: &[TimelineEntry],
    ) -> TxResult<()> {
        let id = after.id;
        if !entries.is_empty() {
            let key = keys::timeline(id, after.timeline_len);
            self.timeline()
                .insert(&key, encode(&entries).map_err(abort)?)?;
            after.timeline_len += 1;
        }
        let was_pending = before.filter(|b| b.is_pending());
        match (was_pending, after.is_pending()) {
            (None, true) => {
                self.pending_delta.set(self.pending_delta.get() + 1);
                self.pending_by_age()
                    .insert(&keys::by_time(after.first_missed_at, id), &[])?;
                self.pending_by_customer()
                    .insert(after.customer_number.as_str().as_bytes(), &id.to_bytes())?;
            }
            (Some(b), true) if b.first_missed_at != after.first_missed_at => {
                self.pending_by_age()
                    .remove(&keys::by_time(b.first_missed_at, id))?;
                self.pending_by_age()
                    .insert(&keys::by_time(after.first_missed_at, id), &[])?;
            }
            (Some(b), false) => {
                self.pending_delta.set(self.pending_delta.get() - 1);
                self.pending_by_age()
                    .remove(&keys::by_time(b.first_missed_at, id))?;
                self.pending_by_customer()
                    .remove(b.customer_number.as_str().as_bytes())?;
            }
            _ => {}
        }
        if !after.is_pending()
            && (was_pending.is_some() || before.is_none())
            && let Some(at) = after.resolved_at
        {
            self.resolved_by_time()
                .insert(&keys::by_time(at, id), &[])?;
        }
        let (old_wake, new_wake) = (before.and_then(Callback::next_wake), after.next_wake());
        if old_wake != new_wake || before.is_none() {
            if let Some(at) = old_wake {
                self.due().remove(&keys::by_time(at, id))?;
            }
            if let Some(at) = new_wake {
                self.due().insert(&keys::by_time(at, id), &[])?;
            }
        }
        // Resolved: the Telegram messages sent about it are edited to say so.
        let closed_at = after.resolved_at.unwrap_or_else(chrono::Utc::now);
        for (recipient, message) in reminder::closure_notices(before, &after) {
            let delivery = Delivery {
                id: Ulid::new(),
                callback: id,
                purpose: reminder::Purpose::Closure,
                round: 0,
                recipient,
                attempts: 0,
                next_attempt_at: closed_at,
                created_at: closed_at,
                last_error: None,
                due_at: None,
                message: Some(message),
            };
            self.outbox()
                .insert(&delivery.id.to_bytes(), encode(&delivery).map_err(abort)?)?;
        }
        self.callbacks()
            .insert(&id.to_bytes(), encode(&after).map_err(abort)?)?;
        Ok(())
    }
}
