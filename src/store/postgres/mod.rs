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
mod batch;
mod columns;
mod lane;
mod outbox;
mod reads;
mod rows;
mod runtime;
mod sessions;
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
    PendingBreakdown, PendingStats, Plan, Purged, Record, RulesChange, RulesStore, Secrets,
    Sessions, StoreError, StoreResult, Take, Taken, TelegramState, Transfer, UnknownChat,
    Versioned,
};

/// The schema, embedded: `migrations/postgres/*.sql`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a connection before it is told to retry.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many batches of write plans (and as many of lookups) one process has in the database
/// at once. One: while a batch commits, the next one gathers, which is group commit at its
/// most effective. Measured on the bench machine (2 cores shared with PostgreSQL), one
/// replica at 32 connections: 1 lane 3 671 webhooks/s, 2 lanes 3 474; two replicas at 16
/// each: 1 lane 3 446 in all, 2 lanes 3 182, 4 lanes 3 065. A batch carries up to 64, so one
/// lane is far from a limit at any call centre's rate.
const BATCH_LANES: usize = 1;

/// Cheap to clone: every field is shared.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    connect: Arc<PgConnectOptions>,
    quarantined: Arc<AtomicU64>,
    /// Set when the last request met an unreachable database, cleared by the next success.
    unreachable: Arc<AtomicBool>,
    runtime: Arc<runtime::StoreRuntime>,
    /// Write plans and lookups go to the database in batches (group commit): `batch.rs`.
    plans: Arc<batch::Batcher<batch::PlanJob, ()>>,
    lookups: Arc<batch::Batcher<batch::LookupKeys, sqlx::postgres::PgRow>>,
}

/// What an SQLSTATE means to Ringback: the same for an error raised to a statement
/// (`db_error`) and for one a batch caught and reported per plan (`batch.rs`).
pub(crate) enum SqlState {
    /// A constraint or revision a plan relied on: decide again.
    Conflict,
    /// The database cannot serve now: retry later.
    NotAnswering,
    Other,
}

pub(crate) fn sqlstate(code: &str) -> SqlState {
    match code {
        // unique violation; serialization failure (a row changed); deadlock
        "23505" | "40001" | "40P01" => SqlState::Conflict,
        // connection exceptions, shutdown, too many connections, out of resources; and a
        // server that has become read-only (a primary demoted in a failover, which a
        // connection opened before it still reaches): the connection is dropped, and the
        // next one goes wherever the URL now points
        c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || c == "25006" => {
            SqlState::NotAnswering
        }
        _ => SqlState::Other,
    }
}

