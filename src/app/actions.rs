//! What people can do to a callback, whichever door they come through — the API, the
//! dashboard, a Telegram button, an email link: resolve, snooze, assign, take it, and have
//! Smartflo place the call-back. One implementation, so every door behaves the same.

use chrono::{DateTime, Duration, Utc};

use super::error::decide;
use super::writes::add_callback;
use super::{App, AppError, MAX_ATTEMPTS, back_off};
use crate::domain::actions::{self, Action, ActionError};
use crate::domain::callback::{Callback, CallbackId};
use crate::store::{Plan, StoreError};

/// The longest snooze.
pub const MAX_SNOOZE_MINUTES: i64 = 7 * 24 * 60;

/// What a click-to-call request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Smartflo accepted it and will ring `agent`, then the customer.
    Placed { agent: String, message: String },
    /// Smartflo (or the network) said no; recorded on the timeline.
    Failed { agent: String, reason: String },
    /// Not attempted, and why (no such callback, resolved, no agent id, not configured).
    Refused(String),
}

/// What an action came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ActOutcome {
    Done(Box<Callback>),
    /// Nothing to do: assigned to the agent who has it, or the outcome this person recorded
    /// moments ago pressed again. The callback as it is.
    Unchanged(Box<Callback>),
    NotFound,
    Refused(ActionError),
}

impl App {
    /// Applies a person's action durably (SPEC §5.2); wakes the scheduler when it changed
    /// something.
    pub async fn act(
        &self,
        id: CallbackId,
        action: Action,
        who: &str,
    ) -> Result<ActOutcome, AppError> {
        for attempt in 0..MAX_ATTEMPTS {
            back_off(attempt).await;
            let Some(cb) = self.store.callback(id).await? else {
                return Ok(ActOutcome::NotFound);
            };
            let now = self.now();
            let rules = self.rules.get();
            let applied = decide("applying an action", || {
                actions::apply(&cb.value, &action, who, now, &rules)
            })?;
            let (after, timeline) = match applied {
                Ok(changed) => changed,
                Err(refused) => return Ok(ActOutcome::Refused(refused)),
            };
            // Judged once the action is known to be valid: a repeat of a refused one is
            // refused as the first was.
            if self
                .repeats_last_outcome(&cb.value, &action, who, now)
                .await?
            {
                tracing::info!(callback = %id, action = action.name(), %who, "callback action changed nothing: the same outcome was recorded moments ago");
                return Ok(ActOutcome::Unchanged(Box::new(cb.value)));
            }
            if timeline.is_empty() {
                tracing::info!(callback = %id, action = action.name(), %who, "callback action changed nothing");
                return Ok(ActOutcome::Unchanged(Box::new(after)));
            }
            let mut plan = Plan::default();
            add_callback(&mut plan, Some(cb), after.clone(), timeline, now);
            let work_at = super::writes::earliest_work(&plan);
            let resolved = super::writes::resolved_by(&plan);
            match self.apply(plan).await {
                Ok(()) => {
                    // One line per person's action (operations.md), whichever door.
                    tracing::info!(callback = %id, action = action.name(), %who, "callback action");
                    self.observe_resolved(&resolved);
                    self.nudge_for(work_at);
                    return Ok(ActOutcome::Done(Box::new(after)));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Whether `action` is an outcome `who` recorded moments ago (read from the timeline
    /// only for outcomes).
    async fn repeats_last_outcome(
        &self,
        cb: &Callback,
        action: &Action,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        if !matches!(action, Action::Outcome { .. }) {
            return Ok(false);
        }
        let timeline = self
            .store
            .callback_detail(cb.id)
            .await?
            .map(|d| d.timeline)
            .unwrap_or_default();
        Ok(actions::repeats_last_outcome(
            cb, &timeline, action, who, now,
        ))
    }

    /// Asks Smartflo to connect `agent` (default: the assigned agent) to the customer, with
    /// the callback's id as `custom_identifier`; the attempt goes on the timeline.
    pub async fn call_back(
        &self,
        id: CallbackId,
        agent: Option<&str>,
        who: &str,
    ) -> Result<CallOutcome, AppError> {
        let Some(client) = &self.click_to_call else {
            return Ok(CallOutcome::Refused(
                "click-to-call is not configured ([smartflo].api_token)".into(),
            ));
        };
        let Some(cb) = self.store.callback(id).await?.map(|c| c.value) else {
            return Ok(CallOutcome::Refused("no such callback".into()));
        };
        if !cb.is_pending() {
            return Ok(CallOutcome::Refused(
                "the callback is already resolved".into(),
            ));
        }
        let name = match agent.or(cb.assigned_agent.as_ref().map(|a| a.name.as_str())) {
            Some(name) => name.to_string(),
            None => {
                return Ok(CallOutcome::Refused(
                    "nobody is assigned to call back".into(),
                ));
            }
        };
        let Some(entry) = self.agents.by_name(&name) else {
            return Ok(CallOutcome::Refused(format!(
                "{name} is not a configured agent"
            )));
        };
        let Some(smartflo_id) = entry.smartflo_id.clone() else {
            return Ok(CallOutcome::Refused(format!(
                "{} has no smartflo_id in the configuration, so Smartflo cannot ring them",
                entry.name
            )));
        };
        let agent = entry.name.clone();
        let result = client
            .place(
                &smartflo_id,
                &cb.customer_number.national(),
                &id.to_string(),
            )
            .await
            .map_err(|e| e.to_string());
        let outcome = match &result {
            Ok(message) => CallOutcome::Placed {
                agent: agent.clone(),
                message: message.clone(),
            },
            Err(reason) => CallOutcome::Failed {
                agent: agent.clone(),
                reason: reason.clone(),
            },
        };
        if let Err(reason) = &result {
            tracing::warn!(callback = %id, %agent, %reason, "click-to-call failed");
        }
        match self
            .act(
                id,
                Action::CallRequested {
                    agent,
                    outcome: result,
                },
                who,
            )
            .await?
        {
            ActOutcome::Done(_) | ActOutcome::Unchanged(_) => Ok(outcome),
            ActOutcome::NotFound => Ok(CallOutcome::Refused("no such callback".into())),
            ActOutcome::Refused(ActionError::AlreadyResolved) => Ok(outcome),
            ActOutcome::Refused(e) => Ok(CallOutcome::Refused(e.to_string())),
        }
    }
}

/// When a snooze of `minutes` (or until `until`) from `now` ends: one of the two, at most
/// seven days ahead.
pub fn snooze_until(
    now: DateTime<Utc>,
    minutes: Option<i64>,
    until: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, String> {
    let until = match (minutes, until) {
        (Some(m), None) if (1..=MAX_SNOOZE_MINUTES).contains(&m) => now + Duration::minutes(m),
        (Some(m), None) => {
            return Err(format!(
                "minutes must be from 1 to {MAX_SNOOZE_MINUTES}, not {m}"
            ));
        }
        (None, Some(until)) => until,
        _ => return Err("give either \"minutes\" or \"until\" (RFC 3339)".into()),
    };
    if until > now + Duration::minutes(MAX_SNOOZE_MINUTES) {
        return Err("a snooze may last at most 7 days".into());
    }
    Ok(until)
}
