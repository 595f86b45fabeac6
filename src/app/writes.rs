//! Building the parts of a plan that several operations share.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::reminder::{self, Delivery, Purpose};
use crate::store::{CallbackWrite, Plan, Versioned};

/// Adds a callback's change to `plan`, and — when the change resolves it — one closure
/// delivery per Telegram message sent about it, so each is edited to say how it ended.
pub fn add_callback(
    plan: &mut Plan,
    before: Option<Versioned<Callback>>,
    after: Callback,
    timeline: Vec<TimelineEntry>,
    now: DateTime<Utc>,
) {
    let closed_at = after.resolved_at.unwrap_or(now);
    for (recipient, message) in reminder::closure_notices(before.as_ref().map(|b| &b.value), &after)
    {
        plan.deliveries.push(Delivery {
            id: Ulid::new(),
            callback: after.id,
            purpose: Purpose::Closure,
            round: 0,
            recipient,
            attempts: 0,
            next_attempt_at: closed_at,
            created_at: closed_at,
            last_error: None,
            due_at: None,
            message: Some(message),
            digest: None,
        });
    }
    plan.callbacks.push(CallbackWrite {
        before,
        after,
        timeline,
    });
}

/// The earliest moment `plan` gives the scheduler something to do: a callback's next wake
/// or a new delivery's time.
pub fn earliest_work(plan: &Plan) -> Option<DateTime<Utc>> {
    let wakes = plan.callbacks.iter().filter_map(|w| w.after.next_wake());
    let sends = plan.deliveries.iter().map(|d| d.next_attempt_at);
    wakes.chain(sends).min()
}

/// The callbacks `plan` resolves (pending before, resolved after), for the metrics.
pub fn resolved_by(plan: &Plan) -> Vec<Callback> {
    plan.callbacks
        .iter()
        .filter(|w| {
            w.before.as_ref().is_some_and(|b| b.value.is_pending()) && !w.after.is_pending()
        })
        .map(|w| w.after.clone())
        .collect()
}

/// The pending callbacks `plan` leaves with no next wake that had one before (or are new):
/// nothing would ever remind anyone of them.
pub fn stranded(plan: &Plan) -> Vec<CallbackId> {
    plan.callbacks
        .iter()
        .filter(|w| w.after.is_pending() && w.after.next_wake().is_none())
        .filter(|w| {
            w.before
                .as_ref()
                .is_none_or(|b| b.value.next_wake().is_some())
        })
        .map(|w| w.after.id)
        .collect()
}
