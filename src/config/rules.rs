//! The rules supervisors may edit — reminder timing and escalation — validated once, into
//! the domain's [`Rules`], for both the configuration file and the dashboard's rules page:
//! both refuse the same things with the same words, keyed the same way
//! (`reminders.first_after`, `escalation[1].notify[0]`).

use std::collections::HashSet;
use std::time::Duration;

use chrono_tz::Tz;

use super::extras::RuleExtras;
use super::{ConfigIssue, Settings};
use crate::domain::rules::{EscalationStep, Rules, RulesText};
use crate::domain::schedule::BusinessHours;

/// Timings under this are accepted with a warning (SPEC §3): handy for watching the whole
/// loop in seconds, but a reminder every few seconds would be spam in production.
const SHORT: chrono::Duration = chrono::Duration::seconds(60);
/// The longest reminder or escalation duration (SPEC §3: "at most a year"; a leap year, so
/// that `"1y"` and `"365d"` both pass).
pub const MAX_RULE_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Humane durations (`"90s"`, `"2m"`, `"1h30m"`), via humantime, at most `max`.
pub fn parse_duration(raw: &str, max: Duration) -> Result<Duration, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("missing duration (e.g. \"2m\", \"1h30m\")".into());
    }
    let d = humantime::parse_duration(raw).map_err(|e| {
        format!(
            "{raw:?} is not a duration ({}); write e.g. \"90s\", \"2m\", \"1h30m\"",
            duration_problem(raw, &e)
        )
    })?;
    if d > max {
        let days = max.as_secs() / 86_400;
        let year = if max == MAX_RULE_DURATION {
            " (a year)"
        } else {
            ""
        };
        return Err(format!("{raw:?} is too long: at most {days}d{year}"));
    }
    Ok(d)
}

/// What is wrong with a duration, in words about what was written: humantime's own say
/// byte offsets ("expected number at 0").
fn duration_problem(raw: &str, e: &humantime::DurationError) -> String {
    use humantime::DurationError as E;
    // The offset can point at the spaces before what is wrong.
    let char_at = |at: usize| {
        raw.get(at..)
            .and_then(|rest| rest.trim_start().chars().next())
    };
    match e {
        E::NumberExpected(0) => "it must start with a number".into(),
        E::NumberExpected(at) => match char_at(*at) {
            Some(c) => format!("a number is missing before {c:?}"),
            None => "a number is missing at the end".into(),
        },
        E::InvalidCharacter(at) => match char_at(*at) {
            Some('.') => "a fraction needs digits after the point (\"1.5h\")".into(),
            Some(c) => format!("{c:?} cannot be part of a duration"),
            None => "it ends in a character a duration cannot have".into(),
        },
        E::UnknownUnit { unit, .. } if unit.is_empty() => {
            "every number needs a unit after it (s, m, h, d, w)".into()
        }
        E::UnknownUnit { unit, .. } => {
            format!("{unit:?} is not a unit of time: use s, m, h, d or w")
        }
        E::NumberOverflow => {
            "the number is too large, or has more decimals than a unit can take".into()
        }
        E::Empty => "it is empty".into(),
    }
}

/// A rule duration as the domain holds it.
fn rule_duration(raw: &str) -> Result<chrono::Duration, String> {
    let d = parse_duration(raw, MAX_RULE_DURATION)?;
    chrono::Duration::from_std(d).map_err(|_| format!("{raw:?} is out of range"))
}

/// Fewer business minutes than this in the next four weeks is worth a warning.
const FEW_OPEN_MINUTES: u32 = 60;

/// The warning for business hours that hardly ever open (`"0 0 9 1 1 *"`: a minute a year),
/// which hold back every reminder, escalation and service level until they do.
fn rarely_open_warning(hours: &BusinessHours) -> Option<ConfigIssue> {
    let now = chrono::Utc::now();
    let open = hours.open_minutes(now, chrono::Duration::days(28), FEW_OPEN_MINUTES);
    (open < FEW_OPEN_MINUTES).then(|| {
        let next = hours
            .next_open(now)
            .map(|t| t.with_timezone(&hours.zone()).format("%-d %b %Y, %H:%M").to_string())
            .unwrap_or_else(|| "never".into());
        ConfigIssue {
            key: "reminders.business_hours".into(),
            reason: format!(
                "open only {open} minute(s) in the next four weeks (next opening: {next}); reminders, escalations and the service level wait for business hours"
            ),
        }
    })
}

