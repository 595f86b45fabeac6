//! Every sled tree and key layout, in one place.
//!
//! Integers in keys are big-endian so that sled's byte order is numeric order; times are
//! milliseconds since the Unix epoch as `i64` with the sign bit flipped (so pre-1970 times,
//! which never occur, would still sort first). Values are JSON unless noted — tolerant of
//! added fields — and since schema 5 packed (`packed.rs`: zstd against a dictionary built
//! into the binary; `ringback export` reads them out as JSON).
//!
//! | tree                  | key                                              | value                          |
//! |-----------------------|--------------------------------------------------|--------------------------------|
//! | `events`              | event id (16 B ULID: ms time, then random)       | index: position of its frame in the event log (u64) ++ flags (u8; 1 = unreadable number) — the record and body are in the log (`logged.rs`) |
//! | `event_bodies`        | event id (16 B) ++ chunk number (u32)            | empty since schema 4 (schema 3 kept bodies over 3 KiB here in 4 KiB chunks; `migrate.rs` moves them into the log) |
//! | `event_dedup`         | len-prefixed trigger ++ call_id ++ leg (u16 each)| event id (16 B); only events without a call_id |
//! | `callbacks`           | callback id (16 B ULID)                          | `Callback`                     |
//! | `timeline`            | callback id (16 B) ++ sequence (u32)             | `[TimelineEntry]` of one change |
//! | `pending_by_customer` | customer E.164 (UTF-8)                           | callback id (16 B)             |
//! | `pending_by_age`      | first_missed_at (time) ++ callback id            | empty                          |
//! | `resolved_by_time`    | resolved_at (time) ++ callback id                | empty                          |
//! | `calls`               | Smartflo call_id (UTF-8)                         | `StoredCall`: `CallRecord` + deliveries seen (trigger, leg, event id) |
//! | `last_answered`       | customer E.164 (UTF-8)                           | start of latest answered call (time, 8 B) |
//! | `due`                 | next wake (time) ++ callback id                  | empty: the scheduler's agenda  |
//! | `outbox`              | delivery id (16 B ULID)                          | `Delivery` not yet settled (its lease and its place in time order live in memory, `leases.rs`, `outbox_index.rs`) |
//! | `outbox_due`          | (schemas 2–5: takeable at ++ delivery id)        | unused since schema 6, emptied at open; kept so the trees keep their positions, which log frames name |
//! | `rules_audit`         | time of the edit ++ change id (16 B)             | `RulesChange`: who, when, before, after |
//! | `unknown_chats`       | Telegram chat id (i64, sign-flipped big-endian)  | `UnknownChat`: who wrote, what, when |
//! | `quarantine`          | tree name ++ 0 ++ the record's key               | the record's bytes, set aside because they could not be read |
//! | `digests`             | schedule key (UTF-8) ++ 0 ++ occurrence (time)   | `DigestClaim`: a shift digest claimed for that moment (its deliveries are in the outbox) |
//!
//! Record formats are in `records.rs`; `migrate.rs` moves a store written by an earlier
//! schema to this one at open (schema 2 added `outbox_due`, leases and `quarantine`; schema 3
//! added `digests`, and outbox deliveries of purpose `digest` carrying their report, which
//! an older build could not read; schema 4 moved events into the event log; schema 5 packs
//! values; schema 6 stopped writing `outbox_due`).
//!
//! `meta` keys: `schema_version`; `schedule_rules` (fingerprint of the rules the pending
//! callbacks were scheduled with); `stored_rules` (the last `RulesChange` from the
//! dashboard, whose `after` is in force); `pending_count` (u64, big-endian); `log_applied`
//! (u64, big-endian: the end of the last event-log frame whose writes are in this state);
//! `telegram_offset` (i64, big-endian: the next Telegram update to ask for); `probe`;
//! `ended_session:` ++ session id (a dashboard session ended by logout; the value is the
//! time until which it must be remembered, 8 B).
//! | `meta`                | name (UTF-8)                                     | UTF-8 text                     |
//!
//! Values stay small: sled 0.34 writes any log item larger than a quarter segment (~128 KiB)
//! to a separate blob file, and the raw bodies that could reach that size live in the event
//! log, not here.

