//! The contract's reads of callbacks, calls and customers (the event log's are
//! `event_reads.rs`). A row whose JSON no longer reads as its value is set aside in
//! `quarantine` (and counted): scans go on without it, a read of it by id is an error.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use ulid::Ulid;

use super::batch::LookupKeys;
use super::rows::{self, call_from, customer_version};
use super::{PgStore, db_error};
use crate::domain::callback::{Callback, CallbackId, TimelineEntry};
use crate::store::{
    AgentFilter, CallbackDetail, Cursor, CustomerState, Found, ListQuery, Lookup, Page,
    PendingBreakdown, PendingStats, Phase, StatusFilter, StoreError, StoreResult, Versioned,
};

const MAX_LIMIT: usize = 10_000;

pub(super) fn limit(n: usize) -> i64 {
    i64::try_from(n.clamp(1, MAX_LIMIT)).unwrap_or(1)
}

/// Moves a row that cannot be read into `quarantine`, with why; logged and counted.
pub async fn set_aside(
    store: &PgStore,
    table: &'static str,
    key_column: &str,
    key: &str,
    reason: &str,
) {
    let sql = format!(
        "WITH gone AS (DELETE FROM {table} WHERE {key_column} = $1 RETURNING to_jsonb({table}.*) AS row) \
         INSERT INTO quarantine (tbl, key, data, reason) SELECT $2, $1, row, $3 FROM gone"
    );
    match sqlx::query(&sql)
        .bind(key)
        .bind(table)
        .bind(reason)
        .execute(&store.pool)
        .await
    {
        Ok(done) if done.rows_affected() > 0 => {
            store.quarantined.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                table,
                key,
                reason,
                "an unreadable stored row was set aside (quarantined)"
            );
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %db_error(e).describe(), "setting an unreadable row aside failed")
        }
    }
}

/// A callback row (`id`, `rev`, `data`), or the reason it cannot be read.
fn callback_row(row: &PgRow) -> Result<Versioned<Callback>, (String, String)> {
    let id: String = row.try_get("id").unwrap_or_default();
    let rev: i64 = row
        .try_get("rev")
        .map_err(|e| (id.clone(), e.to_string()))?;
    let data: Value = row
        .try_get("data")
        .map_err(|e| (id.clone(), e.to_string()))?;
    let value: Callback = serde_json::from_value(data).map_err(|e| (id.clone(), e.to_string()))?;
    Ok(Versioned {
        value,
        version: rows::version(rev),
    })
}

/// Callback rows, skipping (and setting aside) any that cannot be read.
async fn readable(store: &PgStore, found: Vec<PgRow>) -> Vec<Versioned<Callback>> {
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        match callback_row(row) {
            Ok(cb) => out.push(cb),
            Err((id, why)) => set_aside(store, "callbacks", "id", &id, &why).await,
        }
    }
    out
}

