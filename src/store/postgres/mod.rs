//! The PostgreSQL backend (SPEC §10): every piece of state in one database, so any number
//! of `ringback serve` replicas can share it. `migrations/postgres/` is the schema (applied
//! by `serve` at start and by `ringback migrate`, serialised between replicas by sqlx's
//! migration lock); `reads.rs` and `event_reads.rs` answer the contract's reads; `apply.rs`
//! turns a plan into one transaction of conditional writes (a row's `rev`, the
//! one-pending-callback-per-customer index) so that racing replicas behave as one process,
//! and `batch.rs` sends lookups and plans in batches; `outbox.rs` takes deliveries with
//! `FOR UPDATE SKIP LOCKED` leases; `upkeep.rs` holds retention (one replica at a time, by
//! an advisory lock), secrets and leadership (an advisory lock held on a connection of its
//! own); `copying.rs` is `copy-store`; `traits.rs` implements the store contract with them,
//! and `errors.rs` says what a database error means.
//!
//! Queries are checked at run time (`sqlx::query`), so building needs no database.
//! Writes are acknowledged after COMMIT with `synchronous_commit = on`. A database that does
//! not answer is `StoreError::Unavailable` (a webhook's 503 with `Retry-After`); the pool
//! reconnects by itself.

mod apply;
mod batch;
mod columns;
mod copying;
mod errors;
mod event_reads;
mod lane;
mod outbox;
mod reads;
mod rows;
mod runtime;
mod sessions;
mod traits;
mod upkeep;

#[cfg(test)]
pub mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use errors::{SqlState, db_error, sqlstate};

use crate::store::{StoreError, StoreResult};

/// The schema, embedded: `migrations/postgres/*.sql`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How often, at most, the start of a database outage is logged.
const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(10);

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
    /// Set when the last request met an unreachable database, cleared by the next answer.
    unreachable: Arc<AtomicBool>,
    /// When an outage was last logged (seconds since `started`, 0: never), and whether the
    /// current one was (so that its end is logged too).
    outage_logged_at: Arc<AtomicU64>,
    outage_logged: Arc<AtomicBool>,
    started: std::time::Instant,
    runtime: Arc<runtime::StoreRuntime>,
    /// Write plans and lookups go to the database in batches (group commit): `batch.rs`.
    plans: Arc<batch::Batcher<batch::PlanJob, ()>>,
    lookups: Arc<batch::Batcher<batch::LookupKeys, sqlx::postgres::PgRow>>,
}

/// The newest migration a database has applied; `None` for a database without Ringback's
/// schema.
async fn applied_version(conn: &mut PgConnection) -> StoreResult<Option<i64>> {
    sqlx::query_scalar(
        "SELECT max(version) FROM _sqlx_migrations WHERE to_regclass('_sqlx_migrations') IS NOT NULL",
    )
    .fetch_one(conn)
    .await
    .or_else(|e| match &e {
        // No migrations table yet: a new database.
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(None),
        _ => Err(e),
    })
    .map_err(db_error)
}

/// The schema version a database is at before anything migrates it (`ringback migrate`
/// says what it changed), read on a connection of its own.
pub async fn schema_version(url: &str) -> StoreResult<Option<i64>> {
    let connect = crate::config::parse_postgres_url(url)
        .map_err(|why| StoreError::backend(format!("not a usable PostgreSQL URL: {why}")))?;
    let connect = connect.disable_statement_logging();
    let mut conn = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&connect))
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
        .map_err(|e| not_reached(&connect, e))?;
    let version = applied_version(&mut conn).await;
    let _ = conn.close().await;
    version
}

/// The schema version this build migrates a database to.
pub fn schema_version_of_this_build() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A connection that could not be made at start: where to, and why, when the database
/// could not be reached (the URL's host and port, never its password).
fn not_reached(connect: &PgConnectOptions, e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            StoreError::unavailable_from(
                format!(
                    "the database at {}:{} is not reachable",
                    connect.get_host(),
                    connect.get_port()
                ),
                e,
            )
        }
        // No such database: said once and plainly, as a refused login is (`db_error`).
        sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000") => {
            StoreError::unavailable(format!(
                "the database refused the connection: {}",
                d.message()
            ))
        }
        e => db_error(e),
    }
}

