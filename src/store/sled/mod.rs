//! The sled backend: trees and keys in `keys`, the single writer in `writer`, group commit
//! in `flusher`, reads in `read`.

mod apply;
mod codec;
mod flusher;
pub mod keys;
mod read;
mod writer;

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use ulid::Ulid;

use super::{
    ActOutcome, ActRequest, CallbackDetail, Claim, EventRecord, Ingest, ListQuery, Page,
    PendingStats, Receipt, RulesChange, Store, StoreError,
};
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::{Delivery, Settlement};
use crate::domain::rules::Rules;
use crate::store::UnknownChat;
use flusher::{Flusher, wait_durable};
use writer::{Command, Done, Work};

/// sled's page cache; the default (1 GiB) is far more than a call centre's working set.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

pub struct SledStore {
    db: sled::Db,
    trees: read::Trees,
    queue: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    flusher: Arc<Flusher>,
}

impl SledStore {
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
        let trees = read::Trees::new(&written);
        let flusher = Arc::new(Flusher::start(db.clone(), data_file));
        let (queue, rx) = mpsc::channel(writer::QUEUE);
        let writer = writer::spawn(written, Arc::clone(&flusher), rx);
        Ok(Self {
            db,
            trees,
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
            flusher,
        })
    }

    fn sender(&self) -> Result<mpsc::Sender<Command>, StoreError> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }
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

impl SledStore {
    /// Queues work for the writer and resolves with its result once it is durable.
    fn submit(&self, work: Work) -> BoxFuture<'static, Result<Done, StoreError>> {
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
}

impl Store for SledStore {
    fn ingest(&self, ingest: Ingest) -> BoxFuture<'static, Result<Receipt, StoreError>> {
        let done = self.submit(Work::Ingest(Box::new(ingest)));
        Box::pin(async move {
            match done.await? {
                Done::Ingest(receipt) => Ok(receipt),
                _ => unreachable!("the writer answers ingest with a receipt"),
            }
        })
    }

    fn probe(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let done = self.submit(Work::Probe(chrono::Utc::now()));
        Box::pin(async move { done.await.map(|_| ()) })
    }

    fn claim_due(&self, claim: Claim) -> BoxFuture<'static, Result<Vec<Delivery>, StoreError>> {
        let done = self.submit(Work::Claim(claim));
        Box::pin(async move {
            match done.await? {
                Done::Claimed(deliveries) => Ok(deliveries),
                _ => unreachable!("the writer answers a claim with deliveries"),
            }
        })
    }

    fn act(&self, request: ActRequest) -> BoxFuture<'static, Result<ActOutcome, StoreError>> {
        let done = self.submit(Work::Act(request));
        Box::pin(async move {
            match done.await? {
                Done::Acted(outcome) => Ok(outcome),
                _ => unreachable!("the writer answers an action with its outcome"),
            }
        })
    }

    fn settle(
        &self,
        delivery: Ulid,
        settlement: Settlement,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let done = self.submit(Work::Settle(delivery, settlement));
        Box::pin(async move { done.await.map(|_| ()) })
    }

    fn outbox(&self) -> Result<Vec<Delivery>, StoreError> {
        self.trees.outbox()
    }

    fn align_schedule(&self, rules: Arc<Rules>) -> BoxFuture<'static, Result<usize, StoreError>> {
        let fingerprint = rules.schedule_fingerprint();
        let ids = match self.trees.meta(keys::SCHEDULE_RULES) {
            Ok(Some(stored)) if stored == fingerprint.as_bytes() => {
                return Box::pin(async { Ok(0) });
            }
            Ok(_) => self.trees.pending_ids(),
            Err(e) => Err(e),
        };
        let ids = match ids {
            Ok(ids) => ids,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        // In writer transactions of a thousand, then the fingerprint, in that order.
        let chunks: Vec<_> = ids
            .chunks(1000)
            .map(|c| self.submit(Work::Reschedule(c.to_vec(), Arc::clone(&rules))))
            .collect();
        let mark = self.submit(Work::SetMeta(
            keys::SCHEDULE_RULES,
            fingerprint.into_bytes(),
        ));
        let total = ids.len();
        Box::pin(async move {
            for chunk in chunks {
                chunk.await?;
            }
            mark.await?;
            if total > 0 {
                tracing::info!(
                    pending = total,
                    "schedule rules changed: pending callbacks rescheduled"
                );
            }
            Ok(total)
        })
    }

    fn stored_rules(&self) -> Result<Option<RulesChange>, StoreError> {
        self.trees.stored_rules()
    }

    fn save_rules(&self, change: RulesChange) -> BoxFuture<'static, Result<(), StoreError>> {
        let done = self.submit(Work::SaveRules(change));
        Box::pin(async move { done.await.map(|_| ()) })
    }

    fn rules_audit(&self, limit: usize) -> Result<Vec<RulesChange>, StoreError> {
        self.trees.rules_audit(limit)
    }

    fn pending_stats(&self) -> Result<PendingStats, StoreError> {
        self.trees.pending_stats()
    }

    fn telegram_offset(&self) -> Result<i64, StoreError> {
        Ok(self
            .trees
            .meta(keys::TELEGRAM_OFFSET)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, i64::from_be_bytes))
    }

    fn save_telegram_offset(&self, offset: i64) -> BoxFuture<'static, Result<(), StoreError>> {
        let done = self.submit(Work::SetMeta(
            keys::TELEGRAM_OFFSET,
            offset.to_be_bytes().to_vec(),
        ));
        Box::pin(async move { done.await.map(|_| ()) })
    }

    fn note_unknown_chat(&self, chat: UnknownChat) -> BoxFuture<'static, Result<(), StoreError>> {
        let done = self.submit(Work::NoteChat(chat));
        Box::pin(async move { done.await.map(|_| ()) })
    }

    fn unknown_chats(&self) -> Result<Vec<UnknownChat>, StoreError> {
        self.trees.unknown_chats()
    }

    fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.trees.next_due()
    }

    fn list_callbacks(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.trees.list(query)
    }

    fn callback(&self, id: CallbackId) -> Result<Option<Callback>, StoreError> {
        self.trees.load(id)
    }

    fn callback_detail(&self, id: CallbackId) -> Result<Option<CallbackDetail>, StoreError> {
        self.trees.detail(id)
    }

    fn event(&self, id: Ulid) -> Result<Option<(EventRecord, Vec<u8>)>, StoreError> {
        self.trees.event(id)
    }

    fn events(&self, after: Option<Ulid>, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        self.trees.events(after, limit)
    }

    fn close(&self) -> Result<(), StoreError> {
        // Dropping the sender lets the writer drain its queue and exit.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
        self.flusher.stop();
        self.db.flush()?;
        Ok(())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
