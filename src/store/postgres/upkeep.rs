//! Everything beside callbacks and the outbox: rules and their audit, small settings, unknown
//! Telegram chats, digests, generated secrets, leadership and retention (copying a store is
//! `copying.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use ulid::Ulid;

use super::reads::set_aside;
use super::rows::to_json;
use super::{PgStore, db_error};
use crate::store::{Cutoffs, Lead, Purged, RulesChange, StoreResult, UnknownChat};

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
