//! Moving a store written by an earlier schema to this build's ([`keys::SCHEMA_VERSION`]),
//! at open, before anything else reads it. Each step is one sled transaction that ends by
//! recording its new version, so a crash part way leaves the store at the previous version
//! and the step runs again at the next open. A store from a newer build is refused: this
//! build cannot know what that one wrote.
//!
//! | from | to | what changes |
//! |------|----|--------------|
//! | —    | 2  | a new, empty store is stamped with the current version |
//! | 1    | 2  | `outbox_due` is built from the outbox (deliveries are taken by it, with leases); the pending count is counted if absent; `quarantine` exists (empty) |
//! | 2    | 3  | `digests` exists (empty); callbacks may carry `last_attempt_at` (absent reads as none) and the outbox deliveries of purpose `digest` — nothing to rewrite, but a build of schema 2 must not open a store that has them |
//! | 3    | 4  | every event's record and body move into the event log (`log/`); `events` keeps the index (position and flags), `event_bodies` is emptied; `meta.log_applied` says how far the log is applied |
//! | 4    | 5  | values are written packed (`packed.rs`: zstd against a built-in dictionary); those written before stay plain JSON, read as they are — nothing is rewritten |
//! | 5    | 6  | `outbox_due` is no longer written (the outbox's times are indexed in memory, `outbox_index.rs`) and is emptied at open by [`outbox_at_open`] — after the event log is redone, since frames of a build before may write to it again; a build of schema 5 would not find the deliveries recorded since |

use sled::Transactional;
use sled::transaction::TransactionError;

use super::keys::{self, Tree};
use super::log::Log;
use super::logged::{self, LogEntry};
use super::records;
use super::tx::{Tx, TxResult};
use crate::store::StoreError;

/// Migrates `trees` in place; returns the version the store was found at (None: new).
pub fn run(db: &sled::Db, trees: &[sled::Tree], log: &Log) -> Result<Option<u32>, StoreError> {
    let meta = &trees[Tree::Meta.index()];
    let found = match meta
        .get(keys::SCHEMA_VERSION_KEY)
        .map_err(super::from_sled)?
    {
        None => None,
        Some(v) => Some(
            std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    what: format!("schema version {:?}", String::from_utf8_lossy(&v)),
                    source: None,
                })?,
        ),
    };
    let mut version = match found {
        None if trees.iter().all(sled::Tree::is_empty) => {
            stamp(trees, keys::SCHEMA_VERSION)?;
            keys::SCHEMA_VERSION
        }
        // Data without a version predates versioning: the first format.
        None => 1,
        Some(v) if v > keys::SCHEMA_VERSION => {
            return Err(StoreError::Newer(format!(
                "this store was written by a newer Ringback (storage schema {v}; this build reads up to {}): run that version, or restore a backup made before it",
                keys::SCHEMA_VERSION
            )));
        }
        Some(v) => v,
    };
    while version < keys::SCHEMA_VERSION {
        let next = version + 1;
        tracing::info!(from = version, to = next, "migrating the store's format");
        match next {
            2 => transact(trees, to_2)?,
            3 => transact(trees, to_3)?,
            4 => to_4(trees, log)?,
            5 => transact(trees, to_5)?,
            6 => transact(trees, to_6)?,
            _ => unreachable!("every version up to SCHEMA_VERSION has a step"),
        }
        version = next;
    }
    db.flush().map_err(super::from_sled)?;
    Ok(found)
}

fn stamp(trees: &[sled::Tree], version: u32) -> Result<(), StoreError> {
    trees[Tree::Meta.index()]
        .insert(keys::SCHEMA_VERSION_KEY, version.to_string().as_bytes())
        .map_err(super::from_sled)?;
    Ok(())
}

/// A step: what it reads is read first (sled cannot iterate inside a transaction), then
/// its writes are applied in one transaction that also records the new version.
fn transact(
    trees: &[sled::Tree],
    step: fn(&Tx, &Before) -> TxResult<()>,
) -> Result<(), StoreError> {
    let before = Before::read(trees)?;
    let quarantined = trees
        .transaction(|view| {
            let tx = Tx::new(view);
            step(&tx, &before)?;
            tx.finish()
        })
        .map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => super::from_sled(e),
        })?;
    for q in quarantined {
        tracing::warn!(tree = q.tree, reason = %q.reason, "an unreadable record was set aside while migrating");
    }
    Ok(())
}

