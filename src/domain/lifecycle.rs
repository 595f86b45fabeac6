//! The pending-callback lifecycle rules (SPEC §5), as a pure function.
//!
//! [`decide`] takes one call event, what storage knows about its call and customer
//! ([`Snapshot`]) and returns a [`Decision`]: the effect to report and every state change to
//! write. It does no I/O, so the store can run it inside a transaction (which may retry it)
//! and tests can exercise every rule without a database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::agent::{AgentRef, MissedAgent};
pub use super::call::{CallRecord, CallRole};
use super::callback::{Callback, CallbackId, ResolutionKind, TimelineEntry, TimelineKind};
use super::phone::PhoneNumber;
pub use super::rules::Rules;

mod answered;
mod missed;

/// What an event means for callbacks, decided from its trigger and fields (SPEC §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// An inbound call was missed: open or update the customer's callback.
    Missed,
    /// The customer and an agent spoke: clear the callback.
    Answered(ResolutionKind),
    /// An agent tried to call back and the customer did not answer.
    Attempt,
    /// A dialer disposition: noted on the pending callback's timeline.
    Disposition(String),
    /// The department that received the call: kept for the call.
    Department,
    /// Informational only.
    Record,
}

/// The reply effect of SPEC §4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Opened,
    Updated,
    Resolved,
    Attempt,
    Recorded,
    Duplicate,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Opened => "opened",
            Effect::Updated => "updated",
            Effect::Resolved => "resolved",
            Effect::Attempt => "attempt",
            Effect::Recorded => "recorded",
            Effect::Duplicate => "duplicate",
        }
    }
}

/// The facts of one call event that the lifecycle rules look at.
#[derive(Debug, Clone)]
pub struct CallFacts {
    pub call_id: Option<String>,
    /// The customer, or why there is none (`Err` holds a human reason).
    pub customer: Result<PhoneNumber, String>,
    /// When the call started (`start_stamp`, else receipt time; also the receipt time when
    /// the stamp was too far from it to be believed).
    pub started_at: DateTime<Utc>,
    /// Something the payload got wrong that the reply and the event log should mention.
    pub caveat: Option<&'static str>,
    pub billsec: Option<u32>,
    /// Agents who missed the call, first missed first.
    pub missed_agents: Vec<MissedAgent>,
    /// The configured agent a new callback is assigned to (first missed agent, §5.1).
    pub assignee: Option<AgentRef>,
    /// Who answered, for the resolution record.
    pub answered_by: Option<String>,
    pub department: Option<String>,
    /// The callback this call was placed for, when Smartflo echoed Ringback's
    /// `custom_identifier` (a click-to-call Ringback asked for).
    pub callback_hint: Option<CallbackId>,
}

/// Identity and timing of the event being applied.
#[derive(Debug, Clone)]
pub struct EventMeta {
    pub event_id: String,
    pub trigger: String,
    pub received_at: DateTime<Utc>,
    /// The id a callback gets if this event opens one (chosen before any retry).
    pub new_callback_id: CallbackId,
}

/// What storage knows that the rules need.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The customer's pending callback, if any.
    pub pending: Option<Callback>,
    /// This call's record, when the event has a `call_id` seen before.
    pub call: Option<CallRecord>,
    /// Start of the latest answered call with this customer (the out-of-order rule).
    pub last_answered_at: Option<DateTime<Utc>>,
    /// `pending` was found through the event's `custom_identifier`, not its number: the
    /// call is a call-back for exactly that callback.
    pub by_reference: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub effect: Effect,
    /// The callback's new state, when it changed (opened, updated, resolved, timeline grew).
    pub callback: Option<Callback>,
    /// Timeline entries to append to `callback`, in order.
    pub timeline: Vec<TimelineEntry>,
    /// The call's new record, when it changed.
    pub call: Option<CallRecord>,
    /// The customer's new latest-answered start, when it changed.
    pub last_answered_at: Option<DateTime<Utc>>,
    /// A short explanation for the webhook reply and the event log.
    pub note: Option<String>,
}

impl Decision {
    fn recorded(note: impl Into<String>) -> Self {
        Self {
            effect: Effect::Recorded,
            callback: None,
            timeline: Vec::new(),
            call: None,
            last_answered_at: None,
            note: Some(note.into()),
        }
    }

