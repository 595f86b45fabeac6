//! What people do to a callback (SPEC §5.2, §7): resolve it, snooze it, reassign it. Each
//! is a timeline entry saying who did it, and each changes what the scheduler does next.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::agent::AgentRef;
use super::callback::{
    Callback, CallbackId, Resolution, ResolutionKind, Status, TimelineEntry, TimelineKind,
};
use super::rules::Rules;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Resolve {
        reason: String,
    },
    Snooze {
        until: DateTime<Utc>,
    },
    Assign {
        agent: AgentRef,
    },
    /// A click-to-call was asked of Smartflo for `agent`: what it answered.
    CallRequested {
        agent: String,
        outcome: Result<String, String>,
    },
}

/// What a message offers its reader in one tap (Telegram buttons, email links): its code
/// travels as `<code>:<callback id>` in button data and inside signed links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuickAction {
    /// Have Smartflo place the call-back.
    CallBack,
    /// Snooze 30 minutes.
    Snooze,
    /// Take the callback (an agent reassigns it to themselves).
    Take,
    /// Mark it called back.
    CalledBack,
}

impl QuickAction {
    pub const ALL: [QuickAction; 4] = [Self::CallBack, Self::Snooze, Self::Take, Self::CalledBack];

    pub fn code(self) -> &'static str {
        match self {
            Self::CallBack => "call",
            Self::Snooze => "snooze",
            Self::Take => "take",
            Self::CalledBack => "done",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }

    /// `<code>:<callback id>`.
    pub fn data(self, id: CallbackId) -> String {
        format!("{}:{id}", self.code())
    }

    pub fn parse(data: &str) -> Option<(Self, CallbackId)> {
        let (code, id) = data.split_once(':')?;
        Some((Self::from_code(code)?, id.parse().ok()?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("the callback is already resolved")]
    AlreadyResolved,
    #[error("snooze until {0} is not in the future")]
    SnoozeInPast(DateTime<Utc>),
}

/// Applies `action` by `who` at `now`.
pub fn apply(
    cb: &Callback,
    action: &Action,
    who: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Result<(Callback, Vec<TimelineEntry>), ActionError> {
    if !cb.is_pending() {
        return Err(ActionError::AlreadyResolved);
    }
    let mut after = cb.clone();
    let entry = |kind: TimelineKind, agent: Option<String>, detail: String| TimelineEntry {
        at: now,
        kind,
        event_id: None,
        trigger: None,
        call_id: None,
        agent,
        who: Some(who.to_string()),
        detail: Some(detail),
    };
    let timeline = match action {
        Action::Resolve { reason } => {
            after.status = Status::Resolved;
            after.resolved_at = Some(now);
            after.reminder_due_at = None;
            after.snoozed_until = None;
            after.resolution = Some(Resolution {
                kind: ResolutionKind::Manual,
                call_id: None,
                agent: Some(who.to_string()),
                at: now,
                reason: Some(reason.clone()),
            });
            vec![entry(TimelineKind::ResolvedManually, None, reason.clone())]
        }
        Action::Snooze { until } => {
            if *until <= now {
                return Err(ActionError::SnoozeInPast(*until));
            }
            after.snoozed_until = Some(*until);
            vec![entry(
                TimelineKind::Snoozed,
                None,
                // To the second and marked UTC; pages show it in local time (display.rs).
                format!(
                    "until {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            )]
        }
        Action::CallRequested { agent, outcome } => {
            let (kind, detail) = match outcome {
                Ok(message) => (
                    TimelineKind::CallRequested,
                    format!(
                        "Smartflo is connecting {agent} to {}: {message}",
                        cb.customer_number
                    ),
                ),
                Err(reason) => (
                    TimelineKind::CallFailed,
                    format!(
                        "the call to {} was not placed: {reason}",
                        cb.customer_number
                    ),
                ),
            };
            vec![entry(kind, Some(agent.clone()), detail)]
        }
        Action::Assign { agent } => {
            let from = cb
                .assigned_agent
                .as_ref()
                .map_or_else(|| "nobody".to_string(), |a| a.name.clone());
            after.assigned_agent = Some(agent.clone());
            vec![entry(
                TimelineKind::Assigned,
                Some(agent.name.clone()),
                format!("reassigned from {from}"),
            )]
        }
    };
    after.reschedule(rules);
    Ok((after, timeline))
}