use chrono::{DateTime, Utc};

use crate::domain::callback::CallbackId;
use crate::store::DedupKey;

pub const EVENTS: &str = "events";
pub const EVENT_BODIES: &str = "event_bodies";
pub const EVENT_DEDUP: &str = "event_dedup";
pub const CALLBACKS: &str = "callbacks";
pub const TIMELINE: &str = "timeline";
pub const PENDING_BY_CUSTOMER: &str = "pending_by_customer";
pub const PENDING_BY_AGE: &str = "pending_by_age";
pub const RESOLVED_BY_TIME: &str = "resolved_by_time";
pub const CALLS: &str = "calls";
pub const LAST_ANSWERED: &str = "last_answered";
pub const META: &str = "meta";
pub const DUE: &str = "due";
pub const OUTBOX: &str = "outbox";
pub const RULES_AUDIT: &str = "rules_audit";
pub const UNKNOWN_CHATS: &str = "unknown_chats";
pub const OUTBOX_DUE: &str = "outbox_due";
pub const QUARANTINE: &str = "quarantine";
pub const DIGESTS: &str = "digests";

pub const PENDING_COUNT: &str = "pending_count";
pub const STORED_RULES: &str = "stored_rules";
pub const SCHEDULE_RULES: &str = "schedule_rules";
pub const TELEGRAM_OFFSET: &str = "telegram_offset";
pub const SCHEMA_VERSION_KEY: &str = "schema_version";
pub const PROBE: &str = "probe";
/// The end of the last event-log frame whose writes are in sled (u64, big-endian).
pub const LOG_APPLIED: &str = "log_applied";
/// Prefix of the `meta` keys of ended dashboard sessions.
pub const ENDED_SESSION: &str = "ended_session:";

/// The `meta` key that says dashboard session `id` ended.
pub fn ended_session(id: &str) -> Vec<u8> {
    let mut key = ENDED_SESSION.as_bytes().to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

/// Trees written by the writer, in the order of the transaction's view.
pub const WRITTEN_TREES: [&str; 18] = [
    EVENTS,
    EVENT_BODIES,
    EVENT_DEDUP,
    CALLBACKS,
    TIMELINE,
    PENDING_BY_CUSTOMER,
    PENDING_BY_AGE,
    RESOLVED_BY_TIME,
    CALLS,
    LAST_ANSWERED,
    META,
    DUE,
    OUTBOX,
    RULES_AUDIT,
    UNKNOWN_CHATS,
    OUTBOX_DUE,
    QUARANTINE,
    DIGESTS,
];

/// The trees by position (the inverse of [`Tree::index`]).
pub const ALL_TREES: [Tree; 18] = [
    Tree::Events,
    Tree::EventBodies,
    Tree::EventDedup,
    Tree::Callbacks,
    Tree::Timeline,
    Tree::PendingByCustomer,
    Tree::PendingByAge,
    Tree::ResolvedByTime,
    Tree::Calls,
    Tree::LastAnswered,
    Tree::Meta,
    Tree::Due,
    Tree::Outbox,
    Tree::RulesAudit,
    Tree::UnknownChats,
    Tree::OutboxDue,
    Tree::Quarantine,
    Tree::Digests,
];

/// A signed id as an order-preserving key.
pub fn signed(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// A stored count (u64, big-endian); absent or malformed reads as 0.
pub fn count_from(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The trees by position in [`WRITTEN_TREES`] (and in the writer's transaction view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Events,
    EventBodies,
    EventDedup,
    Callbacks,
    Timeline,
    PendingByCustomer,
    PendingByAge,
    ResolvedByTime,
    Calls,
    LastAnswered,
    Meta,
    Due,
    Outbox,
    RulesAudit,
    UnknownChats,
    OutboxDue,
    Quarantine,
    Digests,
}

impl Tree {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        WRITTEN_TREES[self.index()]
    }
}

/// A tree's position in [`WRITTEN_TREES`].
pub fn index_of(name: &str) -> usize {
    WRITTEN_TREES
        .iter()
        .position(|n| *n == name)
        .expect("tree names come from this file")
}

pub const BODY_CHUNK: usize = 4096;
/// Bodies up to this size are stored inside the event's value (one insert, not two).
pub const BODY_INLINE: usize = 3 * 1024;
/// The schema this build writes (and migrates older stores to).
pub const SCHEMA_VERSION: u32 = 6;

pub fn time(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn time_from(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    DateTime::from_timestamp_millis((u64::from_be_bytes(raw) ^ (1 << 63)) as i64)
}

pub fn body_chunk(event: [u8; 16], chunk: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&event);
    key[16..].copy_from_slice(&chunk.to_be_bytes());
    key
}

pub fn dedup(key: &DedupKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + key.trigger.len() + key.call_id.len() + key.leg.len());
    for part in [&key.trigger, &key.call_id, &key.leg] {
        let bytes = part.as_bytes();
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&bytes[..usize::from(len)]);
    }
    out
}

