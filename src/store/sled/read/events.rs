//! Reads of the event log: an event by id (its index entry, then its frame in the log), a
//! page of events, the ones whose caller's number could not be read.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::{MAX_LIMIT, ReadResult, Reader};
use crate::store::sled::keys::Tree;
use crate::store::sled::logged;
use crate::store::sled::records::Undecodable;
use crate::store::{EventRecord, StoreError};

impl Reader<'_> {
    pub fn event(&mut self, id: Ulid) -> ReadResult<Option<(EventRecord, Vec<u8>)>> {
        let Some(index) = self.get(Tree::Events, &id.to_bytes())? else {
            return Ok(None);
        };
        self.logged_event(&id.to_bytes(), &index)
    }

    /// The event an `events` index entry points at, read from the log. An entry that is not
    /// an index value is set aside; a frame gone from the log (a crash lost it before it was
    /// acknowledged) or unreadable there answers `Corrupt` for that event alone.
    fn logged_event(
        &mut self,
        key: &[u8],
        index: &[u8],
    ) -> ReadResult<Option<(EventRecord, Vec<u8>)>> {
        let Some((at, _)) = logged::index_from(index) else {
            let e = Undecodable {
                what: "event index",
                reason: "not a position in the event log".into(),
            };
            self.quarantine(Tree::Events, key, &e);
            return Err(e.into());
        };
        let log = self
            .log
            .ok_or_else(|| StoreError::backend("events are read on the scan lane"))?;
        let payload = log
            .read(at)
            .map_err(|e| StoreError::corrupt("event log frame", e))?;
        let frame = logged::decode(&payload, false)?;
        Ok(frame.event)
    }

    pub fn events(&mut self, after: Option<Ulid>, limit: usize) -> ReadResult<Vec<EventRecord>> {
        let iter = match after {
            Some(id) => self
                .tree(Tree::Events)
                .range::<[u8; 16], _>((Bound::Excluded(id.to_bytes()), Bound::Unbounded)),
            None => self.tree(Tree::Events).iter(),
        };
        let limit = limit.clamp(1, MAX_LIMIT);
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (key, index) = item.map_err(crate::store::sled::from_sled)?;
            match self.logged_event(&key, &index) {
                Ok(Some((record, _))) => out.push(record),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e.describe(), "an event could not be read; listed without it")
                }
            }
        }
        Ok(out)
    }

    /// Events since `since` flagged `unreadable`, newest first. Events are keyed by their
    /// ULID, which starts with the receipt time, so this reads only the period asked for,
    /// and the index's flag says which to read from the log.
    pub fn unreadable_numbers(
        &mut self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> ReadResult<Vec<EventRecord>> {
        let from = Ulid::from_parts(u64::try_from(since.timestamp_millis()).unwrap_or(0), 0);
        let limit = limit.clamp(1, MAX_LIMIT);
        let mut out = Vec::new();
        let range = self
            .tree(Tree::Events)
            .range::<[u8; 16], _>((Bound::Included(from.to_bytes()), Bound::Unbounded));
        for item in range.rev() {
            if out.len() >= limit {
                break;
            }
            let (key, index) = item.map_err(crate::store::sled::from_sled)?;
            if logged::index_from(&index).is_some_and(|(_, flags)| flags & logged::UNREADABLE == 0)
            {
                continue;
            }
            match self.logged_event(&key, &index) {
                Ok(Some((record, _))) if record.unreadable.is_some() => out.push(record),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e.describe(), "an event could not be read; listed without it")
                }
            }
        }
        Ok(out)
    }
}
