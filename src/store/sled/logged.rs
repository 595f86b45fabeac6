//! What the sled backend keeps in its event log (`log/`, format in `log/mod.rs`): one frame
//! per plan, holding a webhook's event (its record and raw body, kept for retention and read
//! back by id; claims, settlements and actions have none) and the plan's writes to the small
//! sled state (needed only until sled has flushed them).
//!
//! **Why the writes are in the frame.** A plan is answered once its frame is durable (one
//! `fdatasync` of the log per group commit), not once sled is: sled flushes on its own
//! schedule. After a crash, sled comes back as of its last flush — a prefix of what was
//! applied — and every frame after the point that prefix records (`meta.log_applied`) has its
//! writes done again here, in log order, before anything else reads the store. Writes are
//! whole values (a callback's new state, an index key), so doing them again on the prefix they
//! were first applied to gives the same state. Work that is not a plan is not in the log.
//! Rules edits, settings, repairs, retention and imports make the group commit flush sled,
//! which also makes every earlier plan's writes durable in sled, so the prefix never misses
//! such a write that a later logged one depends on. Leases (take, release) are never made
//! durable: every lease found at open is released, so a lease lost in a crash is no loss. A
//! settlement redone on a prefix without the lease it was made under removes the lease's
//! time-index entry (absent) and leaves the one at the delivery's earlier time; taking moves
//! such an entry to its delivery's time (`ops::take`).
//!
//! Frame payload (compressed by the log):
//!
//! | bytes | what |
//! |---|---|
//! | 1 | format (1) |
//! | 4 (u32 BE) + n | the event: `records::encode_event(record, body)`, or n = 0 for none |
//! | 4 (u32 BE) | number of writes |
//! | per write | kind (0 insert, 1 remove), tree (its index in `keys::WRITTEN_TREES`), key length (u32 BE), key, then for an insert value length (u32 BE) and value |
//! | 8 (i64 BE) | the change to the pending count |
//!
//! The `events` tree maps an event id to `position (u64 BE) ++ flags (u8)`: where its frame
//! is, and [`UNREADABLE`] for a missed call whose number could not be read (so that list is
//! found without reading frames).

use ulid::Ulid;

use super::encode::Op;
use super::keys::{self, Tree};
use std::sync::Arc;

use super::log::{Dictionaries, EncodedFrame, Log, Position};
use super::ops;
use super::records::{self, Undecodable};
use super::tx::Tx;
use crate::store::{EventRecord, EventWrite, StoreError};

const FORMAT: u8 = 1;
/// Index flag: a missed call whose customer number could not be read.
pub const UNREADABLE: u8 = 1;

/// A frame to append with a plan, and the event whose index it gets.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub event: Option<Ulid>,
    pub flags: u8,
    pub frame: EncodedFrame,
}

impl LogEntry {
    /// The frame of `event` (if any) with `ops` and the pending count's change.
    pub fn new(
        event: Option<&EventWrite>,
        ops: &[Op],
        pending_delta: i64,
        dictionaries: &Arc<Dictionaries>,
    ) -> Self {
        let payload = payload(event, ops, pending_delta);
        let time_ms = event.map_or_else(
            || chrono::Utc::now().timestamp_millis(),
            |e| e.record.received_at.timestamp_millis(),
        );
        Self {
            event: event.map(|e| e.record.id),
            flags: event.map_or(0, |e| flags_of(&e.record)),
            // Only a webhook's frame uses the dictionary (and trains it): the others hold
            // writes alone, whose values are packed already, so it would gain little there.
            frame: EncodedFrame::encode(&payload, time_ms, event.map(|_| dictionaries)),
        }
    }
}

pub fn flags_of(record: &EventRecord) -> u8 {
    if record.unreadable.is_some() {
        UNREADABLE
    } else {
        0
    }
}

