//! Applying one webhook event inside the writer's transaction (SPEC §4–5): duplicate
//! detection, the lifecycle decision, the callback's new state, the event log.

use ulid::Ulid;

use super::apply::{Tx, TxResult, abort};
use super::codec::{self, StoredCall, decode, encode};
use super::keys;
use crate::domain::callback::Callback;
use crate::domain::lifecycle::{self, Decision, EventMeta, Snapshot};
use crate::domain::phone::PhoneNumber;
use crate::store::{EventRecord, Ingest, Receipt, StoreError};

impl Tx<'_> {
    /// Applies one webhook event: dedup, lifecycle decision, state, event log.
    pub fn ingest(&self, ing: &Ingest) -> TxResult<Receipt> {
        let call_id = ing.facts.call_id.as_deref();
        let mut stored_call = match call_id {
            Some(id) => match self.calls().get(id.as_bytes())? {
                Some(bytes) => decode::<StoredCall>("call record", &bytes).map_err(abort)?,
                None => StoredCall::default(),
            },
            None => StoredCall::default(),
        };
        let earlier = match call_id {
            Some(_) => stored_call.delivery(&ing.dedup.trigger, &ing.dedup.leg),
            None => self
                .dedup()
                .get(keys::dedup(&ing.dedup))?
                .and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok())
                .map(Ulid::from_bytes),
        };
        if let Some(original) = earlier {
            return Ok(Receipt {
                event_id: original,
                effect: lifecycle::Effect::Duplicate,
                callback_id: None,
                note: Some("this event was already received; nothing changed".into()),
            });
        }

        // A click-to-call Ringback placed carries the callback's id back: that callback,
        // while pending, is the one this call is about (SPEC §6.1).
        let referenced = match ing.facts.callback_hint {
            Some(id) => self.callback(id)?.filter(Callback::is_pending),
            None => None,
        };
        let by_reference = referenced.is_some();
        let customer = match &referenced {
            Some(cb) => Some(cb.customer_number.clone()),
            None => lifecycle::customer_of(&ing.facts, stored_call.call.as_ref()),
        };
        let pending = match (referenced, &customer) {
            (Some(cb), _) => Some(cb),
            (None, Some(c)) => self.pending_for(c)?,
            (None, None) => None,
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
            call: stored_call.call.clone(),
            last_answered_at,
            by_reference,
        };
        let meta = EventMeta {
            event_id: ing.event_id.to_string(),
            trigger: ing.trigger.clone(),
            received_at: ing.received_at,
            new_callback_id: ing.new_callback_id,
        };
        let decision = lifecycle::decide(&ing.intent, &ing.facts, &meta, &snapshot, &ing.rules);

        if let Some(after) = &decision.callback {
            let before = snapshot.pending.as_ref().filter(|b| b.id == after.id);
            self.write_callback(before, after.clone(), &decision.timeline)?;
        }
        if let (Some(at), Some(customer)) = (decision.last_answered_at, customer.as_ref()) {
            self.last_answered()
                .insert(customer.as_str().as_bytes(), &keys::time(at))?;
        }
        match call_id {
            Some(id) => {
                if let Some(call) = &decision.call {
                    stored_call.call = Some(call.clone());
                }
                stored_call.remember(&ing.dedup.trigger, &ing.dedup.leg, ing.event_id);
                self.calls()
                    .insert(id.as_bytes(), encode(&stored_call).map_err(abort)?)?;
            }
            None => {
                self.dedup()
                    .insert(keys::dedup(&ing.dedup), &ing.event_id.to_bytes())?;
            }
        }

        let note = ing.note.clone().or_else(|| decision.note.clone());
        self.write_event(ing, &decision, note.clone())?;
        Ok(Receipt {
            event_id: ing.event_id,
            effect: decision.effect,
            callback_id: decision.callback_id(),
            note,
        })
    }

    fn pending_for(&self, customer: &PhoneNumber) -> TxResult<Option<Callback>> {
        let Some(id) = self
            .pending_by_customer()
            .get(customer.as_str().as_bytes())?
        else {
            return Ok(None);
        };
        let id = keys::callback_id_from(&id)
            .ok_or_else(|| abort(StoreError::Corrupt("pending index value".into())))?;
        Ok(self.callback(id)?.filter(Callback::is_pending))
    }

    fn write_event(&self, ing: &Ingest, decision: &Decision, note: Option<String>) -> TxResult<()> {
        let id = ing.event_id.to_bytes();
        let body = &ing.body;
        let chunked = body.len() > keys::BODY_INLINE;
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
        let inline = if chunked { &[][..] } else { &body[..] };
        self.events()
            .insert(&id, codec::encode_event(&record, inline).map_err(abort)?)?;
        if chunked {
            for (i, chunk) in body.chunks(keys::BODY_CHUNK).enumerate() {
                let n = u32::try_from(i).unwrap_or(u32::MAX);
                self.bodies().insert(&keys::body_chunk(id, n), chunk)?;
            }
        }
        Ok(())
    }
}
