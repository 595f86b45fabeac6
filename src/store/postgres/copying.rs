//! `ringback copy-store` on PostgreSQL: a store read out in pages of records (each table by
//! its key) and written into an empty database.

use serde_json::Value;
use sqlx::Row;
use ulid::Ulid;

use super::apply::{insert_delivery, insert_event, write_callback};
use super::rows::{call_from, call_json, decode, ms, to_json};
use super::upkeep::{SCHEDULE_RULES, TELEGRAM_OFFSET, setting, stored_rules};
use super::{PgStore, db_error};
use crate::domain::phone::PhoneNumber;
use crate::store::plan::DigestClaim;
use crate::store::{
    CallbackWrite, DedupKey, EventRecord, EventWrite, Part, Record, StoreError, StoreResult,
};

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
