//! What people do to a callback (SPEC §5.2, §7): resolve it, snooze it, reassign it. Each
//! is a timeline entry saying who did it, and each changes what the scheduler does next.

use chrono::{DateTime, Duration, Utc};
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
    /// What happened when the agent tried to call back (SPEC §11); `at` is when to call
    /// again, for [`Outcome::CallLater`].
    Outcome {
        outcome: Outcome,
        at: Option<DateTime<Utc>>,
    },
}

impl Action {
    /// What was done, in one word (for logs): `resolve`, `snooze`, `assign`, `call`, or
    /// the outcome's code (`no_answer`, `wrong_number`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Resolve { .. } => "resolve",
            Action::Snooze { .. } => "snooze",
            Action::Assign { .. } => "assign",
            Action::CallRequested { .. } => "call",
            Action::Outcome { outcome, .. } => outcome.code(),
        }
    }
}

/// The outcome of a call-back attempt, as an agent records it (SPEC §11). Each counts as a
/// failed attempt; a wrong number resolves the callback, "call me later" snoozes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    NoAnswer,
    Busy,
    SwitchedOff,
    WrongNumber,
    CallLater,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Self::NoAnswer,
        Self::Busy,
        Self::SwitchedOff,
        Self::WrongNumber,
        Self::CallLater,
    ];

    /// The code of the API and of button data (`no_answer`, …).
    pub fn code(self) -> &'static str {
        match self {
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::SwitchedOff => "switched_off",
            Self::WrongNumber => "wrong_number",
            Self::CallLater => "call_later",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.code() == code.trim())
    }

    /// In words, for timelines and messages.
    pub fn words(self) -> &'static str {
        match self {
            Self::NoAnswer => "no answer",
            Self::Busy => "busy",
            Self::SwitchedOff => "switched off",
            Self::WrongNumber => "wrong number",
            Self::CallLater => "asked to be called later",
        }
    }
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
    /// Record an attempt's outcome ("call me later" means in [`CALL_LATER_MINUTES`]).
    Outcome(Outcome),
}

/// "Call me later" from a button or an email link: an hour from the press (the API and
/// the dashboard take any time).
pub const CALL_LATER_MINUTES: i64 = 60;

impl QuickAction {
    pub const ALL: [QuickAction; 9] = [
        Self::CallBack,
        Self::Snooze,
        Self::Take,
        Self::CalledBack,
        Self::Outcome(Outcome::NoAnswer),
        Self::Outcome(Outcome::Busy),
        Self::Outcome(Outcome::SwitchedOff),
        Self::Outcome(Outcome::WrongNumber),
        Self::Outcome(Outcome::CallLater),
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::CallBack => "call",
            Self::Snooze => "snooze",
            Self::Take => "take",
            Self::CalledBack => "done",
            Self::Outcome(o) => o.code(),
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
    #[error("call_later needs \"at\": when to call the customer again")]
    LaterWithoutTime,
    #[error("\"at\" is only for call_later")]
    TimeWithoutLater,
    #[error("call again at {0}: that is not in the future")]
    LaterInPast(DateTime<Utc>),
}

/// Who an API call is by when it names nobody (`"who"` left out).
pub const ANONYMOUS_API_CALLER: &str = "api";

/// How long the same outcome by the same person counts as one press: a refreshed
/// confirmation page, a double tap, a link opened on two devices.
pub const REPEAT_WINDOW: Duration = Duration::minutes(2);

/// Whether `action` by `who` at `now` is the outcome they recorded last, again within
/// [`REPEAT_WINDOW`]: it is then not counted a second time (each outcome is an attempt,
/// and attempts escalate). "Call later" repeats only when it asks for about the same time
/// (a refreshed page computes a time a little later); asking for another time is a new
/// request. `api` — the API's caller who gave no name — is nobody in particular: never a
/// repeat.
pub fn repeats_last_outcome(
    cb: &Callback,
    timeline: &[TimelineEntry],
    action: &Action,
    who: &str,
    now: DateTime<Utc>,
) -> bool {
    let Action::Outcome { outcome, at } = action else {
        return false;
    };
    if who == ANONYMOUS_API_CALLER {
        return false;
    }
    if let (Outcome::CallLater, Some(at)) = (outcome, at) {
        let same_time = cb
            .snoozed_until
            .is_some_and(|until| (*at - until).abs() < REPEAT_WINDOW);
        if !same_time {
            return false;
        }
    }
    let prefix = format!("{}:", outcome.code());
    timeline
        .iter()
        .rev()
        .find(|e| e.kind == TimelineKind::Outcome)
        .is_some_and(|last| {
            last.who.as_deref() == Some(who)
                && now - last.at < REPEAT_WINDOW
                && last
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with(&prefix))
        })
}

/// Applies `action` by `who` at `now`: the callback after it and the timeline entries it
/// adds (none when it changes nothing).
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
        Action::Outcome { outcome, at } => {
            let mut entries = vec![entry(
                TimelineKind::Outcome,
                None,
                format!("{}: {}", outcome.code(), outcome.words()),
            )];
            match (outcome, at) {
                (Outcome::CallLater, None) => return Err(ActionError::LaterWithoutTime),
                (Outcome::CallLater, Some(at)) if *at <= now => {
                    return Err(ActionError::LaterInPast(*at));
                }
                (Outcome::CallLater, Some(at)) => {
                    after.snoozed_until = Some(*at);
                    entries.push(entry(
                        TimelineKind::Snoozed,
                        None,
                        format!(
                            "until {}",
                            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    ));
                }
                (_, Some(_)) => return Err(ActionError::TimeWithoutLater),
                (Outcome::WrongNumber, None) => {
                    after.status = Status::Resolved;
                    after.resolved_at = Some(now);
                    after.reminder_due_at = None;
                    after.snoozed_until = None;
                    after.resolution = Some(Resolution {
                        kind: ResolutionKind::Manual,
                        call_id: None,
                        agent: Some(who.to_string()),
                        at: now,
                        reason: Some(outcome.code().to_string()),
                    });
                }
                (_, None) => {}
            }
            after.attempts = after.attempts.saturating_add(1);
            after.last_attempt_at = Some(now);
            entries
        }
        // Assigning it to the agent who has it changes nothing: no entry, nothing to write.
        // By name, as the directory matches names: the number in the configuration may have
        // changed since, and reminders look the agent up by name.
        Action::Assign { agent }
            if cb
                .assigned_agent
                .as_ref()
                .is_some_and(|a| a.name.eq_ignore_ascii_case(&agent.name)) =>
        {
            return Ok((cb.clone(), Vec::new()));
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

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
