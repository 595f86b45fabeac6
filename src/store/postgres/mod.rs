//! The PostgreSQL backend (SPEC §10): every piece of state in one database, so any number
//! of `ringback serve` replicas can share it. `migrations/postgres/` is the schema (applied
//! by `serve` at start and by `ringback migrate`, serialised between replicas by sqlx's
//! migration lock); `reads.rs` answers the contract's reads; `apply.rs` turns a plan into
//! one transaction of conditional writes (a row's `rev`, the one-pending-callback-per-
//! customer index) so that racing replicas behave as one process; `outbox.rs` takes
//! deliveries with `FOR UPDATE SKIP LOCKED` leases; `upkeep.rs` holds retention (one replica
//! at a time, by an advisory lock), secrets, leadership (an advisory lock held on a
//! connection of its own) and copying.
//!
//! Queries are checked at run time (`sqlx::query`), so building needs no database.
//! Writes are acknowledged after COMMIT with `synchronous_commit = on`. A database that does
//! not answer is `StoreError::Unavailable` (a webhook's 503 with `Retry-After`); the pool
//! reconnects by itself.

mod apply;
mod outbox;
mod reads;
mod rows;
mod upkeep;

#[cfg(test)]
pub mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};
use ulid::Ulid;

use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::Delivery;
use crate::store::{
    CallbackDetail, CallbackReads, Cutoffs, Digests, EventLog, EventRecord, Found, Health, Lead,
    Leadership, LeaseOwner, Lifecycle, ListQuery, Lookup, Maintenance, Outbox, Page, Part,
    PendingStats, Plan, Purged, Record, RulesChange, RulesStore, Secrets, StoreError, StoreResult,
    Take, Taken, TelegramState, Transfer, UnknownChat, Versioned,
};

/// The schema, embedded: `migrations/postgres/*.sql`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a connection before it is told to retry.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PgStore {
    pool: PgPool,
    connect: PgConnectOptions,
    quarantined: Arc<AtomicU64>,
    /// Set when the last request met an unreachable database, cleared by the next success.
    unreachable: Arc<AtomicBool>,
}

/// A database error as a store error: a constraint a plan relied on (two pending callbacks
/// for one customer, a row stored first by someone else) is a conflict; a database that does
/// not answer is unavailable; anything else is the backend's.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // unique violation; serialization failure; deadlock
            Some("23505" | "40001" | "40P01") => StoreError::Conflict,
            // connection exceptions, shutdown, too many connections, out of resources
            Some(code)
                if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") =>
            {
                StoreError::unavailable_from("the database is not answering", e)
            }
            _ => StoreError::Backend {
                message: "a database statement failed".into(),
                source: Some(Arc::new(e)),
            },
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => {
            StoreError::unavailable_from("the database is not reachable", e)
        }
        _ => StoreError::Backend {
            message: "the database answered something unexpected".into(),
            source: Some(Arc::new(e)),
        },
    }
}

