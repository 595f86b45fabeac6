//! Reads. They go straight to sled's trees (no writer round-trip); a reader may briefly see
//! an index entry whose callback has moved on, so every list re-checks the record itself.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use ulid::Ulid;

use super::codec::{decode, decode_event};
use super::keys;
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::reminder::Delivery;
use crate::store::{
    CallbackDetail, EventRecord, ListQuery, Page, PendingStats, RulesChange, StatusFilter,
    StoreError, UnknownChat,
};

const MAX_LIMIT: usize = 10_000;

pub struct Trees {
    events: sled::Tree,
    bodies: sled::Tree,
    callbacks: sled::Tree,
    timeline: sled::Tree,
    pending_by_age: sled::Tree,
    resolved_by_time: sled::Tree,
    due: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
    rules_audit: sled::Tree,
    unknown_chats: sled::Tree,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Resolved,
}

impl Trees {
    /// Picks the trees reads need out of the writer's list (same order as `WRITTEN_TREES`).
    pub fn new(written: &[sled::Tree]) -> Self {
        let by_name = |name: &str| written[keys::index_of(name)].clone();
        Self {
            events: by_name(keys::EVENTS),
            bodies: by_name(keys::EVENT_BODIES),
            callbacks: by_name(keys::CALLBACKS),
            timeline: by_name(keys::TIMELINE),
            pending_by_age: by_name(keys::PENDING_BY_AGE),
            resolved_by_time: by_name(keys::RESOLVED_BY_TIME),
            due: by_name(keys::DUE),
            outbox: by_name(keys::OUTBOX),
            meta: by_name(keys::META),
            rules_audit: by_name(keys::RULES_AUDIT),
            unknown_chats: by_name(keys::UNKNOWN_CHATS),
        }
    }

    pub fn load(&self, id: CallbackId) -> Result<Option<Callback>, StoreError> {
        match self.callbacks.get(id.to_bytes())? {
            Some(bytes) => decode("callback", &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub fn detail(&self, id: CallbackId) -> Result<Option<CallbackDetail>, StoreError> {
        let Some(callback) = self.load(id)? else {
            return Ok(None);
        };
        let mut timeline = Vec::new();
        for value in self.timeline.scan_prefix(id.to_bytes()).values() {
            timeline.extend(decode::<Vec<TimelineEntry>>("timeline entry", &value?)?);
        }
        Ok(Some(CallbackDetail { callback, timeline }))
    }

    /// Pending callbacks oldest first, then resolved ones newest first, `limit` at a time.
    pub fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let (mut phase, mut from) = match query.after.as_deref().and_then(parse_cursor) {
            Some((phase, key)) => (phase, Some(key)),
            None if query.status == StatusFilter::Resolved => (Phase::Resolved, None),
            None => (Phase::Pending, None),
        };
        let mut out: Vec<(Phase, Vec<u8>, Callback)> = Vec::with_capacity(limit + 1);
        loop {
            let wanted = match phase {
                Phase::Pending => query.status != StatusFilter::Resolved,
                Phase::Resolved => query.status != StatusFilter::Pending,
            };
            if wanted {
                self.collect(phase, from.take(), limit + 1, &mut out)?;
            }
            if out.len() > limit || phase == Phase::Resolved {
                break;
            }
            phase = Phase::Resolved;
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|(p, key, _)| format_cursor(*p, key))
        } else {
            None
        };
        Ok(Page {
            callbacks: out.into_iter().map(|(_, _, cb)| cb).collect(),
            next,
        })
    }

    fn collect(
        &self,
        phase: Phase,
        after: Option<Vec<u8>>,
        max: usize,
        out: &mut Vec<(Phase, Vec<u8>, Callback)>,
    ) -> Result<(), StoreError> {
        let keys: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match (phase, after) {
                (Phase::Pending, None) => Box::new(self.pending_by_age.iter()),
                (Phase::Pending, Some(k)) => Box::new(
                    self.pending_by_age
                        .range::<Vec<u8>, _>((Bound::Excluded(k), Bound::Unbounded)),
                ),
                (Phase::Resolved, None) => Box::new(self.resolved_by_time.iter().rev()),
                (Phase::Resolved, Some(k)) => {
                    Box::new(self.resolved_by_time.range::<Vec<u8>, _>(..k).rev())
                }
            };
        for item in keys {
            if out.len() >= max {
                break;
            }
            let (key, _) = item?;
            let Some(id) = keys::callback_from_index(&key) else {
                return Err(StoreError::Corrupt("callback index key".into()));
            };
            let Some(cb) = self.load(id)? else { continue };
            if cb.is_pending() == (phase == Phase::Pending) {
                out.push((phase, key.to_vec(), cb));
            }
        }
        Ok(())
    }

    pub fn event(&self, id: Ulid) -> Result<Option<(EventRecord, Vec<u8>)>, StoreError> {
        let Some(bytes) = self.events.get(id.to_bytes())? else {
            return Ok(None);
        };
        let (record, inline) = decode_event(&bytes)?;
        let mut body = inline.to_vec();
        if body.len() < record.body_len as usize {
            for chunk in self.bodies.scan_prefix(id.to_bytes()).values() {
                body.extend_from_slice(&chunk?);
            }
        }
        Ok(Some((record, body)))
    }

    pub fn events(
        &self,
        after: Option<Ulid>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let iter = match after {
            Some(id) => self
                .events
                .range::<[u8; 16], _>((Bound::Excluded(id.to_bytes()), Bound::Unbounded)),
            None => self.events.iter(),
        };
        iter.values()
            .take(limit.clamp(1, MAX_LIMIT))
            .map(|v| {
                v.map_err(StoreError::from)
                    .and_then(|b| decode_event(&b).map(|(record, _)| record))
            })
            .collect()
    }
}

impl Trees {
    /// Every delivery not yet settled.
    pub fn outbox(&self) -> Result<Vec<Delivery>, StoreError> {
        self.outbox
            .iter()
            .values()
            .map(|v| {
                v.map_err(StoreError::from)
                    .and_then(|b| decode("delivery", &b))
            })
            .collect()
    }