/// A database error as a store error: a constraint a plan relied on (two pending callbacks
/// for one customer, a row stored first by someone else) is a conflict; a database that does
/// not answer is unavailable; anything else is the backend's.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) => match d.code().as_deref().map(sqlstate) {
            Some(SqlState::Conflict) => StoreError::Conflict,
            Some(SqlState::NotAnswering) => {
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
        let runtime = Arc::new(runtime::StoreRuntime::start()?);
        // The pool is made on the store's runtime, so its connections are driven there.
        let pool = runtime
            .run({
                let connect = connect.clone();
                async move {
                    PgPoolOptions::new()
                        .max_connections(pool_size)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // A 200 means the transaction's WAL is on disk (SPEC §10).
                                conn.execute("SET synchronous_commit = on").await?;
                                Ok(())
                            })
                        })
                        .connect_with(connect)
                        .await
                        .map_err(db_error)
                }
            })
            .await?;
        let handle = runtime.handle().ok_or(StoreError::Closed)?.clone();
        let plans = batch::Batcher::start(pool.clone(), BATCH_LANES, &handle, batch::apply_plans);
        let lookups = batch::Batcher::start(pool.clone(), BATCH_LANES, &handle, batch::lookups);
        let store = Self {
            plans: Arc::new(plans),
            lookups: Arc::new(lookups),
            pool,
            connect: Arc::new(connect),
            quarantined: Arc::new(AtomicU64::new(0)),
            unreachable: Arc::new(AtomicBool::new(false)),
            runtime,
        };
        store.on_db(|s| async move { s.migrate().await }).await?;
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

    /// Runs the work `f` makes on the store's own runtime, noting whether the database
    /// answered (for health). Why a runtime of its own: a connection's socket is driven by
    /// the runtime it was opened on, and actix's workers are single-threaded runtimes that,
    /// when busy, look at their sockets only every few dozen tasks — a transaction's dozen
    /// round trips then waited milliseconds each (measured: ~50 ms a webhook at 32
    /// connections, the database idle). Here the whole transaction runs where its
    /// connection lives, and only the answer crosses back.
    async fn on_db<T, Fut>(&self, f: impl FnOnce(PgStore) -> Fut) -> StoreResult<T>
    where
        Fut: std::future::Future<Output = StoreResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let result = self.runtime.run(f(self.clone())).await;
        self.note_reachable(&result);
        result
    }

    /// Whether the database answered the last request (for health).
    fn note_reachable<T>(&self, result: &StoreResult<T>) {
        let unreachable = matches!(result, Err(StoreError::Unavailable { .. }));
        self.unreachable.store(unreachable, Ordering::Relaxed);
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn event(&self, id: Ulid) -> StoreResult<Option<(EventRecord, Vec<u8>)>> {
        self.on_db(move |s| async move { reads::event(&s, id).await })
            .await
    }

    async fn events(&self, after: Option<Ulid>, limit: usize) -> StoreResult<Vec<EventRecord>> {
        self.on_db(move |s| async move { reads::events(&s, after, limit).await })
            .await
    }

    async fn unreadable_numbers(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<EventRecord>> {
        self.on_db(move |s| async move { reads::unreadable_numbers(&s, since, limit).await })
            .await
    }
}

#[async_trait]
impl CallbackReads for PgStore {
    async fn callback(&self, id: CallbackId) -> StoreResult<Option<Versioned<Callback>>> {
        self.on_db(move |s| async move { reads::callback(&s, id).await })
            .await
    }

    async fn callbacks(&self, ids: Vec<CallbackId>) -> StoreResult<Vec<Versioned<Callback>>> {
        self.on_db(move |s| async move { reads::callbacks(&s, ids).await })
            .await
    }

    async fn callback_detail(&self, id: CallbackId) -> StoreResult<Option<CallbackDetail>> {
        self.on_db(move |s| async move { reads::detail(&s, id).await })
            .await
    }

    async fn list_callbacks(&self, query: ListQuery) -> StoreResult<Page> {
        self.on_db(move |s| async move { reads::list(&s, query).await })
            .await
    }

    async fn pending_stats(&self) -> StoreResult<PendingStats> {
        self.on_db(move |s| async move { reads::pending_stats(&s).await })
            .await
    }

    async fn pending_breakdown(&self) -> StoreResult<PendingBreakdown> {
        self.on_db(|s| async move { reads::pending_breakdown(&s).await })
            .await
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Versioned<Callback>>> {
        self.on_db(move |s| async move { reads::due(&s, now, limit).await })
            .await
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.on_db(move |s| async move { reads::next_due(&s).await })
            .await
    }
}

#[async_trait]
impl Lifecycle for PgStore {
    async fn lookup(&self, lookup: Lookup) -> StoreResult<Found> {
        let result = reads::lookup(self, lookup).await;
        self.note_reachable(&result);
        result
    }

    async fn apply(&self, plan: Plan) -> StoreResult<()> {
        if plan.is_empty() {
            return Ok(());
        }
        // Encoded here, on the caller's thread; the batcher sends it on the store's runtime.
        let result = apply::apply(self, plan).await;
        self.note_reachable(&result);
        result
    }

    /// A conflict here costs a second lookup and plan through the batches: measured on the
    /// bench mix, one plan in nine conflicted without turns (3 593 req/s, p99 25.1 ms at 32
    /// connections) and none with them (3 707, 22.8 ms).
    fn one_customer_at_a_time(&self) -> bool {
        true
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn take(&self, take: Take) -> StoreResult<Vec<Taken>> {
        self.on_db(move |s| async move { outbox::take(&s, take).await })
            .await
    }

    async fn release(&self, owner: LeaseOwner, deliveries: Vec<Ulid>) -> StoreResult<()> {
        self.on_db(move |s| async move { outbox::release(&s, owner, deliveries).await })
            .await
    }

    async fn next_delivery_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.on_db(move |s| async move { outbox::next_delivery_at(&s).await })
            .await
    }

    async fn outbox(&self) -> StoreResult<Vec<Delivery>> {
        self.on_db(move |s| async move { outbox::all(&s).await })
            .await
    }
}

#[async_trait]
impl RulesStore for PgStore {
    async fn stored_rules(&self) -> StoreResult<Option<RulesChange>> {
        self.on_db(move |s| async move { upkeep::stored_rules(&s).await })
            .await
    }

    async fn save_rules(&self, change: RulesChange) -> StoreResult<()> {
        self.on_db(move |s| async move { upkeep::save_rules(&s, change).await })
            .await
    }

    async fn rules_audit(&self, limit: usize) -> StoreResult<Vec<RulesChange>> {
        self.on_db(move |s| async move { upkeep::rules_audit(&s, limit).await })
            .await
    }

    async fn schedule_fingerprint(&self) -> StoreResult<Option<String>> {
        self.on_db(move |s| async move { upkeep::setting(&s, upkeep::SCHEDULE_RULES).await })
            .await
    }

    async fn set_schedule_fingerprint(&self, fingerprint: String) -> StoreResult<()> {
        self.on_db(move |s| async move {
            upkeep::set_setting(&s, upkeep::SCHEDULE_RULES, fingerprint).await
        })
        .await
    }
}

#[async_trait]
impl TelegramState for PgStore {
    async fn telegram_offset(&self) -> StoreResult<i64> {
        let stored = self
            .on_db(|s| async move { upkeep::setting(&s, upkeep::TELEGRAM_OFFSET).await })
            .await?;
        Ok(stored.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn save_telegram_offset(&self, offset: i64) -> StoreResult<()> {
        self.on_db(move |s| async move {
            upkeep::set_setting(&s, upkeep::TELEGRAM_OFFSET, offset.to_string()).await
        })
        .await
    }

    async fn note_unknown_chat(&self, chat: UnknownChat) -> StoreResult<()> {
        self.on_db(move |s| async move { upkeep::note_unknown_chat(&s, chat).await })
            .await
    }

    async fn unknown_chats(&self) -> StoreResult<Vec<UnknownChat>> {
        self.on_db(move |s| async move { upkeep::unknown_chats(&s).await })
            .await
    }
}

#[async_trait]
impl Digests for PgStore {
    async fn last_digest(&self, schedule: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let schedule = schedule.to_string();
        self.on_db(move |s| async move { upkeep::last_digest(&s, &schedule).await })
            .await
    }
}

#[async_trait]
impl Secrets for PgStore {
    async fn secret(&self, name: &str, fresh: String) -> StoreResult<(String, bool)> {
        let name = name.to_string();
        self.on_db(move |s| async move { upkeep::secret(&s, &name, fresh).await })
            .await
    }

    fn secret_location(&self, name: &str) -> String {
        format!("the database (table secrets, name {name:?})")
    }
}

#[async_trait]
impl Sessions for PgStore {
    async fn end_session(
        &self,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = id.to_string();
        self.on_db(move |s| async move { sessions::end(&s, &id, until, now).await })
            .await
    }

    async fn session_ended(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.on_db(move |s| async move { sessions::ended(&s, &id).await })
            .await
    }
}

#[async_trait]
impl Leadership for PgStore {
    async fn try_lead(&self, role: &'static str) -> StoreResult<Option<Box<dyn Lead>>> {
        self.on_db(move |s| async move { upkeep::try_lead(&s, role).await })
            .await
    }
}

#[async_trait]
impl Transfer for PgStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        self.on_db(move |s| async move { upkeep::is_empty(&s).await })
            .await
    }

    async fn export(
        &self,
        part: Part,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Record>, Option<String>)> {
        self.on_db(move |s| async move { upkeep::export(&s, part, after, limit.max(1)).await })
            .await
    }

    async fn import(&self, records: Vec<Record>) -> StoreResult<()> {
        self.on_db(move |s| async move { upkeep::import(&s, records).await })
            .await
    }
}

#[async_trait]
impl Maintenance for PgStore {
    async fn probe(&self) -> StoreResult<()> {
        self.on_db(move |s| async move {
            upkeep::set_setting(&s, "probe", Utc::now().to_rfc3339()).await
        })
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
        self.on_db(move |s| async move { upkeep::purge(&s, cutoffs, limit).await })
            .await
    }

    fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }

    async fn close(&self) -> StoreResult<()> {
        self.pool.close().await;
        Ok(())
    }
}