fn payload(event: Option<&EventWrite>, ops: &[Op], pending_delta: i64) -> Vec<u8> {
    let event = event
        .map(|e| records::encode_event(&e.record, &e.body))
        .unwrap_or_default();
    let mut out = Vec::with_capacity(1 + 4 + event.len() + 4 + ops.len() * 64 + 8);
    out.push(FORMAT);
    put_bytes(&mut out, &event);
    out.extend_from_slice(&u32::try_from(ops.len()).unwrap_or(u32::MAX).to_be_bytes());
    for op in ops {
        match op {
            Op::Insert(tree, key, value) => {
                out.push(0);
                out.push(u8::try_from(tree.index()).unwrap_or(u8::MAX));
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
            Op::Remove(tree, key) => {
                out.push(1);
                out.push(u8::try_from(tree.index()).unwrap_or(u8::MAX));
                put_bytes(&mut out, key);
            }
        }
    }
    out.extend_from_slice(&pending_delta.to_be_bytes());
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A frame read back.
#[derive(Debug)]
pub struct Frame {
    /// Where the frame is (set when read from the log).
    pub at: Option<Position>,
    /// The event's record and body, when the frame has one.
    pub event: Option<(EventRecord, Vec<u8>)>,
    pub ops: Vec<Op>,
    pub pending_delta: i64,
}

fn undecodable(reason: &str) -> Undecodable {
    Undecodable {
        what: "event log frame",
        reason: reason.into(),
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Undecodable> {
        if self.0.len() < n {
            return Err(undecodable("it ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Undecodable> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<usize, Undecodable> {
        let b: [u8; 4] = self.take(4)?.try_into().unwrap_or_default();
        Ok(u32::from_be_bytes(b) as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], Undecodable> {
        let n = self.u32()?;
        self.take(n)
    }
}

/// Reads a frame's payload; `with_ops: false` skips decoding the writes (event reads).
pub fn decode(payload: &[u8], with_ops: bool) -> Result<Frame, Undecodable> {
    let mut c = Cursor(payload);
    if c.u8()? != FORMAT {
        return Err(undecodable("an unknown frame format"));
    }
    let event_bytes = c.bytes()?;
    let event = if event_bytes.is_empty() {
        None
    } else {
        let (record, body) = records::decode_event(event_bytes)?;
        Some((record, body.to_vec()))
    };
    if !with_ops {
        return Ok(Frame {
            at: None,
            event,
            ops: Vec::new(),
            pending_delta: 0,
        });
    }
    let count = c.u32()?;
    let mut ops = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let kind = c.u8()?;
        let tree = usize::from(c.u8()?);
        let tree = *keys::ALL_TREES
            .get(tree)
            .ok_or_else(|| undecodable("a write to an unknown tree"))?;
        let key = c.bytes()?.to_vec();
        ops.push(match kind {
            0 => Op::Insert(tree, key, c.bytes()?.to_vec()),
            1 => Op::Remove(tree, key),
            _ => return Err(undecodable("an unknown kind of write")),
        });
    }
    let delta: [u8; 8] = c.take(8)?.try_into().unwrap_or_default();
    if !c.0.is_empty() {
        return Err(undecodable("bytes after its end"));
    }
    Ok(Frame {
        at: None,
        event,
        ops,
        pending_delta: i64::from_be_bytes(delta),
    })
}

/// The `events` index value: where the frame is, and its flags.
pub fn index_value(at: Position, flags: u8) -> [u8; 9] {
    let mut out = [0u8; 9];
    out[..8].copy_from_slice(&at.to_be_bytes());
    out[8] = flags;
    out
}

/// An `events` index value; `None` for anything else (an event as schema 3 stored it).
pub fn index_from(bytes: &[u8]) -> Option<(Position, u8)> {
    let bytes: &[u8; 9] = bytes.try_into().ok()?;
    let at: [u8; 8] = bytes[..8].try_into().ok()?;
    Some((u64::from_be_bytes(at), bytes[8]))
}

/// What [`redo`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Redone {
    pub frames: u64,
    /// Frames that could not be read (logged and skipped).
    pub unreadable: u64,
}

/// Frames whose writes go into one transaction when they are done again.
const REDO_BATCH: usize = 512;

/// Does again, in log order, the writes of every frame from `from` (the end of the last
/// frame sled's state holds) on — at open, before anything reads the store.
pub fn redo(trees: &[sled::Tree], log: &Log, from: Position) -> Result<Redone, StoreError> {
    let mut redone = Redone::default();
    let mut batch: Vec<(Position, Frame)> = Vec::with_capacity(REDO_BATCH);
    for item in log.scan(from) {
        let scanned = match item {
            Ok(scanned) => scanned,
            Err(e) => {
                redone.unreadable += 1;
                tracing::error!(error = %e, "an event log frame could not be read again at open; its writes are skipped");
                continue;
            }
        };
        match decode(&scanned.payload, true) {
            Ok(frame) => batch.push((scanned.end, frame_at(scanned.at, frame))),
            Err(e) => {
                redone.unreadable += 1;
                tracing::error!(at = scanned.at, error = %e, "an event log frame could not be decoded at open; its writes are skipped");
            }
        }
        if batch.len() == REDO_BATCH {
            redo_batch(trees, &batch)?;
            redone.frames += batch.len() as u64;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        redo_batch(trees, &batch)?;
        redone.frames += batch.len() as u64;
    }
    Ok(redone)
}

/// A frame with the position its event is indexed at.
fn frame_at(at: Position, frame: Frame) -> Frame {
    Frame {
        at: Some(at),
        ..frame
    }
}

fn redo_batch(trees: &[sled::Tree], batch: &[(Position, Frame)]) -> Result<(), StoreError> {
    use sled::Transactional;
    let result = trees.transaction(|view| {
        let tx = Tx::new(view);
        for (end, frame) in batch {
            ops::write(&tx, &frame.ops)?;
            if let (Some((record, _)), Some(at)) = (&frame.event, frame.at) {
                tx.tree(Tree::Events)
                    .insert(&record.id.to_bytes(), &index_value(at, flags_of(record)))?;
            }
            tx.add_pending(frame.pending_delta);
            tx.note_logged(*end);
        }
        tx.finish()?;
        Ok(())
    });
    result.map_err(|e| match e {
        sled::transaction::TransactionError::Abort(e) => e,
        sled::transaction::TransactionError::Storage(e) => super::from_sled(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_its_event_writes_and_pending_change() {
        let ops = vec![
            Op::Insert(Tree::Callbacks, b"k1".to_vec(), b"v1".to_vec()),
            Op::Remove(Tree::Due, b"k2".to_vec()),
            Op::Insert(Tree::Meta, Vec::new(), Vec::new()),
        ];
        let bytes = payload(None, &ops, -3);
        let frame = decode(&bytes, true).unwrap();
        assert!(frame.event.is_none());
        assert_eq!(frame.pending_delta, -3);
        assert_eq!(format!("{:?}", frame.ops), format!("{ops:?}"));
    }

    #[test]
    fn a_cut_or_padded_frame_is_undecodable_not_a_panic() {
        let ops = vec![Op::Insert(Tree::Callbacks, b"k".to_vec(), b"v".to_vec())];
        let bytes = payload(None, &ops, 1);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n], true).is_err(), "cut at {n}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode(&padded, true).is_err());
    }

    #[test]
    fn an_index_value_reads_back_and_an_old_event_value_is_not_one() {
        assert_eq!(
            index_from(&index_value(77, UNREADABLE)),
            Some((77, UNREADABLE))
        );
        assert_eq!(index_from(b"\0\0\0\x02{}"), None);
    }
}