    pub fn meta(&self, key: &str) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.meta.get(key)?)
    }

    /// Every pending callback's id, oldest first.
    pub fn pending_ids(&self) -> Result<Vec<CallbackId>, StoreError> {
        self.pending_by_age
            .iter()
            .keys()
            .map(|k| {
                k.map_err(StoreError::from).and_then(|k| {
                    keys::callback_from_index(&k)
                        .ok_or_else(|| StoreError::Corrupt("pending index key".into()))
                })
            })
            .collect()
    }

    pub fn stored_rules(&self) -> Result<Option<RulesChange>, StoreError> {
        match self.meta.get(keys::STORED_RULES)? {
            Some(bytes) => decode("stored rules", &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub fn rules_audit(&self, limit: usize) -> Result<Vec<RulesChange>, StoreError> {
        self.rules_audit
            .iter()
            .rev()
            .take(limit)
            .map(|kv| {
                kv.map_err(StoreError::from)
                    .and_then(|(_, v)| decode("rules change", &v))
            })
            .collect()
    }

    pub fn unknown_chats(&self) -> Result<Vec<UnknownChat>, StoreError> {
        let mut chats: Vec<UnknownChat> = self
            .unknown_chats
            .iter()
            .values()
            .map(|v| {
                v.map_err(StoreError::from)
                    .and_then(|b| decode("unknown chat", &b))
            })
            .collect::<Result<_, _>>()?;
        chats.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
        Ok(chats)
    }

    pub fn pending_stats(&self) -> Result<PendingStats, StoreError> {
        let count = keys::count_from(self.meta.get(keys::PENDING_COUNT)?.as_deref());
        let mut oldest = None;
        for key in self.pending_by_age.iter().keys() {
            let key = key?;
            let id = keys::callback_from_index(&key)
                .ok_or_else(|| StoreError::Corrupt("pending index key".into()))?;
            if let Some(cb) = self.load(id)?.filter(Callback::is_pending) {
                oldest = Some(cb);
                break;
            }
        }
        Ok(PendingStats { count, oldest })
    }

    /// The earliest time the scheduler has work for a callback.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.due.first()?.and_then(|(k, _)| keys::time_from(&k)))
    }
}

fn format_cursor(phase: Phase, key: &[u8]) -> String {
    let mut s = String::from(if phase == Phase::Pending { "p" } else { "r" });
    for b in key {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn parse_cursor(cursor: &str) -> Option<(Phase, Vec<u8>)> {
    let phase = match cursor.get(..1)? {
        "p" => Phase::Pending,
        "r" => Phase::Resolved,
        _ => return None,
    };
    let hex = cursor.get(1..)?;
    if hex.len() != 48 {
        return None;
    }
    let key = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((phase, key))
}
