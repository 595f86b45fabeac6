//! Record encoding: JSON via serde (see `keys.rs` for why), plus the two composite values
//! this backend stores: an event (header and inline body) and a call (its lifecycle record
//! and the deliveries seen for it).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::domain::lifecycle::CallRecord;
use crate::store::{EventRecord, StoreError};

pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("encoding a record: {e}")))
}

pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// `events` value: header length (u32, big-endian), the `EventRecord` as JSON, then the
/// raw body when it is stored inline (bodies over `BODY_INLINE` live in `event_bodies`).
pub fn encode_event(record: &EventRecord, inline_body: &[u8]) -> Result<Vec<u8>, StoreError> {
    let header = encode(record)?;
    let len = u32::try_from(header.len())
        .map_err(|_| StoreError::Corrupt("event header too large".into()))?;
    let mut out = Vec::with_capacity(4 + header.len() + inline_body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(inline_body);
    Ok(out)
}

/// The record and the inline body (empty when the body is chunked).
pub fn decode_event(bytes: &[u8]) -> Result<(EventRecord, &[u8]), StoreError> {
    let corrupt = || StoreError::Corrupt("event value".into());
    let len: [u8; 4] = bytes
        .get(..4)
        .ok_or_else(corrupt)?
        .try_into()
        .map_err(|_| corrupt())?;
    let end = 4 + u32::from_be_bytes(len) as usize;
    let header = bytes.get(4..end).ok_or_else(corrupt)?;
    Ok((decode("event", header)?, &bytes[end..]))
}

/// `calls` value: what the lifecycle knows of the call, and each delivery seen for it
/// (trigger and leg), so a redelivery is found with the read the event needs anyway.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredCall {
    pub call: Option<CallRecord>,
    #[serde(default)]
    pub seen: Vec<Delivery>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub trigger: String,
    pub leg: String,
    pub event: Ulid,
}

impl StoredCall {
    pub fn delivery(&self, trigger: &str, leg: &str) -> Option<Ulid> {
        self.seen
            .iter()
            .find(|d| d.trigger == trigger && d.leg == leg)
            .map(|d| d.event)
    }

    pub fn remember(&mut self, trigger: &str, leg: &str, event: Ulid) {
        self.seen.push(Delivery {
            trigger: trigger.to_string(),
            leg: leg.to_string(),
            event,
        });
    }
}
