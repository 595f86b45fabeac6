//! Storage. The web and domain layers talk to a [`Store`]; how it keeps data is the
//! backend's business. Today the backend is sled ([`sled::SledStore`]); the trait is kept
//! narrow — one atomic "apply this event" write, a probe, and reads — so a PostgreSQL
//! backend could sit beside it without touching callers.

pub mod sled;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::domain::actions::{Action, ActionError};
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::lifecycle::{CallFacts, Effect, Intent, Rules};
use crate::domain::reminder::{Delivery, Roster, Settlement};
use crate::domain::rules::RulesText;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("a stored record could not be read: {0}")]
    Corrupt(String),
    #[error("flushing to stable storage failed: {0}")]
    Flush(String),
    #[error("storage is closed")]
    Closed,
}

impl From<::sled::Error> for StoreError {
    fn from(e: ::sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// How the request arrived, kept with its verbatim body in the event log (SPEC §4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    pub method: String,
    pub content_type: Option<String>,
    /// The query string (the token is never in it: it travels in the path or a header).
    pub query: String,
    /// Headers that help an audit (user agent, forwarding); never the token headers.
    pub headers: Vec<(String, String)>,
}

/// What identifies a redelivery: the same (`trigger`, `call_id`, `uuid`) a second time.
/// Without a `uuid`, a digest of the body stands in for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    pub trigger: String,
    pub call_id: String,
    pub leg: String,
}

/// One webhook, interpreted and ready to apply.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub event_id: Ulid,
    pub received_at: DateTime<Utc>,
    pub trigger: String,
    pub trigger_inferred: bool,
    pub intent: Intent,
    pub facts: CallFacts,
    pub rules: Arc<Rules>,
    /// The id a callback gets if this event opens one.
    pub new_callback_id: CallbackId,
    pub dedup: DedupKey,
    pub uuid: Option<String>,
    /// Why the event is only recorded, when the payload is the reason (for the reply).
    pub note: Option<String>,
    pub raw: RawEvent,
    /// The body exactly as received (the query string for a GET).
    pub body: Vec<u8>,
}

/// The outcome of a durable ingest: what the webhook replies.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// This event's id, or for a duplicate the id of the event it repeats.
    pub event_id: Ulid,
    pub effect: Effect,
    pub callback_id: Option<CallbackId>,
    pub note: Option<String>,
}

/// An event log entry, without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Ulid,
    pub received_at: DateTime<Utc>,
    pub trigger: String,
    pub trigger_inferred: bool,
    pub effect: Effect,
    pub note: Option<String>,
    pub callback_id: Option<CallbackId>,
    pub call_id: Option<String>,
    pub uuid: Option<String>,
    pub raw: RawEvent,
    pub body_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Pending,
    Resolved,
    All,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: StatusFilter,
    pub limit: usize,
    /// Opaque cursor from a previous page's `next`.
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Pending ones oldest first, then resolved ones newest first.
    pub callbacks: Vec<Callback>,
    pub next: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CallbackDetail {
    pub callback: Callback,
    pub timeline: Vec<TimelineEntry>,
}

/// A request to issue the reminder rounds due at `now`.
#[derive(Debug, Clone)]
pub struct Claim {
    pub now: DateTime<Utc>,
    pub rules: Arc<Rules>,
    pub roster: Arc<Roster>,
    /// At most this many callbacks per claim (the rest are claimed next time).
    pub limit: usize,
}

/// A person's action on a callback (resolve, snooze, assign).
#[derive(Debug, Clone)]
pub struct ActRequest {
    pub id: CallbackId,
    pub action: Action,
    pub who: String,
    pub now: DateTime<Utc>,
    pub rules: Arc<Rules>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActOutcome {
    Done(Box<Callback>),
    NotFound,
    Refused(ActionError),
}

/// An edit of the rules from the dashboard (SPEC §8 rules page): who, when, before, after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesChange {
    pub id: Ulid,
    pub at: DateTime<Utc>,
    pub who: String,
    pub before: RulesText,
    pub after: RulesText,
}

/// Someone who wrote to the Telegram bot without being a configured agent or supervisor,
/// listed for admins on the dashboard (SPEC §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownChat {
    pub chat_id: i64,
    pub name: String,
    pub username: Option<String>,
    pub last_text: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub messages: u32,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub callbacks: usize,
    pub events: usize,
    /// Call records whose every event was deleted.
    pub calls: usize,
}

impl Purged {
    pub fn add(&mut self, other: Purged) {
        self.callbacks += other.callbacks;
        self.events += other.events;
        self.calls += other.calls;
    }
}

