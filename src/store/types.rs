//! The values that cross the store contract: what is read, what is listed, how a record's
//! version travels with it. Backend-neutral: no backend's types appear here.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::domain::lifecycle::Effect;
use crate::domain::rules::RulesText;

/// Which stored state of a record something was decided from. Opaque: each backend
/// chooses what it holds (sled: the record's bytes; a database: a revision number), and
/// only compares it for equality when a plan is applied.
#[derive(Clone, PartialEq, Eq)]
pub struct Version(Arc<[u8]>);

impl Version {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        Self(Arc::from(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({} bytes)", self.0.len())
    }
}

/// A record as stored, with the version a plan must expect to change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: Version,
}

/// How the request arrived, kept with its verbatim body in the event log (SPEC §4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    pub method: String,
    pub content_type: Option<String>,
    /// The query string (the token is never in it: it travels in the path or a header).
    pub query: String,
    /// Headers that help an audit (user agent, forwarding); never the token headers.
    pub headers: Vec<(String, String)>,
}

/// What identifies a redelivery of an event without a `call_id`: its trigger and a digest
/// of the body (or its `uuid`). Events with a `call_id` are deduplicated on their call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupKey {
    pub trigger: String,
    pub call_id: String,
    pub leg: String,
}

/// An event log entry, without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Ulid,
    pub received_at: DateTime<Utc>,
    pub trigger: String,
    pub trigger_inferred: bool,
    pub effect: Effect,
    pub note: Option<String>,
    pub callback_id: Option<CallbackId>,
    pub call_id: Option<String>,
    pub uuid: Option<String>,
    pub raw: RawEvent,
    pub body_len: u32,
    /// A missed call whose customer number could not be read: no callback could be opened,
    /// so supervisors are shown these on their own list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<UnreadableNumber>,
}

/// What a supervisor needs to find a customer Ringback could not call back: the number
/// field as Smartflo sent it, and who missed the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableNumber {
    /// The customer number field as received; `None` when the payload had none.
    pub raw: Option<String>,
    /// The first agent who missed the call, as Smartflo named them.
    pub agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Pending,
    Resolved,
    All,
}

/// Where a page of callbacks starts: after this callback, in this part of the list
/// (pending ones oldest first by first missed call, then resolved ones newest first by
/// resolution time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub phase: Phase,
    pub at: DateTime<Utc>,
    pub id: CallbackId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Resolved,
}

impl Cursor {
    /// `p`/`r`, then 16 hex digits of the sort time (milliseconds with the sign bit
    /// flipped, so it sorts like the time) and 32 of the callback id.
    pub fn encode(&self) -> String {
        let flipped = (self.at.timestamp_millis() as u64) ^ (1 << 63);
        let phase = match self.phase {
            Phase::Pending => 'p',
            Phase::Resolved => 'r',
        };
        let id: String = self
            .id
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{phase}{flipped:016x}{id}")
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("cursor {text:?} is not one this service handed out");
        let phase = match text.get(..1) {
            Some("p") => Phase::Pending,
            Some("r") => Phase::Resolved,
            _ => return Err(bad()),
        };
        let hex = text.get(1..).filter(|h| h.len() == 48).ok_or_else(bad)?;
        let flipped = u64::from_str_radix(&hex[..16], 16).map_err(|_| bad())?;
        let at = DateTime::from_timestamp_millis((flipped ^ (1 << 63)) as i64).ok_or_else(bad)?;
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            let pair = hex.get(16 + 2 * i..18 + 2 * i).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Cursor {
            phase,
            at,
            id: CallbackId::from_bytes(id),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: StatusFilter,
    pub limit: usize,
    pub after: Option<Cursor>,
    /// Only callbacks that match; applied before `limit`, so a page is full of matches.
    pub filter: CallbackFilter,
}

/// Which callbacks a list keeps, beyond their status. Every part set must match (exactly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackFilter {
    pub agent: Option<AgentFilter>,
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentFilter {
    /// Callbacks nobody is assigned.
    Nobody,
    /// Callbacks assigned to the agent of this name.
    Named(String),
}

impl CallbackFilter {
    pub fn is_empty(&self) -> bool {
        self.agent.is_none() && self.department.is_none()
    }

    /// Whether `cb` is one the filter keeps (backends that filter in memory use this, so
    /// every backend means the same by it).
    pub fn matches(&self, cb: &Callback) -> bool {
        let agent = match &self.agent {
            None => true,
            Some(AgentFilter::Nobody) => cb.assigned_agent.is_none(),
            Some(AgentFilter::Named(name)) => {
                cb.assigned_agent.as_ref().is_some_and(|a| &a.name == name)
            }
        };
        agent && (self.department.is_none() || cb.department == self.department)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Pending ones oldest first, then resolved ones newest first.
    pub callbacks: Vec<Callback>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone)]
pub struct CallbackDetail {
    pub callback: Callback,
    pub timeline: Vec<TimelineEntry>,
}

/// An edit of the rules from the dashboard (SPEC §8 rules page): who, when, before, after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesChange {
    pub id: Ulid,
    pub at: DateTime<Utc>,
    pub who: String,
    pub before: RulesText,
    pub after: RulesText,
    /// "Use the file's rules": the saved rules are cleared rather than replaced, so the
    /// configuration file's rules are in force — including edits made to the file later.
    /// `after` is what the file said at that moment, for the audit. (Absent in changes
    /// stored before resets existed: they were all edits.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// Someone who wrote to the Telegram bot without being a configured agent or supervisor,
/// listed for admins on the dashboard (SPEC §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownChat {
    pub chat_id: i64,
    pub name: String,
    pub username: Option<String>,
    pub last_text: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub messages: u32,
}

/// What one retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub callbacks: usize,
    pub events: usize,
    /// Call records whose every event was deleted.
    pub calls: usize,
}

