//! Reminder rounds and their deliveries (SPEC §6): who is reminded, on which channels, when
//! the next round falls due, and what a delivery's result does to the callback. Pure.
//!
//! A *round* is one due time; it becomes one *delivery* per recipient and channel, kept in
//! the store's outbox until it is settled (sent, failed for good, or no longer wanted).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::callback::{Callback, CallbackId, TelegramMessage, TimelineEntry, TimelineKind};
use super::rules::Rules;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Telegram,
    /// The service log: used when no channel can reach a recipient (the out-of-the-box run).
    Log,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Telegram => "telegram",
            Channel::Log => "log",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One person on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub name: String,
    pub channel: Channel,
    /// Email address, Telegram chat id, or empty for the log.
    pub address: String,
}

impl Recipient {
    /// "email to Priya <priya@example.in>" — for timelines.
    pub fn describe(&self) -> String {
        match self.channel {
            Channel::Log => format!("log (for {})", self.name),
            Channel::Email => format!("email to {} <{}>", self.name, self.address),
            Channel::Telegram => format!("telegram to {} (chat {})", self.name, self.address),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub telegram_chat_id: Option<i64>,
    /// Channels this person wants (empty: every channel they have an address for).
    pub channels: Vec<Channel>,
}

/// Everyone who can be notified, and which transports are configured.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub contacts: Vec<Contact>,
    pub email_enabled: bool,
    pub telegram_enabled: bool,
}

impl Roster {
    fn contact(&self, name: &str) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Each named person on each of their channels that is configured and has an address;
    /// a person no channel can reach gets the log, so nothing is silently dropped.
    pub fn recipients(&self, names: &[String]) -> Vec<Recipient> {
        let mut out = Vec::new();
        for name in names {
            let Some(contact) = self.contact(name) else {
                out.push(Recipient {
                    name: name.clone(),
                    channel: Channel::Log,
                    address: String::new(),
                });
                continue;
            };
            let wants = |c: Channel| contact.channels.is_empty() || contact.channels.contains(&c);
            let before = out.len();
            if let (true, true, Some(email)) =
                (self.email_enabled, wants(Channel::Email), &contact.email)
            {
                out.push(Recipient {
                    name: contact.name.clone(),
                    channel: Channel::Email,
                    address: email.clone(),
                });
            }
            if let (true, true, Some(chat)) = (
                self.telegram_enabled,
                wants(Channel::Telegram),
                contact.telegram_chat_id,
            ) {
                out.push(Recipient {
                    name: contact.name.clone(),
                    channel: Channel::Telegram,
                    address: chat.to_string(),
                });
            }
            if out.len() == before {
                out.push(Recipient {
                    name: contact.name.clone(),
                    channel: Channel::Log,
                    address: String::new(),
                });
            }
        }
        out
    }

    /// Who a reminder for `cb` goes to: its agent, else the first escalation step's people.
    pub fn for_reminder(&self, cb: &Callback, rules: &Rules) -> Vec<Recipient> {
        match &cb.assigned_agent {
            Some(agent) => self.recipients(std::slice::from_ref(&agent.name)),
            None if !rules.unassigned_recipients().is_empty() => {
                self.recipients(rules.unassigned_recipients())
            }
            None => vec![Recipient {
                name: "nobody assigned".into(),
                channel: Channel::Log,
                address: String::new(),
            }],
        }
    }
}

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

/// What a transport reported for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered; `message` is the Telegram message id when the channel gives one.
    Sent {
        at: DateTime<Utc>,
        message: Option<i32>,
    },
    /// A transient failure at `at`: try again at `retry_at`.
    Retry {
        at: DateTime<Utc>,
        retry_at: DateTime<Utc>,
        reason: String,
    },
    /// A permanent failure (address rejected, chat not found): never retried.
    Failed { at: DateTime<Utc>, reason: String },
    /// Not sent because it is no longer wanted (resolved, or a newer round exists).
    Dropped { reason: String },
}

/// How long a delivery keeps retrying transient failures before it is given up.
pub fn give_up_after() -> Duration {
    Duration::hours(24)
}

