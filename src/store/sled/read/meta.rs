//! Reads of what is kept beside callbacks: the outbox, digests sent, ended sessions, small
//! settings, the rules edited on the dashboard and their audit, unknown Telegram chats.

use chrono::{DateTime, Utc};

use super::{ReadResult, Reader};
use crate::domain::reminder::Delivery;
use crate::store::sled::keys::{self, Tree};
use crate::store::sled::records;
use crate::store::{RulesChange, UnknownChat};

impl Reader<'_> {
    /// Every delivery not yet settled.
    pub fn outbox(&mut self) -> ReadResult<Vec<Delivery>> {
        let mut out = Vec::new();
        for item in self.tree(Tree::Outbox).iter() {
            let (key, value) = item.map_err(crate::store::sled::from_sled)?;
            match records::decode_delivery(&value) {
                Ok(stored) => out.push(stored.delivery),
                Err(e) => self.quarantine(Tree::Outbox, &key, &e),
            }
        }
        Ok(out)
    }

    /// The latest claimed occurrence of a digest schedule.
    pub fn last_digest(&self, schedule: &str) -> ReadResult<Option<DateTime<Utc>>> {
        let prefix = keys::digest_prefix(schedule);
        Ok(self
            .tree(Tree::Digests)
            .scan_prefix(&prefix)
            .keys()
            .next_back()
            .transpose()
            .map_err(crate::store::sled::from_sled)?
            .and_then(|k| keys::time_from(&k[prefix.len()..])))
    }

    /// The `meta` keys of ended sessions that may be forgotten at `now`.
    pub fn sessions_ended_before(&self, now: DateTime<Utc>) -> ReadResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for item in self.tree(Tree::Meta).scan_prefix(keys::ENDED_SESSION) {
            let (key, until) = item.map_err(crate::store::sled::from_sled)?;
            if keys::time_from(&until).is_none_or(|until| until < now) {
                out.push(key.to_vec());
            }
        }
        Ok(out)
    }

    /// A time kept in `meta` under `key`, if any.
    pub fn meta_time(&self, key: &[u8]) -> ReadResult<Option<DateTime<Utc>>> {
        Ok(self
            .get(Tree::Meta, key)?
            .as_deref()
            .and_then(keys::time_from))
    }

    pub fn session_ended(&self, id: &str) -> ReadResult<bool> {
        Ok(self.get(Tree::Meta, &keys::ended_session(id))?.is_some())
    }

    pub fn meta(&self, key: &str) -> ReadResult<Option<sled::IVec>> {
        self.get(Tree::Meta, key.as_bytes())
    }

    pub fn stored_rules(&mut self) -> ReadResult<Option<RulesChange>> {
        let Some(bytes) = self.meta(keys::STORED_RULES)? else {
            return Ok(None);
        };
        match records::decode("stored rules", &bytes) {
            Ok(change) => Ok(Some(change)),
            Err(e) => {
                self.quarantine(Tree::Meta, keys::STORED_RULES.as_bytes(), &e);
                Ok(None)
            }
        }
    }

    pub fn rules_audit(&mut self, limit: usize) -> ReadResult<Vec<RulesChange>> {
        let mut out = Vec::new();
        for item in self.tree(Tree::RulesAudit).iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(crate::store::sled::from_sled)?;
            match records::decode("rules change", &value) {
                Ok(change) => out.push(change),
                Err(e) => self.quarantine(Tree::RulesAudit, &key, &e),
            }
        }
        Ok(out)
    }

    pub fn unknown_chats(&mut self) -> ReadResult<Vec<UnknownChat>> {
        let mut chats = Vec::new();
        for item in self.tree(Tree::UnknownChats).iter() {
            let (key, value) = item.map_err(crate::store::sled::from_sled)?;
            match records::decode::<UnknownChat>("unknown chat", &value) {
                Ok(chat) => chats.push(chat),
                Err(e) => self.quarantine(Tree::UnknownChats, &key, &e),
            }
        }
        chats.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
        Ok(chats)
    }
}
