//! One webhook delivery, read into an [`IncomingEvent`] from what the event log keeps of it:
//! the request line and headers ([`RawEvent`]), the body and the receipt time. No HTTP here,
//! so the web door and anything that replays stored events read a delivery the same way.
//!
//! Reading happens in two steps because the web door must answer in the order of blame
//! (SPEC §4.1): what was asked for and how it was sent ([`Head::read`]: 400 for an unknown
//! `trigger=`, 415 for a content type) are judged before the body's size (413, the door's
//! business) and before the body itself ([`Head::finish`]).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Interpreter;
use super::payload::{Fields, PayloadError};
use super::trigger::{Trigger, UnknownTrigger};
use crate::app::IncomingEvent;
use crate::store::{DedupKey, RawEvent};

/// Longest `call_id` / `uuid` kept as a key; real ones are under 40 characters.
pub const MAX_ID_LEN: usize = 256;

/// Where a delivery's variables are: decided by the method and the content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    Query,
}

/// Why a delivery cannot be read; each is the sender's fault (a 400 or 415 at the door).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejected {
    #[error(transparent)]
    UnknownTrigger(#[from] UnknownTrigger),
    #[error(
        "content type {0:?} is not supported; send application/json or application/x-www-form-urlencoded"
    )]
    UnsupportedContentType(String),
    #[error("missing content type; send application/json or application/x-www-form-urlencoded")]
    MissingContentType,
    /// A POST with neither a body nor variables in the URL: a setup problem, not a bad
    /// event. Smartflo's dispatcher sends exactly this when the webhook's custom header key
    /// is not lower-case `content-type` (it keeps the header, drops the body).
    #[error("{}", empty_post_reason(*.declared, .content_type.as_deref()))]
    EmptyPost {
        declared: BodyKind,
        content_type: Option<String>,
    },
    #[error(transparent)]
    Unreadable(#[from] PayloadError),
    #[error("{field} is longer than {MAX_ID_LEN} characters")]
    IdTooLong { field: &'static str },
}

impl Rejected {
    /// The setup problem this rejection reveals (for the metric), if it is one.
    pub fn setup_problem(&self) -> Option<&'static str> {
        matches!(self, Rejected::EmptyPost { .. }).then_some("empty_body")
    }

    /// Whether the content type, not the content, is what was wrong (415 rather than 400).
    pub fn is_media_type(&self) -> bool {
        matches!(
            self,
            Rejected::UnsupportedContentType(_) | Rejected::MissingContentType
        )
    }
}

fn empty_post_reason(declared: BodyKind, content_type: Option<&str>) -> String {
    match declared {
        BodyKind::Json | BodyKind::Form => format!(
            "the body is empty although the content type is {:?}: Smartflo sends a POST without its body when the webhook's custom header key is not exactly lower-case `content-type`; in Smartflo's webhook form, write the header key as content-type (see docs/smartflo-setup.md)",
            content_type.unwrap_or_default()
        ),
        BodyKind::Query => "the POST has no body and no variables in the URL: in Smartflo's webhook form, add the custom header content-type: application/json (key lower-case) and the body template from `ringback smartflo-setup`".to_string(),
    }
}

/// Reads one stored or arriving delivery. The event id is left to the caller
/// ([`IncomingEvent::event_id`]): a replay sets the stored one.
pub fn read_webhook(
    interpreter: &Interpreter,
    raw: RawEvent,
    body: Vec<u8>,
    received_at: DateTime<Utc>,
) -> Result<IncomingEvent, Rejected> {
    Head::read(&raw)?.finish(interpreter, raw, body, received_at)
}

/// What the request line and headers say, before the body is looked at.
#[derive(Debug)]
pub struct Head {
    trigger: Option<Trigger>,
    /// The query's variables other than `trigger=` (the payload of a GET).
    query_fields: Vec<(String, String)>,
    declared: BodyKind,
    is_get: bool,
}

