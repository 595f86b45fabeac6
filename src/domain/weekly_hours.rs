//! Business hours as a supervisor says them — these weekdays, from opening to closing time —
//! and the cron expression(s) meaning the same. The dashboard's rules form edits hours this
//! way; `config.toml` keeps the full cron form, and the form falls back to it for hours that
//! are not one daily window (see [`WeeklyHours::of`]).

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::schedule::BusinessHours;

/// Day names in cron's spelling, Monday first.
pub const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_MINUTES: u32 = 24 * 60;

/// One daily window on some weekdays: open from `opens` up to (not including) `closes`,
/// both in minutes after local midnight (`closes` may be 1440: until midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyHours {
    /// Monday first.
    pub days: [bool; 7],
    pub opens: u32,
    pub closes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeeklyHoursError {
    #[error("choose at least one day")]
    NoDay,
    #[error("{0:?} is not a time of day like 09:30")]
    BadTime(String),
    #[error("the closing time must be after the opening time (00:00 closes at midnight)")]
    ClosesBeforeOpening,
}

/// `"09:30"` → 570 minutes.
pub fn parse_time(text: &str) -> Result<u32, WeeklyHoursError> {
    let bad = || WeeklyHoursError::BadTime(text.to_string());
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// 570 → `"09:30"`; 1440 → `"00:00"` (midnight, as a closing time).
pub fn time_text(minutes: u32) -> String {
    let minutes = minutes % DAY_MINUTES;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn range(from: u32, to: u32) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}-{to}")
    }
}

impl WeeklyHours {
    /// From the form's fields; a closing time of 00:00 means midnight.
    pub fn new(days: [bool; 7], opens: &str, closes: &str) -> Result<Self, WeeklyHoursError> {
        let opens = parse_time(opens)?;
        let closes = match parse_time(closes)? {
            0 => DAY_MINUTES,
            m => m,
        };
        if !days.iter().any(|d| *d) {
            return Err(WeeklyHoursError::NoDay);
        }
        if closes <= opens {
            return Err(WeeklyHoursError::ClosesBeforeOpening);
        }
        Ok(Self {
            days,
            opens,
            closes,
        })
    }

