//! Database work in batches: group commit for PostgreSQL. Every webhook costs a lookup and
//! a write plan; at 32 concurrent webhooks, one statement each (and one COMMIT per plan)
//! made the database's per-statement work, its WAL flush wake-ups and the round trips'
//! system calls the cost — the CPU was saturated at ~2 300 webhooks a second with the
//! database doing little per webhook. Here what waits at the same time goes together: the
//! lookups as one `ringback_lookup_many` (migrations/postgres/0004), the plans as one
//! `ringback_apply_batch` (0005: each kind of row written as a set) — one transaction, one
//! WAL flush. A batch with a plan that conflicts is undone whole and goes again as
//! `ringback_apply_many` (0004), each plan in its own subtransaction, so the one that
//! conflicts is answered alone and the others are applied.
//!
//! Each lane runs its batches on a connection of its own, kept from one batch to the next
//! (`lane.rs`).
//!
//! An item alone (a quiet moment) goes by itself at once, without waiting for company:
//! batches form only from what queues while every lane is busy. Each caller is answered
//! after its batch's COMMIT, so a `200` still means the write is durable. A caller that
//! stops waiting (its client gone) does not take its plan out of a batch already formed —
//! as before, when its statement ran on the store's runtime regardless.

use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::apply::plan_json;
use super::columns::Columns;
use super::lane::{CHECK_IDLE_AFTER, Lane, Returning, Runner, all_failed};
use super::{SqlState, db_error, sqlstate};
use crate::store::{Plan, StoreError, StoreResult};

/// The most items one statement carries: enough to amortise a round trip and a COMMIT, few
/// enough that the row locks a batch of plans holds are not held long.
const MAX_BATCH: usize = 64;

type Answer<O> = oneshot::Sender<StoreResult<O>>;

/// Hands items to a dispatcher that runs them in batches; cheap to share. Ends (its
/// dispatcher with it) when the last handle goes.
pub struct Batcher<I, O> {
    jobs: mpsc::UnboundedSender<(I, Answer<O>)>,
}

impl<I: Send + Sync + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the dispatcher on `runtime`: at most `lanes` batches in flight at once, each
    /// lane with its own connection; `run` does one batch and answers each item, in order.
    pub fn start(
        pool: PgPool,
        lanes: usize,
        runtime: &tokio::runtime::Handle,
        run: Runner<I, O>,
    ) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        runtime.spawn(dispatch(pool, queue, lanes.max(1), run));
        Self { jobs }
    }

    /// Runs one item in the next batch; resolves with its own answer.
    pub async fn call(&self, item: I) -> StoreResult<O> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send((item, answer))
            .map_err(|_| StoreError::Closed)?;
        answered
            .await
            .map_err(|_| StoreError::backend("a batch of database work was abandoned"))?
    }
}

/// Takes items off the queue: waits for a free lane, then takes every item queued by then
/// (up to [`MAX_BATCH`]) as one batch.
async fn dispatch<I, O>(
    pool: PgPool,
    mut queue: mpsc::UnboundedReceiver<(I, Answer<O>)>,
    lanes: usize,
    run: Runner<I, O>,
) where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    let (free, mut freed) = mpsc::unbounded_channel();
    for _ in 0..lanes {
        let _ = free.send(Lane::new(pool.clone(), CHECK_IDLE_AFTER));
    }
    while let Some(first) = queue.recv().await {
        let Some(lane) = freed.recv().await else {
            return;
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (items, answers): (Vec<I>, Vec<Answer<O>>) = jobs.into_iter().unzip();
        let mut lane = Returning {
            lane,
            free: free.clone(),
        };
        // A panic in a batch drops its answers (each caller gets an error); its lane comes
        // back without the connection, which the panic may have left mid-statement.
        tokio::spawn(async move {
            let mut outcomes = lane.lane.run(run, &items).await;
            if outcomes.len() != answers.len() {
                let e = StoreError::backend(format!(
                    "a batch of {} gave {} answers",
                    answers.len(),
                    outcomes.len()
                ));
                outcomes = all_failed(answers.len(), e);
            }
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                let _ = answer.send(outcome);
            }
        });
    }
}

/// A write plan with where it goes in its batch: plans are applied in `order` (the
/// customer's number), so that two batches about the same customers lock their rows in one
/// order instead of deadlocking and waiting a second for PostgreSQL to notice.
pub struct PlanJob {
    pub plan: Plan,
    pub order: String,
}

/// One batch of plans: all of them as sets in one statement (`ringback_apply_batch`,
/// migrations/postgres/0005). When that is refused — a plan in it conflicts, or the
/// database refuses one — nothing of it was applied, and the plans go again one by one
/// (`one_by_one`), so that each is answered for itself.
pub fn apply_plans<'a>(
    conn: &'a mut PgConnection,
    jobs: &'a [PlanJob],
) -> BoxFuture<'a, Vec<StoreResult<()>>> {
    Box::pin(async move {
        let mut by_lock: Vec<usize> = (0..jobs.len()).collect();
        by_lock.sort_by(|&a, &b| jobs[a].order.cmp(&jobs[b].order));
        let plans: Vec<&Plan> = by_lock.iter().map(|&i| &jobs[i].plan).collect();
        let mut answers: Vec<StoreResult<()>> = vec![Ok(()); jobs.len()];
        for (&i, answer) in by_lock.iter().zip(apply_in_order(conn, &plans).await) {
            answers[i] = answer;
        }
        answers
    })
}

