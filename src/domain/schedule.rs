//! Business hours: when reminders and escalations may go out (SPEC §3 `business_hours`, §6).
//!
//! The expression is the `cron` crate's six-field form (`sec min hour dom month dow`),
//! evaluated in the configured IANA zone: `* * 9-18 * * Mon-Sat` is open every second from
//! 09:00:00 to 18:59:59, Monday to Saturday, local time.
//!
//! Several expressions joined by `;` are open whenever any of them is: one cron expression
//! cannot say "09:30 to 18:00", three can (`* 30-59 9 * * Mon-Fri; * * 10-17 * * Mon-Fri`),
//! and that is what the dashboard writes for opening and closing times off the hour.
//!
//! Holidays (`[reminders] holidays`, an iCalendar file) close whole local dates: nothing is
//! open on them, so reminders and escalations wait past them and the service-level clock
//! ([`BusinessHours::add_business_time`]) pauses over them.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, TimeZone, Timelike, Utc};
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
    /// Local dates on which nothing is open.
    holidays: Arc<BTreeSet<NaiveDate>>,
}

/// How many closed stretches [`BusinessHours::next_open`] steps over before it gives up
/// (a year of holidays back to back is far fewer).
const MAX_HOLIDAY_SKIPS: usize = 800;
/// How many steps [`BusinessHours::add_business_time`] takes at most: one per business
/// minute counted and one per closed stretch skipped (the longest service level, a week,
/// is 10 080 minutes).
const MAX_BUSINESS_STEPS: usize = 40_000;

/// Whether `at` is far enough from the calendar's end for any zone's local time (chrono
/// panics converting a moment whose local time would be past it).
fn representable(at: DateTime<Utc>) -> bool {
    at < DateTime::<Utc>::MAX_UTC - Duration::days(2)
}

