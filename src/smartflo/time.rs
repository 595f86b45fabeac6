//! Smartflo timestamps (SPEC §4.3): wall-clock times without an offset, in the zone the
//! account runs in (`[reminders].timezone`), in two formats — `2026-04-09 12:54:22` and, on
//! dialer events, `7/11/2026, 9:13:28 PM` (month/day/year) — plus epoch seconds in
//! `call_flow`. Anything else is not guessed at: the caller falls back to receipt time.
//!
//! A stamp is read against the moment the event was received: a wall-clock time that a DST
//! change makes happen twice is the occurrence that had already happened by then, and a
//! stamp far from it ([`trusted_start`]) is not believed at all.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A call cannot start after Ringback hears of it; a day covers any clock skew on either side.
const MAX_AHEAD: Duration = Duration::days(1);
/// Smartflo delivers within seconds; an operator re-posting a backlog is weeks at most. A
/// stamp older than this is a template or clock error, and believing it would make ages
/// read in years.
const MAX_BEHIND: Duration = Duration::days(30);

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

/// The call's start as stamped, when it is believable for an event received at
/// `received_at`; otherwise why not (the caller uses the receipt time instead and says so).
pub fn trusted_start(
    stamp: DateTime<Utc>,
    received_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, &'static str> {
    if stamp > received_at + MAX_AHEAD {
        Err(
            "the start time is more than a day after the event was received; the receipt time is used instead",
        )
    } else if stamp < received_at - MAX_BEHIND {
        Err(
            "the start time is more than 30 days before the event was received; the receipt time is used instead",
        )
    } else {
        Ok(stamp)
    }
}

/// Parses a Smartflo time stamp, reading times without an offset in `zone` (an ambiguous
/// one as the occurrence nearest before `received_at`).
pub fn parse_stamp(raw: &str, zone: Tz, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
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
        .and_then(|naive| in_zone(naive, zone, received_at))
}

/// A date and a time given in separate fields (`start_date`, `start_time`).
pub fn parse_date_and_time(
    date: &str,
    time: &str,
    zone: Tz,
    received_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M:%S").ok()?;
    in_zone(date.and_time(time), zone, received_at)
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

fn in_zone(naive: NaiveDateTime, zone: Tz, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        // When clocks go back, 01:30 happens twice. The call had started by the time its
        // event arrived: the later occurrence if that one is already past, else the earlier.
        LocalResult::Ambiguous(earliest, latest) => {
            let latest = latest.with_timezone(&Utc);
            Some(if latest <= received_at {
                latest
            } else {
                earliest.with_timezone(&Utc)
            })
        }
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

    /// When the events of these tests arrived (for the ambiguous-time rule only).
    fn received() -> DateTime<Utc> {
        utc("2026-07-12T00:00:00Z")
    }

    #[test]
    fn smartflo_stamps_are_india_wall_clock() {
        assert_eq!(
            parse_stamp("2026-04-09 12:54:22", kolkata(), received()),
            Some(utc("2026-04-09T07:24:22Z"))
        );
    }

    #[test]
    fn dialer_stamps_are_month_first_with_am_pm() {
        assert_eq!(
            parse_stamp("7/11/2026, 9:13:28 PM", kolkata(), received()),
            Some(utc("2026-07-11T15:43:28Z"))
        );
        assert_eq!(
            parse_stamp("7/11/2026, 12:05:00 am", kolkata(), received()),
            Some(utc("2026-07-10T18:35:00Z"))
        );
    }

    #[test]
    fn offsets_and_epochs_are_absolute() {
        assert_eq!(
            parse_stamp("2026-04-09T12:54:22+05:30", kolkata(), received()),
            Some(utc("2026-04-09T07:24:22Z"))
        );
        assert_eq!(
            parse_stamp("1780000001", kolkata(), received()),
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
            assert_eq!(parse_stamp(raw, kolkata(), received()), None, "{raw}");
        }
    }

    #[test]
    fn separate_date_and_time_fields_combine() {
        assert_eq!(
            parse_date_and_time("2026-04-09", "12:54:22", kolkata(), received()),
            Some(utc("2026-04-09T07:24:22Z"))
        );
    }

    #[test]
    fn a_wall_clock_time_that_happens_twice_is_the_one_already_past_at_receipt() {
        // New York, 1 November 2026: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z).
        let new_york: Tz = "America/New_York".parse().unwrap();
        let stamp = "2026-11-01 01:30:00";
        assert_eq!(
            parse_stamp(stamp, new_york, utc("2026-11-01T06:31:00Z")),
            Some(utc("2026-11-01T06:30:00Z")),
            "received after the second 01:30: it was the second"
        );
        assert_eq!(
            parse_stamp(stamp, new_york, utc("2026-11-01T05:31:00Z")),
            Some(utc("2026-11-01T05:30:00Z")),
            "received before the second 01:30 came round: it was the first"
        );
    }

    #[test]
    fn stamps_far_from_the_receipt_time_are_not_trusted() {
        let at = utc("2026-05-28T06:00:00Z");
        for believable in [at, at - Duration::days(29), at + Duration::hours(23)] {
            assert_eq!(trusted_start(believable, at), Ok(believable));
        }
        for absurd in [
            at + Duration::days(2),
            utc("9999-12-31T18:29:59Z"),
            at - Duration::days(31),
            utc("0001-01-01T00:00:00Z"),
        ] {
            assert!(trusted_start(absurd, at).is_err(), "{absurd}");
        }
    }
}
