//! Values a person may write as a string or as a number (`telegram_chat_id = 123` or
//! `"123"`, a token that happens to be all digits): both are read as text.

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Accepts a string or a number as text: environment overrides arrive untyped, so
/// `RINGBACK_WEBHOOK__DEFAULT_COUNTRY_CODE=91` is a number to the config loader.
pub fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct TextVisitor;
    impl Visitor<'_> for TextVisitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(TextVisitor)
}

pub fn opt_text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text_or_number(d).map(Some)
}
