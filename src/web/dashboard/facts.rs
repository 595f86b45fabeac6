//! How a callback reads on a page: the same facts for the pending list, the callback page
//! and the signed view agents open from a reminder.
//!
//! One clock for age: a callback's age runs from when Ringback *received* its first missed
//! call (`first_received_at`), the clock escalation runs on, so "waiting 46 min" and
//! "level 0" beside a 30-minute step cannot both be shown. The call's own start time
//! (Smartflo's `start_stamp`) is shown as its own fact, "call started".

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::display::{entry_detail, humane_age, local_time, phone};
use crate::domain::callback::{Callback, TimelineEntry, TimelineKind};
use crate::domain::rules::Rules;

/// What a page needs to say about time and urgency.
pub struct Clock<'r> {
    pub zone: Tz,
    pub now: DateTime<Utc>,
    pub rules: &'r Rules,
}

impl Clock<'_> {
    /// How long the customer has waited: since the first missed call was received.
    pub fn age(&self, cb: &Callback) -> Duration {
        (self.now - cb.first_received_at).max(Duration::zero())
    }

    /// The service level: `[sla] callback_within` (business time), else the first
    /// escalation step's `after`, if there is a step.
    pub fn sla(&self) -> Option<Duration> {
        self.rules
            .sla
            .within
            .or_else(|| self.rules.escalation.first().map(|s| s.after))
    }

    /// `cb` against `[sla]`, when one is configured.
    pub fn sla_status(&self, cb: &Callback) -> Option<crate::domain::sla::SlaStatus> {
        self.rules
            .sla
            .status(cb, &self.rules.business_hours, self.now)
    }

    /// Pending past the service level: `[sla]`'s due time in business hours when it is
    /// configured, else the first escalation step's age.
    pub fn late(&self, cb: &Callback) -> bool {
        if !cb.is_pending() {
            return false;
        }
        match self.sla_status(cb) {
            Some(status) => status.breached,
            None if self.rules.sla.is_set() => false,
            None => self.sla().is_some_and(|sla| self.age(cb) >= sla),
        }
    }
}

/// The escalation level as a badge's words.
pub fn level_label(level: u32) -> String {
    match level {
        0 => "Not escalated".into(),
        n => format!("Escalated · level {n}"),
    }
}

/// A callback's facts for a page.
pub fn callback(cb: &Callback, clock: &Clock) -> Value {
    let zone = clock.zone;
    let now = clock.now;
    json!({
        "id": cb.id.to_string(),
        "customer": phone(cb.customer_number.as_str()),
        "tel": cb.customer_number.as_str(),
        "status": cb.status,
        "pending": cb.is_pending(),
        "missed_calls": cb.missed_calls,
        "age": humane_age(clock.age(cb)),
        "received": local_time(cb.first_received_at, zone),
        "last_received": local_time(cb.last_received_at, zone),
        "call_started": local_time(cb.first_missed_at, zone),
        "last_call_started": local_time(cb.last_missed_at, zone),
        "agent": cb.assigned_agent.as_ref().map(|a| a.name.clone()),
        "department": cb.department,
        "attempts": cb.attempts,
        "reminders_sent": cb.reminders_sent,
        "escalation_level": cb.escalation_level,
        "level_label": level_label(cb.escalation_level),
        "late": clock.late(cb),
        "sla_due_at": clock.sla_status(cb).map(|s| local_time(s.due_at, zone)),
        "breached": clock.sla_status(cb).is_some_and(|s| s.breached),
        "sla": clock.sla().map(humane_age),
        "next_reminder": cb.next_reminder_at.map(|t| local_time(t, zone)),
        "snoozed": cb.snoozed_until.is_some_and(|s| s > now),
        "snoozed_until": cb.snoozed_until.filter(|s| *s > now).map(|t| local_time(t, zone)),
    })
}

fn what(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::MissedCall => "Missed call",
        TimelineKind::MissedCallDetails => "More about a missed call",
        TimelineKind::Assigned => "Assigned",
        TimelineKind::Answered => "Answered call: resolved",
        TimelineKind::AnsweredNotCleared => "Answered call (did not clear)",
        TimelineKind::Attempt => "Call-back attempt",
        TimelineKind::Outcome => "Call-back attempt: outcome",
        TimelineKind::Disposition => "Disposition",
        TimelineKind::Department => "Department",
        TimelineKind::ReminderSent => "Reminder sent",
        TimelineKind::DeliveryFailed => "Delivery failed",
        TimelineKind::ResolvedManually => "Resolved by hand",
        TimelineKind::Snoozed => "Snoozed",
        TimelineKind::Escalated => "Escalated",
        TimelineKind::EscalationSent => "Escalation sent",
        TimelineKind::CallRequested => "Call-back placed through Smartflo",
        TimelineKind::CallFailed => "Call-back could not be placed",
        TimelineKind::Other => "Other (recorded by a newer version)",
    }
}

/// One timeline entry as a table row (times local, snoozes in local time).
pub fn entry(e: &TimelineEntry, zone: Tz) -> Value {
    let mut detail = e
        .detail
        .as_deref()
        .map(|d| entry_detail(e.kind, d, zone))
        .unwrap_or_default();
    if let Some(call) = &e.call_id {
        if !detail.is_empty() {
            detail.push_str(" · ");
        }
        detail.push_str(&format!("call {call}"));
    }
    json!({
        "at": local_time(e.at, zone),
        "what": what(e.kind),
        "who": e.who.clone().or_else(|| e.agent.clone()),
        "detail": detail,
    })
}
