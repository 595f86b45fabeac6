//! Business hours: when reminders and escalations may go out (SPEC §3 `business_hours`, §6).
//!
//! The expression is the `cron` crate's six-field form (`sec min hour dom month dow`),
//! evaluated in the configured IANA zone: `* * 9-18 * * Mon-Sat` is open every second from
//! 09:00:00 to 18:59:59, Monday to Saturday, local time.
//!
//! Several expressions joined by `;` are open whenever any of them is: one cron expression
//! cannot say "09:30 to 18:00", three can (`* 30-59 9 * * Mon-Fri; * * 10-17 * * Mon-Fri`),
//! and that is what the dashboard writes for opening and closing times off the hour.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("expected 6 fields (sec min hour day-of-month month day-of-week), found {0}")]
    FieldCount(usize),
    #[error(
        "day-of-week {0:?} uses numbers; write day names (Mon-Sat): the cron crate counts Sunday as 1, which is easy to get wrong"
    )]
    NumericWeekday(String),
    #[error(
        "has a 7th (year) field {0:?}: business hours must recur every year, or once its years are over no reminder could ever be sent; write the 6 fields sec min hour day-of-month month day-of-week"
    )]
    YearField(String),
    /// The cron crate's message: the expression, a line with a caret under the fault, and
    /// what is wrong, on separate lines (one line would lose where the caret points).
    #[error("not a valid cron expression:\n{0}")]
    Syntax(String),
    #[error("{part:?}: {error}")]
    InPart {
        part: String,
        error: Box<ScheduleError>,
    },
    #[error("never matches any moment in the coming years")]
    NeverOpen,
}

#[derive(Debug, Clone)]
pub struct BusinessHours {
    expression: String,
    schedules: Vec<cron::Schedule>,
    zone: Tz,
}

/// One cron expression of the six-field form, day names only.
fn parse_one(expression: &str) -> Result<cron::Schedule, ScheduleError> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    // The cron crate takes an optional year as a 7th field; a schedule limited to some
    // years runs out of moments, and a pending callback would then never be reminded.
    if fields.len() == 7 {
        return Err(ScheduleError::YearField(fields[6].to_string()));
    }
    if fields.len() != 6 {
        return Err(ScheduleError::FieldCount(fields.len()));
    }
    let weekday = fields[5];
    if weekday.chars().any(|c| c.is_ascii_digit()) && !weekday.contains('/') {
        return Err(ScheduleError::NumericWeekday(weekday.to_string()));
    }
    cron::Schedule::from_str(&fields.join(" "))
        .map_err(|e| ScheduleError::Syntax(e.to_string().trim_end().to_string()))
}

impl BusinessHours {
    pub fn parse(expression: &str, zone: Tz) -> Result<Self, ScheduleError> {
        let parts: Vec<&str> = expression
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let schedules = match parts.as_slice() {
            [] => return Err(ScheduleError::FieldCount(0)),
            [one] => vec![parse_one(one)?],
            several => several
                .iter()
                .map(|part| {
                    parse_one(part).map_err(|error| ScheduleError::InPart {
                        part: part.to_string(),
                        error: Box::new(error),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let hours = Self {
            expression: expression.to_string(),
            schedules,
            zone,
        };
        if hours.next_open(Utc::now()).is_none() {
            return Err(ScheduleError::NeverOpen);
        }
        Ok(hours)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Whether `at` falls inside business hours.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.trunc_subsecs(0).with_timezone(&self.zone);
        self.schedules.iter().any(|s| s.includes(local))
    }

    /// `at` itself when it is inside business hours, else the next business moment.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return Some(at);
        }
        let local = at.with_timezone(&self.zone);
        self.schedules
            .iter()
            .filter_map(|s| s.after(&local).next())
            .min()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn kolkata() -> Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    fn ist(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        kolkata()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_moment_inside_business_hours_is_open() {
        let hours = BusinessHours::parse("* * 9-18 * * Mon-Sat", kolkata()).unwrap();
        // 2026-11-30 is a Monday.
        let monday_ten = ist(2026, 11, 30, 10, 0);
        assert!(hours.is_open(monday_ten));
        assert_eq!(hours.next_open(monday_ten), Some(monday_ten));
    }

    #[test]
    fn after_hours_waits_for_the_next_morning() {
        let hours = BusinessHours::parse("* * 9-18 * * Mon-Sat", kolkata()).unwrap();
        let monday_night = ist(2026, 11, 30, 19, 30);
        assert!(!hours.is_open(monday_night));
        assert_eq!(hours.next_open(monday_night), Some(ist(2026, 12, 1, 9, 0)));
    }

    #[test]
    fn sunday_waits_for_monday() {
        let hours = BusinessHours::parse("* * 9-18 * * Mon-Sat", kolkata()).unwrap();
        let sunday_noon = ist(2026, 11, 29, 12, 0);
        assert_eq!(hours.next_open(sunday_noon), Some(ist(2026, 11, 30, 9, 0)));
    }

    #[test]
    fn numeric_weekdays_and_bad_syntax_are_refused() {
        assert!(matches!(
            BusinessHours::parse("* * 9-18 * * 1-6", kolkata()),
            Err(ScheduleError::NumericWeekday(_))
        ));
        assert!(matches!(
            BusinessHours::parse("* * 9-18 * *", kolkata()),
            Err(ScheduleError::FieldCount(5))
        ));
        assert!(matches!(
            BusinessHours::parse("* * 25 * * Mon", kolkata()),
            Err(ScheduleError::Syntax(_))
        ));
        assert_eq!(
            BusinessHours::parse("0 0 0 31 Feb *", kolkata()).unwrap_err(),
            ScheduleError::NeverOpen
        );
    }

    #[test]
    fn a_cron_error_keeps_its_caret_under_the_fault_on_its_own_line() {
        let message = BusinessHours::parse("* * 25 * * Mon", kolkata())
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert!(lines.len() >= 3, "{message}");
        assert_eq!(lines[0], "not a valid cron expression:");
        assert!(lines.iter().any(|l| l.trim() == "^"), "{message}");
    }

    #[test]
    fn expressions_joined_by_semicolons_are_open_when_any_is() {
        // 09:30 to 18:00 on weekdays.
        let hours = BusinessHours::parse("* 30-59 9 * * Mon-Fri; * * 10-17 * * Mon-Fri", kolkata())
            .unwrap();
        assert!(!hours.is_open(ist(2026, 11, 30, 9, 29)));
        assert!(hours.is_open(ist(2026, 11, 30, 9, 30)));
        assert!(hours.is_open(ist(2026, 11, 30, 17, 59)));
        assert!(!hours.is_open(ist(2026, 11, 30, 18, 0)));
        assert_eq!(
            hours.next_open(ist(2026, 11, 30, 18, 0)),
            Some(ist(2026, 12, 1, 9, 30))
        );
        assert!(matches!(
            BusinessHours::parse("* * 9 * * Mon; * * 10 * * 1", kolkata()),
            Err(ScheduleError::InPart { .. })
        ));
    }

    #[test]
    fn a_year_field_is_refused_even_when_its_years_are_still_ahead() {
        for expression in ["* * 9-18 * * Mon-Sat 2026-2099", "* * 9-18 * * Mon-Sat *"] {
            assert!(
                matches!(
                    BusinessHours::parse(expression, kolkata()),
                    Err(ScheduleError::YearField(_))
                ),
                "{expression}"
            );
        }
    }
}
