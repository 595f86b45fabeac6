//! The pending callback and its timeline (SPEC §5, §7).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::agent::{AgentRef, MissedAgent};
use super::phone::PhoneNumber;
use super::rules::Rules;

/// A callback's id: a ULID, so ids sort by creation time and are safe in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackId(Ulid);

impl CallbackId {
    pub fn new(ulid: Ulid) -> Self {
        Self(ulid)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Ulid::from_bytes(bytes))
    }
}

impl fmt::Display for CallbackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CallbackId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(s).map(Self)
    }
}

/// A Telegram message Ringback sent: chat and message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramMessage {
    pub chat: i64,
    pub message: i32,
}

pub const MAX_MESSAGES_KEPT: usize = 20;
/// Most missed agents listed on one callback (a call centre's whole floor is far fewer).
pub const MAX_MISSED_AGENTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    /// The customer called in again and an agent answered.
    AnsweredInbound,
    /// An agent called the customer back (outbound, click-to-call or dialer) and they answered.
    AnsweredOutbound,
    /// Resolved by a person (API, dashboard, reminder action).
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub kind: ResolutionKind,
    pub call_id: Option<String>,
    pub agent: Option<String>,
    /// When the resolving call started (or the manual resolution happened).
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub id: CallbackId,
    pub customer_number: PhoneNumber,
    pub status: Status,
    /// Distinct missed calls (a call that fires several triggers counts once).
    pub missed_calls: u32,
    /// Start of the earliest / latest missed call (`start_stamp`, else receipt time).
    pub first_missed_at: DateTime<Utc>,
    pub last_missed_at: DateTime<Utc>,
    /// When Ringback received the first / latest missed call: timers run from these (§5.1).
    pub first_received_at: DateTime<Utc>,
    pub last_received_at: DateTime<Utc>,
    pub assigned_agent: Option<AgentRef>,
    pub missed_agents: Vec<MissedAgent>,
    pub department: Option<String>,
    pub attempts: u32,
    pub reminders_sent: u32,
    pub escalation_level: u32,
    /// When the next reminder falls due, before business hours and snoozing are applied.
    pub reminder_due_at: Option<DateTime<Utc>>,
    /// When it will really go out: `reminder_due_at` moved past a snooze and into business
    /// hours (SPEC §7). Kept up to date by [`Callback::reschedule`]; the scheduler's index.
    #[serde(default)]
    pub next_reminder_at: Option<DateTime<Utc>>,
    /// Reminder rounds the scheduler has issued (`reminders_sent` counts delivered ones).
    #[serde(default)]
    pub rounds_issued: u32,
    /// When the next escalation step fires (business hours and snooze applied), if any.
    #[serde(default)]
    pub next_escalation_at: Option<DateTime<Utc>>,
    /// Telegram messages sent about this callback (newest last, at most
    /// [`MAX_MESSAGES_KEPT`]): edited to show the outcome once it is resolved.
    #[serde(default)]
    pub telegram_messages: Vec<TelegramMessage>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<Resolution>,
    /// When the latest failed call-back attempt was counted (a webhook's or an outcome an
    /// agent recorded): `[reminders] escalate_after_attempts` escalates from then.
    #[serde(default)]
    pub last_attempt_at: Option<DateTime<Utc>>,
}

impl Callback {
    pub fn is_pending(&self) -> bool {
        self.status == Status::Pending
    }

