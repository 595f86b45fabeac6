//! Smartflo timestamps (SPEC §4.3): wall-clock times without an offset, in the zone the
//! account runs in (`[reminders].timezone`), in two formats — `2026-04-09 12:54:22` and, on
//! dialer events, `7/11/2026, 9:13:28 PM` (month/day/year) — plus epoch seconds in
//! `call_flow`. Anything else is not guessed at: the caller falls back to receipt time.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y, %I:%M:%S %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y, %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
];

/// Parses a Smartflo time stamp, reading times without an offset in `zone`.
pub fn parse_stamp(raw: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(t) = parse_epoch(raw) {
        return Some(t);
    }
    let upper = raw.to_ascii_uppercase();
    NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&upper, f).ok())
        .and_then(|naive| in_zone(naive, zone))
}

/// A date and a time given in separate fields (`start_date`, `start_time`).
pub fn parse_date_and_time(date: &str, time: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M:%S").ok()?;
    in_zone(date.and_time(time), zone)
}

/// Epoch seconds, possibly fractional (`1780000001`, `1783784606.075`, `1.780000001e+09`).
pub fn parse_epoch(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    let plausible = raw.len() >= 9
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+'));
    if !plausible {
        return None;
    }
    let secs: f64 = raw.parse().ok()?;
    // 2001-09-09 .. 2286: anything else is not an epoch stamp.
    if !(1e9..1e10).contains(&secs) {
        return None;
    }
    let millis = (secs * 1000.0).round() as i64;
    DateTime::from_timestamp_millis(millis)
}

fn in_zone(naive: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        // A wall-clock time skipped by a DST jump: read it as the moment after the jump.
        LocalResult::None => zone
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kolkata() -> Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn smartflo_stamps_are_india_wall_clock() {
        assert_eq!(
            parse_stamp("2026-04-09 12:54:22", kolkata()),
            Some(utc("2026-04-09T07:24:22Z"))
        );
    }

    #[test]
    fn dialer_stamps_are_month_first_with_am_pm() {
        assert_eq!(
            parse_stamp("7/11/2026, 9:13:28 PM", kolkata()),
            Some(utc("2026-07-11T15:43:28Z"))
        );
        assert_eq!(
            parse_stamp("7/11/2026, 12:05:00 am", kolkata()),
            Some(utc("2026-07-10T18:35:00Z"))
        );
    }

    #[test]
    fn offsets_and_epochs_are_absolute() {
        assert_eq!(
            parse_stamp("2026-04-09T12:54:22+05:30", kolkata()),
            Some(utc("2026-04-09T07:24:22Z"))
        );
        assert_eq!(
            parse_stamp("1780000001", kolkata()),
            Some(utc("2026-05-28T20:26:41Z"))
        );
        assert_eq!(
            parse_epoch("1.780000001e+09"),
            Some(utc("2026-05-28T20:26:41Z"))
        );
    }

    #[test]
    fn unreadable_stamps_are_none() {
        for raw in [
            "",
            "yesterday",
            "2026-13-45 99:00:00",
            "12345",
            "$start_stamp",
        ] {
            assert_eq!(parse_stamp(raw, kolkata()), None, "{raw}");
        }
    }

    #[test]
    fn separate_date_and_time_fields_combine() {
        assert_eq!(
            parse_date_and_time("2026-04-09", "12:54:22", kolkata()),
            Some(utc("2026-04-09T07:24:22Z"))
        );
    }
}
