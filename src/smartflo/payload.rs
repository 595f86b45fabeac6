//! Turns a webhook body (JSON, form or query string) into [`Fields`]: one map from
//! normalised key to value, with Smartflo's quirks read away (SPEC §4.3).
//!
//! - Keys are trimmed, lower-cased and lose a leading `$` (`"customer_no_with_prefix "`,
//!   `"$uuid"`), so every accessor can use the documented variable name.
//! - Values that mean "nothing" read as absent: `""`, `null`, an unreplaced `$placeholder`,
//!   and the known corruption `_number`.
//! - Nested values may be real JSON, JSON inside a string, or Go's `map[…]` rendering;
//!   [`Fields::structured`] returns them all as JSON.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde_json::Value;

use super::gofmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("JSON body must be an object of Smartflo variables, found {0}")]
    NotAnObject(&'static str),
    #[error("body is not valid UTF-8")]
    NotUtf8,
    #[error("payload has no fields")]
    Empty,
    /// A NUL character (U+0000) anywhere in a key or value, raw or as the escape `\u0000`
    /// that a nested JSON string would decode to. No telephony field holds one, and a
    /// PostgreSQL store cannot keep one in text or JSON: refused on every backend alike,
    /// rather than stored by one and answered with a 500 by the other.
    #[error("field {0:?} holds a NUL character (U+0000)")]
    NulCharacter(String),
}

/// The variables of one webhook, keyed by normalised name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    map: BTreeMap<String, Value>,
}

impl Fields {
    pub fn from_json(body: &[u8]) -> Result<Self, PayloadError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
        let object = match value {
            Value::Object(map) => map,
            // A template that wraps its object in a one-element list.
            Value::Array(mut items) if items.len() == 1 && items[0].is_object() => {
                match items.remove(0) {
                    Value::Object(map) => map,
                    _ => unreachable!("checked is_object"),
                }
            }
            other => return Err(PayloadError::NotAnObject(kind_of(&other))),
        };
        Self::collect(object)
    }

    /// A form body or query string. A form body holding a JSON object (a misconfigured
    /// content type) is read as JSON.
    pub fn from_form(body: &[u8]) -> Result<Self, PayloadError> {
        let text = std::str::from_utf8(body).map_err(|_| PayloadError::NotUtf8)?;
        if text.trim_start().starts_with('{') {
            return Self::from_json(text.trim().as_bytes());
        }
        let pairs = form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())));
        Self::collect(pairs)
    }

    /// Query-string pairs already split by the caller (the `trigger` parameter removed).
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, PayloadError> {
        Self::collect(pairs.into_iter().map(|(k, v)| (k, Value::String(v))))
    }

    fn collect(pairs: impl IntoIterator<Item = (String, Value)>) -> Result<Self, PayloadError> {
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in pairs {
            if holds_nul(&key) || value_holds_nul(&value) {
                return Err(PayloadError::NulCharacter(clip_key(&key)));
            }
            let key = normalise_key(key);
            if key.is_empty() {
                continue;
            }
            // Two spellings of one key (`"uuid"` and `"$uuid"`): the first meaningful wins.
            match map.entry(key) {
                Entry::Occupied(mut seen) => {
                    if is_absent(seen.get()) {
                        seen.insert(value);
                    }
                }
                Entry::Vacant(new) => {
                    new.insert(value);
                }
            }
        }
        if map.is_empty() {
            return Err(PayloadError::Empty);
        }
        Ok(Self { map })
    }

    /// Whether the key is present with a meaningful value.
    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !is_absent(v))
    }

    /// A scalar value as text; absent for nothing-values and for objects/arrays.
    pub fn text(&self, key: &str) -> Option<String> {
        self.map.get(key).and_then(value_text)
    }

    /// The first key of `keys` that has text.
    pub fn first_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.text(k))
    }

    /// A nested value as JSON, whatever encoding it arrived in. A plain string that is not
    /// an encoded structure comes back as a JSON string.
    pub fn structured(&self, key: &str) -> Option<Value> {
        self.map.get(key).and_then(structured_value)
    }
}

/// Reads a value that may be an encoded structure (used for nested fields, too).
pub fn structured_value(value: &Value) -> Option<Value> {
    if is_absent(value) {
        return None;
    }
    match value {
        Value::String(s) => {
            let s = s.trim();
            if (s.starts_with('{') || s.starts_with('['))
                && let Ok(parsed) = serde_json::from_str::<Value>(s)
            {
                return (!is_absent(&parsed)).then_some(parsed);
            }
            if let Some(parsed) = gofmt::parse(s) {
                return (!is_absent(&parsed)).then_some(parsed);
            }
            Some(Value::String(s.to_string()))
        }
        other => Some(other.clone()),
    }
}

