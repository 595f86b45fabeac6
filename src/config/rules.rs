//! Validation of the rules supervisors may edit — reminder timing and escalation — shared by
//! the configuration file and the dashboard's rules page, so both refuse the same things
//! with the same words, keyed the same way (`reminders.first_after`, `escalation[1].notify[0]`).

use std::collections::HashSet;
use std::time::Duration;

use chrono_tz::Tz;

use super::{ConfigIssue, EscalationStep};
use crate::domain::rules::RulesText;
use crate::domain::schedule::BusinessHours;

/// Timings under this are accepted with a warning (SPEC §3): handy for watching the whole
/// loop in seconds, but a reminder every few seconds would be spam in production.
const SHORT: Duration = Duration::from_secs(60);
/// No timing is longer than this (SPEC §3: bounded to what makes sense).
const LONGEST: Duration = Duration::from_secs(366 * 86_400);

/// The editable rules, parsed.
#[derive(Debug, Clone)]
pub struct ValidRules {
    pub business_hours: BusinessHours,
    pub first_after: Duration,
    pub repeat_every: Duration,
    pub escalation: Vec<EscalationStep>,
    /// Valid but probably not meant for production (timings under a minute).
    pub warnings: Vec<ConfigIssue>,
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

/// A reminder or escalation timing: a duration of at most a year.
fn parse_timing(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d > LONGEST {
        return Err(format!(
            "{:?} is longer than a year; write at most \"365d\"",
            raw.trim()
        ));
    }
    Ok(d)
}

/// The warning for a timing under a minute, if `d` is one.
fn short_warning(key: &str, d: Duration) -> Option<ConfigIssue> {
    (d < SHORT).then(|| ConfigIssue {
        key: key.to_string(),
        reason: format!(
            "{} is under a minute: fine for trying Ringback out, too often for a call centre",
            humantime::format_duration(d)
        ),
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
    let mut warnings = Vec::new();
    let mut issue = |key: String, reason: String| issues.push(ConfigIssue { key, reason });

    let business_hours = BusinessHours::parse(&text.business_hours, zone.unwrap_or(chrono_tz::UTC))
        .map_err(|e| issue("reminders.business_hours".into(), e.to_string()))
        .ok();
    let first_after = parse_timing(&text.first_after)
        .map_err(|e| issue("reminders.first_after".into(), e))
        .ok();
    let repeat_every = match parse_timing(&text.repeat_every) {
        Ok(d) if d.is_zero() => {
            issue(
                "reminders.repeat_every".into(),
                "must be more than zero (e.g. \"15m\"; \"30s\" to try Ringback out)".into(),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            issue("reminders.repeat_every".into(), e);
            None
        }
    };
    warnings.extend(first_after.and_then(|d| short_warning("reminders.first_after", d)));
    warnings.extend(repeat_every.and_then(|d| short_warning("reminders.repeat_every", d)));

    let mut escalation = Vec::new();
    let mut previous: Option<Duration> = None;
    for (i, step) in text.escalation.iter().enumerate() {
        let key = format!("escalation[{i}]");
        let after = parse_timing(&step.after)
            .map_err(|e| issue(format!("{key}.after"), e))
            .ok();
        warnings.extend(after.and_then(|d| short_warning(&format!("{key}.after"), d)));
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
                warnings,
            })
        }
        _ => Err(issues),
    }
}
