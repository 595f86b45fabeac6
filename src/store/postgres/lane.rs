//! A batch lane (`batch.rs`): one batch in the database at a time, on a connection the lane
//! keeps from one batch to the next. Taken from the pool for each statement, a connection
//! cost two more round trips: sqlx checks it with a `Sync` when it is acquired and again
//! when it is given back, so a batch was three round trips where it needs one, and the
//! first of them stood in every webhook's way. A connection that has been idle a while is
//! checked before use (the server, or a proxy's idle timeout, may have closed it
//! meanwhile); one that met an unreachable database is never used again; one 30 minutes old
//! is replaced. These connections are the pool's plus one per lane (`pool.acquire()` then
//! `detach()`), so a small pool is never starved by the batches.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::mpsc;

use super::db_error;
use crate::store::{StoreError, StoreResult};

/// A lane's connection idle longer than this is checked (one round trip) before a batch
/// goes on it. Under load a lane is never idle this long, so the check costs nothing there.
pub(super) const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A lane's connection older than this is replaced, as the pool replaces its own (sqlx's
/// default `max_lifetime`): a server's per-connection caches stay bounded, and after a
/// failover that left the old server answering, the lane follows the URL within this time.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Does one batch on a connection: one answer per item, in order.
pub type Runner<I, O> =
    for<'a> fn(&'a mut PgConnection, &'a [I]) -> BoxFuture<'a, Vec<StoreResult<O>>>;

/// One batch in the database at a time, on a connection kept from one batch to the next.
pub(super) struct Lane {
    pool: PgPool,
    /// The connection and when its last batch ended; out of here while a batch runs.
    held: Option<(PgConnection, Instant)>,
    /// When the held connection was opened.
    opened: Instant,
    check_idle_after: Duration,
}

impl Lane {
    pub(super) fn new(pool: PgPool, check_idle_after: Duration) -> Self {
        Self {
            pool,
            held: None,
            opened: Instant::now(),
            check_idle_after,
        }
    }

    pub(super) async fn run<I, O>(
        &mut self,
        run: Runner<I, O>,
        items: &[I],
    ) -> Vec<StoreResult<O>> {
        let mut conn = match self.connection().await {
            Ok(conn) => conn,
            Err(e) => return all_failed(items.len(), db_error(e)),
        };
        let outcomes = run(&mut conn, items).await;
        let lost = outcomes
            .iter()
            .any(|o| matches!(o, Err(StoreError::Unavailable { .. })));
        if !lost {
            self.held = Some((conn, Instant::now()));
        }
        outcomes
    }

    /// The connection kept from the last batch, checked first if it has been idle a while;
    /// else a new one from the pool, taken out of its count.
    async fn connection(&mut self) -> Result<PgConnection, sqlx::Error> {
        if let Some((mut conn, last_used)) = self.held.take()
            && self.opened.elapsed() < MAX_LIFETIME
            && (last_used.elapsed() < self.check_idle_after || conn.ping().await.is_ok())
        {
            return Ok(conn);
        }
        let conn = self.pool.acquire().await?.detach();
        self.opened = Instant::now();
        Ok(conn)
    }
}

/// Gives a lane back to the dispatcher when its batch ends, however it ends.
pub(super) struct Returning {
    pub(super) lane: Lane,
    pub(super) free: mpsc::UnboundedSender<Lane>,
}

impl Drop for Returning {
    fn drop(&mut self) {
        let _ = self.free.send(Lane {
            pool: self.lane.pool.clone(),
            held: self.lane.held.take(),
            opened: self.lane.opened,
            check_idle_after: self.lane.check_idle_after,
        });
    }
}

/// The same error for each of `n` items.
pub(super) fn all_failed<O>(n: usize, e: StoreError) -> Vec<StoreResult<O>> {
    (0..n).map(|_| Err(e.clone())).collect()
}