/// The batch's plans, already in lock order: as sets, or one by one when that is refused.
async fn apply_in_order(conn: &mut PgConnection, plans: &[&Plan]) -> Vec<StoreResult<()>> {
    let refused = match Columns::of(plans.iter().copied()) {
        Ok(columns) => match columns.apply(conn).await.map_err(db_error) {
            Ok(()) => return vec![Ok(()); plans.len()],
            Err(e @ StoreError::Unavailable { .. }) => return all_failed(plans.len(), e),
            Err(e) => e,
        },
        Err(e) => e,
    };
    if plans.len() == 1 {
        return vec![Err(refused)];
    }
    tracing::debug!(plans = plans.len(), error = %refused, "a batch of plans goes again one by one");
    one_by_one(conn, plans).await
}

/// Each plan in its own subtransaction of one transaction (`ringback_apply_many`,
/// migrations/postgres/0004), answered per plan, in order: the first of two plans about one
/// customer is applied and the second conflicts, as if they had come one after the other.
/// If the database cannot even read the batch (a value one plan carries that it refuses to
/// parse), each plan goes in a statement of its own.
async fn one_by_one(conn: &mut PgConnection, plans: &[&Plan]) -> Vec<StoreResult<()>> {
    let Ok(encoded) = plans
        .iter()
        .map(|p| plan_json(p))
        .collect::<StoreResult<Vec<_>>>()
    else {
        return each_alone(conn, plans).await;
    };
    let done = sqlx::query_scalar::<_, Vec<String>>("SELECT ringback_apply_many($1)")
        .bind(Value::Array(encoded))
        .fetch_one(&mut *conn)
        .await;
    match done {
        Ok(outcomes) if outcomes.len() == plans.len() => {
            outcomes.iter().map(|o| read_outcome(o)).collect()
        }
        Ok(outcomes) => all_failed(
            plans.len(),
            StoreError::backend(format!(
                "the database answered {} outcomes for {} plans",
                outcomes.len(),
                plans.len()
            )),
        ),
        Err(e) => match db_error(e) {
            e @ StoreError::Unavailable { .. } => all_failed(plans.len(), e),
            _ => each_alone(conn, plans).await,
        },
    }
}

/// Each plan in a transaction of its own, in order: what is left when the database refuses
/// even to read a batch of plans.
async fn each_alone(conn: &mut PgConnection, plans: &[&Plan]) -> Vec<StoreResult<()>> {
    let mut answers = Vec::with_capacity(plans.len());
    for plan in plans {
        let answer = match plan_json(plan) {
            Ok(plan) => sqlx::query("SELECT ringback_apply($1)")
                .bind(plan)
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .map_err(db_error),
            Err(e) => Err(e),
        };
        answers.push(answer);
    }
    answers
}

/// What one lookup asks for (`reads::lookup` reads the row it gets back).
#[derive(Default)]
pub struct LookupKeys {
    pub call_id: Option<String>,
    pub dedup_trigger: Option<String>,
    pub dedup_call_id: Option<String>,
    pub dedup_leg: Option<String>,
    pub callback: Option<String>,
    pub customer: Option<String>,
}

/// One batch of lookups in one statement (`ringback_lookup_many`, migrations/postgres/0004):
/// a row per lookup, in order.
pub fn lookups<'a>(
    conn: &'a mut PgConnection,
    keys: &'a [LookupKeys],
) -> BoxFuture<'a, Vec<StoreResult<PgRow>>> {
    let column = |f: fn(&LookupKeys) -> &Option<String>| -> Vec<Option<&str>> {
        keys.iter().map(|k| f(k).as_deref()).collect()
    };
    let statement = sqlx::query("SELECT * FROM ringback_lookup_many($1, $2, $3, $4, $5, $6)")
        .bind(column(|k| &k.call_id))
        .bind(column(|k| &k.dedup_trigger))
        .bind(column(|k| &k.dedup_call_id))
        .bind(column(|k| &k.dedup_leg))
        .bind(column(|k| &k.callback))
        .bind(column(|k| &k.customer));
    Box::pin(async move {
        // A row count that does not match is caught by the dispatcher, as for any batch.
        match statement.fetch_all(conn).await {
            Ok(rows) => rows.into_iter().map(Ok).collect(),
            Err(e) => all_failed(keys.len(), db_error(e)),
        }
    })
}

/// One plan's outcome in a batch: '' applied, else "SQLSTATE message", read as `db_error`
/// reads the same error from a plan applied alone.
fn read_outcome(outcome: &str) -> StoreResult<()> {
    if outcome.is_empty() {
        return Ok(());
    }
    Err(match sqlstate(outcome.get(..5).unwrap_or(outcome)) {
        SqlState::Conflict => StoreError::Conflict,
        SqlState::NotAnswering => {
            StoreError::unavailable(format!("the database is not answering ({outcome})"))
        }
        SqlState::Refused => {
            StoreError::unavailable(format!("the database refused the connection ({outcome})"))
        }
        SqlState::Other => StoreError::backend(format!("a database statement failed: {outcome}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_a_plan_applied_alone_would_be() {
        assert!(read_outcome("").is_ok());
        for conflict in [
            "40001 ringback: the customer changed",
            "23505 duplicate key value violates unique constraint \"callbacks_one_pending_per_customer\"",
            "40P01 deadlock detected",
        ] {
            assert!(matches!(read_outcome(conflict), Err(StoreError::Conflict)));
        }
        for not_answering in [
            "53200 out of memory",
            "57P01 terminating connection due to administrator command",
            "25006 cannot execute INSERT in a read-only transaction",
            "28P01 password authentication failed for user \"ringback\"",
        ] {
            assert!(matches!(
                read_outcome(not_answering),
                Err(StoreError::Unavailable { .. })
            ));
        }
        match read_outcome("22P02 invalid input syntax for type timestamp with time zone") {
            Err(StoreError::Backend { message, .. }) => assert!(message.contains("22P02")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_outcome("x"), Err(StoreError::Backend { .. })));
    }
}
