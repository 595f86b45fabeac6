//! One open sled database with its writer and flusher threads. [`super::SledStore`] holds
//! the current one and replaces it after a storage failure (see `heal` there).

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::flusher::{Flusher, wait_durable};
use super::writer::{self, Command, Done, Work};
use super::{keys, read};
use crate::store::StoreError;

/// sled's page cache; the default (1 GiB) is far more than a call centre's working set.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

pub struct Live {
    db: sled::Db,
    pub trees: read::Trees,
    queue: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    flusher: Arc<Flusher>,
    /// Set by the writer or flusher when sled reported an I/O error: sled 0.34 refuses every
    /// later write on that handle, so the database must be reopened.
    failed: Arc<AtomicBool>,
}

impl Live {
    /// Opens (creating if needed) the store under `path`, a directory only Ringback reads.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::data_dir::create_private(path)
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", path.display())))?;
        let db = sled::Config::new()
            .path(path.join("sled"))
            .cache_capacity(CACHE_BYTES)
            .open()?;
        check_schema(&db)?;
        let data_path = path.join("sled").join("db");
        let data_file = File::open(&data_path)
            .map_err(|e| StoreError::Io(format!("opening {}: {e}", data_path.display())))?;
        // Make the files' directory entries durable once, so fdatasync of the data file
        // is enough from here on.
        for dir in [path.join("sled"), path.to_path_buf()] {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::Io(format!("syncing {}: {e}", dir.display())))?;
        }
        let written: Vec<sled::Tree> = keys::WRITTEN_TREES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<_, _>>()?;
        count_pending_once(&written)?;
        release_freed_memory();
        let trees = read::Trees::new(&written);
        let failed = Arc::new(AtomicBool::new(false));
        let flusher = Arc::new(Flusher::start(db.clone(), data_file, Arc::clone(&failed)));
        let (queue, rx) = mpsc::channel(writer::QUEUE);
        let writer = writer::spawn(written, Arc::clone(&flusher), rx, Arc::clone(&failed));
        Ok(Self {
            db,
            trees,
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
            flusher,
            failed,
        })
    }

    /// Entries in the named tree (a full scan: for tools and tests, not request paths).
    pub fn tree_len(&self, name: &str) -> Result<usize, StoreError> {
        Ok(self.db.open_tree(name)?.len())
    }

    /// Every key of the named tree, in order (for tools and tests, not request paths).
    pub fn keys_of(&self, name: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.db
            .open_tree(name)?
            .iter()
            .keys()
            .map(|k| Ok(k?.to_vec()))
            .collect()
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StoreError> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }

    /// Queues work for the writer and resolves with its result once it is durable.
    pub fn submit(&self, work: Work) -> BoxFuture<'static, Result<Done, StoreError>> {
        let queue = self.sender();
        let durable = self.flusher.subscribe();
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            queue?
                .send(Command { work, reply })
                .await
                .map_err(|_| StoreError::Closed)?;
            let (done, generation) = rx.await.map_err(|_| StoreError::Closed)??;
            wait_durable(durable, generation).await?;
            Ok(done)
        })
    }

    /// Lets the writer drain its queue, stops both threads and flushes.
    pub fn close(&self) -> Result<(), StoreError> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
        self.flusher.stop();
        self.db.flush()?;
        Ok(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// sled's recovery allocates about twice what it keeps (it rebuilds its page table from the
/// log); hands the freed pages back to the OS now instead of whenever the allocator would.
/// Measured on a store of 84 000 pending callbacks: resident memory after startup 82 → 73 MB.
/// Here rather than in start-up so a reopen after a storage error (`heal`) does it too.
fn release_freed_memory() {
    // SAFETY: `mi_collect` only walks mimalloc's own heaps and may be called from any thread
    // at any time; when mimalloc is not the global allocator (tests) it has nothing to do.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// Stores written before the pending counter existed get it counted once.
fn count_pending_once(trees: &[sled::Tree]) -> Result<(), StoreError> {
    let meta = &trees[keys::index_of(keys::META)];
    if meta.get(keys::PENDING_COUNT)?.is_none() {
        let count = trees[keys::index_of(keys::PENDING_BY_AGE)].len() as u64;
        meta.insert(keys::PENDING_COUNT, &count.to_be_bytes())?;
    }
    Ok(())
}

fn check_schema(db: &sled::Db) -> Result<(), StoreError> {
    let meta = db.open_tree(keys::META)?;
    match meta.get("schema_version")? {
        None => {
            meta.insert("schema_version", keys::SCHEMA_VERSION)?;
            db.flush()?;
            Ok(())
        }
        Some(v) if v.as_ref() == keys::SCHEMA_VERSION.as_bytes() => Ok(()),
        Some(v) => Err(StoreError::Corrupt(format!(
            "data was written by an incompatible version (schema {}, this build reads {})",
            String::from_utf8_lossy(&v),
            keys::SCHEMA_VERSION
        ))),
    }
}
