//! The store contract's reads, writes and upkeep for `SledStore`: each call goes to the
//! writer thread (`writer`), the point reader or the blocking pool (`SledStore::read`), and
//! to `read`, `ops` and `purge` for the work itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::keys::{self};
use super::writer::{Done, Work};
use super::{Lane, SledStore, encode, purge, records};
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::reminder::Delivery;
use crate::store::{
    CallbackDetail, CallbackReads, Cutoffs, Digests, EventLog, EventRecord, Found, Health,
    LeaseOwner, Lifecycle, ListQuery, Lookup, Maintenance, Outbox, Page, PendingBreakdown,
    PendingStats, Plan, Purged, RulesChange, RulesStore, StoreError, StoreResult, Take, Taken,
    TelegramState, UnknownChat, Version, Versioned,
};

#[async_trait]
impl EventLog for SledStore {
    async fn event(&self, id: Ulid) -> StoreResult<Option<(EventRecord, Vec<u8>)>> {
        self.scan(move |r| r.event(id)).await
    }

    async fn events(&self, after: Option<Ulid>, limit: usize) -> StoreResult<Vec<EventRecord>> {
        self.scan(move |r| r.events(after, limit)).await
    }

    async fn unreadable_numbers(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<EventRecord>> {
        self.scan(move |r| r.unreadable_numbers(since, limit)).await
    }
}

#[async_trait]
impl CallbackReads for SledStore {
    async fn callback(&self, id: CallbackId) -> StoreResult<Option<Versioned<Callback>>> {
        // Written lately: as committed, without waiting behind the writer (`recent.rs`).
        if let Some(bytes) = self.live()?.recent.get(Ulid::from_bytes(id.to_bytes()))
            && let Ok(value) = records::decode_callback(&bytes)
        {
            return Ok(Some(Versioned {
                value,
                version: Version::from_bytes(&bytes),
            }));
        }
        self.point(move |r| r.callback(id)).await
    }

    async fn callbacks(&self, ids: Vec<CallbackId>) -> StoreResult<Vec<Versioned<Callback>>> {
        self.scan(move |r| r.callbacks(&ids)).await
    }

    async fn callback_detail(&self, id: CallbackId) -> StoreResult<Option<CallbackDetail>> {
        self.scan(move |r| r.detail(id)).await
    }

    async fn list_callbacks(&self, query: ListQuery) -> StoreResult<Page> {
        self.scan(move |r| r.list(&query)).await
    }

    async fn pending_stats(&self) -> StoreResult<PendingStats> {
        self.scan(|r| r.pending_stats()).await
    }

    async fn pending_breakdown(&self) -> StoreResult<PendingBreakdown> {
        self.scan(|r| r.pending_breakdown()).await
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<Versioned<Callback>>> {
        // Stale index entries are dropped before this answers, so the next `next_due` does
        // not point at them again.
        self.read(Lane::Scan, true, move |r| r.due(now, limit))
            .await
            .map(|(due, _)| due)
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.scan(|r| r.next_due()).await
    }
}

#[async_trait]
impl Lifecycle for SledStore {
    async fn lookup(&self, lookup: Lookup) -> StoreResult<Found> {
        let again = lookup.clone();
        let (found, repaired) = self
            .read(Lane::Writer, true, move |r| r.lookup(&lookup))
            .await?;
        if !repaired {
            return Ok(found);
        }
        // Something read was set aside or pointed nowhere: read once more without it.
        self.read(Lane::Writer, true, move |r| r.lookup(&again))
            .await
            .map(|(found, _)| found)
    }

    async fn apply(&self, plan: Plan) -> StoreResult<()> {
        if plan.is_empty() {
            return Ok(());
        }
        let encoded = encode::encode(&plan, self.live()?.log.dictionaries())?;
        self.submit(Work::Apply(Box::new(encoded)))
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Outbox for SledStore {
    async fn take(&self, take: Take) -> StoreResult<Vec<Taken>> {
        match self.submit(Work::Take(take)).await? {
            Done::Taken(taken) => Ok(taken),
            _ => Err(StoreError::backend(
                "the writer answered a take with something else",
            )),
        }
    }

    async fn release(&self, owner: LeaseOwner, deliveries: Vec<Ulid>) -> StoreResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.submit(Work::Release(owner, deliveries))
            .await
            .map(|_| ())
    }

    async fn next_delivery_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        // In memory (`outbox_index.rs`): no read of sled.
        Ok(self.live()?.outbox.next(&self.inner.counters.leases))
    }

