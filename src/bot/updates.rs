//! `getUpdates` with 64-bit update ids.
//!
//! Telegram's `update_id` is a 64-bit integer, but teloxide-core 0.13 sends `offset` as an
//! `i32` and reads `update_id` into a `u32`: past 2³¹−1 the offset sent was clamped, the
//! same updates came back on every poll (one press handled 61 times in 8 s) and later ones
//! were never reached; past 2³² the whole batch failed to parse. Here the request carries an
//! `i64` offset and each update's id is read from the JSON before the rest is handed to
//! teloxide's `Update` type (whose own id is then unused), so one update teloxide cannot
//! read is skipped instead of stalling the queue.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use teloxide::requests::Payload;
use teloxide::types::{AllowedUpdate, Update};

/// The `getUpdates` request, as the Bot API defines it.
#[derive(Debug, Clone, Serialize)]
pub struct GetUpdates {
    pub offset: i64,
    pub timeout: u32,
    pub allowed_updates: Vec<AllowedUpdate>,
}

impl Payload for GetUpdates {
    type Output = Vec<Value>;

    const NAME: &'static str = "GetUpdates";

    /// The HTTP request must outlast the long poll.
    fn timeout_hint(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.timeout.into()))
    }
}

/// One update as polled: its id (always known, so the offset moves past it) and the
/// update itself when teloxide could read it.
#[derive(Debug)]
pub struct Polled {
    pub id: i64,
    pub update: Option<Update>,
}

/// Reads a `getUpdates` result; entries without an integer `update_id` are dropped.
pub fn read(result: Vec<Value>) -> Vec<Polled> {
    result
        .into_iter()
        .filter_map(|mut raw| {
            let id = raw.get("update_id")?.as_i64()?;
            // teloxide's UpdateId is a u32; the id is carried beside the update instead.
            raw["update_id"] = Value::from(0);
            // Through the text, as teloxide itself reads it: its UpdateKind does not
            // deserialize from a `Value` (it comes out as `UpdateKind::Error`).
            let update = match serde_json::from_str::<Update>(&raw.to_string()) {
                Ok(update) => Some(update),
                Err(e) => {
                    tracing::warn!(update_id = id, error = %e, "a Telegram update could not be read; skipped");
                    None
                }
            };
            Some(Polled { id, update })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_past_32_bits_are_read_whole() {
        let polled = read(vec![
            serde_json::json!({"update_id": 4_294_967_301_i64, "message": {
                "message_id": 1, "date": 1780000000,
                "chat": {"id": 7, "type": "private", "first_name": "A"}, "text": "/start"}}),
            serde_json::json!({"update_id": 2_147_483_648_i64, "unknown_kind": {"x": 1}}),
            serde_json::json!({"no_id": true}),
        ]);
        assert_eq!(polled.len(), 2);
        assert_eq!(polled[0].id, 4_294_967_301);
        let update = polled[0].update.as_ref().unwrap();
        assert!(
            matches!(update.kind, teloxide::types::UpdateKind::Message(_)),
            "{update:?}"
        );
        assert_eq!(polled[1].id, 2_147_483_648);
    }

    #[test]
    fn the_offset_is_sent_as_a_64_bit_number() {
        let request = GetUpdates {
            offset: 2_147_483_649,
            timeout: 25,
            allowed_updates: vec![AllowedUpdate::Message],
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["offset"], 2_147_483_649_i64);
    }
}
