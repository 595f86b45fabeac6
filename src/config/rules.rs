//! Validation of the rules supervisors may edit — reminder timing and escalation — shared by
//! the configuration file and the dashboard's rules page, so both refuse the same things
//! with the same words, keyed the same way (`reminders.first_after`, `escalation[1].notify[0]`).

use std::collections::HashSet;
use std::time::Duration;

use chrono_tz::Tz;

use super::{ConfigIssue, EscalationStep};
use crate::domain::rules::RulesText;
use crate::domain::schedule::BusinessHours;

const MIN_REPEAT: Duration = Duration::from_secs(60);

/// The editable rules, parsed.
#[derive(Debug, Clone)]
pub struct ValidRules {
    pub business_hours: BusinessHours,
    pub first_after: Duration,
    pub repeat_every: Duration,
    pub escalation: Vec<EscalationStep>,
}

/// Humane durations (`"90s"`, `"2m"`, `"1h30m"`), via humantime.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("missing duration (e.g. \"2m\", \"1h30m\")".into());
    }
    humantime::parse_duration(raw).map_err(|e| {
        format!("{raw:?} is not a duration ({e}); write e.g. \"90s\", \"2m\", \"1h30m\"")
    })
}

/// Checks `text` in `zone` (UTC when the zone itself is invalid, so every problem is
/// reported at once); `names` are the lower-cased names of agents and supervisors.
pub fn validate_rules(
    text: &RulesText,
    zone: Option<Tz>,
    names: &HashSet<String>,
) -> Result<ValidRules, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    let mut issue = |key: String, reason: String| issues.push(ConfigIssue { key, reason });

    let business_hours = BusinessHours::parse(&text.business_hours, zone.unwrap_or(chrono_tz::UTC))
        .map_err(|e| issue("reminders.business_hours".into(), e.to_string()))
        .ok();
    let first_after = parse_duration(&text.first_after)
        .map_err(|e| issue("reminders.first_after".into(), e))
        .ok();
    let repeat_every = match parse_duration(&text.repeat_every) {
        Ok(d) if d >= MIN_REPEAT => Some(d),
        Ok(_) => {
            issue(
                "reminders.repeat_every".into(),
                "must be at least 1m (a reminder every few seconds is spam)".into(),
            );
            None
        }
        Err(e) => {
            issue("reminders.repeat_every".into(), e);
            None
        }
    };

    let mut escalation = Vec::new();
    let mut previous: Option<Duration> = None;
    for (i, step) in text.escalation.iter().enumerate() {
        let key = format!("escalation[{i}]");
        let after = parse_duration(&step.after)
            .map_err(|e| issue(format!("{key}.after"), e))
            .ok();
        if let (Some(after), Some(prev)) = (after, previous)
            && after <= prev
        {
            issue(
                format!("{key}.after"),
                format!(
                    "steps must be in increasing order of `after`: {} is not after the previous step's {}",
                    humantime::format_duration(after),
                    humantime::format_duration(prev)
                ),
            );
        }
        if step.notify.is_empty() {
            issue(
                format!("{key}.notify"),
                "must name at least one supervisor or agent".into(),
            );
        }
        for (j, name) in step.notify.iter().enumerate() {
            if !names.contains(&name.trim().to_lowercase()) {
                issue(
                    format!("{key}.notify[{j}]"),
                    format!("{name:?} is not a configured supervisor or agent"),
                );
            }
        }
        if let Some(after) = after {
            previous = Some(after);
            escalation.push(EscalationStep {
                after,
                notify: step.notify.iter().map(|n| n.trim().to_string()).collect(),
            });
        }
    }

    match (business_hours, first_after, repeat_every) {
        (Some(business_hours), Some(first_after), Some(repeat_every)) if issues.is_empty() => {
            Ok(ValidRules {
                business_hours,
                first_after,
                repeat_every,
                escalation,
            })
        }
        _ => Err(issues),
    }
}