pub fn timeline(callback: CallbackId, seq: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&callback.to_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// An index key ordering callbacks by a time: `time ++ callback id`.
pub fn by_time(t: DateTime<Utc>, callback: CallbackId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&time(t));
    key[8..].copy_from_slice(&callback.to_bytes());
    key
}

pub fn callback_from_index(key: &[u8]) -> Option<CallbackId> {
    let raw: [u8; 16] = key.get(8..24)?.try_into().ok()?;
    Some(CallbackId::from_bytes(raw))
}

/// The id at the end of an index key `time ++ id` (the outbox's `outbox_due` too).
pub fn ulid_from_index(key: &[u8]) -> Option<ulid::Ulid> {
    let raw: [u8; 16] = key.get(8..24)?.try_into().ok()?;
    Some(ulid::Ulid::from_bytes(raw))
}

/// A `digests` key: the schedule's key, a zero byte, the occurrence.
pub fn digest(schedule: &str, occurrence: DateTime<Utc>) -> Vec<u8> {
    let mut out = digest_prefix(schedule);
    out.extend_from_slice(&time(occurrence));
    out
}

/// Every `digests` key of one schedule starts with this.
pub fn digest_prefix(schedule: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(schedule.len() + 9);
    out.extend_from_slice(schedule.as_bytes());
    out.push(0);
    out
}

/// A `quarantine` key: the tree the record was in, a zero byte, its key there.
pub fn quarantine(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tree.len() + 1 + key.len());
    out.extend_from_slice(tree.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

pub fn callback_id_from(bytes: &[u8]) -> Option<CallbackId> {
    let raw: [u8; 16] = bytes.try_into().ok()?;
    Some(CallbackId::from_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn tree_positions_match_the_written_trees() {
        assert_eq!(Tree::Quarantine.name(), QUARANTINE);
        assert_eq!(Tree::Digests.name(), DIGESTS);
        assert_eq!(Tree::OutboxDue.name(), OUTBOX_DUE);
        assert_eq!(Tree::Events.name(), EVENTS);
        assert_eq!(Tree::UnknownChats.name(), UNKNOWN_CHATS);
        assert_eq!(index_of(CALLS), Tree::Calls.index());
    }

    #[test]
    fn time_keys_sort_like_times() {
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
        assert!(time(a) < time(b));
        assert_eq!(time_from(&time(a)), Some(a));
    }

    #[test]
    fn dedup_keys_cannot_be_confused_by_separators() {
        let k = |t: &str, c: &str, l: &str| {
            dedup(&DedupKey {
                trigger: t.into(),
                call_id: c.into(),
                leg: l.into(),
            })
        };
        assert_ne!(k("a", "b\0c", ""), k("a", "b", "c"));
    }
}