/// Exponential backoff: 15 s, 30 s, 1 min … capped at 15 min, spread by `jitter` ∈ [0, 1)
/// over ±20 % so that many failed deliveries do not retry in lockstep.
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let base = 15_i64
        .saturating_mul(1_i64 << attempts.min(10))
        .min(15 * 60);
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::milliseconds((base as f64 * 1000.0 * spread) as i64)
}

/// The effect of a settlement on the callback and the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The callback's new state, when it changed.
    pub callback: Option<Callback>,
    pub timeline: Vec<TimelineEntry>,
    /// The delivery to keep (for a retry), or `None` to remove it from the outbox.
    pub keep: Option<Delivery>,
}

pub fn settle(cb: Option<&Callback>, delivery: &Delivery, settlement: &Settlement) -> Settled {
    let entry = |at: DateTime<Utc>, kind: TimelineKind, detail: String| TimelineEntry {
        at,
        kind,
        event_id: None,
        trigger: None,
        call_id: None,
        agent: Some(delivery.recipient.name.clone()),
        who: None,
        detail: Some(detail),
    };
    let (what, sent_kind) = match delivery.purpose {
        Purpose::Reminder => (
            format!(
                "reminder {} by {}",
                delivery.round,
                delivery.recipient.describe()
            ),
            TimelineKind::ReminderSent,
        ),
        Purpose::Escalation => (
            format!(
                "escalation level {} by {}",
                delivery.round,
                delivery.recipient.describe()
            ),
            TimelineKind::EscalationSent,
        ),
        // Closing edits are housekeeping, and digests belong to no callback: neither leaves
        // a trace on a timeline.
        Purpose::Closure | Purpose::Digest => {
            return Settled {
                callback: None,
                timeline: Vec::new(),
                keep: match settlement {
                    Settlement::Retry {
                        at,
                        retry_at,
                        reason,
                    } if *at - delivery.created_at < give_up_after() => {
                        let mut keep = delivery.clone();
                        keep.attempts = keep.attempts.saturating_add(1);
                        keep.next_attempt_at = *retry_at;
                        keep.last_error = Some(reason.clone());
                        Some(keep)
                    }
                    _ => None,
                },
            };
        }
    };
    match settlement {
        Settlement::Sent { at, message } => {
            let callback = cb.map(|cb| {
                let mut cb = cb.clone();
                if delivery.purpose == Purpose::Reminder {
                    cb.reminders_sent = cb.reminders_sent.max(delivery.round);
                }
                if let (Channel::Telegram, Some(id), Ok(chat)) = (
                    delivery.recipient.channel,
                    message,
                    delivery.recipient.address.parse::<i64>(),
                ) {
                    cb.remember_message(TelegramMessage { chat, message: *id });
                }
                cb
            });
            let timeline = vec![entry(*at, sent_kind, what)];
            Settled {
                timeline: if callback.is_some() {
                    timeline
                } else {
                    Vec::new()
                },
                callback,
                keep: None,
            }
        }
        Settlement::Retry {
            at,
            retry_at,
            reason,
        } if *at - delivery.created_at < give_up_after() => {
            let mut keep = delivery.clone();
            keep.attempts = keep.attempts.saturating_add(1);
            keep.next_attempt_at = *retry_at;
            keep.last_error = Some(reason.clone());
            // The first failure goes on the timeline; the retries that follow do not.
            let timeline = match cb {
                Some(_) if delivery.attempts == 0 => vec![entry(
                    *at,
                    TimelineKind::DeliveryFailed,
                    format!("{what} failed: {reason}; retrying"),
                )],
                _ => Vec::new(),
            };
            Settled {
                callback: cb.filter(|_| !timeline.is_empty()).cloned(),
                timeline,
                keep: Some(keep),
            }
        }
        Settlement::Retry { at, reason, .. } | Settlement::Failed { at, reason } => Settled {
            callback: cb.cloned(),
            timeline: match cb {
                Some(_) => vec![entry(
                    *at,
                    TimelineKind::DeliveryFailed,
                    format!("{what} failed for good: {reason}"),
                )],
                None => Vec::new(),
            },
            keep: None,
        },
        Settlement::Dropped { .. } => Settled {
            callback: None,
            timeline: Vec::new(),
            keep: None,
        },
    }
}

#[cfg(test)]
#[path = "reminder_tests.rs"]
mod tests;