/// The warning for a timing under a minute, if `d` is one.
fn short_warning(key: &str, d: chrono::Duration) -> Option<ConfigIssue> {
    (d < SHORT).then(|| ConfigIssue {
        key: key.to_string(),
        reason: format!(
            "{} is under a minute: fine for trying Ringback out, too often for a call centre",
            humantime::format_duration(d.to_std().unwrap_or_default())
        ),
    })
}

/// Valid rules, and what about them is valid but probably not meant for production.
#[derive(Debug, Clone)]
pub struct ValidRules {
    pub rules: Rules,
    /// Timings under a minute, business hours that hardly open, no escalation step.
    pub warnings: Vec<ConfigIssue>,
}

/// Checks `text` in `zone` (UTC when the zone itself is invalid, so every problem is
/// reported at once); `names` are the lower-cased names of agents and supervisors.
pub fn validate_rules(
    text: &RulesText,
    zone: Option<Tz>,
    names: &HashSet<String>,
    min_talk_seconds: u32,
    extras: &RuleExtras,
) -> Result<ValidRules, Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    let mut warnings = Vec::new();
    let mut issue = |key: String, reason: String| issues.push(ConfigIssue { key, reason });

    let business_hours = BusinessHours::parse(&text.business_hours, zone.unwrap_or(chrono_tz::UTC))
        .map(|hours| hours.with_holidays(extras.holidays.clone()))
        .map_err(|e| issue("reminders.business_hours".into(), e.to_string()))
        .ok();
    let first_after = rule_duration(&text.first_after)
        .map_err(|e| issue("reminders.first_after".into(), e))
        .ok();
    let repeat_every = match rule_duration(&text.repeat_every) {
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
    warnings.extend(business_hours.as_ref().and_then(rarely_open_warning));
    warnings.extend(first_after.and_then(|d| short_warning("reminders.first_after", d)));
    warnings.extend(repeat_every.and_then(|d| short_warning("reminders.repeat_every", d)));

    let mut escalation = Vec::new();
    let mut previous: Option<chrono::Duration> = None;
    for (i, step) in text.escalation.iter().enumerate() {
        let key = format!("escalation[{i}]");
        let after = rule_duration(&step.after)
            .map_err(|e| issue(format!("{key}.after"), e))
            .ok();
        warnings.extend(after.and_then(|d| short_warning(&format!("{key}.after"), d)));
        if let (Some(after), Some(prev)) = (after, previous)
            && after <= prev
        {
            let human = |d: chrono::Duration| {
                humantime::format_duration(d.to_std().unwrap_or_default()).to_string()
            };
            issue(
                format!("{key}.after"),
                format!(
                    "steps must be in increasing order of `after`: {} is not after the previous step's {}",
                    human(after),
                    human(prev)
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
            // A person named twice is notified once.
            let mut seen = HashSet::new();
            escalation.push(EscalationStep {
                after,
                notify: step
                    .notify
                    .iter()
                    .map(|n| n.trim().to_string())
                    .filter(|n| seen.insert(n.to_lowercase()))
                    .collect(),
            });
        }
    }

    if text.escalation.is_empty() {
        warnings.push(ConfigIssue {
            key: "escalation".into(),
            reason: "there is no escalation step: a callback nobody is assigned to (missed on the IVR, a department, after hours) is reminded to nobody, and nobody hears of callbacks left waiting; add a step that notifies a supervisor".into(),
        });
    }

    match (business_hours, first_after, repeat_every) {
        (Some(business_hours), Some(first_after), Some(repeat_every)) if issues.is_empty() => {
            Ok(ValidRules {
                rules: Rules {
                    min_talk_seconds,
                    first_after,
                    repeat_every,
                    business_hours,
                    escalation,
                    escalate_after_attempts: extras.escalate_after_attempts,
                    sla: extras.sla.clone(),
                },
                warnings,
            })
        }
        _ => Err(issues),
    }
}

/// Rules from their written form, validated exactly as `check-config` validates the file
/// against this configuration's people and zone (the dashboard's rules page, and rules
/// saved from it, go through here).
pub fn rules_from_text(settings: &Settings, text: &RulesText) -> Result<Rules, Vec<ConfigIssue>> {
    validated(settings, text).map(|v| v.rules)
}

/// Warnings about the rules `text`, valid but probably not meant for production (timings
/// under a minute); empty when they are fine or invalid.
pub fn rules_warnings(settings: &Settings, text: &RulesText) -> Vec<ConfigIssue> {
    validated(settings, text)
        .map(|v| v.warnings)
        .unwrap_or_default()
}

fn validated(settings: &Settings, text: &RulesText) -> Result<ValidRules, Vec<ConfigIssue>> {
    let names: HashSet<String> = settings
        .agents
        .iter()
        .map(|a| a.name.to_lowercase())
        .chain(settings.supervisors.iter().map(|s| s.name.to_lowercase()))
        .collect();
    validate_rules(
        text,
        Some(settings.reminders.timezone),
        &names,
        settings.webhook.min_talk_seconds,
        &settings.extras.rules,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::StepText;

    fn text(first_after: &str, steps: &[&str]) -> RulesText {
        RulesText {
            first_after: first_after.into(),
            repeat_every: "15m".into(),
            business_hours: "* * 9-18 * * Mon-Sat".into(),
            escalation: steps
                .iter()
                .map(|after| StepText {
                    after: (*after).into(),
                    notify: vec!["Asha".into()],
                })
                .collect(),
        }
    }

    fn names() -> HashSet<String> {
        HashSet::from(["asha".to_string()])
    }

    #[test]
    fn a_duration_longer_than_a_year_is_refused_with_its_key() {
        let issues = validate_rules(
            &text("1000000y", &["30m", "500d"]),
            None,
            &names(),
            0,
            &RuleExtras::default(),
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["reminders.first_after", "escalation[1].after"]);
        assert!(
            issues[0].reason.contains("at most 366d (a year)"),
            "{issues:?}"
        );
    }

    #[test]
    fn a_year_exactly_is_still_a_valid_duration() {
        let valid = validate_rules(
            &text("365d", &["30m"]),
            None,
            &names(),
            0,
            &RuleExtras::default(),
        )
        .unwrap();
        assert_eq!(valid.rules.first_after, chrono::Duration::days(365));
        assert!(valid.warnings.is_empty());
    }

    #[test]
    fn a_mistyped_duration_is_explained_in_words_about_what_was_written() {
        let reason = |raw: &str| parse_duration(raw, MAX_RULE_DURATION).unwrap_err();
        for (raw, said) in [
            ("soon", "it must start with a number"),
            ("2m x", "a number is missing before 'x'"),
            ("2m,5s", "',' cannot be part of a duration"),
            ("15", "every number needs a unit after it"),
            ("1.5", "every number needs a unit after it"),
            ("1.h", "a fraction needs digits after the point"),
            ("2m   x", "a number is missing before 'x'"),
            ("2 fortnights", "\"fortnights\" is not a unit of time"),
            ("99999999999999999999s", "the number is too large"),
        ] {
            let reason = reason(raw);
            assert!(reason.contains(said), "{raw:?}: {reason}");
            assert!(!reason.contains(" at "), "no byte offsets: {reason}");
        }
    }

    #[test]
    fn rules_without_an_escalation_step_warn_that_unassigned_callbacks_reach_nobody() {
        let valid =
            validate_rules(&text("2m", &[]), None, &names(), 0, &RuleExtras::default()).unwrap();
        let keys: Vec<&str> = valid.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys, ["escalation"]);
        assert!(valid.warnings[0].reason.contains("nobody is assigned"));
    }

    #[test]
    fn business_hours_that_hardly_open_are_valid_with_a_warning() {
        for (hours, rare) in [
            ("0 0 9 1 1 *", true),
            ("* 0-9 9 1 1 *", true),
            ("0 0 0 29 2 Mon", true),
            ("* * 9-18 * * Mon-Sat", false),
            ("* * 10 * * Sun", false),
        ] {
            let mut rules = text("2m", &["30m"]);
            rules.business_hours = hours.into();
            let valid = validate_rules(&rules, None, &names(), 0, &RuleExtras::default()).unwrap();
            let warned = valid
                .warnings
                .iter()
                .any(|w| w.key == "reminders.business_hours" && w.reason.contains("open only"));
            assert_eq!(warned, rare, "{hours}: {:?}", valid.warnings);
        }
    }

    #[test]
    fn a_person_named_twice_in_a_step_is_notified_once() {
        let mut rules = text("2m", &["30m"]);
        rules.escalation[0].notify = vec!["asha".into(), " Asha".into()];
        let valid = validate_rules(&rules, None, &names(), 0, &RuleExtras::default()).unwrap();
        assert_eq!(valid.rules.escalation[0].notify, ["asha"]);
    }
}