/// What the steps read before their transaction.
struct Before {
    outbox: Vec<(sled::IVec, sled::IVec)>,
    pending: u64,
}

impl Before {
    fn read(trees: &[sled::Tree]) -> Result<Self, StoreError> {
        Ok(Self {
            outbox: trees[Tree::Outbox.index()]
                .iter()
                .collect::<Result<_, _>>()
                .map_err(super::from_sled)?,
            pending: trees[Tree::PendingByAge.index()].len() as u64,
        })
    }
}

/// Schema 1 → 2.
fn to_2(tx: &Tx, before: &Before) -> TxResult<()> {
    for (key, value) in &before.outbox {
        // (This step also built `outbox_due`, which schema 6 no longer has.)
        if let Err(e) = records::decode_delivery(value) {
            tx.quarantine(Tree::Outbox, key, value, e.to_string())?;
        }
    }
    let meta = tx.tree(Tree::Meta);
    if meta.get(keys::PENDING_COUNT)?.is_none() {
        meta.insert(keys::PENDING_COUNT, &before.pending.to_be_bytes())?;
    }
    meta.insert(keys::SCHEMA_VERSION_KEY, "2".as_bytes())?;
    Ok(())
}

/// Schema 2 → 3: only the version (the new tree starts empty).
fn to_3(tx: &Tx, _before: &Before) -> TxResult<()> {
    tx.tree(Tree::Meta)
        .insert(keys::SCHEMA_VERSION_KEY, "3".as_bytes())?;
    Ok(())
}

/// Values are packed from now on; the plain JSON ones already written read as they are and
/// are packed when next written. Nothing to rewrite, but a build of schema 4 must not open a
/// store holding values it cannot read.
fn to_5(tx: &Tx, _before: &Before) -> TxResult<()> {
    tx.tree(Tree::Meta)
        .insert(keys::SCHEMA_VERSION_KEY, "5".as_bytes())?;
    Ok(())
}

/// The outbox's time index lives in memory from schema 6 on; `outbox_at_open` empties the
/// tree that held it.
fn to_6(tx: &Tx, _before: &Before) -> TxResult<()> {
    tx.tree(Tree::Meta)
        .insert(keys::SCHEMA_VERSION_KEY, "6".as_bytes())?;
    Ok(())
}

/// What the outbox holds at open.
pub struct OutboxAtOpen {
    /// Deliveries whose lease (written into sled by a build before schema 5's leases in
    /// memory) was given back.
    pub released: usize,
    /// Every readable delivery and when it may be taken: the outbox index's content.
    pub takeable: Vec<(ulid::Ulid, chrono::DateTime<chrono::Utc>)>,
}

/// Reads the outbox once at open, after the event log is redone: its deliveries and their
/// times (for `outbox_index.rs`); and, as a sled store has one process (sled locks its
/// files), gives back every lease a build before wrote into sled — held by a process that
/// is gone, so its delivery is takeable again at its own time. Empties `outbox_due`, the
/// tree that indexed the outbox before schema 6. An unreadable delivery is left for the
/// first read of the outbox to set aside.
pub fn outbox_at_open(trees: &[sled::Tree]) -> Result<OutboxAtOpen, StoreError> {
    let stale_index = &trees[Tree::OutboxDue.index()];
    if !stale_index.is_empty() {
        stale_index.clear().map_err(super::from_sled)?;
    }
    let mut leased = Vec::new();
    let mut takeable = Vec::new();
    for item in trees[Tree::Outbox.index()].iter() {
        let (key, value) = item.map_err(super::from_sled)?;
        let Ok(stored) = records::decode_delivery(&value) else {
            continue;
        };
        takeable.push((stored.delivery.id, stored.delivery.next_attempt_at));
        if let Some(lease) = stored.lease {
            leased.push((key, stored, lease));
        }
    }
    let released = leased.len();
    if released > 0 {
        release(trees, &leased)?;
    }
    Ok(OutboxAtOpen { released, takeable })
}

