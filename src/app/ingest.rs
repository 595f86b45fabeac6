//! One webhook event (SPEC §4–5): is it a redelivery, what does it mean for the customer's
//! callback, and the event log entry — decided here, stored in one plan.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::decide;
use super::writes::add_callback;
use super::{App, AppError, MAX_ATTEMPTS, back_off};
use crate::domain::call::CallState;
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::lifecycle::{self, CallFacts, Effect, EventMeta, Intent, Rules, Snapshot};
use crate::domain::phone::PhoneNumber;
use crate::store::{
    CallWrite, CustomerWrite, DedupKey, DedupWrite, EventRecord, EventWrite, Found, Lookup, Plan,
    RawEvent, StoreError, UnreadableNumber, Versioned,
};

/// One webhook, interpreted by the door it came through and ready to apply.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    /// The id the event log already gave this event (a replay of a stored event); `None`
    /// for a new delivery, which gets a fresh one.
    pub event_id: Option<ulid::Ulid>,
    pub received_at: DateTime<Utc>,
    pub trigger: String,
    pub trigger_inferred: bool,
    pub intent: Intent,
    pub facts: CallFacts,
    /// What makes a second delivery of this event a duplicate: (trigger, call id, leg).
    pub dedup: DedupKey,
    pub uuid: Option<String>,
    /// Why the event is only recorded, when the payload is the reason (for the reply).
    pub note: Option<String>,
    /// The customer number field as received, kept when it cannot be read.
    pub customer_raw: Option<String>,
    pub raw: RawEvent,
    /// The body exactly as received (empty for a GET: its variables are in `raw.query`).
    pub body: Vec<u8>,
}

/// What a webhook replies, once its effect is durable.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// This event's id, or for a duplicate the id of the event it repeats.
    pub event_id: ulid::Ulid,
    pub effect: Effect,
    pub callback_id: Option<CallbackId>,
    pub note: Option<String>,
    /// A missed call whose customer number could not be read (listed for supervisors).
    pub unreadable: bool,
}

const DUPLICATE_NOTE: &str = "this event was already received; nothing changed";

