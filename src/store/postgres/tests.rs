//! The PostgreSQL backend against the contract suite, each case on a fresh database of a
//! throwaway server (`tests/support/pg.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::PgStore;
use crate::store::contract::Fixture;
use crate::store::contract::values::{customer, id, opening, pending};
use crate::store::{
    CallbackReads, Lifecycle, Lookup, Maintenance, Plan, Store, StoreError, StoreResult,
};

fn lookup_customer(n: u32) -> Lookup {
    Lookup {
        customer: Some(customer(n)),
        ..Lookup::default()
    }
}

#[path = "../../../tests/support/pg.rs"]
pub mod server;

pub struct PgFixture {
    url: String,
    current: Mutex<Option<Arc<PgStore>>>,
}

impl Fixture for PgFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.current
            .lock()
            .unwrap()
            .clone()
            .expect("a store is open")
    }

    fn reopen(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send + '_>> {
        Box::pin(async move {
            let old = self.current.lock().unwrap().take();
            if let Some(old) = old {
                old.close().await.unwrap();
            }
            let store = Arc::new(PgStore::open(&self.url, 8).await.expect("reopening"));
            *self.current.lock().unwrap() = Some(Arc::clone(&store));
            store as Arc<dyn Store>
        })
    }
}

pub async fn fresh() -> PgFixture {
    let url = server::shared().fresh_database();
    let store = Arc::new(
        PgStore::open(&url, 8)
            .await
            .expect("opening a fresh database"),
    );
    PgFixture {
        url,
        current: Mutex::new(Some(store)),
    }
}

mod contract {
    crate::contract_tests!(super::fresh);
}

/// Applies `plans` as one batch, the way the store's dispatcher does when they arrive
/// together, and gives each plan's answer.
async fn batch_of(store: &PgStore, plans: Vec<(Plan, &str)>) -> Vec<StoreResult<()>> {
    use super::batch::{PlanJob, apply_plans};
    let jobs = plans
        .into_iter()
        .map(|(plan, order)| PlanJob {
            plan,
            order: order.to_string(),
        })
        .collect();
    let pool = store.pool.clone();
    store
        .runtime
        .run(async move {
            let jobs: Vec<PlanJob> = jobs;
            let mut conn = pool.acquire().await.map_err(super::db_error)?;
            Ok(apply_plans(&mut conn, &jobs).await)
        })
        .await
        .unwrap()
}

fn open_store(fixture: &PgFixture) -> Arc<PgStore> {
    fixture.current.lock().unwrap().clone().unwrap()
}

/// A plan that conflicts (its callback was stored meanwhile) fails alone: the plans batched
/// with it are applied and answered as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_conflicts_fails_alone_in_its_batch() {
    let fixture = fresh().await;
    let store = open_store(&fixture);
    store.apply(opening(pending(2, 0))).await.unwrap();

    let answers = batch_of(
        &store,
        vec![
            (opening(pending(3, 0)), "3"),
            (opening(pending(2, 0)), "2"),
            (opening(pending(1, 0)), "1"),
        ],
    )
    .await;
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(
        matches!(answers[1], Err(StoreError::Conflict)),
        "{:?}",
        answers[1]
    );
    assert!(answers[2].is_ok(), "{:?}", answers[2]);
    assert!(store.callback(id(1)).await.unwrap().is_some());
    assert!(store.callback(id(3)).await.unwrap().is_some());
    let pending_for_2 = store.lookup(lookup_customer(2)).await.unwrap();
    let customer = pending_for_2.customer.expect("customer 2 is known");
    assert_eq!(customer.pending.unwrap().value.id, id(2));
}

/// Two plans about one customer in one batch: the first (in the order they came) is
/// applied, the second conflicts and is decided again, as if they had come one by one —
/// never two pending callbacks for one customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plans_for_one_customer_in_one_batch_apply_the_first_only() {
    let fixture = fresh().await;
    let store = open_store(&fixture);
    let mut second = pending(1, 0);
    second.id = id(11);

    let answers = batch_of(
        &store,
        vec![(opening(pending(1, 0)), "1"), (opening(second), "1")],
    )
    .await;
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(
        matches!(answers[1], Err(StoreError::Conflict)),
        "{:?}",
        answers[1]
    );
    assert!(store.callback(id(1)).await.unwrap().is_some());
    assert!(store.callback(id(11)).await.unwrap().is_none());
}

/// A plan the database refuses to store at all (here a call id holding a NUL character,
/// which PostgreSQL's text and jsonb both refuse) fails alone, with the database's reason:
/// the plans batched with it are applied and answered as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_the_database_refuses_fails_alone_in_its_batch() {
    use crate::domain::call::CallState;
    use crate::store::plan::CallWrite;

    let fixture = fresh().await;
    let store = open_store(&fixture);
    let refused = Plan {
        call: Some(CallWrite {
            call_id: "call\0with a NUL".into(),
            expected: None,
            state: CallState::default(),
        }),
        ..opening(pending(2, 0))
    };

    let answers = batch_of(
        &store,
        vec![
            (opening(pending(3, 0)), "3"),
            (refused, "2"),
            (opening(pending(1, 0)), "1"),
        ],
    )
    .await;
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    match &answers[1] {
        Err(StoreError::Backend { .. }) => {}
        other => panic!("the refused plan answered {other:?}"),
    }
    assert!(answers[2].is_ok(), "{:?}", answers[2]);
    assert!(store.callback(id(1)).await.unwrap().is_some());
    assert!(store.callback(id(3)).await.unwrap().is_some());
    assert!(store.callback(id(2)).await.unwrap().is_none());
}