fn release(
    trees: &[sled::Tree],
    leased: &[(sled::IVec, records::StoredDelivery, crate::store::Lease)],
) -> Result<(), StoreError> {
    let result = trees.transaction(|view| {
        let tx = Tx::new(view);
        for (key, stored, _) in leased {
            tx.tree(Tree::Outbox)
                .insert(key, records::encode_delivery(&stored.delivery, None))?;
        }
        Ok(())
    });
    result.map_err(|e: TransactionError<StoreError>| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => super::from_sled(e),
    })
}

/// Events moved into the log per transaction.
const MOVE_BATCH: usize = 1000;

/// Schema 3 → 4, in batches: old-format events are read (with their chunks), their frames
/// appended to the log and synced, then one transaction swaps their values for index entries,
/// removes their chunks and records how far the log is applied. A crash part way leaves the
/// events not yet swapped in the old format (the step moves them at the next open) and at most
/// one batch of frames nothing points at.
fn to_4(trees: &[sled::Tree], log: &Log) -> Result<(), StoreError> {
    let events = &trees[Tree::Events.index()];
    let bodies = &trees[Tree::EventBodies.index()];
    let mut after: Option<sled::IVec> = None;
    let mut moved = 0u64;
    loop {
        let range = match &after {
            Some(key) => events.range::<&[u8], _>((
                std::ops::Bound::Excluded(key.as_ref()),
                std::ops::Bound::Unbounded,
            )),
            None => events.iter(),
        };
        let mut batch = Vec::new();
        let mut unreadable = Vec::new();
        for item in range {
            let (key, value) = item.map_err(super::from_sled)?;
            after = Some(key.clone());
            if logged::index_from(&value).is_some() {
                continue;
            }
            match records::decode_event(&value) {
                Ok((record, inline)) => {
                    let mut body = inline.to_vec();
                    let mut chunks = Vec::new();
                    for chunk in bodies.scan_prefix(&key) {
                        let (chunk_key, bytes) = chunk.map_err(super::from_sled)?;
                        body.extend_from_slice(&bytes);
                        chunks.push(chunk_key);
                    }
                    let write = crate::store::EventWrite { record, body };
                    batch.push((
                        key,
                        LogEntry::new(Some(&write), &[], 0, log.dictionaries()),
                        chunks,
                    ));
                }
                Err(e) => unreadable.push((key, value, e.to_string())),
            }
            if batch.len() + unreadable.len() >= MOVE_BATCH {
                break;
            }
        }
        let done = batch.is_empty() && unreadable.is_empty();
        let frames: Vec<_> = batch
            .iter()
            .map(|(_, entry, _)| entry.frame.clone())
            .collect();
        let at = if frames.is_empty() {
            Vec::new()
        } else {
            let at = log
                .append(&frames)
                .map_err(|e| StoreError::unavailable_from("moving events into the log", e))?;
            log.sync()
                .map_err(|e| StoreError::unavailable_from("moving events into the log", e))?;
            at
        };
        let end = log.end();
        trees
            .transaction(|view| {
                let tx = Tx::new(view);
                for ((key, entry, chunks), at) in batch.iter().zip(&at) {
                    tx.tree(Tree::Events)
                        .insert(key, &logged::index_value(*at, entry.flags))?;
                    for chunk in chunks {
                        tx.tree(Tree::EventBodies).remove(chunk)?;
                    }
                }
                for (key, value, reason) in &unreadable {
                    tx.quarantine(Tree::Events, key, value, reason.clone())?;
                }
                if !at.is_empty() {
                    tx.note_logged(end);
                }
                if done {
                    tx.tree(Tree::Meta)
                        .insert(keys::SCHEMA_VERSION_KEY, "4".as_bytes())?;
                }
                tx.finish()
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => super::from_sled(e),
            })?;
        moved += batch.len() as u64;
        if done {
            tracing::info!(events = moved, "events moved into the event log");
            return Ok(());
        }
    }
}