pub async fn callback(store: &PgStore, id: CallbackId) -> StoreResult<Option<Versioned<Callback>>> {
    let row = sqlx::query("SELECT id, rev, data FROM callbacks WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await
        .map_err(db_error)?;
    match row.as_ref().map(callback_row) {
        None => Ok(None),
        Some(Ok(cb)) => Ok(Some(cb)),
        Some(Err((key, why))) => {
            set_aside(store, "callbacks", "id", &key, &why).await;
            Err(StoreError::Corrupt {
                what: format!("callback {key}"),
                source: None,
            })
        }
    }
}

pub async fn callbacks(
    store: &PgStore,
    ids: Vec<CallbackId>,
) -> StoreResult<Vec<Versioned<Callback>>> {
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let found = sqlx::query("SELECT id, rev, data FROM callbacks WHERE id = ANY($1)")
        .bind(&keys)
        .fetch_all(&store.pool)
        .await
        .map_err(db_error)?;
    let mut read = readable(store, found).await;
    read.sort_by_key(|cb| ids.iter().position(|id| *id == cb.value.id));
    Ok(read)
}

pub async fn detail(store: &PgStore, id: CallbackId) -> StoreResult<Option<CallbackDetail>> {
    let Some(cb) = callback(store, id).await? else {
        return Ok(None);
    };
    let entries = sqlx::query("SELECT entries FROM timeline WHERE callback_id = $1 ORDER BY seq")
        .bind(id.to_string())
        .fetch_all(&store.pool)
        .await
        .map_err(db_error)?;
    let mut timeline = Vec::new();
    for row in entries {
        let value: Value = row.try_get("entries").map_err(db_error)?;
        match serde_json::from_value::<Vec<TimelineEntry>>(value) {
            Ok(e) => timeline.extend(e),
            Err(e) => {
                tracing::warn!(callback = %id, error = %e, "a timeline entry could not be read; skipped")
            }
        }
    }
    Ok(Some(CallbackDetail {
        callback: cb.value,
        timeline,
    }))
}

pub async fn list(store: &PgStore, query: ListQuery) -> StoreResult<Page> {
    let want = query.limit.clamp(1, MAX_LIMIT);
    let (mut phase, mut from) = match query.after {
        Some(c) => (c.phase, Some(c)),
        None if query.status == StatusFilter::Resolved => (Phase::Resolved, None),
        None => (Phase::Pending, None),
    };
    let mut out: Vec<(Cursor, Callback)> = Vec::new();
    loop {
        let wanted = match phase {
            Phase::Pending => query.status != StatusFilter::Resolved,
            Phase::Resolved => query.status != StatusFilter::Pending,
        };
        if wanted {
            let room = want + 1 - out.len();
            let after = from.take();
            let (at, id) = match after {
                Some(c) => (Some(c.at), c.id.to_string()),
                None => (None, String::new()),
            };
            let sql = match phase {
                Phase::Pending => {
                    "SELECT id, rev, data, first_missed_at AS at FROM callbacks WHERE pending \
                     AND ($1::timestamptz IS NULL OR (first_missed_at, id) > ($1, $2)) \
                     AND ($4 = 0 OR ($4 = 1 AND data->'assigned_agent'->>'name' IS NULL) \
                          OR ($4 = 2 AND data->'assigned_agent'->>'name' = $5)) \
                     AND ($6::text IS NULL OR data->>'department' = $6) \
                     ORDER BY first_missed_at, id LIMIT $3"
                }
                Phase::Resolved => {
                    "SELECT id, rev, data, resolved_at AS at FROM callbacks WHERE NOT pending \
                     AND ($1::timestamptz IS NULL OR (resolved_at, id) < ($1, $2)) \
                     AND ($4 = 0 OR ($4 = 1 AND data->'assigned_agent'->>'name' IS NULL) \
                          OR ($4 = 2 AND data->'assigned_agent'->>'name' = $5)) \
                     AND ($6::text IS NULL OR data->>'department' = $6) \
                     ORDER BY resolved_at DESC, id DESC LIMIT $3"
                }
            };
            // The agent part as a mode (0 anyone, 1 nobody, 2 this name) and a name.
            let (agent_mode, agent_name) = match &query.filter.agent {
                None => (0i32, None),
                Some(AgentFilter::Nobody) => (1, None),
                Some(AgentFilter::Named(name)) => (2, Some(name.as_str())),
            };
            let found = sqlx::query(sql)
                .bind(at)
                .bind(&id)
                .bind(i64::try_from(room).unwrap_or(1))
                .bind(agent_mode)
                .bind(agent_name)
                .bind(query.filter.department.as_deref())
                .fetch_all(&store.pool)
                .await
                .map_err(db_error)?;
            for row in &found {
                let at: Option<DateTime<Utc>> = row.try_get("at").map_err(db_error)?;
                match (callback_row(row), at) {
                    (Ok(cb), Some(at)) => out.push((
                        Cursor {
                            phase,
                            at,
                            id: cb.value.id,
                        },
                        cb.value,
                    )),
                    (Err((key, why)), _) => set_aside(store, "callbacks", "id", &key, &why).await,
                    _ => {}
                }
            }
        }
        if out.len() > want || phase == Phase::Resolved {
            break;
        }
        phase = Phase::Resolved;
    }
    let next = if out.len() > want {
        out.truncate(want);
        out.last().map(|(c, _)| *c)
    } else {
        None
    };
    Ok(Page {
        callbacks: out.into_iter().map(|(_, cb)| cb).collect(),
        next,
    })
}

pub async fn pending_stats(store: &PgStore) -> StoreResult<PendingStats> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM callbacks WHERE pending")
        .fetch_one(&store.pool)
        .await
        .map_err(db_error)?;
    let oldest = sqlx::query(
        "SELECT id, rev, data FROM callbacks WHERE pending ORDER BY first_missed_at, id LIMIT 1",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(PendingStats {
        count: u64::try_from(count).unwrap_or(0),
        oldest: readable(store, oldest).await.pop().map(|cb| cb.value),
    })
}

pub async fn pending_breakdown(store: &PgStore) -> StoreResult<PendingBreakdown> {
    let grouped = |key: &'static str| {
        let sql =
            format!("SELECT {key} AS key, count(*) AS n FROM callbacks WHERE pending GROUP BY 1");
        async move {
            let found = sqlx::query(&sql)
                .fetch_all(&store.pool)
                .await
                .map_err(db_error)?;
            let mut counts = std::collections::BTreeMap::new();
            for row in &found {
                let key: Option<String> = row.try_get("key").map_err(db_error)?;
                let n: i64 = row.try_get("n").map_err(db_error)?;
                counts.insert(key, u64::try_from(n).unwrap_or(0));
            }
            Ok::<_, StoreError>(counts)
        }
    };
    Ok(PendingBreakdown {
        agents: grouped("data->'assigned_agent'->>'name'").await?,
        departments: grouped("data->>'department'").await?,
    })
}

