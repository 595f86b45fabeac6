//! The sled backend: trees and keys in `keys`, the single writer in `writer` (its
//! transaction's writes in `apply`, webhooks in `ingest`, retention in `purge`, copies in
//! `backup`), group commit in `flusher`, reads in `read`, one open database in `live`.
//!
//! After a storage error (a full disk, a read-only file system) sled 0.34 refuses every
//! further write on that database handle. [`SledStore::heal`] therefore reopens it —
//! recovery replays sled's log up to the last flush, so everything acknowledged is kept and
//! nothing unacknowledged is — once the cause is gone; until then writes answer
//! `StoreError` (the webhook's 503) and readiness fails.

mod apply;
mod backup;
mod codec;
mod flusher;
mod ingest;
pub mod keys;
mod live;
mod purge;
mod read;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use ulid::Ulid;

use super::{
    ActOutcome, ActRequest, CallbackDetail, Claim, EventRecord, Ingest, ListQuery, Page,
    PendingStats, Receipt, RulesChange, Store, StoreError,
};
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::{Delivery, Settlement};
use crate::domain::rules::Rules;
use crate::store::UnknownChat;
use live::Live;
use writer::{Done, Work};

pub struct SledStore {
    path: PathBuf,
    /// The open database; `None` while a failed one is being replaced.
    live: RwLock<Option<Arc<Live>>>,
}

impl SledStore {
    /// Opens (creating if needed) the store under `path`, a directory only Ringback reads.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            path: path.to_path_buf(),
            live: RwLock::new(Some(Arc::new(Live::open(path)?))),
        })
    }

    fn live(&self) -> Result<Arc<Live>, StoreError> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Io("storage is being reopened after an error".into()))
    }

    fn submit(&self, work: Work) -> BoxFuture<'static, Result<Done, StoreError>> {
        match self.live() {
            Ok(live) => live.submit(work),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    /// Entries in each tree, by name (full scans: for tools and tests, not request paths).
    pub fn tree_sizes(&self) -> Result<Vec<(&'static str, usize)>, StoreError> {
        let live = self.live()?;
        keys::WRITTEN_TREES
            .iter()
            .map(|name| Ok((*name, live.tree_len(name)?)))
            .collect()
    }

    /// Every key of the named tree, in order (for tools and tests, not request paths).
    pub fn keys_of(&self, tree: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.live()?.keys_of(tree)
    }

    /// Whether the database had a storage error and awaits [`SledStore::heal`].
    pub fn failed(&self) -> bool {
        self.live().map_or(true, |l| l.failed())
    }

    /// Reopens the database if it failed (blocking). `Ok(true)` when it was reopened,
    /// `Ok(false)` when nothing needed doing; an error when reopening failed (try later).
    pub fn heal(&self) -> Result<bool, StoreError> {
        if !self.failed() {
            return Ok(false);
        }
        let old = self.live.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(old) = old {
            let _ = old.close();
            // In-flight reads hold the old handle briefly; sled's file lock is only released
            // with the last one.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(old);
        }
        let reopened = Live::open(&self.path)?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(reopened));
        tracing::warn!(path = %self.path.display(), "storage reopened after an error");
        Ok(true)
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

    fn purge(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> BoxFuture<'static, Result<crate::store::Purged, StoreError>> {
        let done = self.submit(Work::Purge(cutoff, limit));
        Box::pin(async move {
            match done.await? {
                Done::Purged(purged) => Ok(purged),
                _ => unreachable!("the writer answers a purge with what it purged"),
            }
        })
    }

    fn backup(
        &self,
        target: PathBuf,
    ) -> BoxFuture<'static, Result<crate::store::Backup, StoreError>> {
        let done = self.submit(Work::Backup(self.path.clone(), target));
        Box::pin(async move {
            match done.await? {
                Done::BackedUp(backup) => Ok(backup),
                _ => unreachable!("the writer answers a backup with the copy it made"),
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
        self.live()?.trees.outbox()
    }

    fn align_schedule(&self, rules: Arc<Rules>) -> BoxFuture<'static, Result<usize, StoreError>> {
        let fingerprint = rules.schedule_fingerprint();
        let live = match self.live() {
            Ok(live) => live,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let ids = match live.trees.meta(keys::SCHEDULE_RULES) {
            Ok(Some(stored)) if stored == fingerprint.as_bytes() => {
                return Box::pin(async { Ok(0) });
            }
            Ok(_) => live.trees.pending_ids(),
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
        self.live()?.trees.stored_rules()
    }

    fn save_rules(&self, change: RulesChange) -> BoxFuture<'static, Result<(), StoreError>> {
        let done = self.submit(Work::SaveRules(change));
        Box::pin(async move { done.await.map(|_| ()) })
    }

    fn rules_audit(&self, limit: usize) -> Result<Vec<RulesChange>, StoreError> {
        self.live()?.trees.rules_audit(limit)
    }

    fn pending_stats(&self) -> Result<PendingStats, StoreError> {
        self.live()?.trees.pending_stats()
    }

    fn telegram_offset(&self) -> Result<i64, StoreError> {
        Ok(self
            .live()?
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
        self.live()?.trees.unknown_chats()
    }

    fn next_due(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.live()?.trees.next_due()
    }

    fn list_callbacks(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.live()?.trees.list(query)
    }

    fn callback(&self, id: CallbackId) -> Result<Option<Callback>, StoreError> {
        self.live()?.trees.load(id)
    }

    fn callback_detail(&self, id: CallbackId) -> Result<Option<CallbackDetail>, StoreError> {
        self.live()?.trees.detail(id)
    }

    fn event(&self, id: Ulid) -> Result<Option<(EventRecord, Vec<u8>)>, StoreError> {
        self.live()?.trees.event(id)
    }

    fn events(&self, after: Option<Ulid>, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        self.live()?.trees.events(after, limit)
    }

    fn close(&self) -> Result<(), StoreError> {
        match self.live.write().unwrap_or_else(|e| e.into_inner()).take() {
            Some(live) => live.close(),
            None => Ok(()),
        }
    }

    fn healthy(&self) -> bool {
        !self.failed()
    }

    fn heal(&self) -> Result<bool, StoreError> {
        SledStore::heal(self)
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
