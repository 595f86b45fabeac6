//! Reads. They go straight to sled's trees (no writer round trip) on a blocking thread; a
//! reader may briefly see an index entry whose callback has moved on, so every list checks
//! the record itself. A record that cannot be decoded is skipped and reported as a
//! [`Repair`] for the writer to set aside; so is an index entry that points at nothing.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::encode::customer_version;
use super::keys::{self, Tree};
use super::log::Log;
use super::records::{self, Undecodable};
use super::repair::Repair;
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::store::{
    CallbackDetail, CallbackFilter, Cursor, CustomerState, Found, ListQuery, Lookup, Page,
    PendingBreakdown, PendingStats, Phase, StatusFilter, StoreError, Version, Versioned,
};

mod events;
mod meta;

const MAX_LIMIT: usize = 10_000;

type ReadResult<T> = Result<T, StoreError>;

/// The open trees, by [`Tree`], and the repairs reads found to be needed.
pub struct Reader<'a> {
    trees: &'a [sled::Tree],
    /// The event log, for reads of events (the point lane has none: it reads no events).
    log: Option<&'a Log>,
    pub repairs: Vec<Repair>,
}

/// A record read by key.
enum Loaded<T> {
    Missing,
    Found(T, sled::IVec),
    Unreadable(Undecodable),
}

impl<'a> Reader<'a> {
    pub fn new(trees: &'a [sled::Tree], log: Option<&'a Log>) -> Self {
        Self {
            trees,
            log,
            repairs: Vec::new(),
        }
    }

