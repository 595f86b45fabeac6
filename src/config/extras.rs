//! The keys of SPEC §11, validated: `[sla]`, `[reminders] holidays`, `holidays_file` and
//! `escalate_after_attempts`, `[[digests]]`, `[privacy]`, `[storage] raw_retention` and the
//! people's `language`. Each problem is reported with its key, like every other key.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::ConfigIssue;
use super::holidays::{self, Holidays};
use super::raw::RawConfig;
use super::rules::{MAX_RULE_DURATION, parse_duration};
use crate::domain::digest::DigestSchedule;
use crate::domain::sla::Sla;

/// The languages whose templates ship built in.
pub const LANGUAGES: [&str; 2] = ["en", "hi"];

/// The longest service level: a week of business time.
const MAX_SLA: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// What the rules take from §11's keys besides the editable timings: applied to the rules
/// from the file and to every edit made on the dashboard.
#[derive(Debug, Clone, Default)]
pub struct RuleExtras {
    pub holidays: Arc<BTreeSet<NaiveDate>>,
    pub sla: Sla,
    pub escalate_after_attempts: Option<u32>,
}

/// One `[[digests]]` entry.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    /// `digests[0]`: how logs and the store name this schedule.
    pub key: String,
    pub schedule: DigestSchedule,
    pub notify: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PrivacySettings {
    /// Customers' numbers as `+91 ••••• •2345` in Telegram, email and logs.
    pub mask_numbers: bool,
}

/// Everything §11 adds to the settings.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub rules: RuleExtras,
    /// Every holiday with its name, for check-config and the rules page.
    pub holidays: Holidays,
    pub digests: Vec<DigestSettings>,
    pub privacy: PrivacySettings,
    pub raw_retention: Option<std::time::Duration>,
    /// Valid but probably not meant (events passed over in the holidays file).
    pub warnings: Vec<ConfigIssue>,
}

pub(super) fn check(
    raw: &RawConfig,
    base: &Path,
    zone: Option<Tz>,
    names: &HashSet<String>,
    issues: &mut Vec<ConfigIssue>,
) -> Extras {
    let mut issue = |key: String, reason: String| issues.push(ConfigIssue { key, reason });
    let mut out = Extras::default();

    let sla_duration = |raw: &str| -> Result<chrono::Duration, String> {
        let d = parse_duration(raw, MAX_SLA.min(MAX_RULE_DURATION))?;
        if d.is_zero() {
            return Err("must be more than zero (e.g. \"30m\")".into());
        }
        chrono::Duration::from_std(d).map_err(|_| format!("{raw:?} is out of range"))
    };
    let within = raw.sla.callback_within.trim();
    if !within.is_empty() {
        match sla_duration(within) {
            Ok(d) => out.rules.sla.within = Some(d),
            Err(e) => issue("sla.callback_within".into(), e),
        }
    }
    for (department, within) in &raw.sla.departments {
        match sla_duration(within) {
            Ok(d) => out
                .rules
                .sla
                .departments
                .push((department.trim().to_string(), d)),
            Err(e) => issue(format!("sla.departments.{department}"), e),
        }
    }

    let mut holidays = Holidays::new();
    for (i, date) in raw.reminders.holidays.iter().enumerate() {
        match holidays::parse_date(date) {
            Ok(d) => {
                holidays.insert(d, "holiday".into());
            }
            Err(e) => issue(format!("reminders.holidays[{i}]"), e),
        }
    }
    let file = raw.reminders.holidays_file.trim();
    if !file.is_empty() {
        match holidays::read_ics(&base.join(file)) {
            Ok(read) => {
                for (date, name) in read.holidays {
                    // A listed date keeps its place; the file names it.
                    holidays.insert(date, name);
                }
                out.warnings
                    .extend(read.skipped.into_iter().map(|reason| ConfigIssue {
                        key: "reminders.holidays_file".into(),
                        reason,
                    }));
            }
            Err(e) => issue("reminders.holidays_file".into(), e),
        }
    }
    out.rules.holidays = Arc::new(holidays.keys().copied().collect());
    out.holidays = holidays;
    out.rules.escalate_after_attempts = (raw.reminders.escalate_after_attempts > 0)
        .then_some(raw.reminders.escalate_after_attempts);
    if out.rules.escalate_after_attempts.is_some() && raw.escalation.is_empty() {
        out.warnings.push(ConfigIssue {
            key: "reminders.escalate_after_attempts".into(),
            reason: "there is no [[escalation]] step to escalate to".into(),
        });
    }

    for (i, digest) in raw.digests.iter().enumerate() {
        let key = format!("digests[{i}]");
        match DigestSchedule::parse(&digest.cron, zone.unwrap_or(chrono_tz::UTC)) {
            Ok(schedule) => {
                if digest.notify.is_empty() {
                    issue(
                        format!("{key}.notify"),
                        "must name at least one supervisor or agent".into(),
                    );
                }
                for (j, name) in digest.notify.iter().enumerate() {
                    if !names.contains(&name.trim().to_lowercase()) {
                        issue(
                            format!("{key}.notify[{j}]"),
                            format!("{name:?} is not a configured supervisor or agent"),
                        );
                    }
                }
                out.digests.push(DigestSettings {
                    key,
                    schedule,
                    notify: digest.notify.iter().map(|n| n.trim().to_string()).collect(),
                });
            }
            Err(e) => issue(format!("{key}.cron"), e.to_string()),
        }
    }

    out.privacy.mask_numbers = raw.privacy.mask_numbers;
    let (storage, privacy) = (
        raw.storage.raw_retention.trim(),
        raw.privacy.raw_retention.trim(),
    );
    let (key, raw_retention) = match (storage.is_empty(), privacy.is_empty()) {
        (true, true) => ("", ""),
        (false, true) => ("storage.raw_retention", storage),
        (true, false) => ("privacy.raw_retention", privacy),
        (false, false) if storage == privacy => ("storage.raw_retention", storage),
        (false, false) => {
            issue(
                "privacy.raw_retention".into(),
                format!(
                    "{privacy:?} differs from storage.raw_retention {storage:?}; set one of them"
                ),
            );
            ("", "")
        }
    };
    if !raw_retention.is_empty() {
        match super::validate::parse_retention(raw_retention) {
            Ok(d) => out.raw_retention = d,
            Err(e) => issue(key.into(), e),
        }
    }
    out
}

/// An agent's or supervisor's `language`: one of [`LANGUAGES`]; `None` for English.
pub(super) fn check_language(raw: &Option<String>) -> Result<Option<String>, String> {
    let Some(language) = raw.as_deref().map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let lower = language.to_ascii_lowercase();
    if LANGUAGES.contains(&lower.as_str()) {
        Ok((lower != "en").then_some(lower))
    } else {
        Err(format!(
            "{language:?} has no templates; Ringback ships {}",
            LANGUAGES.join(" and ")
        ))
    }
}
