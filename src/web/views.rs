//! The JSON shapes of the API (SPEC §7), as typed views over domain values. Field order is
//! the order of the spec; times are RFC 3339 in the configured zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::callback::{Callback, ResolutionKind, Status, TimelineEntry, TimelineKind};
use crate::domain::lifecycle::Effect;
use crate::store::EventRecord;

/// Renders times in one zone, and each callback's service level under `rules` at `now`.
pub struct Renderer {
    pub zone: Tz,
    pub rules: std::sync::Arc<crate::domain::rules::Rules>,
    pub now: DateTime<Utc>,
}

impl Renderer {
    pub fn time(&self, t: DateTime<Utc>) -> String {
        crate::display::rfc3339(t, self.zone)
    }

    fn opt_time(&self, t: Option<DateTime<Utc>>) -> Option<String> {
        t.map(|t| self.time(t))
    }

    pub fn callback<'c>(
        &self,
        cb: &'c Callback,
        timeline: Option<&'c [TimelineEntry]>,
    ) -> CallbackView<'c> {
        let sla = self
            .rules
            .sla
            .status(cb, &self.rules.business_hours, self.now);
        CallbackView {
            id: cb.id.to_string(),
            customer_number: cb.customer_number.as_str(),
            status: cb.status,
            missed_calls: cb.missed_calls,
            first_missed_at: self.time(cb.first_missed_at),
            last_missed_at: self.time(cb.last_missed_at),
            first_received_at: self.time(cb.first_received_at),
            last_received_at: self.time(cb.last_received_at),
            assigned_agent: cb.assigned_agent.as_ref().map(|a| AgentView {
                name: &a.name,
                number: a.number.as_ref().map(|n| n.as_str()),
            }),
            missed_agents: cb
                .missed_agents
                .iter()
                .map(|a| MissedAgentView {
                    name: a.name.as_deref(),
                    number: a.number.as_ref().map(|n| n.as_str()),
                    smartflo_id: a.smartflo_id.as_deref(),
                    agent: a.agent.as_deref(),
                })
                .collect(),
            department: cb.department.as_deref(),
            attempts: cb.attempts,
            reminders_sent: cb.reminders_sent,
            escalation_level: cb.escalation_level,
            next_reminder_at: self.opt_time(cb.next_reminder_at),
            snoozed_until: self.opt_time(cb.snoozed_until),
            resolved_at: self.opt_time(cb.resolved_at),
            resolution: cb.resolution.as_ref().map(|r| ResolutionView {
                kind: r.kind,
                call_id: r.call_id.as_deref(),
                agent: r.agent.as_deref(),
                at: self.time(r.at),
                reason: r.reason.as_deref(),
            }),
            sla_due_at: sla.map(|s| self.time(s.due_at)),
            breached: sla.is_some_and(|s| s.breached),
            events: timeline.map(|t| t.iter().map(|e| self.entry(e)).collect()),
        }
    }

    pub fn entry<'e>(&self, e: &'e TimelineEntry) -> EntryView<'e> {
        let detail = e
            .detail
            .as_deref()
            .map(|d| crate::display::entry_detail_rfc3339(e.kind, d, self.zone));
        EntryView {
            at: self.time(e.at),
            kind: e.kind,
            trigger: e.trigger.as_deref(),
            call_id: e.call_id.as_deref(),
            event_id: e.event_id.as_deref(),
            agent: e.agent.as_deref(),
            who: e.who.as_deref(),
            detail,
        }
    }

    pub fn event<'e>(&self, e: &'e EventRecord, body: Option<&'e [u8]>) -> EventView<'e> {
        EventView {
            id: e.id.to_string(),
            received_at: self.time(e.received_at),
            trigger: &e.trigger,
            trigger_inferred: e.trigger_inferred,
            effect: e.effect,
            note: e.note.as_deref(),
            callback_id: e.callback_id.map(|c| c.to_string()),
            call_id: e.call_id.as_deref(),
            uuid: e.uuid.as_deref(),
            method: &e.raw.method,
            content_type: e.raw.content_type.as_deref(),
            query: &e.raw.query,
            headers: &e.raw.headers,
            body_bytes: e.body_len,
            body: body.map(String::from_utf8_lossy),
        }
    }
}

#[derive(Serialize)]
pub struct CallbackList<'a> {
    pub callbacks: Vec<CallbackView<'a>>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct EventList<'a> {
    pub events: Vec<EventView<'a>>,
}

#[derive(Serialize)]
pub struct CallbackView<'a> {
    pub id: String,
    pub customer_number: &'a str,
    pub status: Status,
    pub missed_calls: u32,
    /// When the first / latest missed call started, by Smartflo's `start_stamp` (receipt
    /// time when the payload had none): the call's own time.
    pub first_missed_at: String,
    pub last_missed_at: String,
    /// When Ringback received the first / latest missed call: the callback's age and its
    /// escalation run from `first_received_at`, reminders from `last_received_at`.
    pub first_received_at: String,
    pub last_received_at: String,
    pub assigned_agent: Option<AgentView<'a>>,
    pub missed_agents: Vec<MissedAgentView<'a>>,
    pub department: Option<&'a str>,
    pub attempts: u32,
    pub reminders_sent: u32,
    pub escalation_level: u32,
    pub next_reminder_at: Option<String>,
    pub snoozed_until: Option<String>,
    pub resolved_at: Option<String>,
    pub resolution: Option<ResolutionView<'a>>,
    /// When it is due to have been called back, counted in business time (SPEC §11);
    /// `null` without `[sla]`.
    pub sla_due_at: Option<String>,
    /// Called back after `sla_due_at`, or still pending past it.
    pub breached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EntryView<'a>>>,
}

#[derive(Serialize)]
pub struct AgentView<'a> {
    pub name: &'a str,
    pub number: Option<&'a str>,
}

#[derive(Serialize)]
pub struct MissedAgentView<'a> {
    pub name: Option<&'a str>,
    pub number: Option<&'a str>,
    pub smartflo_id: Option<&'a str>,
    /// The configured agent this was matched to.
    pub agent: Option<&'a str>,
}

#[derive(Serialize)]
pub struct ResolutionView<'a> {
    pub kind: ResolutionKind,
    pub call_id: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub at: String,
    pub reason: Option<&'a str>,
}

#[derive(Serialize)]
pub struct EntryView<'a> {
    pub at: String,
    pub kind: TimelineKind,
    pub trigger: Option<&'a str>,
    pub call_id: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub who: Option<&'a str>,
    pub detail: Option<String>,
}

#[derive(Serialize)]
pub struct EventView<'a> {
    pub id: String,
    pub received_at: String,
    pub trigger: &'a str,
    pub trigger_inferred: bool,
    pub effect: Effect,
    pub note: Option<&'a str>,
    pub callback_id: Option<String>,
    pub call_id: Option<&'a str>,
    pub uuid: Option<&'a str>,
    pub method: &'a str,
    pub content_type: Option<&'a str>,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body_bytes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<std::borrow::Cow<'a, str>>,
}

/// The webhook's reply (SPEC §4.1).
#[derive(Serialize)]
pub struct WebhookReply<'a> {
    pub ok: bool,
    pub event_id: String,
    pub trigger: &'a str,
    pub effect: Effect,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub trigger_inferred: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'a str>,
}