    pub(super) fn tree(&self, tree: Tree) -> &'a sled::Tree {
        &self.trees[tree.index()]
    }

    fn get(&self, tree: Tree, key: &[u8]) -> ReadResult<Option<sled::IVec>> {
        self.tree(tree).get(key).map_err(super::from_sled)
    }

    fn quarantine(&mut self, tree: Tree, key: &[u8], why: &Undecodable) {
        self.repairs.push(Repair::Quarantine {
            tree,
            key: key.to_vec(),
            reason: why.to_string(),
        });
    }

    fn load_callback(&self, id: CallbackId) -> ReadResult<Loaded<Callback>> {
        Ok(match self.get(Tree::Callbacks, &id.to_bytes())? {
            None => Loaded::Missing,
            Some(bytes) => match records::decode_callback(&bytes) {
                Ok(cb) => Loaded::Found(cb, bytes),
                Err(e) => Loaded::Unreadable(e),
            },
        })
    }

    /// A callback, or `None` when it is missing or unreadable (then set aside).
    fn readable_callback(&mut self, id: CallbackId) -> ReadResult<Option<Versioned<Callback>>> {
        Ok(match self.load_callback(id)? {
            Loaded::Found(value, bytes) => Some(Versioned {
                value,
                version: Version::from_bytes(&bytes),
            }),
            Loaded::Missing => None,
            Loaded::Unreadable(e) => {
                self.quarantine(Tree::Callbacks, &id.to_bytes(), &e);
                None
            }
        })
    }

    /// A callback by id; an unreadable one is an error for this request (and set aside).
    pub fn callback(&mut self, id: CallbackId) -> ReadResult<Option<Versioned<Callback>>> {
        match self.load_callback(id)? {
            Loaded::Found(value, bytes) => Ok(Some(Versioned {
                value,
                version: Version::from_bytes(&bytes),
            })),
            Loaded::Missing => Ok(None),
            Loaded::Unreadable(e) => {
                self.quarantine(Tree::Callbacks, &id.to_bytes(), &e);
                Err(e.into())
            }
        }
    }

    pub fn callbacks(&mut self, ids: &[CallbackId]) -> ReadResult<Vec<Versioned<Callback>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.readable_callback(*id)?);
        }
        Ok(out)
    }

    pub fn detail(&mut self, id: CallbackId) -> ReadResult<Option<CallbackDetail>> {
        let Some(callback) = self.callback(id)? else {
            return Ok(None);
        };
        let mut timeline = Vec::new();
        for item in self.tree(Tree::Timeline).scan_prefix(id.to_bytes()) {
            let (key, value) = item.map_err(super::from_sled)?;
            match records::decode::<Vec<TimelineEntry>>("timeline entry", &value) {
                Ok(entries) => timeline.extend(entries),
                Err(e) => self.quarantine(Tree::Timeline, &key, &e),
            }
        }
        Ok(Some(CallbackDetail {
            callback: callback.value,
            timeline,
        }))
    }

    /// What an incoming event is decided from.
    pub fn lookup(&mut self, lookup: &Lookup) -> ReadResult<Found> {
        let mut found = Found::default();
        if let Some(call_id) = &lookup.call_id
            && let Some(bytes) = self.get(Tree::Calls, call_id.as_bytes())?
        {
            match records::decode_call(&bytes) {
                Ok(state) => {
                    found.call = Some(Versioned {
                        value: state,
                        version: Version::from_bytes(&bytes),
                    });
                }
                Err(e) => self.quarantine(Tree::Calls, call_id.as_bytes(), &e),
            }
        }
        if let Some(key) = &lookup.dedup {
            found.dedup = self
                .get(Tree::EventDedup, &keys::dedup(key))?
                .and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok())
                .map(Ulid::from_bytes);
        }
        if let Some(id) = lookup.callback {
            found.callback = self.readable_callback(id)?;
        }
        if let Some(number) = &lookup.customer {
            let key = number.as_str().as_bytes();
            let pending_id = self.get(Tree::PendingByCustomer, key)?;
            let answered = self.get(Tree::LastAnswered, key)?;
            let mut pending = None;
            if let Some(value) = &pending_id {
                let cb = match keys::callback_id_from(value) {
                    Some(id) => self.readable_callback(id)?,
                    None => None,
                };
                match cb {
                    Some(cb) if cb.value.is_pending() && cb.value.customer_number == *number => {
                        pending = Some(cb);
                    }
                    // An index entry that points at nothing pending: dropped, then read again.
                    _ => self.repairs.push(Repair::StalePending(key.to_vec())),
                }
            }
            found.customer = Some(CustomerState {
                number: number.clone(),
                pending,
                last_answered_at: answered.as_deref().and_then(keys::time_from),
                version: customer_version(pending_id.as_deref(), answered.as_deref()),
            });
        }
        Ok(found)
    }

    /// Pending callbacks oldest first, then resolved ones newest first, `limit` at a time.
    pub fn list(&mut self, query: &ListQuery) -> ReadResult<Page> {
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let (mut phase, mut from) = match query.after {
            Some(cursor) => (cursor.phase, Some(cursor)),
            None if query.status == StatusFilter::Resolved => (Phase::Resolved, None),
            None => (Phase::Pending, None),
        };
        let mut out: Vec<(Cursor, Callback)> = Vec::with_capacity(limit + 1);
        loop {
            let wanted = match phase {
                Phase::Pending => query.status != StatusFilter::Resolved,
                Phase::Resolved => query.status != StatusFilter::Pending,
            };
            if wanted {
                self.collect(phase, from.take(), limit + 1, &query.filter, &mut out)?;
            }
            if out.len() > limit || phase == Phase::Resolved {
                break;
            }
            phase = Phase::Resolved;
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|(cursor, _)| *cursor)
        } else {
            None
        };
        Ok(Page {
            callbacks: out.into_iter().map(|(_, cb)| cb).collect(),
            next,
        })
    }

    fn collect(
        &mut self,
        phase: Phase,
        after: Option<Cursor>,
        max: usize,
        filter: &CallbackFilter,
        out: &mut Vec<(Cursor, Callback)>,
    ) -> ReadResult<()> {
        let after = after.map(|c| keys::by_time(c.at, c.id).to_vec());
        let (index, forward) = match phase {
            Phase::Pending => (self.tree(Tree::PendingByAge), true),
            Phase::Resolved => (self.tree(Tree::ResolvedByTime), false),
        };
        let keys: Box<dyn Iterator<Item = sled::Result<sled::IVec>>> = match (forward, after) {
            (true, None) => Box::new(index.iter().keys()),
            (true, Some(k)) => Box::new(
                index
                    .range::<Vec<u8>, _>((Bound::Excluded(k), Bound::Unbounded))
                    .keys(),
            ),
            (false, None) => Box::new(index.iter().keys().rev()),
            (false, Some(k)) => Box::new(index.range::<Vec<u8>, _>(..k).keys().rev()),
        };
        for key in keys {
            if out.len() >= max {
                break;
            }
            let key = key.map_err(super::from_sled)?;
            let (Some(id), Some(at)) = (keys::callback_from_index(&key), keys::time_from(&key))
            else {
                continue;
            };
            let Some(cb) = self.readable_callback(id)? else {
                continue;
            };
            if cb.value.is_pending() == (phase == Phase::Pending) && filter.matches(&cb.value) {
                out.push((Cursor { phase, at, id }, cb.value));
            }
        }
        Ok(())
    }

    pub fn pending_stats(&mut self) -> ReadResult<PendingStats> {
        let count = keys::count_from(
            self.get(Tree::Meta, keys::PENDING_COUNT.as_bytes())?
                .as_deref(),
        );
        let mut oldest = None;
        for key in self.tree(Tree::PendingByAge).iter().keys() {
            let key = key.map_err(super::from_sled)?;
            let Some(id) = keys::callback_from_index(&key) else {
                continue;
            };
            if let Some(cb) = self.readable_callback(id)?.filter(|c| c.value.is_pending()) {
                oldest = Some(cb.value);
                break;
            }
        }
        Ok(PendingStats { count, oldest })
    }

    /// Every pending callback, counted per agent and per department (one pass over the
    /// pending index, reading each record: sled has no aggregate of its own).
    pub fn pending_breakdown(&mut self) -> ReadResult<PendingBreakdown> {
        let mut breakdown = PendingBreakdown::default();
        for key in self.tree(Tree::PendingByAge).iter().keys() {
            let key = key.map_err(super::from_sled)?;
            let Some(id) = keys::callback_from_index(&key) else {
                continue;
            };
            if let Some(cb) = self.readable_callback(id)?.filter(|c| c.value.is_pending()) {
                breakdown.add(&cb.value);
            }
        }
        Ok(breakdown)
    }

    /// Callbacks whose next wake is at or before `now`, earliest first.
    pub fn due(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> ReadResult<Vec<Versioned<Callback>>> {
        let end = now
            .checked_add_signed(chrono::Duration::milliseconds(1))
            .unwrap_or(now);
        let mut due = Vec::new();
        for key in self
            .tree(Tree::Due)
            .range(..keys::time(end).to_vec())
            .keys()
        {
            if due.len() >= limit {
                break;
            }
            let key = key.map_err(super::from_sled)?;
            let Some(id) = keys::callback_from_index(&key) else {
                self.repairs.push(Repair::StaleDue(key.to_vec()));
                continue;
            };
            match self.readable_callback(id)? {
                Some(cb)
                    if cb
                        .value
                        .next_wake()
                        .map(|t| keys::by_time(t, id))
                        .as_ref()
                        .map(|k| &k[..])
                        == Some(&key[..]) =>
                {
                    due.push(cb);
                }
                // Moved on since the scan, or gone: the writer checks and drops the entry.
                Some(_) | None => self.repairs.push(Repair::StaleDue(key.to_vec())),
            }
        }
        Ok(due)
    }

    pub fn next_due(&self) -> ReadResult<Option<DateTime<Utc>>> {
        Ok(self
            .tree(Tree::Due)
            .first()
            .map_err(super::from_sled)?
            .and_then(|(k, _)| keys::time_from(&k)))
    }
}
