//! The event log's reads: a raw event by id, a page of events, the ones whose caller's
//! number could not be read. An event whose record no longer reads is set aside in
//! `quarantine` (`reads::set_aside`), as other rows are.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use ulid::Ulid;

use super::reads::{limit, set_aside};
use super::{PgStore, db_error};
use crate::store::{EventRecord, StoreError, StoreResult};

fn event_row(row: &PgRow) -> Result<EventRecord, String> {
    let record: Value = row.try_get("record").map_err(|e| e.to_string())?;
    serde_json::from_value(record).map_err(|e| e.to_string())
}

pub async fn event(store: &PgStore, id: Ulid) -> StoreResult<Option<(EventRecord, Vec<u8>)>> {
    let row = sqlx::query("SELECT record, body FROM events WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await
        .map_err(db_error)?;
    let Some(row) = row else { return Ok(None) };
    let body: Vec<u8> = row.try_get("body").map_err(db_error)?;
    match event_row(&row) {
        Ok(record) => Ok(Some((record, body))),
        Err(why) => {
            set_aside(store, "events", "id", &id.to_string(), &why).await;
            Err(StoreError::Corrupt {
                what: format!("event {id}"),
                source: None,
            })
        }
    }
}

/// Events since `since` flagged `unreadable`, newest first (ids are ULIDs: the primary
/// key's range is the period).
pub async fn unreadable_numbers(
    store: &PgStore,
    since: DateTime<Utc>,
    n: usize,
) -> StoreResult<Vec<EventRecord>> {
    let from = Ulid::from_parts(u64::try_from(since.timestamp_millis()).unwrap_or(0), 0);
    let found = sqlx::query(
        "SELECT id, record FROM events WHERE id >= $1 AND record ? 'unreadable' ORDER BY id DESC LIMIT $2",
    )
    .bind(from.to_string())
    .bind(limit(n))
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(readable(store, &found).await)
}

pub async fn events(
    store: &PgStore,
    after: Option<Ulid>,
    n: usize,
) -> StoreResult<Vec<EventRecord>> {
    let found = sqlx::query(
        "SELECT id, record FROM events WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(after.map(|a| a.to_string()))
    .bind(limit(n))
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(readable(store, &found).await)
}

/// The records of `rows` that read; one that does not is set aside (`reads::set_aside`).
async fn readable(store: &PgStore, rows: &[PgRow]) -> Vec<EventRecord> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match event_row(row) {
            Ok(record) => out.push(record),
            Err(why) => {
                let id: String = row.try_get("id").unwrap_or_default();
                set_aside(store, "events", "id", &id, &why).await;
            }
        }
    }
    out
}
