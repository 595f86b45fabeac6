//! How times and durations read to people (messages and dashboard alike).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// "45 min", "2 h 05 min", "3 d 4 h".
pub fn humane_age(age: Duration) -> String {
    let minutes = age.num_minutes().max(0);
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {:02} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), (m / 60) % 24),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(humane_age(Duration::seconds(59)), "0 min");
        assert_eq!(humane_age(Duration::minutes(45)), "45 min");
        assert_eq!(humane_age(Duration::minutes(125)), "2 h 05 min");
        assert_eq!(humane_age(Duration::hours(76)), "3 d 4 h");
        assert_eq!(humane_age(Duration::minutes(-5)), "0 min");
    }
}
