//! Applying a batch of writes in one sled transaction.
//!
//! The closure handed to sled may run more than once (sled retries on conflict; with a
//! single writer that should not happen, but correctness must not depend on it), so it only
//! reads and writes trees and computes values: ids are chosen before it runs, and replies
//! and notifications happen after it returns.

use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionalTree,
};
use ulid::Ulid;

use super::codec::{decode, encode};
use super::keys;
use crate::domain::callback::{Callback, TimelineEntry};
use crate::domain::lifecycle::{self, CallRecord, Decision, EventMeta, Snapshot};
use crate::domain::phone::PhoneNumber;
use crate::store::{EventRecord, Ingest, Receipt, StoreError};

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// The trees of one transaction, by name (indices follow `keys::WRITTEN_TREES`).
pub struct Tx<'a>(pub &'a [TransactionalTree]);

impl Tx<'_> {
    fn events(&self) -> &TransactionalTree {
        &self.0[0]
    }
    fn bodies(&self) -> &TransactionalTree {
        &self.0[1]
    }
    fn dedup(&self) -> &TransactionalTree {
        &self.0[2]
    }
    fn callbacks(&self) -> &TransactionalTree {
        &self.0[3]
    }
    fn timeline(&self) -> &TransactionalTree {
        &self.0[4]
    }
    fn pending_by_customer(&self) -> &TransactionalTree {
        &self.0[5]
    }
    fn pending_by_age(&self) -> &TransactionalTree {
        &self.0[6]
    }
    fn resolved_by_time(&self) -> &TransactionalTree {
        &self.0[7]
    }
    fn calls(&self) -> &TransactionalTree {
        &self.0[8]
    }
    fn last_answered(&self) -> &TransactionalTree {
        &self.0[9]
    }
    pub fn meta(&self) -> &TransactionalTree {
        &self.0[10]
    }

    /// Applies one webhook event: dedup, lifecycle decision, state, event log.
    pub fn ingest(&self, ing: &Ingest) -> TxResult<Receipt> {
        let dedup_key = keys::dedup(&ing.dedup);
        if let Some(original) = self.dedup().get(&dedup_key)? {
            let original: [u8; 16] = original
                .as_ref()
                .try_into()
                .map_err(|_| abort(StoreError::Corrupt("dedup entry".into())))?;
            return Ok(Receipt {
                event_id: Ulid::from_bytes(original),
                effect: lifecycle::Effect::Duplicate,
                callback_id: None,
                note: Some("this event was already received; nothing changed".into()),
            });
        }

        let call = match &ing.facts.call_id {
            Some(id) => self.get::<CallRecord>(self.calls(), id.as_bytes(), "call record")?,
            None => None,
        };
        let customer = lifecycle::customer_of(&ing.facts, call.as_ref());
        let pending = match &customer {
            Some(c) => self.pending_for(c)?,
            None => None,
        };
        let last_answered_at = match &customer {
            Some(c) => self
                .last_answered()
                .get(c.as_str().as_bytes())?
                .and_then(|v| keys::time_from(&v)),
            None => None,
        };
        let snapshot = Snapshot {
            pending,
            call,
            last_answered_at,
        };
        let meta = EventMeta {
            event_id: ing.event_id.to_string(),
            trigger: ing.trigger.clone(),
            received_at: ing.received_at,
            new_callback_id: ing.new_callback_id,
        };
        let decision = lifecycle::decide(&ing.intent, &ing.facts, &meta, &snapshot, &ing.rules);
        self.write_decision(&decision, snapshot.pending.as_ref(), customer.as_ref(), ing)?;

        let note = ing.note.clone().or_else(|| decision.note.clone());
        self.write_event(ing, &decision, note.clone())?;
        self.dedup().insert(dedup_key, &ing.event_id.to_bytes())?;
        Ok(Receipt {
            event_id: ing.event_id,
            effect: decision.effect,
            callback_id: decision.callback_id(),
            note,
        })
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        tree: &TransactionalTree,
        key: &[u8],
        what: &str,
    ) -> TxResult<Option<T>> {
        match tree.get(key)? {
            Some(bytes) => decode(what, &bytes).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    fn pending_for(&self, customer: &PhoneNumber) -> TxResult<Option<Callback>> {
        let Some(id) = self
            .pending_by_customer()
            .get(customer.as_str().as_bytes())?
        else {
            return Ok(None);
        };
        let cb: Option<Callback> = self.get(self.callbacks(), &id, "callback")?;
        Ok(cb.filter(Callback::is_pending))
    }

    fn write_decision(
        &self,
        decision: &Decision,
        before: Option<&Callback>,
        customer: Option<&PhoneNumber>,
        ing: &Ingest,
    ) -> TxResult<()> {
        if let Some(after) = &decision.callback {
            let before = before.filter(|b| b.id == after.id);
            self.write_callback(before, after.clone(), &decision.timeline)?;
        }
        if let (Some(call), Some(call_id)) = (&decision.call, &ing.facts.call_id) {
            self.calls()
                .insert(call_id.as_bytes(), encode(call).map_err(abort)?)?;
        }
        if let (Some(at), Some(customer)) = (decision.last_answered_at, customer) {
            self.last_answered()
                .insert(customer.as_str().as_bytes(), &keys::time(at))?;
        }
        Ok(())
    }

    /// Writes a callback's new state, appends its timeline entries and keeps every index
    /// in step with it. The one place that knows which indexes a callback lives in.
    pub fn write_callback(
        &self,
        before: Option<&Callback>,
        mut after: Callback,
        entries: &[TimelineEntry],
    ) -> TxResult<()> {
        for entry in entries {
            let key = keys::timeline(after.id, after.timeline_len);
            self.timeline()
                .insert(&key, encode(entry).map_err(abort)?)?;
            after.timeline_len += 1;
        }
        let id = after.id;
        let was_pending = before.is_some_and(Callback::is_pending);
        if let Some(b) = before.filter(|b| b.is_pending()) {
            if !after.is_pending() || b.first_missed_at != after.first_missed_at {
                self.pending_by_age()
                    .remove(&keys::by_time(b.first_missed_at, id))?;
            }
            if !after.is_pending() {
                self.pending_by_customer()
                    .remove(b.customer_number.as_str().as_bytes())?;
            }
        }
        if after.is_pending() {
            self.pending_by_age()
                .insert(&keys::by_time(after.first_missed_at, id), &[])?;
            if !was_pending {
                self.pending_by_customer()
                    .insert(after.customer_number.as_str().as_bytes(), &id.to_bytes())?;
            }
        } else if let Some(at) = after.resolved_at
            && (was_pending || before.is_none())
        {
            self.resolved_by_time()
                .insert(&keys::by_time(at, id), &[])?;
        }
        self.callbacks()
            .insert(&id.to_bytes(), encode(&after).map_err(abort)?)?;
        Ok(())
    }

    fn write_event(&self, ing: &Ingest, decision: &Decision, note: Option<String>) -> TxResult<()> {
        let id = ing.event_id.to_bytes();
        let body = &ing.body;
        let record = EventRecord {
            id: ing.event_id,
            received_at: ing.received_at,
            trigger: ing.trigger.clone(),
            trigger_inferred: ing.trigger_inferred,
            effect: decision.effect,
            note,
            callback_id: decision.callback_id(),
            call_id: ing.facts.call_id.clone(),
            uuid: ing.uuid.clone(),
            raw: ing.raw.clone(),
            body_len: u32::try_from(body.len()).unwrap_or(u32::MAX),
        };
        self.events().insert(&id, encode(&record).map_err(abort)?)?;
        for (i, chunk) in body.chunks(keys::BODY_CHUNK).enumerate() {
            let n = u32::try_from(i).unwrap_or(u32::MAX);
            self.bodies().insert(&keys::body_chunk(id, n), chunk)?;
        }
        Ok(())
    }
}
