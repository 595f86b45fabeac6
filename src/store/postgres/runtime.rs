//! The PostgreSQL backend's own tokio runtime: its connections are opened and driven here
//! (see `PgStore::on_db` for why), whatever runtime the caller is on.

use std::future::Future;

use crate::store::{StoreError, StoreResult};

/// Threads the store's runtime runs on: the work there is waiting on sockets and encoding
/// rows, so two keep a transaction's round trips moving while the other is busy.
const THREADS: usize = 2;

pub struct StoreRuntime {
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl StoreRuntime {
    pub fn start() -> StoreResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_name("ringback-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::backend(format!("starting the database runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// The runtime's handle, for tasks that live as long as the store (the batcher).
    pub fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.as_ref().map(tokio::runtime::Runtime::handle)
    }

    /// Runs `work` here and hands its answer back to the caller's runtime. A panic in it
    /// fails this one call.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Closed);
        };
        match runtime.spawn(work).await {
            Ok(answer) => answer,
            Err(e) if e.is_panic() => Err(StoreError::backend("a database call panicked")),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

impl Drop for StoreRuntime {
    /// A runtime may not be dropped from inside another's async context (the last store
    /// handle can go there): its threads are told to stop and not waited for.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
