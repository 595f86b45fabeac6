//! Everything beside callbacks and the outbox: rules and their audit, small settings, unknown
//! Telegram chats, digests, generated secrets, leadership, retention and copying.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use ulid::Ulid;

use super::apply::{insert_delivery, insert_event, write_callback};
use super::reads::set_aside;
use super::rows::{call_from, call_json, ms, to_json};
use super::{PgStore, db_error};
use crate::domain::phone::PhoneNumber;
use crate::store::plan::DigestClaim;
use crate::store::{
    CallbackWrite, Cutoffs, DedupKey, EventRecord, EventWrite, Lead, Part, Purged, Record,
    RulesChange, StoreError, StoreResult, UnknownChat,
};

pub const SCHEDULE_RULES: &str = "schedule_rules";
pub const TELEGRAM_OFFSET: &str = "telegram_offset";

/// Advisory lock keys (one namespace for Ringback's roles).
const RETENTION_LOCK: i64 = 0x5249_4e47_0001;

fn role_lock(role: &str) -> i64 {
    // A stable key per role name (FNV-1a; the std hasher is not stable across builds).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in role.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 1) as i64
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> StoreResult<T> {
    serde_json::from_value(v).map_err(|e| StoreError::corrupt(what.to_string(), e))
}

pub async fn setting(store: &PgStore, key: &str) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_error)
}