pub async fn due(
    store: &PgStore,
    now: DateTime<Utc>,
    n: usize,
) -> StoreResult<Vec<Versioned<Callback>>> {
    let found = sqlx::query(
        "SELECT id, rev, data FROM callbacks WHERE next_wake <= $1 ORDER BY next_wake, id LIMIT $2",
    )
    .bind(now)
    .bind(limit(n))
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    Ok(readable(store, found).await)
}

pub async fn next_due(store: &PgStore) -> StoreResult<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(next_wake) FROM callbacks WHERE next_wake IS NOT NULL")
        .fetch_one(&store.pool)
        .await
        .map_err(db_error)
}

/// What an incoming event is decided from. Lookups waiting at the same time share one
/// statement (`batch::lookups`); the row that comes back is read here, on the caller's
/// thread (a row that cannot be read is set aside from here too: rare, and a pool
/// connection serves any runtime).
pub async fn lookup(store: &PgStore, lookup: Lookup) -> StoreResult<Found> {
    let dedup = lookup.dedup.as_ref();
    let row = store
        .lookups
        .call(LookupKeys {
            call_id: lookup.call_id.clone(),
            dedup_trigger: dedup.map(|d| d.trigger.clone()),
            dedup_call_id: dedup.map(|d| d.call_id.clone()),
            dedup_leg: dedup.map(|d| d.leg.clone()),
            callback: lookup.callback.map(|c| c.to_string()),
            customer: lookup.customer.as_ref().map(|c| c.as_str().to_string()),
        })
        .await?;
    let json = |name: &str| -> StoreResult<Option<Value>> { row.try_get(name).map_err(db_error) };
    let mut found = Found::default();
    if let (Some(call_id), Some(v)) = (&lookup.call_id, json("call")?) {
        let rev = v["rev"].as_i64().unwrap_or(0);
        match call_from(v["data"].clone()) {
            Ok(state) => {
                found.call = Some(Versioned {
                    value: state,
                    version: rows::version(rev),
                })
            }
            Err(e) => set_aside(store, "calls", "call_id", call_id, &e.to_string()).await,
        }
    }
    let dedup_event: Option<String> = row.try_get("dedup").map_err(db_error)?;
    found.dedup = dedup_event.and_then(|e| Ulid::from_string(&e).ok());
    found.callback = match json("callback")? {
        Some(v) => versioned_callback(store, v).await,
        None => None,
    };
    if let Some(number) = lookup.customer {
        let customer = json("customer")?;
        let rev = customer
            .as_ref()
            .and_then(|c| c["rev"].as_i64())
            .unwrap_or(0);
        let last_answered_at = customer
            .as_ref()
            .and_then(|c| c["last"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let pending_json = json("pending")?;
        let pending_id = pending_json
            .as_ref()
            .and_then(|p| p["id"].as_str())
            .map(str::to_string);
        let pending = match pending_json {
            Some(v) => versioned_callback(store, v).await,
            None => None,
        };
        found.customer = Some(CustomerState {
            number,
            pending,
            last_answered_at,
            version: customer_version(rev, pending_id.as_deref()),
        });
    }
    Ok(found)
}

async fn versioned_callback(store: &PgStore, v: Value) -> Option<Versioned<Callback>> {
    let id = v["id"].as_str().unwrap_or_default().to_string();
    let rev = v["rev"].as_i64().unwrap_or(0);
    match serde_json::from_value::<Callback>(v["data"].clone()) {
        Ok(value) => Some(Versioned {
            value,
            version: rows::version(rev),
        }),
        Err(e) => {
            set_aside(store, "callbacks", "id", &id, &e.to_string()).await;
            None
        }
    }
}
