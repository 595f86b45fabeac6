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
