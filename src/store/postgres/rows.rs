//! How values sit in rows: the domain's values as JSON, a row's revision as its version,
//! and a customer's version (their row's revision and their pending callback's id).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::call::{CallRecord, CallState, SeenDelivery};
use crate::store::{StoreError, Version};

pub fn version(rev: i64) -> Version {
    Version::from_bytes(&rev.to_be_bytes())
}

/// The revision a version names (a version made by this backend).
pub fn rev(version: &Version) -> StoreResult<i64> {
    let bytes: [u8; 8] = version
        .as_bytes()
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::backend("a version from another backend"))?;
    Ok(i64::from_be_bytes(bytes))
}

use crate::store::StoreResult;

/// A customer's version: their row's revision (0 before they have one), then the id of
/// their pending callback, if any.
pub fn customer_version(rev: i64, pending: Option<&str>) -> Version {
    let mut bytes = rev.to_be_bytes().to_vec();
    bytes.extend_from_slice(pending.unwrap_or("").as_bytes());
    Version::from_bytes(&bytes)
}

pub fn split_customer_version(version: &Version) -> StoreResult<(i64, Option<String>)> {
    let bytes = version.as_bytes();
    let rev = rev(version)?;
    let pending = std::str::from_utf8(&bytes[8..])
        .map_err(|_| StoreError::backend("a customer version from another backend"))?;
    Ok((rev, (!pending.is_empty()).then(|| pending.to_string())))
}

/// `calls.data`: the same shape the embedded store writes.
#[derive(Serialize, Deserialize)]
struct StoredCall {
    call: Option<CallRecord>,
    #[serde(default)]
    seen: Vec<SeenDelivery>,
}

pub fn call_json(state: &CallState) -> Value {
    serde_json::json!({ "call": state.record, "seen": state.seen })
}

pub fn call_from(value: Value) -> Result<CallState, serde_json::Error> {
    let stored: StoredCall = serde_json::from_value(value)?;
    Ok(CallState {
        record: stored.call,
        seen: stored.seen,
    })
}

pub fn to_json<T: Serialize>(value: &T) -> Value {
    // The domain's values serialize to JSON without fail (string keys, no custom errors).
    serde_json::to_value(value).expect("domain values serialize to JSON")
}

/// A time as the columns hold it: to the millisecond, as cursors and the embedded store's
/// keys do (PostgreSQL keeps microseconds; a cursor rounded differently would repeat rows).
pub fn ms(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    t.duration_trunc(chrono::TimeDelta::milliseconds(1))
        .unwrap_or(t)
}

/// A JSON column read back as what it holds; one that does not decode is corrupt.
pub fn decode<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> StoreResult<T> {
    serde_json::from_value(v).map_err(|e| StoreError::corrupt(what.to_string(), e))
}
