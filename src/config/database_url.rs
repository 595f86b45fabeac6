//! A PostgreSQL URL read the one way, for `check-config` and for opening the store alike:
//! one that sqlx cannot use is refused with sqlx's own reason (an unknown `sslmode`, a port
//! that is not a number), and the URL's password never appears in that reason.

use percent_encoding::percent_decode_str;
use sqlx::postgres::PgConnectOptions;

/// The connection options a URL gives, or why it gives none (fit to show or log).
pub fn parse_postgres_url(url: &str) -> Result<PgConnectOptions, String> {
    url.trim().parse::<PgConnectOptions>().map_err(|e| {
        // sqlx says "error with configuration: " twice over
        let said = e.to_string();
        let mut reason = said.as_str();
        while let Some(rest) = reason.strip_prefix("error with configuration: ") {
            reason = rest;
        }
        without_password(url, reason)
    })
}

/// `reason` with the URL's password, as written or decoded, replaced by `…`. A password of
/// under four characters is left alone: replacing it inside sqlx's own words would garble
/// them and show which letters it is made of.
fn without_password(url: &str, reason: &str) -> String {
    let mut reason = reason.to_string();
    if let Ok(parsed) = url::Url::parse(url.trim())
        && let Some(password) = parsed.password()
    {
        let decoded = percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned();
        for form in [password.to_string(), decoded] {
            if form.chars().count() >= 4 {
                reason = reason.replace(&form, "…");
            }
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_sqlx_can_use_is_read() {
        let options = parse_postgres_url(
            "postgres://ringback:pw@db.example.in:5433/ringback?sslmode=require",
        )
        .expect("a good URL");
        assert_eq!(options.get_port(), 5433);
        assert_eq!(options.get_database(), Some("ringback"));
    }

    #[test]
    fn a_url_sqlx_cannot_use_is_refused_with_its_reason() {
        let why = parse_postgres_url("postgres://ringback:pw@localhost/ringback?sslmode=bogus")
            .expect_err("an unknown sslmode");
        assert!(why.contains("bogus"), "{why}");
        assert!(why.starts_with("unknown value"), "{why}");
    }

    #[test]
    fn the_reason_never_repeats_the_password() {
        for (written, decoded) in [
            ("s3cret-Pa55", "s3cret-Pa55"),
            ("p%40ss%2Fword", "p@ss/word"),
        ] {
            let why = without_password(
                &format!("postgres://ringback:{written}@localhost/ringback"),
                &format!("cannot use {written} nor {decoded} at localhost"),
            );
            assert_eq!(why, "cannot use … nor … at localhost");
        }
    }
}