impl Head {
    /// Judges the `trigger=` parameter and the content type.
    pub fn read(raw: &RawEvent) -> Result<Self, Rejected> {
        let (trigger, query_fields) = split_query(&raw.query);
        let trigger = match trigger.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(slug) => Some(slug.parse::<Trigger>()?),
            None => None,
        };
        let is_get = raw.method == "GET";
        let declared = if is_get {
            BodyKind::Query
        } else {
            let content_type = raw.content_type.as_deref().map(str::trim);
            match content_type.filter(|v| !v.is_empty()).map(essence) {
                Some(m) if m == "application/json" || m.ends_with("+json") => BodyKind::Json,
                Some(m) if m == "application/x-www-form-urlencoded" => BodyKind::Form,
                None => BodyKind::Query,
                Some(other) => return Err(Rejected::UnsupportedContentType(other)),
            }
        };
        Ok(Self {
            trigger,
            query_fields,
            declared,
            is_get,
        })
    }

    /// Reads the body (or the query's variables), interprets them and keys the event.
    pub fn finish(
        self,
        interpreter: &Interpreter,
        raw: RawEvent,
        body: Vec<u8>,
        received_at: DateTime<Utc>,
    ) -> Result<IncomingEvent, Rejected> {
        if !self.is_get && body.is_empty() && self.query_fields.is_empty() {
            return Err(Rejected::EmptyPost {
                declared: self.declared,
                content_type: raw.content_type,
            });
        }
        let kind = match self.declared {
            // Some templates put the variables in the URL even on a POST.
            _ if body.is_empty() && !self.query_fields.is_empty() => BodyKind::Query,
            // A POST without a content type is fine only when the variables are in the URL.
            BodyKind::Query if !self.is_get && !body.is_empty() => {
                return Err(Rejected::MissingContentType);
            }
            k => k,
        };
        let fields = match kind {
            BodyKind::Json => Fields::from_json(&body),
            BodyKind::Form => Fields::from_form(&body),
            BodyKind::Query => Fields::from_pairs(self.query_fields),
        }?;

        let interpretation = interpreter.interpret(&fields, self.trigger, received_at);
        for (field, value) in [
            ("call_id", &interpretation.event.call_id),
            ("uuid", &interpretation.event.uuid),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > MAX_ID_LEN) {
                return Err(Rejected::IdTooLong { field });
            }
        }

        let slug = interpretation.trigger_slug();
        let uuid = interpretation.event.uuid.clone();
        let dedup = DedupKey {
            trigger: slug.to_string(),
            call_id: interpretation.event.call_id.clone().unwrap_or_default(),
            // Without a uuid, the delivery's own bytes tell a redelivery from a new leg.
            leg: match &uuid {
                Some(u) => u.clone(),
                None => body_digest(if kind == BodyKind::Query {
                    raw.query.as_bytes()
                } else {
                    &body
                }),
            },
        };
        Ok(IncomingEvent {
            event_id: None,
            received_at,
            trigger: slug.to_string(),
            trigger_inferred: interpretation.trigger_inferred && interpretation.trigger.is_some(),
            intent: interpretation.intent,
            facts: interpretation.facts,
            dedup,
            uuid,
            note: interpretation.note.map(str::to_string),
            customer_raw: interpretation.customer_raw,
            raw,
            body,
        })
    }
}

/// The media type without parameters, lower-cased (`application/json; charset=utf-8`).
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Splits `trigger=` off the query string; the rest are payload variables on a GET.
fn split_query(query: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut trigger = None;
    let mut rest = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k.trim() == "trigger" && trigger.is_none() {
            trigger = Some(v.into_owned());
        } else {
            rest.push((k.into_owned(), v.into_owned()));
        }
    }
    (trigger, rest)
}

/// `#` and the first 16 bytes of the SHA-256, in hex: a leg key no uuid can look like.
fn body_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