impl App {
    /// Applies one webhook event; resolves once its effect is on stable storage.
    pub async fn ingest(&self, event: IncomingEvent) -> Result<Receipt, AppError> {
        let rules = self.rules.get();
        let event_id = event
            .event_id
            .unwrap_or_else(|| self.next_id(event.received_at));
        let meta = EventMeta {
            event_id: event_id.to_string(),
            trigger: event.trigger.clone(),
            received_at: event.received_at,
            // The event's own id, so that replaying a stored event opens the same callback;
            // events and callbacks are kept apart, so sharing an id is no clash.
            new_callback_id: CallbackId::new(event_id),
        };
        // The event's own customer, else its call: what it will most likely read and write.
        let turn_key = match (&event.facts.customer, &event.facts.call_id) {
            (Ok(number), _) => Some(number.as_str().to_string()),
            (Err(_), Some(call_id)) => Some(format!("call {call_id}")),
            (Err(_), None) => None,
        };
        let _turn = match (&self.turns, turn_key) {
            (Some(turns), Some(key)) => Some(turns.take(key).await),
            _ => None,
        };
        for attempt in 0..MAX_ATTEMPTS {
            back_off(attempt).await;
            let found = self.read_for(&event).await?;
            let planned = decide("applying the lifecycle rules to a webhook", || {
                plan(&event, event_id, &meta, found, &rules)
            })?;
            match planned {
                Planned::Duplicate(receipt) => return Ok(receipt),
                Planned::Store(plan, receipt) => {
                    let work_at = super::writes::earliest_work(&plan);
                    let resolved = super::writes::resolved_by(&plan);
                    match self.apply(*plan).await {
                        Ok(()) => {
                            self.observe_resolved(&resolved);
                            self.nudge_for(work_at);
                            return Ok(receipt);
                        }
                        Err(StoreError::Conflict) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Everything the event is decided from. The customer is the event's own number, else
    /// the one its call or its referenced callback names: then their state is read too.
    async fn read_for(&self, event: &IncomingEvent) -> Result<Found, AppError> {
        let facts = &event.facts;
        let own_customer = facts.customer.as_ref().ok().cloned();
        let mut found = self
            .store
            .lookup(Lookup {
                call_id: facts.call_id.clone(),
                dedup: facts.call_id.is_none().then(|| event.dedup.clone()),
                callback: facts.callback_hint,
                customer: own_customer.clone(),
            })
            .await?;
        let customer = customer_of(facts, &found);
        if customer.is_some() && customer != own_customer {
            found.customer = self
                .store
                .lookup(Lookup {
                    customer,
                    ..Lookup::default()
                })
                .await?
                .customer;
        }
        Ok(found)
    }
}

/// The customer the event is about: the callback it names (while pending), else its own
/// number, else the number its call was first seen with.
fn customer_of(facts: &CallFacts, found: &Found) -> Option<PhoneNumber> {
    match referenced(found) {
        Some(cb) => Some(cb.value.customer_number.clone()),
        None => lifecycle::customer_of(
            facts,
            found.call.as_ref().and_then(|c| c.value.record.as_ref()),
        ),
    }
}

/// A click-to-call Ringback placed carries the callback's id back: that callback, while
/// pending, is the one the call is about (SPEC §6.1).
fn referenced(found: &Found) -> Option<&Versioned<Callback>> {
    found.callback.as_ref().filter(|cb| cb.value.is_pending())
}

enum Planned {
    Duplicate(Receipt),
    Store(Box<Plan>, Receipt),
}

fn plan(
    event: &IncomingEvent,
    event_id: ulid::Ulid,
    meta: &EventMeta,
    found: Found,
    rules: &Arc<Rules>,
) -> Planned {
    let leg = &event.dedup;
    let earlier = match &found.call {
        Some(call) => call.value.seen(&leg.trigger, &leg.leg),
        None => found.dedup,
    };
    if let Some(original) = earlier {
        return Planned::Duplicate(Receipt {
            event_id: original,
            effect: Effect::Duplicate,
            callback_id: None,
            note: Some(DUPLICATE_NOTE.into()),
            unreadable: false,
        });
    }

    // A missed call with no customer to call back (SPEC §4.2): the lifecycle only records
    // it, and the event is flagged so supervisors see it rather than an INFO line.
    let unreadable = (event.intent == Intent::Missed
        && customer_of(&event.facts, &found).is_none())
    .then(|| UnreadableNumber {
        raw: event.customer_raw.clone(),
        agent: event.facts.missed_agents.first().and_then(|a| {
            a.agent
                .clone()
                .or_else(|| a.name.clone())
                .or_else(|| a.smartflo_id.clone())
        }),
    });
    let by_reference = referenced(&found).is_some();
    let customer_state = found.customer.clone();
    let pending: Option<Versioned<Callback>> = match referenced(&found) {
        Some(cb) => Some(cb.clone()),
        None => customer_state.as_ref().and_then(|c| c.pending.clone()),
    };
    let call = found.call.as_ref().map(|c| &c.value);
    let snapshot = Snapshot {
        pending: pending.as_ref().map(|p| p.value.clone()),
        call: call.and_then(|c| c.record.clone()),
        last_answered_at: customer_state.as_ref().and_then(|c| c.last_answered_at),
        by_reference,
    };
    let decision = lifecycle::decide(&event.intent, &event.facts, meta, &snapshot, rules);

    let mut plan = Plan::default();
    let callback_id = decision.callback_id();
    if let Some(after) = decision.callback.clone() {
        let before = pending.filter(|b| b.value.id == after.id);
        add_callback(
            &mut plan,
            before,
            after,
            decision.timeline.clone(),
            event.received_at,
        );
    }
    if let Some(customer) = customer_state {
        plan.customer = Some(CustomerWrite {
            number: customer.number,
            expected: customer.version,
            last_answered_at: decision.last_answered_at,
        });
    }
    match &event.facts.call_id {
        Some(call_id) => {
            let mut state = call.cloned().unwrap_or_else(CallState::default);
            if let Some(record) = &decision.call {
                state.record = Some(record.clone());
            }
            state.remember(&leg.trigger, &leg.leg, event_id);
            plan.call = Some(CallWrite {
                call_id: call_id.clone(),
                expected: found.call.as_ref().map(|c| c.version.clone()),
                state,
            });
        }
        None => {
            plan.dedup = Some(DedupWrite {
                key: event.dedup.clone(),
                event: event_id,
            });
        }
    }
    let note = event.note.clone().or_else(|| decision.note.clone());
    plan.event = Some(EventWrite {
        record: EventRecord {
            id: event_id,
            received_at: event.received_at,
            trigger: event.trigger.clone(),
            trigger_inferred: event.trigger_inferred,
            effect: decision.effect,
            note: note.clone(),
            callback_id,
            call_id: event.facts.call_id.clone(),
            uuid: event.uuid.clone(),
            raw: event.raw.clone(),
            body_len: u32::try_from(event.body.len()).unwrap_or(u32::MAX),
            unreadable: unreadable.clone(),
        },
        body: event.body.clone(),
    });
    Planned::Store(
        Box::new(plan),
        Receipt {
            event_id,
            effect: decision.effect,
            callback_id,
            note,
            unreadable: unreadable.is_some(),
        },
    )
}