/// Kills every other connection to the test's database, as a server restart or a proxy's
/// idle timeout would, and waits until they are gone (polled: `pg_terminate_backend`'s own
/// wait needs PostgreSQL 14, and Ringback supports 13).
async fn close_other_connections(pool: &sqlx::PgPool) {
    let others = "FROM pg_stat_activity WHERE datname = current_database() \
                  AND pid <> pg_backend_pid() AND backend_type = 'client backend'";
    // One connection for both, so that the one left is the one asking.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query(&format!("SELECT pg_terminate_backend(pid) {others}"))
        .execute(&mut *conn)
        .await
        .unwrap();
    for _ in 0..500 {
        let left: i64 = sqlx::query_scalar(&format!("SELECT count(*) {others}"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        if left == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the other connections were still there after 5 s");
}

/// A batch lane keeps its connection from one batch to the next. When the server has
/// closed it meanwhile: after an idle while the lane checks it first and takes a new one
/// without failing a batch; used again at once, the batch fails as unavailable (a 503 the
/// sender retries) and the next one goes on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_lane_replaces_a_connection_the_server_closed() {
    use super::batch::{LookupKeys, lookups};
    use super::lane::Lane;
    use std::time::Duration;

    let fixture = fresh().await;
    let store = open_store(&fixture);
    let pool = store.pool.clone();
    let one = [LookupKeys::default()];
    store
        .runtime
        .run(async move {
            for (check_idle_after, first_after_close_ok) in
                [(Duration::ZERO, true), (Duration::MAX, false)]
            {
                let mut lane = Lane::new(pool.clone(), check_idle_after);
                assert!(lane.run(lookups, &one).await[0].is_ok());
                close_other_connections(&pool).await;
                let first = lane.run(lookups, &one).await;
                if first_after_close_ok {
                    assert!(first[0].is_ok(), "checked first: {:?}", first[0]);
                } else {
                    assert!(
                        matches!(first[0], Err(StoreError::Unavailable { .. })),
                        "used at once: {:?}",
                        first[0]
                    );
                }
                let next = lane.run(lookups, &one).await;
                assert!(next[0].is_ok(), "the batch after: {:?}", next[0]);
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// A batch that panics fails its own callers only: its lane comes back, and the batches
/// after it are done as usual (with one lane, a lost lane would stop every write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_panics_fails_alone_and_its_lane_comes_back() {
    use super::batch::Batcher;
    use futures_util::future::BoxFuture;

    fn panics_on_true<'a>(
        conn: &'a mut sqlx::PgConnection,
        items: &'a [bool],
    ) -> BoxFuture<'a, Vec<StoreResult<i32>>> {
        Box::pin(async move {
            assert!(!items.iter().any(|&p| p), "a batch that panics");
            let one: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(conn)
                .await
                .unwrap();
            items.iter().map(|_| Ok(one)).collect()
        })
    }

    let fixture = fresh().await;
    let store = open_store(&fixture);
    let handle = store.runtime.handle().unwrap().clone();
    let batcher = Batcher::start(store.pool.clone(), 1, &handle, panics_on_true);
    let answered = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        assert!(batcher.call(true).await.is_err());
        for _ in 0..3 {
            assert_eq!(batcher.call(false).await.unwrap(), 1);
            assert!(batcher.call(true).await.is_err());
        }
    })
    .await;
    assert!(answered.is_ok(), "a batch after the panic was never done");
}

#[tokio::test]
async fn a_database_that_refuses_the_connection_says_why_once() {
    let url = server::shared().fresh_database();
    let (server_url, _) = url.rsplit_once('/').expect("a URL with a database");
    let missing = format!("{server_url}/ringback_no_such_database");
    let refused = match PgStore::open(&missing, 2).await {
        Err(e) => e,
        Ok(_) => panic!("a database that does not exist was opened"),
    };
    let said = refused.describe();
    assert!(
        said.starts_with("storage is unavailable: the database refused the connection:"),
        "{said}"
    );
    assert_eq!(said.matches("does not exist").count(), 1, "{said}");
    assert!(said.contains("ringback_no_such_database"), "{said}");
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_at_start_says_where_and_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://ringback:hunter5secret@127.0.0.1:{closed}/ringback");
    let refused = match PgStore::open(&url, 2).await {
        Err(e) => e,
        Ok(_) => panic!("a closed port was opened"),
    };
    assert!(matches!(refused, StoreError::Unavailable { .. }));
    let said = refused.describe();
    assert!(
        said.contains(&format!(
            "the database at 127.0.0.1:{closed} is not reachable"
        )),
        "{said}"
    );
    assert!(said.to_lowercase().contains("refused"), "{said}");
    assert!(!said.contains("hunter5"), "{said}");
}
