//! Phone numbers, normalised once to E.164 (SPEC §4.4).
//!
//! Smartflo sends the same customer as `9876543210`, `09876543210`, `919876543210` or
//! `+91 98765-43210` depending on the trigger and the operator's template. Pending callbacks
//! are keyed by the E.164 form, so every spelling of one number must collapse to one key.
//! Parsing and validation are done by the `phonenumber` crate (a port of Google's
//! libphonenumber), not by hand: national prefixes, trunk zeros and lengths differ per
//! country and a hand-written rule would be wrong for the first foreign caller.

use std::fmt;

use phonenumber::country;
use serde::{Deserialize, Serialize};

/// A country calling code (`91` for India) used for numbers written without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryCode {
    code: u16,
    region: country::Id,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("no phone number given")]
    Empty,
    #[error("looks like a Smartflo agent or extension id, not a phone number")]
    AgentId,
    #[error("not a phone number")]
    NotANumber,
    #[error("not a valid phone number for country code +{0}")]
    Invalid(u16),
    #[error("unknown country calling code {0:?}")]
    UnknownCountryCode(String),
}

impl CountryCode {
    /// Parses `"91"` or `"+91"`.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let digits = raw.trim().trim_start_matches('+');
        let unknown = || PhoneError::UnknownCountryCode(raw.to_string());
        let code: u16 = digits.parse().map_err(|_| unknown())?;
        let region = phonenumber::metadata::DATABASE
            .by_code(&code)
            .and_then(|regions| regions.first().map(|m| m.id().to_string()))
            .and_then(|id| id.parse::<country::Id>().ok())
            .ok_or_else(unknown)?;
        Ok(Self { code, region })
    }

    pub fn code(&self) -> u16 {
        self.code
    }
}