impl Purged {
    pub fn add(&mut self, other: Purged) {
        self.callbacks += other.callbacks;
        self.events += other.events;
        self.calls += other.calls;
    }
}

/// A consistent copy of a store that keeps its data in files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// The new data directory; `[storage].path` pointed here restores it.
    pub path: std::path::PathBuf,
    /// Records copied, their bytes, and how many of them are callbacks.
    pub keys: u64,
    pub bytes: u64,
    pub callbacks: u64,
    /// Bytes of the event log copied with it (embedded store).
    pub log_bytes: u64,
    /// The data directory's own files copied with it (tokens, keys).
    pub files: Vec<String>,
}

/// How many callbacks are pending, and the oldest of them.
#[derive(Debug, Clone, Default)]
pub struct PendingStats {
    pub count: u64,
    pub oldest: Option<Callback>,
}

/// How the pending callbacks divide, counted over all of them: per assigned agent
/// (`None`: nobody assigned) and per department (`None`: not known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingBreakdown {
    pub agents: BTreeMap<Option<String>, u64>,
    pub departments: BTreeMap<Option<String>, u64>,
}

impl PendingBreakdown {
    /// Counts one more pending callback (for backends that count in memory).
    pub fn add(&mut self, cb: &Callback) {
        *self
            .agents
            .entry(cb.assigned_agent.as_ref().map(|a| a.name.clone()))
            .or_default() += 1;
        *self.departments.entry(cb.department.clone()).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.agents.values().sum()
    }
}

/// Who holds a delivery while sending it: a running process, by an id it chose at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseOwner(pub Ulid);

/// A delivery taken for sending: nobody else takes it until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub owner: LeaseOwner,
    pub until: DateTime<Utc>,
}

impl Lease {
    /// Whether it still keeps others from taking the delivery at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.until > now
    }
}

/// Is storage able to take durable writes now, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    Unavailable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_text_form_and_garbage_is_refused() {
        let cursor = Cursor {
            phase: Phase::Resolved,
            at: DateTime::from_timestamp_millis(1_780_000_000_123).unwrap(),
            id: "01KSQ5M0Y1V6T3Q8D2Z7W9X4E5".parse().unwrap(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()), Ok(cursor));
        for garbage in ["", "p", "x0000", "pzz", &format!("p{}", "g".repeat(48))] {
            assert!(Cursor::parse(garbage).is_err(), "{garbage:?}");
        }
    }
}