    fn with_call(mut self, call: CallRecord) -> Self {
        self.call = Some(call);
        self
    }

    /// The callback this event was applied to, if any.
    pub fn callback_id(&self) -> Option<CallbackId> {
        self.callback.as_ref().map(|c| c.id)
    }
}

/// The customer an event is about: its own number, else the one its call was seen with.
pub fn customer_of(facts: &CallFacts, call: Option<&CallRecord>) -> Option<PhoneNumber> {
    facts
        .customer
        .as_ref()
        .ok()
        .cloned()
        .or_else(|| call.and_then(|c| c.customer.clone()))
}

pub fn decide(
    intent: &Intent,
    facts: &CallFacts,
    meta: &EventMeta,
    snapshot: &Snapshot,
    rules: &Rules,
) -> Decision {
    let ctx = Ctx {
        facts,
        meta,
        snapshot,
        rules,
    };
    let mut decision = match intent {
        Intent::Missed => ctx.missed(),
        Intent::Answered(kind) => ctx.answered(*kind),
        Intent::Attempt => ctx.attempt(),
        Intent::Disposition(text) => ctx.disposition(text),
        Intent::Department => ctx.department_known(),
        Intent::Record => ctx.record(),
    };
    if let Some(caveat) = facts.caveat {
        decision.note = Some(match decision.note.take() {
            Some(note) => format!("{note}; {caveat}"),
            None => caveat.to_string(),
        });
    }
    decision
}

struct Ctx<'a> {
    facts: &'a CallFacts,
    meta: &'a EventMeta,
    snapshot: &'a Snapshot,
    rules: &'a Rules,
}

impl Ctx<'_> {
    fn entry(
        &self,
        kind: TimelineKind,
        agent: Option<String>,
        detail: Option<String>,
    ) -> TimelineEntry {
        TimelineEntry {
            at: self.meta.received_at,
            kind,
            event_id: Some(self.meta.event_id.clone()),
            trigger: Some(self.meta.trigger.clone()),
            call_id: self.facts.call_id.clone(),
            agent,
            who: None,
            detail,
        }
    }

    fn call_record(
        &self,
        role: CallRole,
        customer: &PhoneNumber,
        callback: Option<CallbackId>,
    ) -> Option<CallRecord> {
        self.facts.call_id.as_ref()?;
        let previous = self.snapshot.call.as_ref();
        Some(CallRecord {
            customer: Some(customer.clone()),
            role,
            callback: callback.or_else(|| previous.and_then(|c| c.callback)),
            department: self
                .facts
                .department
                .clone()
                .or_else(|| previous.and_then(|c| c.department.clone())),
            started_at: self.facts.started_at,
        })
    }

    fn customer(&self) -> Result<PhoneNumber, String> {
        if self.snapshot.by_reference
            && let Some(pending) = &self.snapshot.pending
        {
            return Ok(pending.customer_number.clone());
        }
        customer_of(self.facts, self.snapshot.call.as_ref()).ok_or_else(|| {
            match &self.facts.customer {
                Err(why) => format!("no usable customer number ({why})"),
                Ok(_) => "no usable customer number".to_string(),
            }
        })
    }

    /// `first_after` from this event's receipt (SPEC §5.1); none past the calendar's end.
    fn first_reminder_at(&self) -> Option<DateTime<Utc>> {
        self.meta
            .received_at
            .checked_add_signed(self.rules.first_after)
    }

    fn department_name(&self) -> String {
        self.facts
            .department
            .clone()
            .or_else(|| {
                self.snapshot
                    .call
                    .as_ref()
                    .and_then(|c| c.department.clone())
            })
            .unwrap_or_default()
    }

    /// A timeline note on the customer's pending callback, effect `recorded`.
    fn note_on_pending(&self, kind: TimelineKind, detail: String) -> Decision {
        match &self.snapshot.pending {
            Some(cb) => {
                let mut d = self.note_on(cb, kind, detail.clone());
                d.note = Some(detail);
                d
            }
            None => Decision::recorded(detail),
        }
    }

    fn note_on(&self, cb: &Callback, kind: TimelineKind, detail: String) -> Decision {
        Decision {
            effect: Effect::Recorded,
            callback: Some(cb.clone()),
            timeline: vec![self.entry(kind, self.facts.answered_by.clone(), Some(detail))],
            call: None,
            last_answered_at: None,
            note: None,
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
