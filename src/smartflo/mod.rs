//! Smartflo's side of ingest: reading payloads, naming triggers, and turning one webhook
//! into the domain's [`CallFacts`] and [`Intent`].

pub mod click_to_call;
pub mod event;
pub mod gofmt;
pub mod payload;
pub mod time;
pub mod trigger;

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
        let event = SmartfloEvent::read(fields, self.zone);
        let (trigger, inferred) = match given {
            Some(t) => (Some(t), false),
            None => (Trigger::infer(fields, &event), true),
        };
        let direction = direction_of(&event, trigger);
        let intent = trigger.map_or(Intent::Record, |t| classify(t, &event, direction));
        let note = match (trigger, &intent) {
            (None, _) => Some(
                "trigger could not be inferred from the fields; add ?trigger=<slug> to the webhook URL",
            ),
            (Some(Trigger::CallHangup), Intent::Record) => Some(
                "call_status is missing or unrecognised, so missed and answered cannot be told apart",
            ),
            _ => None,
        };
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
            started_at: event.started_at.unwrap_or(received_at),
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