    async fn outbox(&self) -> StoreResult<Vec<Delivery>> {
        self.scan(|r| r.outbox()).await
    }
}

#[async_trait]
impl RulesStore for SledStore {
    async fn stored_rules(&self) -> StoreResult<Option<RulesChange>> {
        self.scan(|r| r.stored_rules()).await
    }

    async fn save_rules(&self, change: RulesChange) -> StoreResult<()> {
        self.submit(Work::SaveRules(Box::new(change)))
            .await
            .map(|_| ())
    }

    async fn rules_audit(&self, limit: usize) -> StoreResult<Vec<RulesChange>> {
        self.scan(move |r| r.rules_audit(limit)).await
    }

    async fn schedule_fingerprint(&self) -> StoreResult<Option<String>> {
        self.scan(|r| {
            Ok(r.meta(keys::SCHEDULE_RULES)?
                .map(|v| String::from_utf8_lossy(&v).into_owned()))
        })
        .await
    }

    async fn set_schedule_fingerprint(&self, fingerprint: String) -> StoreResult<()> {
        self.submit(Work::SetMeta(
            keys::SCHEDULE_RULES,
            fingerprint.into_bytes(),
        ))
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl TelegramState for SledStore {
    async fn telegram_offset(&self) -> StoreResult<i64> {
        self.scan(|r| {
            Ok(r.meta(keys::TELEGRAM_OFFSET)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(0, i64::from_be_bytes))
        })
        .await
    }

    async fn save_telegram_offset(&self, offset: i64) -> StoreResult<()> {
        self.submit(Work::SetMeta(
            keys::TELEGRAM_OFFSET,
            offset.to_be_bytes().to_vec(),
        ))
        .await
        .map(|_| ())
    }

    async fn note_unknown_chat(&self, chat: UnknownChat) -> StoreResult<()> {
        self.submit(Work::NoteChat(Box::new(chat)))
            .await
            .map(|_| ())
    }

    async fn unknown_chats(&self) -> StoreResult<Vec<UnknownChat>> {
        self.scan(|r| r.unknown_chats()).await
    }
}

#[async_trait]
impl Digests for SledStore {
    async fn last_digest(&self, schedule: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let schedule = schedule.to_string();
        self.scan(move |r| r.last_digest(&schedule)).await
    }
}

#[async_trait]
impl Maintenance for SledStore {
    async fn probe(&self) -> StoreResult<()> {
        self.submit(Work::Probe(Utc::now())).await.map(|_| ())
    }

    fn health(&self) -> Health {
        match self.inner.live() {
            Ok(live) if !live.failed() => Health::Ready,
            Ok(_) => Health::Unavailable(
                "storage failed (a full disk or a read-only file system?); reopening it".into(),
            ),
            Err(e) => Health::Unavailable(e.to_string()),
        }
    }

    async fn purge(&self, cutoffs: Cutoffs, limit: usize) -> StoreResult<Purged> {
        let live = self.live()?;
        let planning = Arc::clone(&live);
        let plan = tokio::task::spawn_blocking(move || {
            purge::plan(&planning.trees, &planning.log, cutoffs, limit)
        })
        .await
        .map_err(|e| StoreError::backend(format!("planning retention failed: {e}")))??;
        let purged = match live.submit(Work::Purge(Box::new(plan))).await? {
            Done::Purged(purged) => purged,
            _ => {
                return Err(StoreError::backend(
                    "the writer answered a purge with something else",
                ));
            }
        };
        // The last batch of events before the cutoff is gone: whole log segments older than
        // it can go too (a segment ends before the next one's first frame; only sealed ones).
        if let Some(cutoff) = cutoffs.events
            && purged.events < limit
        {
            let dropping = Arc::clone(&live);
            let (segments, bytes) = tokio::task::spawn_blocking(move || {
                dropping.log.drop_older_than(cutoff.timestamp_millis())
            })
            .await
            .map_err(|e| StoreError::backend(format!("dropping log segments failed: {e}")))?
            .map_err(|e| StoreError::unavailable_from("dropping old event log segments", e))?;
            if segments > 0 {
                tracing::info!(segments, bytes, "event log segments past retention deleted");
            }
        }
        Ok(purged)
    }

    fn quarantined(&self) -> u64 {
        self.inner.counters.quarantined.load(Ordering::Relaxed)
    }

    async fn close(&self) -> StoreResult<()> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.close())
            .await
            .map_err(|e| StoreError::backend(format!("closing storage failed: {e}")))?
    }
}