/// One cron expression of the six-field form, day names only (business hours, digests).
pub fn parse_cron(expression: &str) -> Result<cron::Schedule, ScheduleError> {
    parse_one(expression)
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
            holidays: Arc::default(),
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

    /// The same hours, closed on `holidays` (local dates).
    pub fn with_holidays(mut self, holidays: Arc<BTreeSet<NaiveDate>>) -> Self {
        self.holidays = holidays;
        self
    }

    pub fn holidays(&self) -> &Arc<BTreeSet<NaiveDate>> {
        &self.holidays
    }

    /// Whether `date` (local) is a holiday.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// The holidays on or after `from` (local date), earliest first, at most `n`.
    pub fn upcoming_holidays(&self, from: NaiveDate, n: usize) -> Vec<NaiveDate> {
        self.holidays.range(from..).take(n).copied().collect()
    }

    /// Whether `at` falls inside business hours.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        if !representable(at) {
            return false;
        }
        let local = at.trunc_subsecs(0).with_timezone(&self.zone);
        !self.holidays.contains(&local.date_naive())
            && self.schedules.iter().any(|s| s.includes(local))
    }

    /// How many minutes from `from` to `from + span` are inside business hours, counted up
    /// to `enough` (it stops there: only "too few" is ever asked).
    pub fn open_minutes(&self, from: DateTime<Utc>, span: Duration, enough: u32) -> u32 {
        let end = from + span;
        let (mut at, mut open) = (from, 0);
        while open < enough {
            match self.next_open(at) {
                Some(next) if next < end => {
                    open += 1;
                    at = next + Duration::minutes(1);
                }
                _ => break,
            }
        }
        open
    }

    /// `at` itself when it is inside business hours, else the next business moment.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut at = at;
        for _ in 0..MAX_HOLIDAY_SKIPS {
            if !representable(at) {
                return None;
            }
            if self.is_open(at) {
                return Some(at);
            }
            let local = at.with_timezone(&self.zone);
            let next = self
                .schedules
                .iter()
                .filter_map(|s| s.after(&local).next())
                .min()?;
            if !self.holidays.contains(&next.date_naive()) {
                return Some(next.with_timezone(&Utc));
            }
            // A holiday: look again from the start of the day after it.
            at = self.start_of_day_after(next.date_naive())?;
        }
        None
    }

    /// The first moment of the local day after `date`.
    fn start_of_day_after(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let midnight = date.succ_opt()?.and_hms_opt(0, 0, 0)?;
        // `earliest`: a zone whose clocks skip midnight starts the day at the gap's end.
        self.zone
            .from_local_datetime(&midnight)
            .earliest()
            .or_else(|| {
                self.zone
                    .from_local_datetime(&(midnight + Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }

    /// The moment `within` of business time has passed since `start`: only moments inside
    /// business hours count, so a service level of 30 minutes from 18:50, with hours that
    /// close at 19:00, ends at 09:20 on the next business day, and holidays pause it.
    ///
    /// Business time is counted by the second inside business minutes: hours are open or
    /// closed a minute at a time (a cron expression whose seconds field is `*`, as every
    /// business-hours expression is). `None` when the hours never open again or the end is
    /// past the calendar's.
    pub fn add_business_time(
        &self,
        start: DateTime<Utc>,
        within: Duration,
    ) -> Option<DateTime<Utc>> {
        let mut remaining = within.num_seconds().max(0);
        let mut at = self.next_open(start.trunc_subsecs(0))?;
        for _ in 0..MAX_BUSINESS_STEPS {
            if remaining == 0 {
                return Some(at);
            }
            // Open at `at`: count to the end of this minute (the hours may close there).
            let to_minute_end = 60 - i64::from(at.second());
            let step = remaining.min(to_minute_end);
            remaining -= step;
            at = at.checked_add_signed(Duration::seconds(step))?;
            if remaining == 0 {
                return Some(at);
            }
            at = self.next_open(at)?;
        }
        None
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

    fn weekdays() -> BusinessHours {
        BusinessHours::parse("* * 9-18 * * Mon-Sat", kolkata()).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn thirty_business_minutes_from_18_50_end_at_09_20_the_next_business_day() {
        // Thursday 28 May 2026, 18:50: ten minutes before closing.
        let due = weekdays().add_business_time(ist(2026, 5, 28, 18, 50), Duration::minutes(30));
        assert_eq!(due, Some(ist(2026, 5, 29, 9, 20)));
    }

    #[test]
    fn business_time_inside_the_day_is_plain_time() {
        let due = weekdays().add_business_time(ist(2026, 5, 28, 10, 40), Duration::minutes(30));
        assert_eq!(due, Some(ist(2026, 5, 28, 11, 10)));
        let seconds = weekdays().add_business_time(
            ist(2026, 5, 28, 10, 40) + Duration::seconds(25),
            Duration::seconds(90),
        );
        assert_eq!(
            seconds,
            Some(ist(2026, 5, 28, 10, 41) + Duration::seconds(55))
        );
    }

    #[test]
    fn a_call_missed_after_hours_starts_its_clock_at_the_next_opening() {
        let due = weekdays().add_business_time(ist(2026, 5, 28, 21, 15), Duration::minutes(30));
        assert_eq!(due, Some(ist(2026, 5, 29, 9, 30)));
        // Saturday 18:45 + 30 min: 15 minutes on Saturday, Sunday closed, 15 on Monday.
        let due = weekdays().add_business_time(ist(2026, 5, 30, 18, 45), Duration::minutes(30));
        assert_eq!(due, Some(ist(2026, 6, 1, 9, 15)));
    }

    #[test]
    fn a_service_level_that_ends_at_closing_time_ends_there() {
        let due = weekdays().add_business_time(ist(2026, 5, 28, 18, 30), Duration::minutes(30));
        assert_eq!(due, Some(ist(2026, 5, 28, 19, 0)));
    }

    #[test]
    fn holidays_pause_the_clock_and_close_the_day() {
        // Friday 29 May 2026 is a holiday: Thursday 18:50 + 30 min runs into Saturday.
        let hours = weekdays().with_holidays(Arc::new(BTreeSet::from([date(2026, 5, 29)])));
        assert!(!hours.is_open(ist(2026, 5, 29, 11, 0)));
        assert_eq!(
            hours.next_open(ist(2026, 5, 28, 19, 0)),
            Some(ist(2026, 5, 30, 9, 0))
        );
        let due = hours.add_business_time(ist(2026, 5, 28, 18, 50), Duration::minutes(30));
        assert_eq!(due, Some(ist(2026, 5, 30, 9, 20)));
    }

    #[test]
    fn holidays_back_to_back_are_all_skipped() {
        // Republic Day 2026 is a Monday; with the Tuesday off too, Wednesday opens.
        let hours = weekdays().with_holidays(Arc::new(BTreeSet::from([
            date(2026, 1, 26),
            date(2026, 1, 27),
        ])));
        assert_eq!(
            hours.next_open(ist(2026, 1, 24, 19, 0)),
            Some(ist(2026, 1, 28, 9, 0))
        );
        assert_eq!(
            hours.upcoming_holidays(date(2026, 1, 27), 5),
            vec![date(2026, 1, 27)]
        );
    }

    #[test]
    fn business_time_never_panics_at_the_end_of_the_calendar() {
        let end = DateTime::<Utc>::MAX_UTC - Duration::minutes(5);
        let always = BusinessHours::parse("* * * * * *", kolkata()).unwrap();
        assert_eq!(always.add_business_time(end, Duration::days(7)), None);
        assert_eq!(
            always.add_business_time(ist(2026, 5, 28, 10, 0), Duration::zero()),
            Some(ist(2026, 5, 28, 10, 0))
        );
    }
}
