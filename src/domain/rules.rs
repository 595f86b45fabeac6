//! The rules in force (SPEC §3 `[webhook]`, `[reminders]`, `[[escalation]]`), as the
//! domain needs them. Built from configuration at startup; supervisors may edit the
//! reminder timing and escalation from the dashboard, so the current rules live behind
//! [`LiveRules`] and every write takes the rules of its moment.

use std::sync::{Arc, RwLock};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::schedule::BusinessHours;
use super::sla::Sla;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    /// Age of the pending callback (from its first missed call's receipt) at which it fires.
    pub after: Duration,
    /// Names of supervisors or agents.
    pub notify: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rules {
    /// An answered call shorter than this does not clear (when `billsec` is known).
    pub min_talk_seconds: u32,
    /// First reminder this long after the latest missed call.
    pub first_after: Duration,
    /// Then again at this interval.
    pub repeat_every: Duration,
    /// When reminders and escalations may go out.
    pub business_hours: BusinessHours,
    /// In increasing order of `after`.
    pub escalation: Vec<EscalationStep>,
    /// Failed call-back attempts after which the first escalation step fires at once
    /// (`[reminders] escalate_after_attempts`); `None`: only by age.
    pub escalate_after_attempts: Option<u32>,
    /// The callback service level (`[sla]`), counted in `business_hours`.
    pub sla: Sla,
}

impl Rules {
    /// A fingerprint of what decides `next_reminder_at` and `next_escalation_at`; when it
    /// changes, pending callbacks are rescheduled.
    pub fn schedule_fingerprint(&self) -> String {
        let steps: Vec<String> = self
            .escalation
            .iter()
            .map(|s| format!("{}:{}", s.after.num_seconds(), s.notify.join(",")))
            .collect();
        let holidays: Vec<String> = self
            .business_hours
            .holidays()
            .iter()
            .map(ToString::to_string)
            .collect();
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.business_hours.expression(),
            self.business_hours.zone(),
            self.first_after.num_seconds(),
            self.repeat_every.num_seconds(),
            steps.join(";"),
            holidays.join(","),
            self.escalate_after_attempts.unwrap_or(0)
        )
    }

    /// Who hears about a callback nobody is assigned to: the first escalation step.
    pub fn unassigned_recipients(&self) -> &[String] {
        self.escalation.first().map_or(&[], |s| s.notify.as_slice())
    }
}

/// The rules in force now; replaced as a whole when a supervisor edits them.
#[derive(Debug)]
pub struct LiveRules {
    current: RwLock<Arc<Rules>>,
}

impl LiveRules {
    pub fn new(rules: Rules) -> Self {
        Self {
            current: RwLock::new(Arc::new(rules)),
        }
    }

    pub fn get(&self) -> Arc<Rules> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set(&self, rules: Rules) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }
}

/// The editable rules as people write them (`config.toml`, the dashboard's rules page):
/// kept in this form so that what is stored and audited reads like what was typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesText {
    pub first_after: String,
    pub repeat_every: String,
    pub business_hours: String,
    pub escalation: Vec<StepText>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepText {
    pub after: String,
    pub notify: Vec<String>,
}
