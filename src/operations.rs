//! What people can do to a callback, whichever door they come through — the API, the
//! dashboard, a Telegram button, an email link: resolve, snooze, assign, take it, and have
//! Smartflo place the call-back. One implementation, so every door behaves the same.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::domain::actions::{Action, ActionError};
use crate::domain::agent::AgentDirectory;
use crate::domain::callback::CallbackId;
use crate::domain::rules::LiveRules;
use crate::scheduler::Scheduler;
use crate::smartflo::click_to_call::ClickToCall;
use crate::store::{ActOutcome, ActRequest, Store, StoreError};

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

pub struct Operations {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rules: Arc<LiveRules>,
    pub scheduler: Arc<Scheduler>,
    pub agents: AgentDirectory,
    pub click_to_call: Option<ClickToCall>,
}

impl Operations {
    /// Applies a person's action durably and wakes the scheduler when it changed something.
    pub async fn act(
        &self,
        id: CallbackId,
        action: Action,
        who: &str,
    ) -> Result<ActOutcome, StoreError> {
        let outcome = self
            .store
            .act(ActRequest {
                id,
                action,
                who: who.to_string(),
                now: self.clock.now(),
                rules: self.rules.get(),
            })
            .await?;
        if matches!(outcome, ActOutcome::Done(_)) {
            self.scheduler.nudge();
        }
        Ok(outcome)
    }

    /// Asks Smartflo to connect `agent` (default: the assigned agent) to the customer, with
    /// the callback's id as `custom_identifier`; the attempt goes on the timeline.
    pub async fn call_back(
        &self,
        id: CallbackId,
        agent: Option<&str>,
        who: &str,
    ) -> Result<CallOutcome, StoreError> {
        let Some(client) = &self.click_to_call else {
            return Ok(CallOutcome::Refused(
                "click-to-call is not configured ([smartflo].api_token)".into(),
            ));
        };
        let store = Arc::clone(&self.store);
        let cb = tokio::task::spawn_blocking(move || store.callback(id))
            .await
            .map_err(|e| StoreError::Io(e.to_string()))??;
        let Some(cb) = cb else {
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
            ActOutcome::Done(_) => Ok(outcome),
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
