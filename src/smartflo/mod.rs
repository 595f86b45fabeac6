//! Smartflo's side of ingest: reading payloads, naming triggers, and turning one webhook
//! into the domain's [`CallFacts`] and [`Intent`].

pub mod click_to_call;
pub mod event;
pub mod gofmt;
pub mod payload;
pub mod time;
pub mod trigger;
pub mod webhook;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::agent::AgentDirectory;
use crate::domain::callback::{CallbackId, ResolutionKind};
use crate::domain::lifecycle::{CallFacts, Intent};
use crate::domain::phone::{CountryCode, PhoneNumber};
use event::{CallStatus, Direction, SmartfloEvent};
use payload::Fields;
pub use trigger::Trigger;

/// Everything the interpretation needs from configuration.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub zone: Tz,
    pub country: CountryCode,
    pub agents: AgentDirectory,
}

/// One webhook, understood.
#[derive(Debug, Clone)]
pub struct Interpretation {
    /// The trigger: given in the URL, inferred, or `None` when it could not be decided.
    pub trigger: Option<Trigger>,
    pub trigger_inferred: bool,
    pub intent: Intent,
    pub facts: CallFacts,
    pub event: SmartfloEvent,
    /// Why the event could only be recorded, when the payload itself is the reason.
    pub note: Option<&'static str>,
    /// The customer number field as received (shown to supervisors when it is unreadable).
    pub customer_raw: Option<String>,
}

impl Interpretation {
    pub fn trigger_slug(&self) -> &'static str {
        self.trigger.map_or("unknown", Trigger::slug)
    }
}

impl Interpreter {
    pub fn interpret(
        &self,
        fields: &Fields,
        given: Option<Trigger>,
        received_at: DateTime<Utc>,
    ) -> Interpretation {
        let event = SmartfloEvent::read(fields, self.zone, received_at);
        let (trigger, inferred) = match given {
            Some(t) => (Some(t), false),
            None => (Trigger::infer(fields, &event), true),
        };
        let direction = direction_of(&event, trigger);
        let intent = trigger.map_or(Intent::Record, |t| classify(t, &event, direction));
        let (intent, leg_note) = click_to_call_legs(intent, trigger, &event, direction);
        let note = match (trigger, &intent) {
            (None, _) => Some(
                "trigger could not be inferred from the fields; add ?trigger=<slug> to the webhook URL",
            ),
            (Some(Trigger::CallHangup), Intent::Record) if leg_note.is_none() => Some(
                "call_status is missing or unrecognised, so missed and answered cannot be told apart",
            ),
            _ => leg_note,
        };
        // A stamp far from the receipt is a template or clock error: believing it would
        // order this call before or after everything else and make ages read in centuries.
        let (started_at, caveat) = match event
            .started_at
            .map(|s| time::trusted_start(s, received_at))
        {
            Some(Ok(stamp)) => (stamp, None),
            Some(Err(why)) => (received_at, Some(why)),
            None => (received_at, None),
        };
        // Shown to supervisors when it cannot be read: bounded like every kept text.
        let customer_raw = event
            .customer_raw(direction)
            .map(|raw| event::clip(raw, event::MAX_TEXT));
        let customer = event
            .customer_raw(direction)
            .ok_or_else(|| "no customer number field".to_string())
            .and_then(|raw| PhoneNumber::parse(raw, self.country).map_err(|e| e.to_string()));
        let described: Vec<_> = event
            .missed_agents
            .iter()
            .map(|a| self.agents.describe(a))
            .collect();
        let assignee = described.iter().find_map(|(_, e)| e.map(|e| e.to_ref()));
        let facts = CallFacts {
            call_id: event.call_id.clone(),
            customer,
            started_at,
            caveat,
            billsec: event.billsec,
            missed_agents: described.into_iter().map(|(a, _)| a).collect(),
            assignee,
            answered_by: event.answered_agent.as_ref().and_then(|a| {
                self.agents
                    .find(a)
                    .map(|e| e.name.clone())
                    .or_else(|| a.name.clone())
                    .or_else(|| a.numbers.first().cloned())
            }),
            department: event.department.clone(),
            callback_hint: event
                .custom_identifier
                .as_deref()
                .and_then(|c| c.trim().parse::<CallbackId>().ok()),
        };
        Interpretation {
            trigger,
            trigger_inferred: inferred,
            intent,
            facts,
            event,
            note,
            customer_raw,
        }
    }
}