    /// The day-of-week field: runs of days as ranges (`Mon-Fri,Sun`), `*` for every day.
    fn day_field(&self) -> String {
        if self.days.iter().all(|d| *d) {
            return "*".into();
        }
        let mut runs = Vec::new();
        let mut i = 0;
        while i < 7 {
            if !self.days[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i + 1 < 7 && self.days[i + 1] {
                i += 1;
            }
            runs.push(if start == i {
                DAYS[i].to_string()
            } else {
                format!("{}-{}", DAYS[start], DAYS[i])
            });
            i += 1;
        }
        runs.join(",")
    }

    /// The cron expression(s) open exactly in this window: one for whole hours, up to three
    /// joined by `;` when opening or closing is off the hour.
    pub fn to_cron(&self) -> String {
        let days = self.day_field();
        let (h1, m1) = (self.opens / 60, self.opens % 60);
        let (h2, m2) = (self.closes / 60, self.closes % 60);
        if h1 == h2 {
            return format!("* {} {h1} * * {days}", range(m1, m2 - 1));
        }
        let mut parts = Vec::new();
        let mut full_from = h1;
        if m1 > 0 {
            parts.push(format!("* {} {h1} * * {days}", range(m1, 59)));
            full_from += 1;
        }
        if full_from < h2 {
            parts.push(format!("* * {} * * {days}", range(full_from, h2 - 1)));
        }
        if m2 > 0 {
            parts.push(format!("* {} {h2} * * {days}", range(0, m2 - 1)));
        }
        parts.join("; ")
    }

    /// The window `hours` keeps, when it is one daily window on some weekdays, whole
    /// minutes; `None` for anything else (which the form leaves to cron). Found by looking
    /// at every minute of a week without clock changes in most zones (5–11 January 2026).
    pub fn of(hours: &BusinessHours) -> Option<Self> {
        let zone = hours.zone();
        let monday = NaiveDate::from_ymd_opt(2026, 1, 5)?;
        let mut window: Option<(u32, u32)> = None;
        let mut days = [false; 7];
        for (day, open_today) in days.iter_mut().enumerate() {
            let date = monday + Duration::days(day as i64);
            let mut open_minutes = Vec::new();
            for minute in 0..DAY_MINUTES {
                let at = |second: u32| {
                    let naive = date.and_hms_opt(minute / 60, minute % 60, second)?;
                    let utc = zone
                        .from_local_datetime(&naive)
                        .single()?
                        .with_timezone(&Utc);
                    Some(hours.is_open(utc))
                };
                let (start, end) = (at(0)?, at(59)?);
                if start != end {
                    return None; // open for part of a minute: not a form the page can show
                }
                if start {
                    open_minutes.push(minute);
                }
            }
            let (Some(first), Some(last)) = (open_minutes.first(), open_minutes.last()) else {
                continue;
            };
            let today = (*first, *last + 1);
            if open_minutes.len() as u32 != today.1 - today.0 {
                return None; // two windows in a day
            }
            if window.is_some_and(|w| w != today) {
                return None; // different hours on different days
            }
            window = Some(today);
            *open_today = true;
        }
        let (opens, closes) = window?;
        Some(Self {
            days,
            opens,
            closes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kolkata() -> chrono_tz::Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    fn weekdays(names: &[&str]) -> [bool; 7] {
        let mut days = [false; 7];
        for (i, d) in DAYS.iter().enumerate() {
            days[i] = names.contains(d);
        }
        days
    }

    #[test]
    fn whole_hours_make_the_familiar_single_expression() {
        let hours = WeeklyHours::new(
            weekdays(&["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
            "09:00",
            "19:00",
        )
        .unwrap();
        assert_eq!(hours.to_cron(), "* * 9-18 * * Mon-Sat");
        let every_day = WeeklyHours::new([true; 7], "00:00", "00:00").unwrap();
        assert_eq!(every_day.to_cron(), "* * 0-23 * * *");
    }

    #[test]
    fn times_off_the_hour_and_scattered_days_are_kept_exactly() {
        let hours =
            WeeklyHours::new(weekdays(&["Mon", "Wed", "Thu", "Sun"]), "09:30", "18:15").unwrap();
        assert_eq!(
            hours.to_cron(),
            "* 30-59 9 * * Mon,Wed-Thu,Sun; * * 10-17 * * Mon,Wed-Thu,Sun; * 0-14 18 * * Mon,Wed-Thu,Sun"
        );
        let parsed = BusinessHours::parse(&hours.to_cron(), kolkata()).unwrap();
        assert_eq!(WeeklyHours::of(&parsed), Some(hours));
    }

    #[test]
    fn the_shipped_business_hours_read_back_as_days_and_times() {
        let parsed = BusinessHours::parse("* * 9-18 * * Mon-Sat", kolkata()).unwrap();
        let hours = WeeklyHours::of(&parsed).unwrap();
        assert_eq!(
            hours.days,
            weekdays(&["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"])
        );
        assert_eq!(
            (time_text(hours.opens), time_text(hours.closes)),
            ("09:00".to_string(), "19:00".to_string())
        );
    }

    #[test]
    fn hours_that_are_not_one_daily_window_stay_cron() {
        for expression in [
            "* * 9-12,14-18 * * Mon-Fri",              // a lunch break
            "* * 9-18 * * Mon-Fri; * * 10-13 * * Sat", // shorter Saturdays
            "0 * 9-18 * * Mon-Fri",                    // the first second of each minute
        ] {
            let parsed = BusinessHours::parse(expression, kolkata()).unwrap();
            assert_eq!(WeeklyHours::of(&parsed), None, "{expression}");
        }
    }

    #[test]
    fn the_form_refuses_no_days_and_closing_before_opening() {
        assert_eq!(
            WeeklyHours::new([false; 7], "09:00", "18:00"),
            Err(WeeklyHoursError::NoDay)
        );
        assert_eq!(
            WeeklyHours::new([true; 7], "18:00", "09:00"),
            Err(WeeklyHoursError::ClosesBeforeOpening)
        );
        assert_eq!(
            WeeklyHours::new([true; 7], "9h", "18:00"),
            Err(WeeklyHoursError::BadTime("9h".into()))
        );
    }
}
