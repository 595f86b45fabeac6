//! One Smartflo call (`call_id`) across its triggers: what the lifecycle rules remember of
//! it, and which deliveries of it were already counted (SPEC §4.1: the same trigger, call
//! and leg a second time is a duplicate; §5.1: a call counts once).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::callback::CallbackId;
use super::phone::PhoneNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallRole {
    Seen,
    Missed,
    Answered,
    Attempt,
}

/// What Ringback remembers about one Smartflo `call_id` across its triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub customer: Option<PhoneNumber>,
    pub role: CallRole,
    pub callback: Option<CallbackId>,
    pub department: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// One delivery of a call's event: its trigger, its leg (`uuid`, or a digest of the body)
/// and the event it was stored as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenDelivery {
    pub trigger: String,
    pub leg: String,
    pub event: Ulid,
}

/// A call as stored: its record (once an event said something about it) and every
/// delivery counted for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallState {
    pub record: Option<CallRecord>,
    pub seen: Vec<SeenDelivery>,
}

impl CallState {
    /// The event a delivery of `trigger` on `leg` was stored as, if it was seen before.
    pub fn seen(&self, trigger: &str, leg: &str) -> Option<Ulid> {
        self.seen
            .iter()
            .find(|d| d.trigger == trigger && d.leg == leg)
            .map(|d| d.event)
    }

    pub fn remember(&mut self, trigger: &str, leg: &str, event: Ulid) {
        self.seen.push(SeenDelivery {
            trigger: trigger.to_string(),
            leg: leg.to_string(),
            event,
        });
    }

    /// The newest event this call is known by (retention keeps a call while any is kept).
    pub fn newest_event(&self) -> Option<Ulid> {
        self.seen.iter().map(|d| d.event).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_seen_only_for_its_own_trigger_and_leg() {
        let mut call = CallState::default();
        let event = Ulid::new();
        call.remember("call_hangup_missed", "leg-1", event);
        assert_eq!(call.seen("call_hangup_missed", "leg-1"), Some(event));
        assert_eq!(call.seen("call_hangup_missed", "leg-2"), None);
        assert_eq!(call.seen("call_hangup", "leg-1"), None);
        assert_eq!(call.newest_event(), Some(event));
    }
}
