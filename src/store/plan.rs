//! Write plans: what the application decided, handed to a backend to apply atomically and
//! durably. A plan names the stored state it was decided from (versions, and "absent" for
//! what did not exist); when any of it changed in between, the backend applies nothing and
//! answers [`StoreError::Conflict`](super::StoreError::Conflict), and the application reads
//! again and decides again. Backends only store: they keep indexes in step with what a plan
//! writes, and they refuse what would break an invariant of storage itself (two pending
//! callbacks for one customer), but they decide nothing.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::Version;
use super::types::{DedupKey, EventRecord, Lease, LeaseOwner, Versioned};
use crate::domain::call::CallState;
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::phone::PhoneNumber;
use crate::domain::reminder::Delivery;

/// What an incoming event is decided from, asked for in one round trip.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// The call's record (and the deliveries seen for it).
    pub call_id: Option<String>,
    /// For an event without a `call_id`: has this delivery been seen?
    pub dedup: Option<DedupKey>,
    /// A callback the event names (the `custom_identifier` of a click-to-call).
    pub callback: Option<CallbackId>,
    /// The customer's pending callback and latest answered call.
    pub customer: Option<PhoneNumber>,
}

#[derive(Debug, Clone, Default)]
pub struct Found {
    /// `None`: the call was never seen.
    pub call: Option<Versioned<CallState>>,
    /// The event an earlier delivery with the same dedup key was stored as.
    pub dedup: Option<Ulid>,
    pub callback: Option<Versioned<Callback>>,
    pub customer: Option<CustomerState>,
}

/// What storage holds about one customer.
#[derive(Debug, Clone)]
pub struct CustomerState {
    pub number: PhoneNumber,
    /// Their pending callback, if any (at most one: an invariant every backend keeps).
    pub pending: Option<Versioned<Callback>>,
    /// Start of the latest answered call with them.
    pub last_answered_at: Option<DateTime<Utc>>,
    /// Covers both: a plan expecting it fails if either changed.
    pub version: Version,
}

/// Everything one decision changes, applied all or nothing.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub call: Option<CallWrite>,
    pub dedup: Option<DedupWrite>,
    pub customer: Option<CustomerWrite>,
    pub callbacks: Vec<CallbackWrite>,
    /// New deliveries for the outbox.
    pub deliveries: Vec<Delivery>,
    pub settle: Option<SettleWrite>,
    pub event: Option<EventWrite>,
    /// A shift digest's occurrence, claimed by this plan: it conflicts when the occurrence
    /// was claimed before, so each is sent once, by one process.
    pub digest: Option<DigestClaim>,
}

/// One occurrence of a digest schedule, claimed for sending (SPEC §11: once per schedule,
/// across restarts and replicas). `schedule` names the schedule (its cron and recipients).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DigestClaim {
    pub schedule: String,
    pub occurrence: DateTime<Utc>,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.call.is_none()
            && self.dedup.is_none()
            && self.customer.is_none()
            && self.callbacks.is_empty()
            && self.deliveries.is_empty()
            && self.settle.is_none()
            && self.event.is_none()
            && self.digest.is_none()
    }
}

/// A call's new state. `expected: None` means the call must not be stored yet.
#[derive(Debug, Clone)]
pub struct CallWrite {
    pub call_id: String,
    pub expected: Option<Version>,
    pub state: CallState,
}

/// Remembers a delivery of an event without a `call_id`; the key must not be stored yet.
#[derive(Debug, Clone)]
pub struct DedupWrite {
    pub key: DedupKey,
    pub event: Ulid,
}

/// What a decision assumed about a customer, and the new latest answered call if it moved.
#[derive(Debug, Clone)]
pub struct CustomerWrite {
    pub number: PhoneNumber,
    pub expected: Version,
    pub last_answered_at: Option<DateTime<Utc>>,
}

/// A callback's new state and the timeline entries of this change.
///
/// `before` is the state it was decided from (`None`: a new callback) and `expected` its
/// version; backends keep their indexes in step by comparing `before` with `after`.
#[derive(Debug, Clone)]
pub struct CallbackWrite {
    pub before: Option<Versioned<Callback>>,
    pub after: Callback,
    pub timeline: Vec<TimelineEntry>,
}

impl CallbackWrite {
    pub fn new(after: Callback, timeline: Vec<TimelineEntry>) -> Self {
        Self {
            before: None,
            after,
            timeline,
        }
    }

    pub fn update(
        before: Versioned<Callback>,
        after: Callback,
        timeline: Vec<TimelineEntry>,
    ) -> Self {
        Self {
            before: Some(before),
            after,
            timeline,
        }
    }
}

/// A delivery's result: `taken` as it was leased, `keep` its next state (a retry) or
/// `None` to remove it. Conflicts when someone else took it in the meantime.
#[derive(Debug, Clone)]
pub struct SettleWrite {
    pub taken: Taken,
    pub keep: Option<Delivery>,
}

/// A delivery leased for sending, as the store handed it out.
#[derive(Debug, Clone)]
pub struct Taken {
    pub delivery: Delivery,
    pub lease: Lease,
    pub version: Version,
}

/// Takes up to `limit` outbox deliveries due at `now` that nobody holds, leasing them to
/// `owner` until `until`.
#[derive(Debug, Clone, Copy)]
pub struct Take {
    pub now: DateTime<Utc>,
    pub owner: LeaseOwner,
    pub until: DateTime<Utc>,
    pub limit: usize,
}

/// An event for the log: its record and the body exactly as received.
#[derive(Debug, Clone)]
pub struct EventWrite {
    pub record: EventRecord,
    pub body: Vec<u8>,
}