/// A phone number in E.164 form (`+919876543210`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Normalises any of the spellings Smartflo uses to E.164, reading numbers without a
    /// country code as numbers of `default`.
    pub fn parse(raw: &str, default: CountryCode) -> Result<Self, PhoneError> {
        // libphonenumber's parse and validation cost ~14 µs (regular expressions over its
        // metadata), and a webhook names the same agents' and repeat customers' numbers
        // again and again: the answers are remembered (a bounded cache; same input, same
        // answer, so nothing can go stale).
        static SEEN: std::sync::LazyLock<
            quick_cache::sync::Cache<(u16, String), Result<PhoneNumber, PhoneError>>,
        > = std::sync::LazyLock::new(|| quick_cache::sync::Cache::new(16_384));
        if raw.len() > 64 {
            return Self::normalise(raw, default);
        }
        let key = (default.code, raw.to_string());
        if let Some(known) = SEEN.get(&key) {
            return known;
        }
        let answer = Self::normalise(raw, default);
        SEEN.insert(key, answer.clone());
        answer
    }

    fn normalise(raw: &str, default: CountryCode) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if looks_like_agent_id(trimmed) {
            return Err(PhoneError::AgentId);
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
        {
            return Err(PhoneError::NotANumber);
        }
        if let Some(national) = as_national(trimmed, default) {
            return Ok(national);
        }
        let parsed = phonenumber::parse(Some(default.region), trimmed)
            .map_err(|_| PhoneError::NotANumber)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(default.code));
        }
        Ok(Self(e164(&parsed)))
    }

    /// Trusts a value that was produced by [`PhoneNumber::parse`] (read back from storage).
    pub fn from_e164_unchecked(e164: impl Into<String>) -> Self {
        Self(e164.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national significant number (for India, the 10 digits without `+91`).
    pub fn national(&self) -> String {
        phonenumber::parse(None, &self.0)
            .map(|n| n.national().value().to_string())
            .unwrap_or_else(|_| self.0.trim_start_matches('+').to_string())
    }

    /// A form safe for logs and, under `[privacy] mask_numbers`, for messages: the country
    /// code and the last four digits, grouped as the number is written
    /// (`+91 98765 12345` → `+91 ••••• •2345`).
    pub fn masked(&self) -> String {
        // Every webhook's log line masks its customer, and grouping the digits is a
        // libphonenumber parse and format (~6 µs, more than the rest of the line): the
        // answers are remembered like `parse`'s (same number, same answer).
        static MASKED: std::sync::LazyLock<quick_cache::sync::Cache<String, String>> =
            std::sync::LazyLock::new(|| quick_cache::sync::Cache::new(16_384));
        if let Some(known) = MASKED.get(self.0.as_str()) {
            return known;
        }
        let masked = self.mask();
        MASKED.insert(self.0.clone(), masked.clone());
        masked
    }

    fn mask(&self) -> String {
        let grouped = phonenumber::parse(None, &self.0)
            .map(|n| {
                n.format()
                    .mode(phonenumber::Mode::International)
                    .to_string()
            })
            .unwrap_or_else(|_| self.0.clone());
        let (code, rest) = match grouped.split_once(' ') {
            Some((code, rest)) if code.starts_with('+') => (format!("{code} "), rest.to_string()),
            // Not groupable: keep a short head as the country code.
            _ => {
                let head: String = grouped.chars().take(3).collect();
                (
                    head.clone(),
                    grouped.chars().skip(head.chars().count()).collect(),
                )
            }
        };
        let digits = rest.chars().filter(char::is_ascii_digit).count();
        let mut seen = 0;
        let masked: String = rest
            .chars()
            .map(|c| {
                if !c.is_ascii_digit() {
                    return c;
                }
                seen += 1;
                if seen + 4 > digits { c } else { '•' }
            })
            .collect();
        format!("{code}{masked}")
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// E.164 from the parsed parts: `+`, country code, the national number with any leading
/// zeros it carries. (The same as `format().mode(E164)`, which costs ~15 µs a call in
/// phonenumber 0.3 because it goes through the formatting rules.)
fn e164(parsed: &phonenumber::PhoneNumber) -> String {
    let national = parsed.national();
    let zeros = "0".repeat(usize::from(national.zeros()));
    format!("+{}{zeros}{}", parsed.code().value(), national.value())
}

/// Digits written without any international prefix (`+`, `00`) or trunk zero are first read
/// as a national number of `default`: `9123456789` is the Indian mobile +91 91234 56789.
/// libphonenumber alone takes a leading `91` for the country code whenever the rest could
/// be a number too (`23456789`, a plausible landline length) and then finds it invalid, so
/// every mobile of the 91… series was lost. Only when the national reading is not a valid
/// number does the general parse (country code written without `+`, trunk `0`) get a turn.
fn as_national(raw: &str, default: CountryCode) -> Option<PhoneNumber> {
    if raw.starts_with(['+', '0']) {
        return None;
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let parsed = phonenumber::parse(None, format!("+{}{digits}", default.code)).ok()?;
    phonenumber::is_valid(&parsed).then(|| PhoneNumber(e164(&parsed)))
}

/// Smartflo agent ids are 13 digits starting `05`; extension ids start `06` and may be
/// written `Extension-06…`. Both can appear in number fields and must never become a
/// customer (payload-notes "Numbers, ids, times").
fn looks_like_agent_id(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with("extension") {
        return true;
    }
    raw.len() == 13
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw.starts_with("05") || raw.starts_with("06"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn india() -> CountryCode {
        CountryCode::parse("91").unwrap()
    }

    #[test]
    fn every_indian_spelling_collapses_to_one_e164_number() {
        for raw in [
            "9876543210",
            "09876543210",
            "919876543210",
            "+919876543210",
            "+91 98765-43210",
            "0091 98765 43210",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, india()).unwrap().as_str(),
                "+919876543210",
                "{raw}"
            );
        }
    }

    #[test]
    fn ten_digit_mobiles_of_every_series_are_national_numbers() {
        // Indian mobiles start 6, 7, 8 or 9, including the 91… series that looks like the
        // country code.
        for first in [
            "6", "7", "8", "90", "91", "92", "93", "94", "95", "96", "97", "98", "99",
        ] {
            let national = format!("{first}{}", &"123456789"[..10 - first.len()]);
            let e164 = format!("+91{national}");
            for raw in [
                national.clone(),
                format!("0{national}"),
                format!("91{national}"),
                format!("+91{national}"),
                format!("+91 {}-{}", &national[..5], &national[5..]),
            ] {
                assert_eq!(
                    PhoneNumber::parse(&raw, india()).map(|n| n.as_str().to_string()),
                    Ok(e164.clone()),
                    "{raw}"
                );
            }
        }
    }

    #[test]
    fn foreign_numbers_keep_their_own_country_code() {
        assert_eq!(
            PhoneNumber::parse("+14155552671", india())
                .unwrap()
                .as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn agent_and_extension_ids_are_not_phone_numbers() {
        for raw in ["0507297260061", "0607297260058", "Extension-0602141810347"] {
            assert_eq!(
                PhoneNumber::parse(raw, india()),
                Err(PhoneError::AgentId),
                "{raw}"
            );
        }
    }

    #[test]
    fn junk_is_rejected() {
        assert_eq!(PhoneNumber::parse("", india()), Err(PhoneError::Empty));
        assert_eq!(
            PhoneNumber::parse("anonymous", india()),
            Err(PhoneError::NotANumber)
        );
        assert_eq!(
            PhoneNumber::parse("12345", india()),
            Err(PhoneError::Invalid(91))
        );
    }

    #[test]
    fn unknown_country_codes_are_refused() {
        assert!(CountryCode::parse("999").is_err());
        assert!(CountryCode::parse("abc").is_err());
        assert_eq!(CountryCode::parse("+44").unwrap().code(), 44);
    }

    #[test]
    fn e164_matches_the_librarys_own_formatting() {
        for raw in [
            "+14155552671",
            "+390612345678",
            "+442079460958",
            "09876543210",
            "+61 2 9876 5432",
        ] {
            let parsed = phonenumber::parse(Some(country::Id::IN), raw).unwrap();
            assert_eq!(
                e164(&parsed),
                parsed.format().mode(phonenumber::Mode::E164).to_string(),
                "{raw}"
            );
        }
    }

    #[test]
    fn national_form_drops_the_country_code() {
        let n = PhoneNumber::parse("+919876543210", india()).unwrap();
        assert_eq!(n.national(), "9876543210");
    }

    #[test]
    fn masked_form_hides_the_middle_digits() {
        let n = PhoneNumber::parse("+919876543210", india()).unwrap();
        assert_eq!(n.masked(), "+91 ••••• •3210");
        assert_eq!(n.masked(), "+91 ••••• •3210", "remembered, the same");
        let m = PhoneNumber::parse("+919811112345", india()).unwrap();
        assert_eq!(m.masked(), "+91 ••••• •2345");
    }
}
