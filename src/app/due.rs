//! Issuing what falls due (SPEC §6): for each callback whose next wake has come, the
//! escalation steps and the reminder round due, its schedule advanced, and one delivery per
//! recipient and channel put in the outbox — durably, before anything is sent. One plan per
//! callback, all applied together (one writer batch, one flush); a callback that changed in
//! the meantime is left for the next pass, which reads it again.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use ulid::Ulid;

use super::error::decide;
use super::writes::add_callback;
use super::{App, AppError};
use crate::domain::callback::Callback;
use crate::domain::reminder::{self, Delivery};
use crate::store::{Plan, StoreError, Versioned};

impl App {
    /// Claims up to `limit` due callbacks at `now`; returns how many deliveries it recorded.
    pub async fn claim_due(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, AppError> {
        let due = self.store.due(now, limit).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let rules = self.rules.get();
        let plans = decide("planning due reminders", || {
            due.into_iter()
                .filter_map(|cb| plan_due(cb, now, &rules, &self.roster))
                .collect::<Vec<_>>()
        })?;
        let results = join_all(
            plans
                .into_iter()
                .map(|(plan, sends)| async move { (self.apply(plan).await, sends) }),
        )
        .await;
        let mut recorded = 0;
        for (result, sends) in results {
            match result {
                Ok(()) => recorded += sends,
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(recorded)
    }
}

/// The plan for one due callback and how many deliveries it records; `None` when nothing
/// is due after all (it changed since it was read).
fn plan_due(
    cb: Versioned<Callback>,
    now: DateTime<Utc>,
    rules: &crate::domain::rules::Rules,
    roster: &reminder::Roster,
) -> Option<(Plan, usize)> {
    let due_at = cb.value.next_wake();
    let mut plan = Plan::default();
    match reminder::take_due(&cb.value, now, rules, roster) {
        Some(work) => {
            for (purpose, round, recipient) in work.sends {
                plan.deliveries.push(Delivery {
                    id: Ulid::new(),
                    callback: cb.value.id,
                    purpose,
                    round,
                    recipient,
                    attempts: 0,
                    next_attempt_at: now,
                    created_at: now,
                    last_error: None,
                    due_at,
                    message: None,
                    digest: None,
                });
            }
            let sends = plan.deliveries.len();
            add_callback(&mut plan, Some(cb), work.callback, work.timeline, now);
            Some((plan, sends))
        }
        None => {
            // Woken with nothing to do: its schedule was made under other rules. Make it
            // again under these, so it is not woken for nothing again.
            let mut after = cb.value.clone();
            after.reschedule(rules);
            if after == cb.value {
                if due_at.is_some_and(|at| at <= now) {
                    tracing::warn!(callback = %cb.value.id, "a callback is due with nothing to send; its schedule is left as it is");
                }
                return None;
            }
            add_callback(&mut plan, Some(cb), after, Vec::new(), now);
            Some((plan, 0))
        }
    }
}