impl PgStore {
    /// Connects, migrates the schema, and refuses a database whose schema is newer than this
    /// build's. A database that cannot be reached here is an error: `serve` exits, and its
    /// supervisor may start it again (deploy/ringback.service: every 5 s, at most 10 times
    /// in 5 minutes). Once open, connections lost later are made again by the requests that
    /// need them.
    pub async fn open(url: &str, pool_size: u32) -> StoreResult<Self> {
        // The URL may hold a password: the reason never repeats it.
        let connect = crate::config::parse_postgres_url(url)
            .map_err(|why| StoreError::backend(format!("not a usable PostgreSQL URL: {why}")))?;
        let connect = connect.disable_statement_logging();
        let runtime = Arc::new(runtime::StoreRuntime::start()?);
        // The pool is made on the store's runtime, so its connections are driven there.
        let pool = runtime
            .run({
                let connect = connect.clone();
                async move {
                    let made = PgPoolOptions::new()
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
                        .await;
                    match made {
                        Ok(pool) => Ok(pool),
                        // The pool retried until its timeout and kept only that: one
                        // direct attempt says why (refused, no such host, TLS).
                        Err(sqlx::Error::PoolTimedOut) => Err(
                            match tokio::time::timeout(
                                ACQUIRE_TIMEOUT,
                                PgConnection::connect_with(&connect),
                            )
                            .await
                            {
                                Ok(Err(e)) => not_reached(&connect, e),
                                // No answer at all (a firewall dropping the packets), or
                                // connected now: the pool's timeout is what there is to say.
                                Err(_) | Ok(Ok(_)) => {
                                    not_reached(&connect, sqlx::Error::PoolTimedOut)
                                }
                            },
                        ),
                        Err(e) => Err(not_reached(&connect, e)),
                    }
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
            outage_logged_at: Arc::new(AtomicU64::new(0)),
            outage_logged: Arc::new(AtomicBool::new(false)),
            started: std::time::Instant::now(),
            runtime,
        };
        store.on_db(|s| async move { s.migrate().await }).await?;
        Ok(store)
    }

    /// Applies the migrations this build has and the database lacks; returns the schema
    /// version after. A database migrated by a newer build is refused.
    pub async fn migrate(&self) -> StoreResult<i64> {
        let ours = schema_version_of_this_build();
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let applied = applied_version(&mut conn).await?;
        drop(conn);
        if let Some(theirs) = applied
            && theirs > ours
        {
            return Err(StoreError::Newer(format!(
                "this database was migrated by a newer Ringback (schema {theirs}; this build knows up to {ours}): run that version, or restore a backup made before it"
            )));
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
    /// Only an answer from the database clears it (an error that never reached it, such as
    /// a store closing, says nothing either way). An outage is logged when it starts — at
    /// most once every [`OUTAGE_LOG_EVERY`], so a database that flickers does not flood the
    /// log — and, when that was logged, again when it ends.
    fn note_reachable<T>(&self, result: &StoreResult<T>) {
        match result {
            Err(e @ StoreError::Unavailable { .. }) => {
                if self.unreachable.swap(true, Ordering::Relaxed) {
                    return;
                }
                let now = self.started.elapsed().as_secs();
                let last = self.outage_logged_at.load(Ordering::Relaxed);
                if last == 0 || now.saturating_sub(last) >= OUTAGE_LOG_EVERY.as_secs() {
                    self.outage_logged_at.store(now.max(1), Ordering::Relaxed);
                    self.outage_logged.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e.describe(), "storage: the database is not answering; webhooks are told to retry until it does");
                }
            }
            Ok(_) | Err(StoreError::Conflict | StoreError::Corrupt { .. }) => {
                if self.unreachable.swap(false, Ordering::Relaxed)
                    && self.outage_logged.swap(false, Ordering::Relaxed)
                {
                    tracing::info!("storage: the database answers again");
                }
            }
            Err(_) => {}
        }
    }
}
