//! Storage: one contract every backend implements, split by concern and combined into
//! [`Store`], the one object the application holds. Every method is async and returns once
//! its effect is durable; backends that block (sled) wrap their calls themselves.
//!
//! Backends store; they do not decide. The application (`crate::app`) reads what it needs,
//! decides with the pure domain, and hands a [`Plan`] to [`Lifecycle::apply`]. The contract
//! suite (`contract`, run by `cargo test` against every backend) pins down what each method
//! promises.
//!
//! Backends: [`sled`] (embedded, the default). [`open`] picks the one the settings name.

mod error;
pub mod plan;
pub mod postgres;
pub mod sled;
pub mod transfer;
mod types;

#[cfg(test)]
pub(crate) mod contract;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::config::{StorageBackend, StorageSettings};
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::Delivery;

pub use error::{DEFAULT_RETRY_AFTER, StoreError};
pub use plan::{
    CallWrite, CallbackWrite, CustomerState, CustomerWrite, DedupWrite, DigestClaim, EventWrite,
    Found, Lookup, Plan, SettleWrite, Take, Taken,
};
pub use transfer::{Part, Record, Transfer};
pub use types::{
    AgentFilter, Backup, CallbackDetail, CallbackFilter, Cursor, DedupKey, EventRecord, Health,
    Lease, LeaseOwner, ListQuery, Page, PendingBreakdown, PendingStats, Phase, Purged, RawEvent,
    RulesChange, StatusFilter, UnknownChat, UnreadableNumber, Version, Versioned,
};

pub type StoreResult<T> = Result<T, StoreError>;

/// The verbatim event log (SPEC §4.1): every accepted webhook, its body and what it did.
#[async_trait]
pub trait EventLog: Send + Sync {
    async fn event(&self, id: Ulid) -> StoreResult<Option<(EventRecord, Vec<u8>)>>;
    /// Events in receive order, oldest first, starting after `after`; at most `limit`.
    async fn events(&self, after: Option<Ulid>, limit: usize) -> StoreResult<Vec<EventRecord>>;
    /// Missed calls received at or after `since` whose customer number could not be read
    /// (events with [`EventRecord::unreadable`]), newest first; at most `limit`. They go
    /// with their events when retention deletes those.
    async fn unreadable_numbers(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<EventRecord>>;
}

/// Reading callbacks.
#[async_trait]
pub trait CallbackReads: Send + Sync {
    /// A callback's current state, with its version.
    async fn callback(&self, id: CallbackId) -> StoreResult<Option<Versioned<Callback>>>;
    /// The callbacks with these ids that exist (and can be read), in the order given.
    async fn callbacks(&self, ids: Vec<CallbackId>) -> StoreResult<Vec<Versioned<Callback>>>;
    /// A callback with its timeline, oldest entry first.
    async fn callback_detail(&self, id: CallbackId) -> StoreResult<Option<CallbackDetail>>;
    /// Pending callbacks oldest first (by first missed call), then resolved ones newest
    /// first (by resolution), `limit` at a time; only those `query.filter` keeps, so the
    /// filter finds matches however deep in the list they are.
    async fn list_callbacks(&self, query: ListQuery) -> StoreResult<Page>;
    async fn pending_stats(&self) -> StoreResult<PendingStats>;
    /// Every pending callback counted per assigned agent and per department.
    async fn pending_breakdown(&self) -> StoreResult<PendingBreakdown>;
    /// Callbacks whose next wake (reminder or escalation) is at or before `now`, earliest
    /// first, at most `limit`.
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Versioned<Callback>>>;
    /// The earliest next wake of any callback.
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
}

/// Reading what an event is decided from, and applying decisions.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    async fn lookup(&self, lookup: Lookup) -> StoreResult<Found>;
    /// Applies every write of `plan` atomically, durably; [`StoreError::Conflict`] (and no
    /// change) when anything it expected changed.
    async fn apply(&self, plan: Plan) -> StoreResult<()>;
    /// Whether webhooks about one customer should take turns within a process before they
    /// read (`app/turns.rs`): worth it where a conflict costs a round of database trips
    /// (PostgreSQL), not where a conflicting plan is decided again and lands in the writer's
    /// next batch within the same group commit (sled: measured, turns cost it 2–5 % of
    /// throughput and 3 ms of p99 at 32 connections).
    fn one_customer_at_a_time(&self) -> bool {
        false
    }
}

