//! What a transport's report on one delivery does: to the delivery (sent, retried with
//! backoff, given up) and to its callback's timeline.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::callback::{Callback, TelegramMessage, TimelineEntry, TimelineKind};

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
