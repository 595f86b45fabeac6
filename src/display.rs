//! How times and durations read to people (messages and dashboard alike).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::domain::callback::TimelineKind;

/// "45 min", "2 h 05 min", "3 d 4 h".
pub fn humane_age(age: Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {:02} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
}

/// A manual resolution's reason as people read it: an outcome's code (`wrong_number`, what a
/// "wrong number" press stores) in words, any other reason as it was written.
pub fn resolution_reason(reason: &str) -> &str {
    crate::domain::actions::Outcome::from_code(reason).map_or(reason, |o| o.words())
}

/// RFC 3339 in `zone`, to the second: how the API and the CSV export show times.
pub fn rfc3339(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// "28 May 2026, 10:40" in `zone`.
pub fn local_time(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%-d %b %Y, %H:%M")
        .to_string()
}

/// When a snooze entry's detail ("until <UTC time>") says it ends.
fn snoozed_until(kind: TimelineKind, detail: &str) -> Option<DateTime<Utc>> {
    let until = detail.strip_prefix("until ")?;
    let t = DateTime::parse_from_rfc3339(until.trim()).ok()?;
    (kind == TimelineKind::Snoozed).then(|| t.with_timezone(&Utc))
}

/// A timeline entry's detail as people read it: a snooze's "until <UTC time>" (older
/// entries carry nanoseconds) becomes local time.
pub fn entry_detail(kind: TimelineKind, detail: &str, zone: Tz) -> String {
    match snoozed_until(kind, detail) {
        Some(t) => format!("until {}", local_time(t, zone)),
        None => detail.to_string(),
    }
}

/// The same for the API: a snooze's end as RFC 3339 in `zone`, like every API time.
pub fn entry_detail_rfc3339(kind: TimelineKind, detail: &str, zone: Tz) -> String {
    match snoozed_until(kind, detail) {
        Some(t) => format!("until {}", rfc3339(t, zone)),
        None => detail.to_string(),
    }
}

/// `+919876512345` → `+91 98765 12345`: the number grouped the way its country writes it
/// (libphonenumber's international format); anything unreadable comes back unchanged.
pub fn phone(e164: &str) -> String {
    phonenumber::parse(None, e164)
        .map(|n| {
            n.format()
                .mode(phonenumber::Mode::International)
                .to_string()
        })
        .unwrap_or_else(|_| e164.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_number_resolution_reads_in_words_and_other_reasons_as_written() {
        assert_eq!(resolution_reason("wrong_number"), "wrong number");
        assert_eq!(resolution_reason("Spoke on WhatsApp"), "Spoke on WhatsApp");
    }

    #[test]
    fn snooze_entries_read_in_local_time_old_and_new() {
        let zone: Tz = "Asia/Kolkata".parse().unwrap();
        for stored in [
            "until 2026-05-28T06:30:00.123456789+00:00",
            "until 2026-05-28T06:30:00Z",
        ] {
            assert_eq!(
                entry_detail(TimelineKind::Snoozed, stored, zone),
                "until 28 May 2026, 12:00"
            );
        }
        assert_eq!(
            entry_detail_rfc3339(TimelineKind::Snoozed, "until 2026-05-28T06:30:00.5Z", zone),
            "until 2026-05-28T12:00:00+05:30"
        );
        assert_eq!(
            entry_detail(TimelineKind::Assigned, "reassigned from Meera", zone),
            "reassigned from Meera"
        );
    }

    #[test]
    fn numbers_are_grouped_for_reading() {
        assert_eq!(phone("+919876512345"), "+91 98765 12345");
        assert_eq!(phone("not a number"), "not a number");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(humane_age(Duration::seconds(59)), "0 min");
        assert_eq!(humane_age(Duration::minutes(45)), "45 min");
        assert_eq!(humane_age(Duration::minutes(125)), "2 h 05 min");
        assert_eq!(humane_age(Duration::hours(76)), "3 d 4 h");
        assert_eq!(humane_age(Duration::minutes(-5)), "0 min");
    }
}