pub async fn set_setting(store: &PgStore, key: &str, value: String) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(key)
    .bind(value)
    .execute(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn stored_rules(store: &PgStore) -> StoreResult<Option<RulesChange>> {
    let v: Option<Value> = sqlx::query_scalar("SELECT change FROM stored_rules")
        .fetch_optional(&store.pool)
        .await
        .map_err(db_error)?;
    match v {
        None => Ok(None),
        Some(v) => match serde_json::from_value(v) {
            Ok(change) => Ok(Some(change)),
            Err(e) => {
                set_aside(store, "stored_rules", "one::text", "true", &e.to_string()).await;
                Ok(None)
            }
        },
    }
}

pub async fn save_rules(store: &PgStore, change: RulesChange) -> StoreResult<()> {
    let mut tx = store.pool.begin().await.map_err(db_error)?;
    let json = to_json(&change);
    // A reset removes the row: every replica then reads "no saved rules", the file's.
    let saved = if change.reset {
        sqlx::query("DELETE FROM stored_rules")
    } else {
        sqlx::query(
            "INSERT INTO stored_rules (one, change) VALUES (true, $1) ON CONFLICT (one) DO UPDATE SET change = EXCLUDED.change",
        )
        .bind(&json)
    };
    saved.execute(&mut *tx).await.map_err(db_error)?;
    sqlx::query("INSERT INTO rules_audit (id, at, change) VALUES ($1, $2, $3)")
        .bind(change.id.to_string())
        .bind(change.at)
        .bind(&json)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

pub async fn rules_audit(store: &PgStore, limit: usize) -> StoreResult<Vec<RulesChange>> {
    let found: Vec<Value> =
        sqlx::query_scalar("SELECT change FROM rules_audit ORDER BY at DESC, id DESC LIMIT $1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&store.pool)
            .await
            .map_err(db_error)?;
    Ok(found
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

pub async fn note_unknown_chat(store: &PgStore, chat: UnknownChat) -> StoreResult<()> {
    // A second message keeps when the chat was first seen and counts one more.
    sqlx::query(
        "INSERT INTO unknown_chats (chat_id, record) VALUES ($1, $2) ON CONFLICT (chat_id) DO UPDATE \
         SET record = EXCLUDED.record || jsonb_build_object( \
             'first_seen', unknown_chats.record->'first_seen', \
             'messages', COALESCE((unknown_chats.record->>'messages')::bigint, 0) + 1)",
    )
    .bind(chat.chat_id)
    .bind(to_json(&chat))
    .execute(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn unknown_chats(store: &PgStore) -> StoreResult<Vec<UnknownChat>> {
    let found: Vec<Value> = sqlx::query_scalar("SELECT record FROM unknown_chats")
        .fetch_all(&store.pool)
        .await
        .map_err(db_error)?;
    let mut chats: Vec<UnknownChat> = found
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    chats.sort_by_key(|c| std::cmp::Reverse(c.last_seen));
    Ok(chats)
}

pub async fn last_digest(store: &PgStore, schedule: &str) -> StoreResult<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT max(occurrence) FROM digests WHERE schedule = $1")
        .bind(schedule)
        .fetch_one(&store.pool)
        .await
        .map_err(db_error)
}

pub async fn secret(store: &PgStore, name: &str, fresh: String) -> StoreResult<(String, bool)> {
    let stored = sqlx::query(
        "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(&fresh)
    .execute(&store.pool)
    .await
    .map_err(db_error)?
    .rows_affected()
        == 1;
    if stored {
        return Ok((fresh, true));
    }
    let value: String = sqlx::query_scalar("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(&store.pool)
        .await
        .map_err(db_error)?;
    Ok((value, false))
}

/// A role held through a session-level advisory lock on a connection of its own: the lock
/// goes when the connection does (the holder stopped, died, or lost the network), and
/// another replica's next try takes it.
struct AdvisoryLead {
    connection: PgConnection,
}

#[async_trait]
impl Lead for AdvisoryLead {
    async fn still_held(&mut self) -> bool {
        let check = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&mut self.connection);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), check).await,
            Ok(Ok(1))
        )
    }
}

pub async fn try_lead(store: &PgStore, role: &'static str) -> StoreResult<Option<Box<dyn Lead>>> {
    let mut connection = PgConnection::connect_with(&store.connect)
        .await
        .map_err(db_error)?;
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(role_lock(role))
        .fetch_one(&mut connection)
        .await
        .map_err(db_error)?;
    if held {
        Ok(Some(Box::new(AdvisoryLead { connection })))
    } else {
        let _ = connection.close().await;
        Ok(None)
    }
}

/// The smallest event id stamped at `t`: every id before it is older.
fn first_id_at(t: DateTime<Utc>) -> String {
    Ulid::from_parts(u64::try_from(t.timestamp_millis()).unwrap_or(0), 0).to_string()
}

/// Deletes what retention no longer keeps, up to `limit` of each kind. Only one replica
/// purges at a time (an advisory lock for the transaction); the others find nothing to do.
pub async fn purge(store: &PgStore, cutoffs: Cutoffs, limit: usize) -> StoreResult<Purged> {
    let mut tx = store.pool.begin().await.map_err(db_error)?;
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(RETENTION_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    let mut purged = Purged::default();
    if !ours {
        return Ok(purged);
    }
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    if let Some(cutoff) = cutoffs.callbacks {
        purged.callbacks = sqlx::query(
            "DELETE FROM callbacks WHERE id IN (SELECT id FROM callbacks WHERE NOT pending \
             AND resolved_at < $1 ORDER BY resolved_at LIMIT $2)",
        )
        .bind(cutoff)
        .bind(n)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected() as usize;
    }
    if let Some(cutoff) = cutoffs.events {
        let first_kept = first_id_at(cutoff);
        purged.events = sqlx::query(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < $1 ORDER BY id LIMIT $2)",
        )
        .bind(&first_kept)
        .bind(n)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected() as usize;
        purged.calls = sqlx::query(
            "DELETE FROM calls WHERE call_id IN (SELECT call_id FROM calls WHERE newest_event < $1 LIMIT $2)",
        )
        .bind(&first_kept)
        .bind(n)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected() as usize;
        sqlx::query(
            "DELETE FROM event_dedup WHERE (trigger, call_id, leg) IN \
             (SELECT trigger, call_id, leg FROM event_dedup WHERE event_id < $1 LIMIT $2)",
        )
        .bind(&first_kept)
        .bind(n)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(purged)
}

pub async fn is_empty(store: &PgStore) -> StoreResult<bool> {
    let any: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM callbacks) OR EXISTS (SELECT 1 FROM events) \
         OR EXISTS (SELECT 1 FROM calls) OR EXISTS (SELECT 1 FROM outbox) \
         OR EXISTS (SELECT 1 FROM secrets) OR EXISTS (SELECT 1 FROM rules_audit) \
         OR EXISTS (SELECT 1 FROM customers)",
    )
    .fetch_one(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(!any)
}

/// One page of a table ordered by its text key: rows after `after`, and the next position.
async fn page(
    store: &PgStore,
    sql: &str,
    after: &Option<String>,
    limit: usize,
) -> StoreResult<(Vec<sqlx::postgres::PgRow>, Option<String>)> {
    let found = sqlx::query(sql)
        .bind(after.as_deref().unwrap_or(""))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&store.pool)
        .await
        .map_err(db_error)?;
    let next = if found.len() == limit {
        found.last().and_then(|r| r.try_get::<String, _>("k").ok())
    } else {
        None
    };
    Ok((found, next))
}

pub async fn export(
    store: &PgStore,
    part: Part,
    after: Option<String>,
    limit: usize,
) -> StoreResult<(Vec<Record>, Option<String>)> {
    let get = |row: &sqlx::postgres::PgRow, col: &str| -> StoreResult<Value> {
        row.try_get(col).map_err(db_error)
    };
    match part {
        Part::Secrets => {
            let found = sqlx::query("SELECT name, value FROM secrets ORDER BY name")
                .fetch_all(&store.pool)
                .await
                .map_err(db_error)?;
            let out = found
                .iter()
                .map(|r| {
                    Ok(Record::Secret {
                        name: r.try_get("name").map_err(db_error)?,
                        value: r.try_get("value").map_err(db_error)?,
                    })
                })
                .collect::<StoreResult<_>>()?;
            Ok((out, None))
        }
        Part::Settings => {
            let mut out = Vec::new();
            if let Some(o) = setting(store, TELEGRAM_OFFSET)
                .await?
                .and_then(|v| v.parse().ok())
            {
                out.push(Record::TelegramOffset(o));
            }
            if let Some(f) = setting(store, SCHEDULE_RULES).await? {
                out.push(Record::ScheduleFingerprint(f));
            }
            Ok((out, None))
        }
        Part::Rules => {
            let mut out: Vec<Record> = if after.is_none() {
                stored_rules(store)
                    .await?
                    .map(Record::StoredRules)
                    .into_iter()
                    .collect()
            } else {
                Vec::new()
            };
            let (rows, next) = page(
                store,
                "SELECT id AS k, change FROM rules_audit WHERE id > $1 ORDER BY id LIMIT $2",
                &after,
                limit,
            )
            .await?;
            for r in &rows {
                out.push(Record::RulesChange(decode(
                    "rules change",
                    get(r, "change")?,
                )?));
            }
            Ok((out, next))
        }
        Part::UnknownChats => {
            let (rows, next) = page(store, "SELECT chat_id::text AS k, record FROM unknown_chats WHERE chat_id::text > $1 ORDER BY chat_id::text LIMIT $2", &after, limit).await?;
            let out = rows
                .iter()
                .map(|r| {
                    Ok(Record::UnknownChat(decode(
                        "unknown chat",
                        get(r, "record")?,
                    )?))
                })
                .collect::<StoreResult<_>>()?;
            Ok((out, next))
        }
        Part::Digests => {
            let (rows, next) = page(store, "SELECT schedule || '|' || occurrence::text AS k, claim FROM digests WHERE schedule || '|' || occurrence::text > $1 ORDER BY 1 LIMIT $2", &after, limit).await?;
            let out = rows
                .iter()
                .map(|r| {
                    Ok(Record::Digest(decode::<DigestClaim>(
                        "digest",
                        get(r, "claim")?,
                    )?))
                })
                .collect::<StoreResult<_>>()?;
            Ok((out, next))
        }
        Part::Customers => {
            let (rows, next) = page(store, "SELECT number AS k, last_answered_at FROM customers WHERE number > $1 AND last_answered_at IS NOT NULL ORDER BY number LIMIT $2", &after, limit).await?;
            let out = rows
                .iter()
                .map(|r| {
                    Ok(Record::Customer {
                        number: PhoneNumber::from_e164_unchecked(
                            r.try_get::<String, _>("k").map_err(db_error)?,
                        ),
                        last_answered_at: r.try_get("last_answered_at").map_err(db_error)?,
                    })
                })
                .collect::<StoreResult<_>>()?;
            Ok((out, next))
        }
        Part::Callbacks => {
            let (rows, next) = page(
                store,
                "SELECT id AS k, data FROM callbacks WHERE id > $1 ORDER BY id LIMIT $2",
                &after,
                limit,
            )
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: String = r.try_get("k").map_err(db_error)?;
                let entries: Vec<Value> = sqlx::query_scalar(
                    "SELECT entries FROM timeline WHERE callback_id = $1 ORDER BY seq",
                )
                .bind(&id)
                .fetch_all(&store.pool)
                .await
                .map_err(db_error)?;
                out.push(Record::Callback {
                    callback: decode("callback", get(r, "data")?)?,
                    timeline: entries
                        .into_iter()
                        .map(|e| decode("timeline entry", e))
                        .collect::<StoreResult<_>>()?,
                });
            }
            Ok((out, next))
        }
        Part::Calls => {
            let (rows, next) = page(
                store,
                "SELECT call_id AS k, data FROM calls WHERE call_id > $1 ORDER BY call_id LIMIT $2",
                &after,
                limit,
            )
            .await?;
            let out = rows
                .iter()
                .map(|r| {
                    Ok(Record::Call {
                        call_id: r.try_get("k").map_err(db_error)?,
                        state: call_from(get(r, "data")?)
                            .map_err(|e| StoreError::corrupt("call", e))?,
                    })
                })
                .collect::<StoreResult<_>>()?;
            Ok((out, next))
        }
        Part::Dedup => {
            let (rows, next) = page(store, "SELECT trigger || chr(1) || call_id || chr(1) || leg AS k, trigger, call_id, leg, event_id FROM event_dedup WHERE trigger || chr(1) || call_id || chr(1) || leg > $1 ORDER BY 1 LIMIT $2", &after, limit).await?;
            let out = rows
                .iter()
                .filter_map(|r| {
                    Some(Record::Dedup {
                        key: DedupKey {
                            trigger: r.try_get("trigger").ok()?,
                            call_id: r.try_get("call_id").ok()?,
                            leg: r.try_get("leg").ok()?,
                        },
                        event: Ulid::from_string(&r.try_get::<String, _>("event_id").ok()?).ok()?,
                    })
                })
                .collect();
            Ok((out, next))
        }
        Part::Events => {
            let (rows, next) = page(
                store,
                "SELECT id AS k, record, body FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                &after,
                limit,
            )
            .await?;
            let out = rows
                .iter()
                .map(|r| {
                    Ok(Record::Event {
                        record: decode::<EventRecord>("event", get(r, "record")?)?,
                        body: r.try_get("body").map_err(db_error)?,
                    })
                })
                .collect::<StoreResult<_>>()?;
            Ok((out, next))
        }
        Part::Outbox => {
            let (rows, next) = page(
                store,
                "SELECT id AS k, data FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
                &after,
                limit,
            )
            .await?;
            let out = rows
                .iter()
                .map(|r| Ok(Record::Delivery(decode("delivery", get(r, "data")?)?)))
                .collect::<StoreResult<_>>()?;
            Ok((out, next))
        }
    }
}

/// Stores `records` as they are, in one transaction.
pub async fn import(store: &PgStore, records: Vec<Record>) -> StoreResult<()> {
    let mut tx = store.pool.begin().await.map_err(db_error)?;
    for record in records {
        let done = match record {
            Record::Secret { name, value } => sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2)").bind(name).bind(value).execute(&mut *tx).await,
            Record::TelegramOffset(o) => sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value").bind(TELEGRAM_OFFSET).bind(o.to_string()).execute(&mut *tx).await,
            Record::ScheduleFingerprint(f) => sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value").bind(SCHEDULE_RULES).bind(f).execute(&mut *tx).await,
            Record::StoredRules(change) => sqlx::query("INSERT INTO stored_rules (one, change) VALUES (true, $1) ON CONFLICT (one) DO UPDATE SET change = EXCLUDED.change").bind(to_json(&change)).execute(&mut *tx).await,
            Record::RulesChange(change) => sqlx::query("INSERT INTO rules_audit (id, at, change) VALUES ($1, $2, $3)").bind(change.id.to_string()).bind(change.at).bind(to_json(&change)).execute(&mut *tx).await,
            Record::UnknownChat(chat) => sqlx::query("INSERT INTO unknown_chats (chat_id, record) VALUES ($1, $2)").bind(chat.chat_id).bind(to_json(&chat)).execute(&mut *tx).await,
            Record::Digest(claim) => sqlx::query("INSERT INTO digests (schedule, occurrence, claim) VALUES ($1, $2, $3)").bind(&claim.schedule).bind(claim.occurrence).bind(to_json(&claim)).execute(&mut *tx).await,
            Record::Customer { number, last_answered_at } => sqlx::query("INSERT INTO customers (number, last_answered_at, rev) VALUES ($1, $2, 1)").bind(number.as_str()).bind(ms(last_answered_at)).execute(&mut *tx).await,
            Record::Callback { callback, timeline } => {
                let id = callback.id.to_string();
                write_callback(&mut tx, &CallbackWrite::new(callback, Vec::new())).await?;
                for entries in timeline {
                    sqlx::query("INSERT INTO timeline (callback_id, entries) VALUES ($1, $2)")
                        .bind(&id)
                        .bind(to_json(&entries))
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                continue;
            }
            Record::Call { call_id, state } => {
                let newest = state.newest_event().map(|e| e.to_string()).unwrap_or_default();
                sqlx::query("INSERT INTO calls (call_id, newest_event, rev, data) VALUES ($1, $2, 1, $3)").bind(call_id).bind(newest).bind(call_json(&state)).execute(&mut *tx).await
            }
            Record::Dedup { key, event } => sqlx::query("INSERT INTO event_dedup (trigger, call_id, leg, event_id) VALUES ($1, $2, $3, $4)").bind(key.trigger).bind(key.call_id).bind(key.leg).bind(event.to_string()).execute(&mut *tx).await,
            Record::Event { record, body } => {
                insert_event(&mut tx, &EventWrite { record, body }).await?;
                continue;
            }
            Record::Delivery(delivery) => {
                insert_delivery(&mut tx, &delivery).await?;
                continue;
            }
        };
        done.map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}