/// The call's direction: as given, else implied by the status or the trigger.
fn direction_of(event: &SmartfloEvent, trigger: Option<Trigger>) -> Direction {
    event
        .direction
        .unwrap_or_else(|| match (&event.status, trigger) {
            (Some(CallStatus::AnsweredByCustomer), _) => Direction::ClickToCall,
            (_, Some(t)) => t.default_direction(),
            (_, None) => Direction::Inbound,
        })
}

/// A call-back clears only when the customer answered (SPEC §5.3) and is an attempt only
/// when the customer was rung. On click-to-call the agent is rung first, and a payload can
/// show only that leg: "answered" under a hangup trigger with nothing saying the customer
/// answered is the agent picking up, and a click-to-call the agent never picked up never
/// reached the customer (corpus2 has both shapes).
fn click_to_call_legs(
    intent: Intent,
    trigger: Option<Trigger>,
    event: &SmartfloEvent,
    direction: Direction,
) -> (Intent, Option<&'static str>) {
    if direction != Direction::ClickToCall {
        return (intent, None);
    }
    let customer_answered = event.status == Some(CallStatus::AnsweredByCustomer)
        || trigger == Some(Trigger::C2cAnsweredByCustomer)
        || event.outbound_sec.is_some_and(|s| s > 0)
        || event.customer_leg_answered;
    // `call_connected` 1 is the agent's leg connecting, whatever else the payload lacks: a
    // `call_flow` whose only agent step says "Dialed" (corpus2 line 9) is not a miss then.
    let agent_never_answered = event.answered_agent.is_none()
        && event.call_connected != Some(true)
        && (!event.missed_agents.is_empty() || event.call_connected == Some(false));
    match intent {
        Intent::Answered(_) if !customer_answered => (
            Intent::Record,
            Some(
                "click-to-call: only the agent's leg is shown answered, nothing says the customer answered; nothing cleared",
            ),
        ),
        Intent::Attempt if agent_never_answered => (
            Intent::Record,
            Some(
                "click-to-call the agent never picked up, so the customer was never rung; not a call-back attempt",
            ),
        ),
        other => (other, None),
    }
}

/// What a trigger means for callbacks (SPEC §4.2). On hangup triggers the payload's
/// `call_status` decides missed versus answered when present (payload-notes: a call answered
/// only by the IVR has `billsec` > 0 yet is missed), so one mislabelled URL cannot clear a
/// callback that should stay open.
fn classify(trigger: Trigger, event: &SmartfloEvent, direction: Direction) -> Intent {
    use Trigger::*;
    let outgoing = direction.is_outgoing();
    let answered = Intent::Answered(if outgoing {
        ResolutionKind::AnsweredOutbound
    } else {
        ResolutionKind::AnsweredInbound
    });
    let missed = if outgoing {
        Intent::Attempt
    } else {
        Intent::Missed
    };
    let by_status = |default: Intent| match &event.status {
        Some(CallStatus::Missed) => missed.clone(),
        Some(s) if s.is_answered() => answered.clone(),
        _ => default,
    };
    match trigger {
        CallReceivedOnServer
        | CallAnsweredOnIvr
        | DtmfOption
        | DialedOnAgent
        | CallReceivedOnAutoAttendant => Intent::Record,
        CallReceivedOnDepartment => Intent::Department,
        // The agent leg of an outgoing call answering says nothing about the customer.
        CallAnsweredByAgent if outgoing => Intent::Record,
        CallAnsweredByAgent => by_status(answered.clone()),
        CallHangupMissed | CallMissedByAgentHangup => by_status(missed.clone()),
        CallHangupAnswered | CallAnsweredByAgentHangup | SessionCallAnswered => {
            by_status(answered.clone())
        }
        CallHangup => by_status(Intent::Record),
        C2cAnsweredByCustomer => match event.status {
            Some(CallStatus::Missed) => Intent::Attempt,
            _ => Intent::Answered(ResolutionKind::AnsweredOutbound),
        },
        C2cMissedByCustomer => Intent::Attempt,
        DialerCallConnected => by_status(answered.clone()),
        DialerDispositionUpdated => event
            .disposition
            .clone()
            .map_or(Intent::Record, Intent::Disposition),
    }
}
