//! Moving a whole store into another (`ringback copy-store`, SPEC §10): every backend can
//! list what it holds, a part at a time, as [`Record`]s, and store records it is given into
//! an empty store as they are. The records carry no version and no backend's layout, so
//! any backend copies into any other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::plan::DigestClaim;
use super::{DedupKey, EventRecord, RulesChange, StoreResult, UnknownChat};
use crate::domain::call::CallState;
use crate::domain::callback::{Callback, TimelineEntry};
use crate::domain::phone::PhoneNumber;
use crate::domain::reminder::Delivery;

/// The kinds of records, in the order a copy moves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Secrets,
    Settings,
    Rules,
    UnknownChats,
    Digests,
    Customers,
    Callbacks,
    Calls,
    Dedup,
    Events,
    Outbox,
}

impl Part {
    pub const ALL: [Part; 11] = [
        Part::Secrets,
        Part::Settings,
        Part::Rules,
        Part::UnknownChats,
        Part::Digests,
        Part::Customers,
        Part::Callbacks,
        Part::Calls,
        Part::Dedup,
        Part::Events,
        Part::Outbox,
    ];

    /// How `copy-store` names it when it reports what it copied.
    pub fn name(self) -> &'static str {
        match self {
            Part::Secrets => "generated secrets",
            Part::Settings => "settings (Telegram offset, schedule)",
            Part::Rules => "rules edits",
            Part::UnknownChats => "unknown Telegram chats",
            Part::Digests => "digests sent",
            Part::Customers => "customers' latest answered calls",
            Part::Callbacks => "callbacks",
            Part::Calls => "calls",
            Part::Dedup => "deliveries without a call",
            Part::Events => "events",
            Part::Outbox => "deliveries waiting in the outbox",
        }
    }
}

/// One stored thing, as any backend can hold it.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Secret {
        name: String,
        value: String,
    },
    TelegramOffset(i64),
    ScheduleFingerprint(String),
    /// The rules saved from the dashboard (in force).
    StoredRules(RulesChange),
    /// An entry of the rules audit.
    RulesChange(RulesChange),
    UnknownChat(UnknownChat),
    Digest(DigestClaim),
    Customer {
        number: PhoneNumber,
        last_answered_at: DateTime<Utc>,
    },
    /// A callback with its timeline, one list of entries per change, oldest first.
    Callback {
        callback: Callback,
        timeline: Vec<Vec<TimelineEntry>>,
    },
    Call {
        call_id: String,
        state: CallState,
    },
    Dedup {
        key: DedupKey,
        event: Ulid,
    },
    Event {
        record: EventRecord,
        body: Vec<u8>,
    },
    /// A delivery waiting in the outbox (leases are not copied).
    Delivery(Delivery),
}

#[async_trait]
pub trait Transfer: Send + Sync {
    /// Whether nothing is stored yet (a copy goes only into an empty store).
    async fn is_empty(&self) -> StoreResult<bool>;
    /// Up to `limit` records of `part` after the position `after` (text this method handed
    /// out), with the position of the next page; `None` when `part` is done.
    async fn export(
        &self,
        part: Part,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Record>, Option<String>)>;
    /// Stores `records` as they are, with what indexes them.
    async fn import(&self, records: Vec<Record>) -> StoreResult<()>;
}