/// A scalar JSON value as text, `None` for nothing-values and structures.
pub fn value_text(value: &Value) -> Option<String> {
    if is_absent(value) {
        return None;
    }
    match value {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

/// The key trimmed, without a leading `$` or a trailing `{}`, lower-cased. Most keys are
/// already in that form and are kept as they are, without a copy.
fn normalise_key(raw: String) -> String {
    let key = raw.trim().trim_start_matches('$').trim();
    let key = key.strip_suffix("{}").unwrap_or(key);
    if key.len() == raw.len() && !key.bytes().any(|b| b.is_ascii_uppercase()) {
        return raw;
    }
    key.to_ascii_lowercase()
}

/// A NUL character, or the JSON escape for one (which a value holding JSON in a string
/// would decode to).
fn holds_nul(text: &str) -> bool {
    text.contains('\0') || text.contains("\\u0000")
}

fn value_holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => holds_nul(s),
        Value::Array(items) => items.iter().any(value_holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| holds_nul(k) || value_holds_nul(v)),
        _ => false,
    }
}

/// A key as a reason may quote it: printable, and short.
fn clip_key(key: &str) -> String {
    key.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Values that mean "not given" in real traffic.
pub fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => {
            let s = s.trim();
            s.is_empty()
                || is_placeholder(s)
                || s == "_number"
                || s.eq_ignore_ascii_case("null")
                || s.eq_ignore_ascii_case("undefined")
        }
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// An unreplaced template variable such as `$campaign_name` or `$answered_agent{}`.
fn is_placeholder(s: &str) -> bool {
    s.strip_prefix('$').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'{' | b'}'))
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_trimmed_and_lose_their_dollar() {
        let f = Fields::from_json(
            br#"{"customer_no_with_prefix ":"919876500001","$uuid":"6a1f","Call_ID":"17.1"}"#,
        )
        .unwrap();
        assert_eq!(
            f.text("customer_no_with_prefix").as_deref(),
            Some("919876500001")
        );
        assert_eq!(f.text("uuid").as_deref(), Some("6a1f"));
        assert_eq!(f.text("call_id").as_deref(), Some("17.1"));
    }

    #[test]
    fn placeholders_empty_strings_and_corruptions_are_absent() {
        let f = Fields::from_json(
            br#"{"campaign_name":"$campaign_name","answered_agent_number":"_number","missed_agent":"","x":null,"y":"$answered_agent{}"}"#,
        )
        .unwrap();
        for key in [
            "campaign_name",
            "answered_agent_number",
            "missed_agent",
            "x",
            "y",
        ] {
            assert_eq!(f.text(key), None, "{key}");
            assert_eq!(f.structured(key), None, "{key}");
            assert!(!f.has(key), "{key}");
        }
    }

    #[test]
    fn the_first_meaningful_spelling_of_a_key_wins() {
        let f = Fields::from_json(br#"{"uuid":"","$uuid":"abc","uuid ":"def"}"#).unwrap();
        assert_eq!(f.text("uuid").as_deref(), Some("abc"));
    }

    #[test]
    fn numbers_and_booleans_read_as_text() {
        let f =
            Fields::from_json(br#"{"billsec":30,"call_connected":true,"t":1780000001.0,"f":1.5}"#)
                .unwrap();
        assert_eq!(f.text("billsec").as_deref(), Some("30"));
        assert_eq!(f.text("call_connected").as_deref(), Some("1"));
        assert_eq!(f.text("t").as_deref(), Some("1780000001"));
        assert_eq!(f.text("f").as_deref(), Some("1.5"));
    }

    #[test]
    fn nested_values_arrive_in_every_encoding() {
        let expected = json!([{"id":"0507","name":"Priya"}]);
        let real =
            Fields::from_json(br#"{"missed_agent":[{"id":"0507","name":"Priya"}]}"#).unwrap();
        let string =
            Fields::from_json(br#"{"missed_agent":"[{\"id\":\"0507\",\"name\":\"Priya\"}]"}"#)
                .unwrap();
        let form =
            Fields::from_form(b"missed_agent=%5Bmap%5Bid%3A0507+name%3APriya%5D%5D").unwrap();
        for f in [real, string, form] {
            assert_eq!(f.structured("missed_agent"), Some(expected.clone()));
        }
    }

    #[test]
    fn a_form_body_holding_json_is_read_as_json() {
        let f = Fields::from_form(br#"{"call_id":"1.2"}"#).unwrap();
        assert_eq!(f.text("call_id").as_deref(), Some("1.2"));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        assert!(matches!(
            Fields::from_json(b"{not json"),
            Err(PayloadError::InvalidJson(_))
        ));
        assert_eq!(
            Fields::from_json(b"[1,2]"),
            Err(PayloadError::NotAnObject("an array"))
        );
        assert_eq!(
            Fields::from_json(b"\"x\""),
            Err(PayloadError::NotAnObject("a string"))
        );
        assert_eq!(Fields::from_json(b"{}"), Err(PayloadError::Empty));
        assert_eq!(Fields::from_form(b""), Err(PayloadError::Empty));
        assert_eq!(
            Fields::from_form(&[0xff, 0xfe, b'=']),
            Err(PayloadError::NotUtf8)
        );
    }
}