/// A consistent copy of the store, written by [`Store::backup`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// The new data directory; `[storage].path` pointed here restores it.
    pub path: std::path::PathBuf,
    /// Records copied, their bytes, and how many of them are callbacks.
    pub keys: u64,
    pub bytes: u64,
    pub callbacks: u64,
    /// The data directory's own files copied with it (tokens, keys).
    pub files: Vec<String>,
}

/// How many callbacks are pending, and the oldest of them.
#[derive(Debug, Clone, Default)]
pub struct PendingStats {
    pub count: u64,
    pub oldest: Option<Callback>,
}

/// The storage boundary. Writes are async and return once durable (an fsync covered them);
/// reads are blocking and callers run them off the async workers.
pub trait Store: Send + Sync + 'static {
    /// Applies one event atomically (dedup check, lifecycle decision, state, event log) and
    /// resolves once the result is on stable storage.
    fn ingest(&self, ingest: Ingest) -> BoxFuture<'static, Result<Receipt, StoreError>>;

    /// A durable write round-trip, for readiness checks.
    fn probe(&self) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Issues due reminder rounds: schedules advanced and deliveries recorded in the
    /// outbox, durably, before anything is sent. Returns the new deliveries.
    fn claim_due(&self, claim: Claim) -> BoxFuture<'static, Result<Vec<Delivery>, StoreError>>;

    /// Applies a person's action to a callback, durably.
    fn act(&self, request: ActRequest) -> BoxFuture<'static, Result<ActOutcome, StoreError>>;

    /// Records a delivery's result (sent, retry later, failed, dropped), durably.
    fn settle(
        &self,
        delivery: Ulid,
        settlement: Settlement,
    ) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Every delivery not yet settled.
    fn outbox(&self) -> Result<Vec<Delivery>, StoreError>;

    /// Recomputes every pending callback's schedule under `rules` unless they were
    /// scheduled with the same rules already; returns how many were looked at.
    fn align_schedule(&self, rules: Arc<Rules>) -> BoxFuture<'static, Result<usize, StoreError>>;

    /// Deletes up to `limit` resolved callbacks resolved before `cutoff` and up to `limit`
    /// events received before it (with what hangs off them), durably.
    fn purge(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'static, Result<Purged, StoreError>>;

    /// Writes a consistent copy of everything into `target` (a new data directory; it
    /// must not exist or be empty), every file fsync'd before this resolves.
    fn backup(&self, target: std::path::PathBuf) -> BoxFuture<'static, Result<Backup, StoreError>>;

    /// The rules last saved from the dashboard, if any.
    fn stored_rules(&self) -> Result<Option<RulesChange>, StoreError>;

    /// Saves edited rules and their audit entry, durably.
    fn save_rules(&self, change: RulesChange) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Rule edits, newest first.
    fn rules_audit(&self, limit: usize) -> Result<Vec<RulesChange>, StoreError>;

    fn pending_stats(&self) -> Result<PendingStats, StoreError>;

    /// The next Telegram update to ask for (0 before the first).
    fn telegram_offset(&self) -> Result<i64, StoreError>;

    fn save_telegram_offset(&self, offset: i64) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Records (or counts again) a chat that wrote to the bot without being configured.
    fn note_unknown_chat(&self, chat: UnknownChat) -> BoxFuture<'static, Result<(), StoreError>>;

    /// Unknown chats, most recent first.
    fn unknown_chats(&self) -> Result<Vec<UnknownChat>, StoreError>;

    /// The earliest time the scheduler has work for a callback.
    fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    fn list_callbacks(&self, query: &ListQuery) -> Result<Page, StoreError>;

    /// A callback's current state.
    fn callback(&self, id: CallbackId) -> Result<Option<Callback>, StoreError>;

    /// A callback with its timeline.
    fn callback_detail(&self, id: CallbackId) -> Result<Option<CallbackDetail>, StoreError>;

    fn event(&self, id: Ulid) -> Result<Option<(EventRecord, Vec<u8>)>, StoreError>;

    /// Events in receive order, oldest first, starting after `after`.
    fn events(&self, after: Option<Ulid>, limit: usize) -> Result<Vec<EventRecord>, StoreError>;

    /// Stops the writer after the queued work and makes everything durable.
    fn close(&self) -> Result<(), StoreError>;

    /// False after a storage error (full disk, read-only file system) until [`Store::heal`]
    /// succeeds; writes fail meanwhile.
    fn healthy(&self) -> bool;

    /// Tries to recover from a storage error (blocking); `Ok(true)` when it did.
    fn heal(&self) -> Result<bool, StoreError>;
}
