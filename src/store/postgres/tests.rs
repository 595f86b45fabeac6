//! The PostgreSQL backend against the contract suite, each case on a fresh database of a
//! throwaway server (`tests/support/pg.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::PgStore;
use crate::store::contract::Fixture;
use crate::store::{Maintenance, Store};

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

/// A plan the database refuses (here a time it cannot read, as a bug would send) fails
/// alone: the plans batched with it are applied and answered as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_the_database_refuses_fails_alone_in_its_batch() {
    use super::apply::plan_json;
    use super::batch::{PlanJob, apply_plans};
    use crate::store::contract::values::{id, opening, pending};
    use crate::store::{CallbackReads, StoreError};

    let fixture = fresh().await;
    let store = fixture.current.lock().unwrap().clone().unwrap();
    let job = |n: u32| PlanJob {
        plan: plan_json(&opening(pending(n, 0))).unwrap(),
        order: n.to_string(),
    };
    let mut refused = job(2);
    refused.plan["callbacks"][0]["first_missed_at"] = "not a time".into();
    let pool = store.pool.clone();
    let answers = store
        .runtime
        .run(async move { Ok(apply_plans(pool, vec![job(3), refused, job(1)]).await) })
        .await
        .unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    match &answers[1] {
        Err(StoreError::Backend { message, .. }) => assert!(message.contains("22007"), "{message}"),
        other => panic!("the refused plan answered {other:?}"),
    }
    assert!(answers[2].is_ok(), "{:?}", answers[2]);
    assert!(store.callback(id(1)).await.unwrap().is_some());
    assert!(store.callback(id(3)).await.unwrap().is_some());
    assert!(store.callback(id(2)).await.unwrap().is_none());
}