impl PgStore {
    /// Connects (lazily: a database that is down at start is retried by each request),
    /// migrates the schema, and refuses a database whose schema is newer than this build's.
    pub async fn open(url: &str, pool_size: u32) -> StoreResult<Self> {
        let connect: PgConnectOptions = url
            .parse()
            // The URL may hold a password: the error is not repeated.
            .map_err(|_| StoreError::backend("[storage].url is not a PostgreSQL URL"))?;
        let connect = connect.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // A 200 means the transaction's WAL is on disk (SPEC §10).
                    conn.execute("SET synchronous_commit = on").await?;
                    Ok(())
                })
            })
            .connect_with(connect.clone())
            .await
            .map_err(db_error)?;
        let store = Self {
            pool,
            connect,
            quarantined: Arc::new(AtomicU64::new(0)),
            unreachable: Arc::new(AtomicBool::new(false)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations this build has and the database lacks; returns the schema
    /// version after. A database migrated by a newer build is refused.
    pub async fn migrate(&self) -> StoreResult<i64> {
        let ours = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> = sqlx::query_scalar(
            "SELECT max(version) FROM _sqlx_migrations WHERE to_regclass('_sqlx_migrations') IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .or_else(|e| match &e {
            // No migrations table yet: a new database.
            sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(None),
            _ => Err(e),
        })
        .map_err(db_error)?;
        if let Some(theirs) = applied
            && theirs > ours
        {
            return Err(StoreError::Unavailable {
                reason: format!(
                    "this database was migrated by a newer Ringback (schema {theirs}; this build knows up to {ours}); run that version"
                ),
                retry_after: crate::store::DEFAULT_RETRY_AFTER,
                source: None,
            });
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable {
                reason: format!("migrating the database failed: {e}"),
                retry_after: crate::store::DEFAULT_RETRY_AFTER,
                source: None,
            })?;
        Ok(ours)
    }

    /// Runs `f`, noting whether the database answered (for health).
    async fn tracked<T>(
        &self,
        f: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let result = f.await;
        match &result {
            Err(StoreError::Unavailable { .. }) => self.unreachable.store(true, Ordering::Relaxed),
            _ => self.unreachable.store(false, Ordering::Relaxed),
        }
        result
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn event(&self, id: Ulid) -> StoreResult<Option<(EventRecord, Vec<u8>)>> {
        self.tracked(reads::event(self, id)).await
    }

    async fn events(&self, after: Option<Ulid>, limit: usize) -> StoreResult<Vec<EventRecord>> {
        self.tracked(reads::events(self, after, limit)).await
    }

    async fn unreadable_numbers(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<EventRecord>> {
        self.tracked(reads::unreadable_numbers(self, since, limit))
            .await
    }
}

#[async_trait]
impl CallbackReads for PgStore {
    async fn callback(&self, id: CallbackId) -> StoreResult<Option<Versioned<Callback>>> {
        self.tracked(reads::callback(self, id)).await
    }

    async fn callbacks(&self, ids: Vec<CallbackId>) -> StoreResult<Vec<Versioned<Callback>>> {
        self.tracked(reads::callbacks(self, ids)).await
    }

    async fn callback_detail(&self, id: CallbackId) -> StoreResult<Option<CallbackDetail>> {
        self.tracked(reads::detail(self, id)).await
    }

    async fn list_callbacks(&self, query: ListQuery) -> StoreResult<Page> {
        self.tracked(reads::list(self, query)).await
    }

    async fn pending_stats(&self) -> StoreResult<PendingStats> {
        self.tracked(reads::pending_stats(self)).await
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Versioned<Callback>>> {
        self.tracked(reads::due(self, now, limit)).await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.tracked(reads::next_due(self)).await
    }
}

#[async_trait]
impl Lifecycle for PgStore {
    async fn lookup(&self, lookup: Lookup) -> StoreResult<Found> {
        self.tracked(reads::lookup(self, lookup)).await
    }

    async fn apply(&self, plan: Plan) -> StoreResult<()> {
        if plan.is_empty() {
            return Ok(());
        }
        self.tracked(apply::apply(self, plan)).await
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn take(&self, take: Take) -> StoreResult<Vec<Taken>> {
        self.tracked(outbox::take(self, take)).await
    }

    async fn release(&self, owner: LeaseOwner, deliveries: Vec<Ulid>) -> StoreResult<()> {
        self.tracked(outbox::release(self, owner, deliveries)).await
    }

    async fn next_delivery_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.tracked(outbox::next_delivery_at(self)).await
    }

    async fn outbox(&self) -> StoreResult<Vec<Delivery>> {
        self.tracked(outbox::all(self)).await
    }
}

#[async_trait]
impl RulesStore for PgStore {
    async fn stored_rules(&self) -> StoreResult<Option<RulesChange>> {
        self.tracked(upkeep::stored_rules(self)).await
    }

    async fn save_rules(&self, change: RulesChange) -> StoreResult<()> {
        self.tracked(upkeep::save_rules(self, change)).await
    }

    async fn rules_audit(&self, limit: usize) -> StoreResult<Vec<RulesChange>> {
        self.tracked(upkeep::rules_audit(self, limit)).await
    }

    async fn schedule_fingerprint(&self) -> StoreResult<Option<String>> {
        self.tracked(upkeep::setting(self, upkeep::SCHEDULE_RULES))
            .await
    }

    async fn set_schedule_fingerprint(&self, fingerprint: String) -> StoreResult<()> {
        self.tracked(upkeep::set_setting(
            self,
            upkeep::SCHEDULE_RULES,
            fingerprint,
        ))
        .await
    }
}

#[async_trait]
impl TelegramState for PgStore {
    async fn telegram_offset(&self) -> StoreResult<i64> {
        let stored = self
            .tracked(upkeep::setting(self, upkeep::TELEGRAM_OFFSET))
            .await?;
        Ok(stored.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn save_telegram_offset(&self, offset: i64) -> StoreResult<()> {
        self.tracked(upkeep::set_setting(
            self,
            upkeep::TELEGRAM_OFFSET,
            offset.to_string(),
        ))
        .await
    }

    async fn note_unknown_chat(&self, chat: UnknownChat) -> StoreResult<()> {
        self.tracked(upkeep::note_unknown_chat(self, chat)).await
    }

    async fn unknown_chats(&self) -> StoreResult<Vec<UnknownChat>> {
        self.tracked(upkeep::unknown_chats(self)).await
    }
}

#[async_trait]
impl Digests for PgStore {
    async fn last_digest(&self, schedule: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.tracked(upkeep::last_digest(self, schedule)).await
    }
}

#[async_trait]
impl Secrets for PgStore {
    async fn secret(&self, name: &str, fresh: String) -> StoreResult<(String, bool)> {
        self.tracked(upkeep::secret(self, name, fresh)).await
    }

    fn secret_location(&self, name: &str) -> String {
        format!("the database (table secrets, name {name:?})")
    }
}

#[async_trait]
impl Leadership for PgStore {
    async fn try_lead(&self, role: &'static str) -> StoreResult<Option<Box<dyn Lead>>> {
        self.tracked(upkeep::try_lead(self, role)).await
    }
}

#[async_trait]
impl Transfer for PgStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        self.tracked(upkeep::is_empty(self)).await
    }

    async fn export(
        &self,
        part: Part,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Record>, Option<String>)> {
        self.tracked(upkeep::export(self, part, after, limit.max(1)))
            .await
    }

    async fn import(&self, records: Vec<Record>) -> StoreResult<()> {
        self.tracked(upkeep::import(self, records)).await
    }
}

#[async_trait]
impl Maintenance for PgStore {
    async fn probe(&self) -> StoreResult<()> {
        self.tracked(upkeep::set_setting(self, "probe", Utc::now().to_rfc3339()))
            .await
    }

    fn health(&self) -> Health {
        if self.pool.is_closed() {
            Health::Unavailable("storage is closed".into())
        } else if self.unreachable.load(Ordering::Relaxed) {
            Health::Unavailable("the database is not reachable; retrying".into())
        } else {
            Health::Ready
        }
    }

    async fn purge(&self, cutoffs: Cutoffs, limit: usize) -> StoreResult<Purged> {
        self.tracked(upkeep::purge(self, cutoffs, limit)).await
    }

    fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }

    async fn close(&self) -> StoreResult<()> {
        self.pool.close().await;
        Ok(())
    }
}
