//! `copy-store` for the embedded store: its trees read as [`Record`]s a page at a time
//! (positions are the hex of the last key read), and records written back as one plan of
//! plain writes per page, indexes included.

use std::sync::Arc;

use super::encode::{EncodedPlan, add_delivery, index_callback};
use super::keys::{self, Tree};
use super::log::Dictionaries;
use super::logged::LogEntry;
use super::read::Reader;
use super::records;
use crate::domain::callback::{CallbackId, TimelineEntry};
use crate::domain::phone::PhoneNumber;
use crate::store::plan::DigestClaim;
use crate::store::{DedupKey, EventWrite, Part, Record, RulesChange, StoreError, UnknownChat};

type Page = (Vec<Record>, Option<String>);

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One page of a tree's raw pairs, and the position of the next page.
type RawPage = (Vec<(sled::IVec, sled::IVec)>, Option<String>);

/// Up to `limit` pairs of `tree` after `after`, and the position of the next page.
fn pairs(
    reader: &Reader,
    tree: Tree,
    after: Option<&str>,
    limit: usize,
) -> Result<RawPage, StoreError> {
    let start = match after {
        Some(a) => Some(unhex(a).ok_or_else(|| StoreError::backend("a bad copy position"))?),
        None => None,
    };
    let iter = match start {
        Some(k) => reader
            .tree(tree)
            .range::<Vec<u8>, _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)),
        None => reader.tree(tree).iter(),
    };
    let mut out = Vec::new();
    for item in iter.take(limit) {
        out.push(item.map_err(super::from_sled)?);
    }
    let next = (out.len() == limit).then(|| hex(&out[limit - 1].0));
    Ok((out, next))
}

/// Decodes a `keys::dedup` key back into its three parts.
fn dedup_key(bytes: &[u8]) -> Option<DedupKey> {
    let mut rest = bytes;
    let mut parts = Vec::with_capacity(3);
    for _ in 0..3 {
        let len = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
        parts.push(String::from_utf8(rest.get(2..2 + len)?.to_vec()).ok()?);
        rest = &rest[2 + len..];
    }
    let leg = parts.pop()?;
    let call_id = parts.pop()?;
    let trigger = parts.pop()?;
    Some(DedupKey {
        trigger,
        call_id,
        leg,
    })
}

