//! How records are written in sled: JSON (tolerant of fields it does not know), in the
//! shapes below, packed since schema 5 (zstd against a built-in dictionary, `packed.rs`;
//! values written before stay plain JSON and read as they are). Where a stored record differs from the domain's
//! value it has its own type here, so the domain can change without changing the disk;
//! `tests/data/store-v1` pins what older code wrote and `migrate.rs` moves it forward.
//!
//! - `callbacks`: the domain [`Callback`]'s fields plus `timeline_len`, the sequence number
//!   of its next timeline value (storage's business, not the domain's).
//! - `calls`: [`StoredCall`] — the call's record (`call`) and the deliveries seen (`seen`).
//! - `outbox`: the domain [`Delivery`]'s fields plus `lease` while it is taken.
//! - an event (in its event-log frame since schema 4; in `events` before): header length
//!   (u32, big-endian), the [`EventRecord`] as JSON, then the raw body (schema 3 kept bodies
//!   over `BODY_INLINE` in `event_bodies`).
//! - `timeline`: a JSON array of the entries of one change; `rules_audit`,
//!   `unknown_chats`, `meta.stored_rules`: the store types as JSON.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::packed;
use crate::domain::call::{CallRecord, CallState, SeenDelivery};
use crate::domain::callback::Callback;
use crate::domain::reminder::Delivery;
use crate::store::{EventRecord, Lease, StoreError};

/// A record that could not be read: what it is and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct Undecodable {
    pub what: &'static str,
    pub reason: String,
}

impl From<Undecodable> for StoreError {
    fn from(e: Undecodable) -> Self {
        let what = e.what;
        StoreError::corrupt(what, e)
    }
}

/// The value stored for `value`: its JSON, packed (`packed.rs`).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing these types into a Vec cannot fail: every map key is a string and no
    // Serialize impl here returns an error.
    packed::pack(serde_json::to_vec(value).expect("records serialize to JSON"))
}

/// Reads a stored value, packed or (written before schema 5) plain JSON.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, Undecodable> {
    let undecodable = |reason: String| Undecodable { what, reason };
    let json = packed::unpack(bytes).map_err(|e| undecodable(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| undecodable(e.to_string()))
}

/// A callback as written: its fields and its timeline sequence.
#[derive(Serialize)]
pub struct StoredCallbackRef<'a> {
    #[serde(flatten)]
    pub callback: &'a Callback,
    pub timeline_len: u32,
}

pub fn encode_callback(callback: &Callback, timeline_len: u32) -> Vec<u8> {
    encode(&StoredCallbackRef {
        callback,
        timeline_len,
    })
}

pub fn decode_callback(bytes: &[u8]) -> Result<Callback, Undecodable> {
    decode("callback", bytes)
}

/// Only the timeline sequence of a stored callback.
pub fn timeline_len(bytes: &[u8]) -> Result<u32, Undecodable> {
    #[derive(Deserialize)]
    struct Only {
        #[serde(default)]
        timeline_len: u32,
    }
    decode::<Only>("callback", bytes).map(|o| o.timeline_len)
}

/// `calls` value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredCall {
    pub call: Option<CallRecord>,
    #[serde(default)]
    pub seen: Vec<SeenDelivery>,
}

pub fn encode_call(state: &CallState) -> Vec<u8> {
    #[derive(Serialize)]
    struct Ref<'a> {
        call: &'a Option<CallRecord>,
        seen: &'a [SeenDelivery],
    }
    encode(&Ref {
        call: &state.record,
        seen: &state.seen,
    })
}

pub fn decode_call(bytes: &[u8]) -> Result<CallState, Undecodable> {
    let stored: StoredCall = decode("call record", bytes)?;
    Ok(CallState {
        record: stored.call,
        seen: stored.seen,
    })
}

/// `outbox` value: the delivery and, while someone sends it, its lease.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDelivery {
    #[serde(flatten)]
    pub delivery: Delivery,
    #[serde(default)]
    pub lease: Option<Lease>,
}

impl StoredDelivery {
    /// When it may be taken: at its next attempt, or once its lease has run out.
    pub fn takeable_at(&self) -> chrono::DateTime<chrono::Utc> {
        match self.lease {
            Some(lease) => lease.until,
            None => self.delivery.next_attempt_at,
        }
    }
}

pub fn encode_delivery(delivery: &Delivery, lease: Option<Lease>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Ref<'a> {
        #[serde(flatten)]
        delivery: &'a Delivery,
        #[serde(skip_serializing_if = "Option::is_none")]
        lease: Option<Lease>,
    }
    encode(&Ref { delivery, lease })
}

pub fn decode_delivery(bytes: &[u8]) -> Result<StoredDelivery, Undecodable> {
    decode("delivery", bytes)
}

pub fn encode_event(record: &EventRecord, inline_body: &[u8]) -> Vec<u8> {
    // Plain JSON, not packed: the event goes into an event-log frame, which the log
    // compresses whole (record and body together) with its own dictionary.
    let header = serde_json::to_vec(record).expect("records serialize to JSON");
    let len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + header.len() + inline_body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(inline_body);
    out
}

/// The record and the inline body (empty when the body is chunked).
pub fn decode_event(bytes: &[u8]) -> Result<(EventRecord, &[u8]), Undecodable> {
    let corrupt = || Undecodable {
        what: "event",
        reason: "the header length does not fit the value".into(),
    };
    let len: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(corrupt)?;
    let end = 4usize.saturating_add(u32::from_be_bytes(len) as usize);
    let header = bytes.get(4..end).ok_or_else(corrupt)?;
    Ok((decode("event", header)?, &bytes[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_written_with_its_sequence_reads_back_as_the_domain_value() {
        // A callback value as format 1 wrote it.
        let v1 = br#"{"id":"01KSQ5M0Y1V6T3Q8D2Z7W9X4E5","customer_number":"+919876500801","status":"pending","missed_calls":1,"first_missed_at":"2026-05-28T05:50:00Z","last_missed_at":"2026-05-28T05:50:00Z","first_received_at":"2026-05-28T06:00:00Z","last_received_at":"2026-05-28T06:00:00Z","assigned_agent":null,"missed_agents":[],"department":null,"attempts":0,"reminders_sent":0,"escalation_level":0,"reminder_due_at":null,"snoozed_until":null,"resolved_at":null,"resolution":null,"timeline_len":3}"#;
        let cb = decode_callback(v1).unwrap();
        assert_eq!(timeline_len(v1).unwrap(), 3);
        let again = encode_callback(&cb, 4);
        assert_eq!(decode_callback(&again).unwrap(), cb);
        assert_eq!(timeline_len(&again).unwrap(), 4);
    }

    #[test]
    fn a_delivery_of_a_channel_this_version_does_not_know_is_undecodable_not_a_panic() {
        let bytes = br#"{"id":"01KSQ5M0Y1V6T3Q8D2Z7W9X4E5","callback":"01KSQ5M0Y1V6T3Q8D2Z7W9X4E5","purpose":"reminder","round":1,"recipient":{"name":"P","channel":"sms","address":"x"},"attempts":0,"next_attempt_at":"2026-05-28T06:00:00Z","created_at":"2026-05-28T06:00:00Z","last_error":null}"#;
        let err = decode_delivery(bytes).unwrap_err();
        assert_eq!(err.what, "delivery");
    }
}