/// Deliveries waiting to be sent (the outbox), taken with leases.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Leases deliveries due at `take.now` that nobody holds (never taken, settled for a
    /// retry whose time came, or whose lease ran out).
    async fn take(&self, take: Take) -> StoreResult<Vec<Taken>>;
    /// Gives back deliveries `owner` took but did not send (shutting down).
    async fn release(&self, owner: LeaseOwner, deliveries: Vec<Ulid>) -> StoreResult<()>;
    /// When the next delivery becomes takeable (its time, or its lease's end).
    async fn next_delivery_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Every delivery not yet settled (for tools and tests).
    async fn outbox(&self) -> StoreResult<Vec<Delivery>>;
}

/// The rules supervisors edit, their audit trail, and which rules pending callbacks were
/// scheduled with.
#[async_trait]
pub trait RulesStore: Send + Sync {
    /// The rules last saved from the dashboard, if any.
    async fn stored_rules(&self) -> StoreResult<Option<RulesChange>>;
    /// Saves edited rules and their audit entry, together. A reset (`change.reset`) clears
    /// the saved rules instead, so [`stored_rules`](Self::stored_rules) answers `None`
    /// and the file's rules are in force.
    async fn save_rules(&self, change: RulesChange) -> StoreResult<()>;
    /// Rule edits, newest first.
    async fn rules_audit(&self, limit: usize) -> StoreResult<Vec<RulesChange>>;
    /// The fingerprint of the rules pending callbacks were last scheduled with.
    async fn schedule_fingerprint(&self) -> StoreResult<Option<String>>;
    async fn set_schedule_fingerprint(&self, fingerprint: String) -> StoreResult<()>;
}

/// The Telegram bot's own state.
#[async_trait]
pub trait TelegramState: Send + Sync {
    /// The next Telegram update to ask for (0 before the first).
    async fn telegram_offset(&self) -> StoreResult<i64>;
    async fn save_telegram_offset(&self, offset: i64) -> StoreResult<()>;
    /// Records (or counts again, keeping when it was first seen) a chat that wrote to the
    /// bot without being configured.
    async fn note_unknown_chat(&self, chat: UnknownChat) -> StoreResult<()>;
    /// Unknown chats, most recent first.
    async fn unknown_chats(&self) -> StoreResult<Vec<UnknownChat>>;
}

/// Shift digests sent (SPEC §11). An occurrence is claimed by the plan that records its
/// deliveries ([`Plan::digest`]): a second claim of it conflicts, so it goes out once.
#[async_trait]
pub trait Digests: Send + Sync {
    /// The latest occurrence of `schedule` that was claimed.
    async fn last_digest(&self, schedule: &str) -> StoreResult<Option<DateTime<Utc>>>;
}

/// What retention deletes: resolved callbacks (with their timelines) resolved before
/// `callbacks`, and raw events received before `events` (`[storage] raw_retention` may
/// make it the later of the two). `None` keeps that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cutoffs {
    pub callbacks: Option<DateTime<Utc>>,
    pub events: Option<DateTime<Utc>>,
}

/// Keeping the store well.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// A durable write round trip, for readiness.
    async fn probe(&self) -> StoreResult<()>;
    /// Whether writes can be taken now (without writing).
    fn health(&self) -> Health;
    /// Deletes up to `limit` callbacks resolved before `cutoffs.callbacks` and up to `limit`
    /// events received before `cutoffs.events`, with what hangs off them. Never a pending
    /// callback.
    async fn purge(&self, cutoffs: Cutoffs, limit: usize) -> StoreResult<Purged>;
    /// Stored records found unreadable and set aside since the store was opened.
    fn quarantined(&self) -> u64;
    /// Finishes queued work, makes everything durable and closes.
    async fn close(&self) -> StoreResult<()>;
}