/// Everything of `part` in the trees (the data directory's secret files are read by the
/// store itself).
pub fn export(
    reader: &mut Reader,
    part: Part,
    after: Option<&str>,
    limit: usize,
) -> Result<Page, StoreError> {
    let undecodable = |e: records::Undecodable| StoreError::from(e);
    match part {
        Part::Secrets => Ok((Vec::new(), None)),
        Part::Settings => {
            let mut out = Vec::new();
            if let Some(v) = reader.meta(keys::TELEGRAM_OFFSET)?
                && let Ok(raw) = <[u8; 8]>::try_from(v.as_ref())
            {
                out.push(Record::TelegramOffset(i64::from_be_bytes(raw)));
            }
            if let Some(v) = reader.meta(keys::SCHEDULE_RULES)? {
                out.push(Record::ScheduleFingerprint(
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
            Ok((out, None))
        }
        Part::Rules => {
            let mut out: Vec<Record> = reader
                .stored_rules()?
                .map(Record::StoredRules)
                .into_iter()
                .collect();
            let (items, next) = pairs(reader, Tree::RulesAudit, after, limit)?;
            for (_, v) in items {
                out.push(Record::RulesChange(
                    records::decode::<RulesChange>("rules change", &v).map_err(undecodable)?,
                ));
            }
            Ok((out, next))
        }
        Part::UnknownChats => {
            let (items, next) = pairs(reader, Tree::UnknownChats, after, limit)?;
            let out = items
                .iter()
                .map(|(_, v)| {
                    records::decode::<UnknownChat>("unknown chat", v).map(Record::UnknownChat)
                })
                .collect::<Result<_, _>>()
                .map_err(undecodable)?;
            Ok((out, next))
        }
        Part::Digests => {
            let (items, next) = pairs(reader, Tree::Digests, after, limit)?;
            let out = items
                .iter()
                .map(|(_, v)| records::decode::<DigestClaim>("digest", v).map(Record::Digest))
                .collect::<Result<_, _>>()
                .map_err(undecodable)?;
            Ok((out, next))
        }
        Part::Customers => {
            let (items, next) = pairs(reader, Tree::LastAnswered, after, limit)?;
            let out = items
                .iter()
                .filter_map(|(k, v)| {
                    Some(Record::Customer {
                        number: PhoneNumber::from_e164_unchecked(
                            String::from_utf8(k.to_vec()).ok()?,
                        ),
                        last_answered_at: keys::time_from(v)?,
                    })
                })
                .collect();
            Ok((out, next))
        }
        Part::Callbacks => {
            let (items, next) = pairs(reader, Tree::Callbacks, after, limit)?;
            let mut out = Vec::with_capacity(items.len());
            for (k, v) in items {
                let callback = records::decode_callback(&v).map_err(undecodable)?;
                let mut timeline = Vec::new();
                let id = keys::callback_id_from(&k).unwrap_or(callback.id);
                for value in reader
                    .tree(Tree::Timeline)
                    .scan_prefix(id.to_bytes())
                    .values()
                {
                    let value = value.map_err(super::from_sled)?;
                    timeline.push(
                        records::decode::<Vec<TimelineEntry>>("timeline entry", &value)
                            .map_err(undecodable)?,
                    );
                }
                out.push(Record::Callback { callback, timeline });
            }
            Ok((out, next))
        }
        Part::Calls => {
            let (items, next) = pairs(reader, Tree::Calls, after, limit)?;
            let mut out = Vec::with_capacity(items.len());
            for (k, v) in items {
                out.push(Record::Call {
                    call_id: String::from_utf8_lossy(&k).into_owned(),
                    state: records::decode_call(&v).map_err(undecodable)?,
                });
            }
            Ok((out, next))
        }
        Part::Dedup => {
            let (items, next) = pairs(reader, Tree::EventDedup, after, limit)?;
            let out = items
                .iter()
                .filter_map(|(k, v)| {
                    Some(Record::Dedup {
                        key: dedup_key(k)?,
                        event: ulid::Ulid::from_bytes(<[u8; 16]>::try_from(v.as_ref()).ok()?),
                    })
                })
                .collect();
            Ok((out, next))
        }
        Part::Events => {
            let (items, next) = pairs(reader, Tree::Events, after, limit)?;
            let mut out = Vec::with_capacity(items.len());
            for (k, _) in items {
                let id = ulid::Ulid::from_bytes(
                    <[u8; 16]>::try_from(k.as_ref())
                        .map_err(|_| StoreError::backend("an event key"))?,
                );
                if let Some((record, body)) = reader.event(id)? {
                    out.push(Record::Event { record, body });
                }
            }
            Ok((out, next))
        }
        Part::Outbox => {
            let (items, next) = pairs(reader, Tree::Outbox, after, limit)?;
            let out = items
                .iter()
                .map(|(_, v)| records::decode_delivery(v).map(|d| Record::Delivery(d.delivery)))
                .collect::<Result<_, _>>()
                .map_err(undecodable)?;
            Ok((out, next))
        }
    }
}

/// The writes that store `records` (secrets are files: the store writes them itself).
pub fn import(records: &[Record], dictionaries: &Arc<Dictionaries>) -> EncodedPlan {
    let mut out = EncodedPlan::default();
    for record in records {
        match record {
            Record::Secret { .. } => {}
            Record::TelegramOffset(offset) => out.insert(
                Tree::Meta,
                keys::TELEGRAM_OFFSET,
                offset.to_be_bytes().to_vec(),
            ),
            Record::ScheduleFingerprint(f) => {
                out.insert(Tree::Meta, keys::SCHEDULE_RULES, f.clone().into_bytes())
            }
            Record::StoredRules(change) => {
                out.insert(Tree::Meta, keys::STORED_RULES, records::encode(change))
            }
            Record::RulesChange(change) => out.insert(
                Tree::RulesAudit,
                keys::by_time(change.at, CallbackId::new(change.id)),
                records::encode(change),
            ),
            Record::UnknownChat(chat) => out.insert(
                Tree::UnknownChats,
                keys::signed(chat.chat_id),
                records::encode(chat),
            ),
            Record::Digest(claim) => out.insert(
                Tree::Digests,
                keys::digest(&claim.schedule, claim.occurrence),
                records::encode(claim),
            ),
            Record::Customer {
                number,
                last_answered_at,
            } => {
                out.insert(
                    Tree::LastAnswered,
                    number.as_str().as_bytes(),
                    keys::time(*last_answered_at),
                );
            }
            Record::Callback { callback, timeline } => {
                let id = callback.id;
                for (seq, entries) in timeline.iter().enumerate() {
                    let seq = u32::try_from(seq).unwrap_or(u32::MAX);
                    out.insert(
                        Tree::Timeline,
                        keys::timeline(id, seq),
                        records::encode(entries),
                    );
                }
                index_callback(None, callback, &mut out);
                let len = u32::try_from(timeline.len()).unwrap_or(u32::MAX);
                out.insert(
                    Tree::Callbacks,
                    id.to_bytes(),
                    records::encode_callback(callback, len),
                );
            }
            Record::Call { call_id, state } => {
                out.insert(Tree::Calls, call_id.as_bytes(), records::encode_call(state))
            }
            Record::Dedup { key, event } => {
                out.insert(Tree::EventDedup, keys::dedup(key), event.to_bytes())
            }
            Record::Event { record, body } => out.log.push(LogEntry::new(
                Some(&EventWrite {
                    record: record.clone(),
                    body: body.clone(),
                }),
                &[],
                0,
                dictionaries,
            )),
            Record::Delivery(delivery) => add_delivery(delivery, &mut out),
        }
    }
    // An import writes into an empty store: nothing to check.
    out.checks.clear();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dedup_key_reads_back_from_its_stored_form() {
        let key = DedupKey {
            trigger: "call_received_on_server".into(),
            call_id: String::new(),
            leg: "#ab\0cd".into(),
        };
        assert_eq!(dedup_key(&keys::dedup(&key)), Some(key));
        assert_eq!(dedup_key(b"\x00"), None);
    }
}
