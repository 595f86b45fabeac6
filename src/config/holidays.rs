//! Holidays (SPEC §11 `[reminders] holidays`, `holidays_file`): local dates on which no
//! reminder or escalation goes out and the service-level clock pauses.
//!
//! The file is iCalendar (`.ics`), as calendar programs and public holiday feeds export
//! them; its all-day events (`DTSTART;VALUE=DATE:20260126`, an optional exclusive `DTEND`)
//! are the holidays. The `ical` crate reads the format (line unfolding, parameters,
//! components); which events count is decided here.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

/// The longest all-day event read as holidays: a longer one is a mistake (a "term" or a
/// "season" in a shared calendar), not a closure.
const MAX_EVENT_DAYS: i64 = 31;

/// Holidays, each with its name (the event's `SUMMARY`, or "holiday").
pub type Holidays = BTreeMap<NaiveDate, String>;

/// One `holidays` entry: `"2026-01-26"`.
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{raw:?} is not a date; write it as \"2026-01-26\""))
}

/// What an iCalendar file holds: its holidays, and what in it was passed over (warnings).
#[derive(Debug, Default)]
pub struct IcsHolidays {
    pub holidays: Holidays,
    pub skipped: Vec<String>,
}

/// Reads `path` as iCalendar.
pub fn read_ics(path: &Path) -> Result<IcsHolidays, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_ics(std::io::BufReader::new(file))
}

/// The all-day events of an iCalendar stream.
pub fn parse_ics(reader: impl std::io::BufRead) -> Result<IcsHolidays, String> {
    let mut out = IcsHolidays::default();
    let mut calendars = 0;
    for calendar in ical::IcalParser::new(reader) {
        let calendar = calendar.map_err(|e| format!("not a valid iCalendar file: {e}"))?;
        calendars += 1;
        for event in calendar.events {
            let property = |name: &str| event.properties.iter().find(|p| p.name == name);
            let summary = property("SUMMARY")
                .and_then(|p| p.value.clone())
                .map(|s| s.replace("\\,", ",").replace("\\;", ";"))
                .unwrap_or_else(|| "holiday".into());
            let Some(start) = property("DTSTART").and_then(|p| p.value.as_deref()) else {
                out.skipped.push(format!("{summary:?} has no DTSTART"));
                continue;
            };
            let Some(first) = all_day(start) else {
                out.skipped.push(format!(
                    "{summary:?} starts at a time of day ({start}), not on a whole day; only all-day events are holidays"
                ));
                continue;
            };
            // DTEND of an all-day event is exclusive; without it the event is one day.
            let end = property("DTEND")
                .and_then(|p| p.value.as_deref())
                .and_then(all_day)
                .filter(|end| *end > first)
                .unwrap_or_else(|| first.succ_opt().unwrap_or(first));
            let days = (end - first).num_days();
            if days > MAX_EVENT_DAYS {
                out.skipped.push(format!(
                    "{summary:?} lasts {days} days; an event over {MAX_EVENT_DAYS} days is not read as holidays"
                ));
                continue;
            }
            if property("RRULE").is_some() {
                out.skipped.push(format!(
                    "{summary:?} repeats (RRULE); only its first date, {first}, is a holiday: list each year's date"
                ));
            }
            let mut day = first;
            while day < end {
                out.holidays.entry(day).or_insert_with(|| summary.clone());
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
        }
    }
    if calendars == 0 {
        return Err("not an iCalendar file (no BEGIN:VCALENDAR)".into());
    }
    Ok(out)
}

/// An iCalendar DATE value (`20260126`); `None` for a DATE-TIME (`20260126T090000Z`).
fn all_day(value: &str) -> Option<NaiveDate> {
    let value = value.trim();
    (value.len() == 8)
        .then(|| NaiveDate::parse_from_str(value, "%Y%m%d").ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Holidays//EN\r\n\
BEGIN:VEVENT\r\nUID:1@example\r\nDTSTART;VALUE=DATE:20260126\r\nSUMMARY:Republic Day\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:2@example\r\nDTSTART;VALUE=DATE:20261020\r\nDTEND;VALUE=DATE:20261022\r\n\
SUMMARY:Diwali\\, two days\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:3@example\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:Team meeting\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn all_day_events_are_holidays_and_their_end_is_exclusive() {
        let read = parse_ics(CALENDAR.as_bytes()).unwrap();
        let dates: Vec<NaiveDate> = read.holidays.keys().copied().collect();
        assert_eq!(
            dates,
            [date(2026, 1, 26), date(2026, 10, 20), date(2026, 10, 21)]
        );
        assert_eq!(read.holidays[&date(2026, 1, 26)], "Republic Day");
        assert_eq!(read.holidays[&date(2026, 10, 21)], "Diwali, two days");
    }

    #[test]
    fn an_event_at_a_time_of_day_is_passed_over_with_a_reason() {
        let read = parse_ics(CALENDAR.as_bytes()).unwrap();
        assert_eq!(read.skipped.len(), 1, "{:?}", read.skipped);
        assert!(
            read.skipped[0].contains("Team meeting"),
            "{:?}",
            read.skipped
        );
    }

    #[test]
    fn a_file_that_is_not_icalendar_is_refused() {
        assert!(parse_ics("2026-01-26\n".as_bytes()).is_err());
        assert!(parse_ics("".as_bytes()).is_err());
    }

    #[test]
    fn listed_dates_are_read_strictly() {
        assert_eq!(parse_date(" 2026-08-15 "), Ok(date(2026, 8, 15)));
        assert!(parse_date("15/08/2026").unwrap_err().contains("2026-01-26"));
        assert!(parse_date("2026-02-30").is_err());
    }
}
