//! Agents as Smartflo reports them, and matching them to the configured `[[agents]]`.
//!
//! Smartflo names an agent in several ways at once — a 13-digit agent id (`05…`), an
//! extension id (`06…`), a follow-me phone number, a display name — and which ones arrive
//! depends on the trigger and the template. An agent is matched to configuration by any
//! of: Smartflo id, phone number (compared in E.164), or name (case-insensitive).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::phone::{CountryCode, PhoneNumber};

/// A configured agent, as recorded on a callback (`assigned_agent` in SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    pub name: String,
    pub number: Option<PhoneNumber>,
}

/// An agent as one payload describes it; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSeen {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every number-like value the payload gave for this agent (raw).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smartflo_id: Option<String>,
}

impl AgentSeen {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.numbers.is_empty() && self.smartflo_id.is_none()
    }

    /// Whether two descriptions plausibly name the same agent (shared id, number or name).
    pub fn same_agent(&self, other: &AgentSeen) -> bool {
        let same_id =
            matches!((&self.smartflo_id, &other.smartflo_id), (Some(a), Some(b)) if a == b);
        let same_number = self.numbers.iter().any(|n| {
            other
                .numbers
                .iter()
                .any(|m| digits_tail(n) == digits_tail(m))
        });
        let same_name =
            matches!((&self.name, &other.name), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        same_id || same_number || same_name
    }

    /// Fills what `self` lacks from `other` (the same agent described by another field).
    pub fn absorb(&mut self, other: &AgentSeen) {
        if self.name.is_none() {
            self.name.clone_from(&other.name);
        }
        if self.smartflo_id.is_none() {
            self.smartflo_id.clone_from(&other.smartflo_id);
        }
        for n in &other.numbers {
            if !self.numbers.contains(n) {
                self.numbers.push(n.clone());
            }
        }
    }
}

/// Compares numbers by their last ten digits, so `+919800000011` and `09800000011` agree
/// even before normalisation, while ids of different lengths never collide by accident.
fn digits_tail(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let start = digits.len().saturating_sub(10);
    digits[start..].to_string()
}

/// A missed agent as kept on a callback (`missed_agents` in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedAgent {
    pub name: Option<String>,
    pub number: Option<PhoneNumber>,
    pub smartflo_id: Option<String>,
    /// The configured agent this was matched to, if any.
    pub agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DirectoryEntry {
    pub name: String,
    pub number: Option<PhoneNumber>,
    pub smartflo_id: Option<String>,
}

impl DirectoryEntry {
    pub fn to_ref(&self) -> AgentRef {
        AgentRef {
            name: self.name.clone(),
            number: self.number.clone(),
        }
    }
}

/// The configured agents, looked up by what a payload says about an agent.
#[derive(Debug, Clone)]
pub struct AgentDirectory {
    entries: Vec<DirectoryEntry>,
    country: CountryCode,
    /// Agent number spellings already parsed. The same few agents appear on every
    /// webhook, and a phonenumber parse costs ~10 µs; the memo keeps that off the hot path.
    parsed: Arc<Mutex<HashMap<String, Option<PhoneNumber>>>>,
}

/// Bound on remembered spellings (the memo is cleared when it fills up).
const MEMO_LIMIT: usize = 4096;

impl AgentDirectory {
    pub fn new(entries: Vec<DirectoryEntry>, country: CountryCode) -> Self {
        Self {
            entries,
            country,
            parsed: Arc::default(),
        }
    }

    fn parse_number(&self, raw: &str) -> Option<PhoneNumber> {
        let mut memo = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = memo.get(raw) {
            return hit.clone();
        }
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        let parsed = PhoneNumber::parse(raw, self.country).ok();
        memo.insert(raw.to_string(), parsed.clone());
        parsed
    }

    pub fn by_name(&self, name: &str) -> Option<&DirectoryEntry> {
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name.trim()))
    }

    pub fn find(&self, seen: &AgentSeen) -> Option<&DirectoryEntry> {
        if let Some(id) = &seen.smartflo_id
            && let Some(e) = self
                .entries
                .iter()
                .find(|e| e.smartflo_id.as_deref() == Some(id.as_str()))
        {
            return Some(e);
        }
        for raw in &seen.numbers {
            // Agent numbers sometimes carry the Smartflo id instead of a phone number.
            if let Some(e) = self
                .entries
                .iter()
                .find(|e| e.smartflo_id.as_deref() == Some(raw.trim()))
            {
                return Some(e);
            }
            if let Some(number) = self.parse_number(raw)
                && let Some(e) = self
                    .entries
                    .iter()
                    .find(|e| e.number.as_ref() == Some(&number))
            {
                return Some(e);
            }
        }
        seen.name.as_deref().and_then(|n| self.by_name(n))
    }

    /// Describes a payload's agent for a callback, matched to configuration when possible;
    /// also returns the configured agent it matched.
    pub fn describe(&self, seen: &AgentSeen) -> (MissedAgent, Option<&DirectoryEntry>) {
        let configured = self.find(seen);
        let number = configured
            .and_then(|e| e.number.clone())
            .or_else(|| seen.numbers.iter().find_map(|n| self.parse_number(n)));
        let described = MissedAgent {
            name: configured
                .map(|e| e.name.clone())
                .or_else(|| seen.name.clone()),
            number,
            smartflo_id: seen
                .smartflo_id
                .clone()
                .or_else(|| configured.and_then(|e| e.smartflo_id.clone())),
            agent: configured.map(|e| e.name.clone()),
        };
        (described, configured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> AgentDirectory {
        let cc = CountryCode::parse("91").unwrap();
        AgentDirectory::new(
            vec![
                DirectoryEntry {
                    name: "Priya".into(),
                    number: Some(PhoneNumber::parse("+919811100001", cc).unwrap()),
                    smartflo_id: Some("0507297260061".into()),
                },
                DirectoryEntry {
                    name: "Arjun".into(),
                    number: Some(PhoneNumber::parse("9811100002", cc).unwrap()),
                    smartflo_id: None,
                },
            ],
            cc,
        )
    }

    fn seen(name: Option<&str>, numbers: &[&str], id: Option<&str>) -> AgentSeen {
        AgentSeen {
            name: name.map(Into::into),
            numbers: numbers.iter().map(|s| s.to_string()).collect(),
            smartflo_id: id.map(Into::into),
        }
    }

    #[test]
    fn agents_match_by_id_number_or_name() {
        let dir = directory();
        assert_eq!(
            dir.find(&seen(None, &[], Some("0507297260061")))
                .unwrap()
                .name,
            "Priya"
        );
        assert_eq!(
            dir.find(&seen(None, &["09811100002"], None)).unwrap().name,
            "Arjun"
        );
        assert_eq!(
            dir.find(&seen(Some("arjun"), &[], None)).unwrap().name,
            "Arjun"
        );
        assert_eq!(
            dir.find(&seen(None, &["0507297260061"], None))
                .unwrap()
                .name,
            "Priya"
        );
        assert!(
            dir.find(&seen(Some("Kapil"), &["0607000000001"], Some("0500")))
                .is_none()
        );
    }

    #[test]
    fn the_same_agent_is_recognised_across_fields() {
        let a = seen(None, &["+919800000011"], None);
        let b = seen(Some("Meera"), &["9800000011"], Some("0507000000011"));
        assert!(a.same_agent(&b));
        assert!(!a.same_agent(&seen(Some("Meera"), &["9800000012"], None)));
    }
}