    /// Recomputes `next_reminder_at` and `next_escalation_at` under `rules`: due times
    /// pushed past a snooze and then to the next business moment; `None` once resolved.
    pub fn reschedule(&mut self, rules: &Rules) {
        let hours = &rules.business_hours;
        let gate = |due: DateTime<Utc>| {
            let due = self.snoozed_until.map_or(due, |s| due.max(s));
            hours.next_open(due)
        };
        if !self.is_pending() {
            self.next_reminder_at = None;
            self.next_escalation_at = None;
            return;
        }
        self.next_reminder_at = self.reminder_due_at.and_then(gate);
        self.next_escalation_at = rules
            .escalation
            .get(self.escalation_level as usize)
            .and_then(|step| {
                // Nobody to remind: the first step's people hear at once (SPEC §5.1).
                let due = if self.escalation_level == 0 && self.assigned_agent.is_none() {
                    Some(self.first_received_at)
                } else if self.escalation_level == 0
                    && let (Some(limit), Some(at)) =
                        (rules.escalate_after_attempts, self.last_attempt_at)
                    && self.attempts >= limit
                {
                    // Enough failed attempts (SPEC §11): the first step fires now, unless
                    // its age came first.
                    self.first_received_at
                        .checked_add_signed(step.after)
                        .map_or(Some(at), |by_age| Some(by_age.min(at)))
                } else {
                    // Checked: a step beyond the calendar's end never fires (durations are
                    // bounded where they are parsed; this is the second line of defence).
                    self.first_received_at.checked_add_signed(step.after)
                };
                due.and_then(gate)
            });
    }

    /// When the scheduler next has work for this callback.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        match (self.next_reminder_at, self.next_escalation_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Remembers a Telegram message sent about this callback.
    pub fn remember_message(&mut self, message: TelegramMessage) {
        if !self.telegram_messages.contains(&message) {
            self.telegram_messages.push(message);
        }
        let excess = self
            .telegram_messages
            .len()
            .saturating_sub(MAX_MESSAGES_KEPT);
        self.telegram_messages.drain(..excess);
    }

    /// Adds a missed agent unless the same agent is already listed.
    pub fn add_missed_agent(&mut self, agent: MissedAgent) {
        let already = self.missed_agents.iter().any(|a| {
            (a.smartflo_id.is_some() && a.smartflo_id == agent.smartflo_id)
                || (a.number.is_some() && a.number == agent.number)
                || (a.agent.is_some() && a.agent == agent.agent)
                || (a.smartflo_id.is_none()
                    && a.number.is_none()
                    && a.name.is_some()
                    && a.name == agent.name)
        });
        // Bounded: the list is shown on every page that lists the callback.
        if !already && self.missed_agents.len() < MAX_MISSED_AGENTS {
            self.missed_agents.push(agent);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A missed call counted on the callback (the first one opens it).
    MissedCall,
    /// A further trigger of a call already counted: its details were added.
    MissedCallDetails,
    /// The callback was assigned to an agent.
    Assigned,
    /// An answered call resolved the callback.
    Answered,
    /// An answered call that does not resolve it (too short, or older than a later miss).
    AnsweredNotCleared,
    /// A call-back attempt the customer did not answer.
    Attempt,
    /// An agent recorded what happened when they tried to call back (`detail`: the
    /// outcome's code, then a colon and its words); counted as an attempt.
    Outcome,
    /// A dialer disposition set by an agent.
    Disposition,
    /// The department that received the call became known.
    Department,
    /// A reminder was delivered (channel and recipient in `agent`/`detail`).
    ReminderSent,
    /// A reminder could not be delivered (the reason in `detail`).
    DeliveryFailed,
    /// Resolved by a person; the reason in `detail`, the person in `who`.
    ResolvedManually,
    /// Reminders paused until the time in `detail`.
    Snoozed,
    /// An escalation step fired (`detail` names the level and who is notified).
    Escalated,
    /// An escalation message was delivered.
    EscalationSent,
    /// Someone asked Smartflo to place the call-back (click-to-call).
    CallRequested,
    /// A click-to-call request failed (the reason in `detail`).
    CallFailed,
    /// An entry of a kind this version does not know (written by a newer version): shown,
    /// not lost.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub event_id: Option<String>,
    pub trigger: Option<String>,
    pub call_id: Option<String>,
    pub agent: Option<String>,
    /// Who did it, for changes made by people (API, dashboard).
    pub who: Option<String>,
    pub detail: Option<String>,
}
