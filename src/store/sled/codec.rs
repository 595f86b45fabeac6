//! Record encoding: JSON via serde (see `keys.rs` for why).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::StoreError;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("encoding a record: {e}")))
}

pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
