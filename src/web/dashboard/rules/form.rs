//! The rules form: how the rules in force are shown in it (business hours as a week where
//! they can be, else as cron) and how a posted form is read back into rules text.

use serde_json::{Map, Value, json};

use crate::config::ConfigIssue;
use crate::domain::rules::{RulesText, StepText};
use crate::domain::schedule::BusinessHours;
use crate::domain::weekly_hours::{DAYS, WeeklyHours, time_text};

pub(super) const HOURS_KEY: &str = "reminders.business_hours";

/// How the business-hours part of the form is shown: weekdays with opening and closing
/// times (`Week`), or the cron expression (`Cron`: asked for, or hours a week form cannot
/// show, like a lunch break).
#[derive(Debug, Clone)]
pub(super) enum HoursForm {
    Week {
        days: [bool; 7],
        opens: String,
        closes: String,
    },
    Cron,
}

impl HoursForm {
    /// The week form for `expression` when it is one daily window, else cron.
    pub(super) fn for_expression(expression: &str, zone: chrono_tz::Tz) -> Self {
        BusinessHours::parse(expression, zone)
            .ok()
            .and_then(|hours| WeeklyHours::of(&hours))
            .map_or(HoursForm::Cron, |w| HoursForm::Week {
                days: w.days,
                opens: time_text(w.opens),
                closes: time_text(w.closes),
            })
    }

    pub(super) fn context(&self) -> Value {
        match self {
            HoursForm::Week {
                days,
                opens,
                closes,
            } => json!({
                "mode": "week",
                "days": DAYS.iter().zip(days).map(|(d, on)| json!({"name": d, "on": on})).collect::<Vec<_>>(),
                "opens": opens,
                "closes": closes,
            }),
            HoursForm::Cron => json!({ "mode": "cron", "days": [], "opens": "", "closes": "" }),
        }
    }
}

/// The form's values and the errors to show next to each field.
pub(super) fn form_context(text: &RulesText, issues: &[ConfigIssue]) -> (Value, Value) {
    let error = |key: &str| {
        issues
            .iter()
            .filter(|i| {
                i.key == key
                    || i.key.starts_with(&format!("{key}["))
                    || i.key.starts_with(&format!("{key}."))
            })
            .map(|i| i.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let opt = |s: String| {
        if s.is_empty() {
            Value::Null
        } else {
            Value::from(s)
        }
    };
    let mut steps: Vec<Value> = text
        .escalation
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "after": s.after,
                "notify": s.notify.join(", "),
                "after_error": opt(error(&format!("escalation[{i}].after"))),
                "notify_error": opt(error(&format!("escalation[{i}].notify"))),
            })
        })
        .collect();
    steps.push(json!({"after": "", "notify": "", "after_error": null, "notify_error": null}));
    let form = json!({
        "first_after": text.first_after,
        "repeat_every": text.repeat_every,
        "business_hours": text.business_hours,
        "steps": steps,
    });
    // Every field is present (null when fine): the templates run with strict undefineds.
    let mut errors = Map::new();
    for (field, key) in [
        ("first_after", "reminders.first_after"),
        ("repeat_every", "reminders.repeat_every"),
        ("business_hours", HOURS_KEY),
    ] {
        errors.insert(field.into(), opt(error(key)));
    }
    (form, Value::Object(errors))
}

/// What a posted rules form says.
pub(super) struct Posted {
    pub(super) csrf: Option<String>,
    pub(super) text: RulesText,
    pub(super) hours: HoursForm,
    /// The week form's own problem (no day, closing before opening).
    pub(super) hours_issue: Option<ConfigIssue>,
}

/// Reads the form: the timing fields, business hours as a week (turned into cron here) or
/// as cron, and the step rows (empty rows dropped).
pub(super) fn parse_form(body: &[u8]) -> Posted {
    let mut csrf = None;
    let (mut week_mode, mut days, mut opens, mut closes) =
        (false, [false; 7], String::new(), String::new());
    let mut text = RulesText {
        first_after: String::new(),
        repeat_every: String::new(),
        business_hours: String::new(),
        escalation: Vec::new(),
    };
    let (mut afters, mut notifies) = (Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(body) {
        let v = v.trim().to_string();
        match k.as_ref() {
            "csrf" => csrf = Some(v),
            "first_after" => text.first_after = v,
            "repeat_every" => text.repeat_every = v,
            "business_hours" => text.business_hours = v,
            "hours_mode" => week_mode = v == "week",
            "day" => {
                if let Some(i) = DAYS.iter().position(|d| *d == v) {
                    days[i] = true;
                }
            }
            "opens" => opens = v,
            "closes" => closes = v,
            "step_after" => afters.push(v),
            "step_notify" => notifies.push(v),
            _ => {}
        }
    }
    for i in 0..afters.len().max(notifies.len()) {
        let after = afters.get(i).cloned().unwrap_or_default();
        let notify: Vec<String> = notifies
            .get(i)
            .map(|n| {
                n.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !after.is_empty() || !notify.is_empty() {
            text.escalation.push(StepText { after, notify });
        }
    }
    let mut hours_issue = None;
    let hours = if week_mode {
        match WeeklyHours::new(days, &opens, &closes) {
            Ok(week) => text.business_hours = week.to_cron(),
            Err(e) => {
                hours_issue = Some(ConfigIssue {
                    key: HOURS_KEY.into(),
                    reason: e.to_string(),
                })
            }
        }
        HoursForm::Week {
            days,
            opens,
            closes,
        }
    } else {
        HoursForm::Cron
    };
    Posted {
        csrf,
        text,
        hours,
        hours_issue,
    }
}