/// Secrets Ringback generates for itself (webhook and API tokens when none is configured,
/// the link and session keys), shared by every process on the store, so a link or cookie
/// made by one replica is good on every other.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The secret `name`; when there is none yet, `fresh` becomes it (whoever stores one
    /// first wins, and everyone gets that one). The flag says this call stored it.
    async fn secret(&self, name: &str, fresh: String) -> StoreResult<(String, bool)>;
    /// Where a secret is kept, for the message that shows a generated one.
    fn secret_location(&self, name: &str) -> String;
}

/// Dashboard sessions ended before their time (logout), kept in the store so that every
/// process sharing it refuses a copy of an ended session's cookie.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Records that session `id` has ended. It is remembered at least until `until` (when
    /// the session would have expired anyway); sessions whose `until` is before `now` are
    /// forgotten on the way, so the record stays small.
    async fn end_session(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Whether session `id` was ended.
    async fn session_ended(&self, id: &str) -> StoreResult<bool>;
}

/// Roles that one process at a time may hold (polling Telegram: the Bot API answers a
/// second poller 409 Conflict).
#[async_trait]
pub trait Leadership: Send + Sync {
    /// Takes `role` if nobody holds it. The lead lasts until dropped, or until its holder
    /// can no longer show it still holds it (then another process may take it).
    async fn try_lead(&self, role: &'static str) -> StoreResult<Option<Box<dyn Lead>>>;
}

/// A role held (see [`Leadership`]).
#[async_trait]
pub trait Lead: Send + Sync {
    /// Whether it is still held; false once the connection that holds it is gone.
    async fn still_held(&mut self) -> bool;
}

/// The whole contract.
pub trait Store:
    EventLog
    + CallbackReads
    + Lifecycle
    + Outbox
    + RulesStore
    + TelegramState
    + Digests
    + Secrets
    + Sessions
    + Leadership
    + Transfer
    + Maintenance
{
}

impl<T> Store for T where
    T: EventLog
        + CallbackReads
        + Lifecycle
        + Outbox
        + RulesStore
        + TelegramState
        + Digests
        + Secrets
        + Sessions
        + Leadership
        + Transfer
        + Maintenance
{
}

/// What a backend can do beyond the contract: copies of a store kept in files.
#[async_trait]
pub trait FileBackups: Send + Sync {
    /// Writes a consistent copy into `target` (a new data directory; it must not exist or
    /// be empty), every file fsync'd before this resolves. [`StoreError::Busy`] while
    /// another backup is being written.
    async fn backup(&self, target: std::path::PathBuf) -> StoreResult<Backup>;
}

/// What a backend can do beyond the contract: its events, read back in the order their
/// effects were applied (the embedded store's event log), for `ringback replay`.
pub trait AppliedEvents: Send + Sync {
    /// Calls `each` with every event received at or after `since`, in the order they were
    /// applied, until it answers false; how many it was called with. Blocking: run it on a
    /// blocking thread. A frame that cannot be read is logged and skipped.
    fn for_each_applied(
        &self,
        since: Option<DateTime<Utc>>,
        each: &mut dyn FnMut(EventRecord, Vec<u8>) -> bool,
    ) -> StoreResult<u64>;
}

/// An open store: the contract, and the backend's extra abilities.
#[derive(Clone)]
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub backups: Option<Arc<dyn FileBackups>>,
    pub applied_events: Option<Arc<dyn AppliedEvents>>,
}

/// Opens the store `settings` name (a PostgreSQL store is migrated first).
pub async fn open(settings: &StorageSettings) -> StoreResult<Opened> {
    match &settings.backend {
        StorageBackend::Sled => {
            let path = settings.path.clone();
            let store = tokio::task::spawn_blocking(move || sled::SledStore::open(&path))
                .await
                .map_err(|e| StoreError::backend(format!("opening the store: {e}")))??;
            let store = Arc::new(store);
            Ok(Opened {
                store: store.clone(),
                backups: Some(store.clone()),
                applied_events: Some(store),
            })
        }
        StorageBackend::Postgres { url, pool_size } => {
            let store = postgres::PgStore::open(url.expose(), *pool_size).await?;
            Ok(Opened {
                store: Arc::new(store),
                backups: None,
                applied_events: None,
            })
        }
    }
}
