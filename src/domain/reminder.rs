//! Reminder rounds and their deliveries (SPEC §6): who is reminded, on which channels, when
//! the next round falls due, and what a delivery's result does to the callback. Pure.
//!
//! A *round* is one due time; it becomes one *delivery* per recipient and channel, kept in
//! the store's outbox until it is settled (sent, failed for good, or no longer wanted).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::callback::{Callback, CallbackId, TimelineEntry, TimelineKind};
use super::rules::Rules;

mod recipients;
mod settle;

pub use recipients::{Channel, Contact, Recipient, Roster};
pub use settle::{Settled, Settlement, backoff, give_up_after, settle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Reminder,
    Escalation,
    /// Edit a Telegram message sent earlier to show how the callback ended.
    Closure,
    /// A shift digest (SPEC §11): its report travels with the delivery.
    Digest,
}

/// One message to one recipient on one channel: the outbox's unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: Ulid,
    pub callback: CallbackId,
    pub purpose: Purpose,
    /// The reminder round it belongs to (1 for the first reminder), or for an escalation
    /// its level (1 for the first step).
    pub round: u32,
    pub recipient: Recipient,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// When the round or escalation step it belongs to fell due (the reminder lateness
    /// metric is measured from here); none for closures.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// For a closure: the Telegram message to edit.
    #[serde(default)]
    pub message: Option<i32>,
    /// For a digest: what it reports (its `callback` is then the digest's own id, which no
    /// callback has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Box<super::digest::DigestReport>>,
}

/// Issues the next reminder round of `cb` if it is due at `now`: returns the callback with
/// its schedule advanced, and the round number. A round that is overdue by more than one
/// interval (the service was down) is sent once; the next one is a full interval later, so
/// a restart never bursts out every round it missed.
pub fn plan_round(cb: &Callback, now: DateTime<Utc>, rules: &Rules) -> Option<(Callback, u32)> {
    if !cb.is_pending() || cb.next_reminder_at.is_none_or(|at| at > now) {
        return None;
    }
    let mut next = cb.clone();
    let due = cb.reminder_due_at.unwrap_or(now);
    // Checked: past the calendar's end there is no next round (rather than a panic).
    let following = due
        .checked_add_signed(rules.repeat_every)
        .filter(|f| *f > now)
        .or_else(|| now.checked_add_signed(rules.repeat_every));
    next.rounds_issued = next.rounds_issued.saturating_add(1);
    next.reminder_due_at = following;
    next.reschedule(rules);
    let round = next.rounds_issued;
    Some((next, round))
}

/// One escalation step that fired: its level (1 for the first step) and who hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub level: u32,
    pub notify: Vec<String>,
}

/// Fires every escalation step of `cb` that is due at `now` (each once: the level rises
/// past it). Returns the callback with its level and schedule advanced, the steps fired and
/// their timeline entries; `None` when nothing is due.
pub fn plan_escalations(
    cb: &Callback,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Option<(Callback, Vec<Escalation>, Vec<TimelineEntry>)> {
    let mut next = cb.clone();
    let mut fired = Vec::new();
    let mut entries = Vec::new();
    while next.next_escalation_at.is_some_and(|at| at <= now) {
        let Some(step) = rules.escalation.get(next.escalation_level as usize) else {
            break;
        };
        next.escalation_level = next.escalation_level.saturating_add(1);
        entries.push(TimelineEntry {
            at: now,
            kind: TimelineKind::Escalated,
            event_id: None,
            trigger: None,
            call_id: None,
            agent: None,
            who: None,
            detail: Some(format!(
                "escalation level {}: notifying {}",
                next.escalation_level,
                step.notify.join(", ")
            )),
        });
        fired.push(Escalation {
            level: next.escalation_level,
            notify: step.notify.clone(),
        });
        next.reschedule(rules);
    }
    (!fired.is_empty()).then_some((next, fired, entries))
}

/// What falls due for one callback at one moment: its advanced state, the messages to send
/// (purpose, round or level, recipient) and the timeline entries.
#[derive(Debug, Clone, PartialEq)]
pub struct DueWork {
    pub callback: Callback,
    pub sends: Vec<(Purpose, u32, Recipient)>,
    pub timeline: Vec<TimelineEntry>,
}

/// Everything due for `cb` at `now`: escalation steps, then the reminder round.
pub fn take_due(
    cb: &Callback,
    now: DateTime<Utc>,
    rules: &Rules,
    roster: &Roster,
) -> Option<DueWork> {
    let mut current = cb.clone();
    let mut sends = Vec::new();
    let mut timeline = Vec::new();
    if let Some((after, fired, entries)) = plan_escalations(&current, now, rules) {
        for step in fired {
            for recipient in roster.recipients(&step.notify) {
                sends.push((Purpose::Escalation, step.level, recipient));
            }
        }
        timeline.extend(entries);
        current = after;
    }
    if let Some((after, round)) = plan_round(&current, now, rules) {
        for recipient in roster.for_reminder(&after, rules) {
            sends.push((Purpose::Reminder, round, recipient));
        }
        current = after;
    }
    (current != *cb).then_some(DueWork {
        callback: current,
        sends,
        timeline,
    })
}

/// When a callback stops being pending, every Telegram message sent about it is edited to
/// say so: one closure delivery per message.
pub fn closure_notices(before: Option<&Callback>, after: &Callback) -> Vec<(Recipient, i32)> {
    if after.is_pending() || !before.is_some_and(Callback::is_pending) {
        return Vec::new();
    }
    after
        .telegram_messages
        .iter()
        .map(|m| {
            (
                Recipient {
                    name: String::new(),
                    channel: Channel::Telegram,
                    address: m.chat.to_string(),
                },
                m.message,
            )
        })
        .collect()
}

#[cfg(test)]
#[path = "reminder_tests.rs"]
mod tests;
