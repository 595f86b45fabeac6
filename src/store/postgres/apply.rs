//! A plan as one transaction of conditional writes. Each write names the revision it was
//! decided from (`WHERE rev = $n`, or an insert that must not meet an existing row); a write
//! that finds nothing to change, or a unique index that refuses it (a second pending
//! callback for one customer), is a conflict: the transaction is rolled back and the
//! application decides again. The customer's row is written first, so plans about one
//! customer queue on its row lock instead of interleaving.
//!
//! The writes themselves run in the database, a batch of plans in one statement
//! (`ringback_apply_batch`, migrations/postgres/0005, from `columns.rs`); when a plan in the
//! batch conflicts, the plans go again one by one, each as `ringback_apply`
//! (migrations/postgres/0003) reads it from the JSON made here. Row by row from here a plan
//! was a dozen round trips, and at 32 concurrent webhooks the round trips' system calls and
//! wake-ups, not the database's work, were the cost (a profile: most of the time in `send`
//! and task switches).
//! `write_callback`, `insert_delivery` and `insert_event` remain for `copy-store`'s import.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sqlx::{Postgres, Transaction};

use super::batch::PlanJob;
use super::rows::{self, call_json, ms, split_customer_version, to_json};
use super::{PgStore, db_error};
use crate::domain::callback::Callback;
use crate::domain::reminder::Delivery;
use crate::store::{CallbackWrite, EventWrite, Plan, StoreError, StoreResult};

type Tx<'a> = Transaction<'a, Postgres>;

/// One changed row, or the conflict it was.
fn changed(rows: u64) -> StoreResult<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Applies `plan` in one transaction, which raises 40001 (a conflict) when a write finds its
/// row changed; plans waiting at the same time share a statement and a COMMIT (`batch.rs`).
pub async fn apply(store: &PgStore, plan: Plan) -> StoreResult<()> {
    let order = lock_order(&plan);
    store.plans.call(PlanJob { plan, order }).await
}

/// Where a plan goes in its batch: by the customer whose row it locks first (a settlement,
/// which locks none, by its callback's customer), so batches lock rows in one order.
fn lock_order(plan: &Plan) -> String {
    match (&plan.customer, plan.callbacks.first()) {
        (Some(customer), _) => customer.number.as_str().to_string(),
        (None, Some(write)) => write.after.customer_number.as_str().to_string(),
        (None, None) => String::new(),
    }
}

/// A time as `ringback_apply` reads it: microseconds, as a bound timestamp is truncated.
fn at(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The plan as `ringback_apply` reads it. Absent parts are left out (not `null`): the
/// function tests `p->'part' IS NULL`.
pub(super) fn plan_json(plan: &Plan) -> StoreResult<Value> {
    let mut p = Map::new();
    if let Some(customer) = &plan.customer {
        let (rev, pending) = split_customer_version(&customer.expected)?;
        p.insert(
            "customer".into(),
            json!({
                "number": customer.number.as_str(),
                "rev": rev,
                "last_answered_at": customer.last_answered_at.map(|t| at(ms(t))),
                "pending": pending,
            }),
        );
    }
    if let Some(call) = &plan.call {
        let newest = call
            .state
            .newest_event()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let mut c = json!({
            "call_id": call.call_id,
            "newest": newest,
            "data": call_json(&call.state),
        });
        if let Some(v) = &call.expected {
            c["rev"] = json!(rows::rev(v)?);
        }
        p.insert("call".into(), c);
    }
    if let Some(dedup) = &plan.dedup {
        p.insert(
            "dedup".into(),
            json!({
                "trigger": dedup.key.trigger,
                "call_id": dedup.key.call_id,
                "leg": dedup.key.leg,
                "event_id": dedup.event.to_string(),
            }),
        );
    }
    let mut callbacks = Vec::with_capacity(plan.callbacks.len());
    for write in &plan.callbacks {
        let c = columns(&write.after);
        let mut item = json!({
            "id": c.id,
            "customer": c.customer,
            "pending": c.pending,
            "first_missed_at": at(c.first_missed_at),
            "resolved_at": c.resolved_at.map(at),
            "next_wake": c.next_wake.map(at),
            "data": to_json(&write.after),
        });
        if let Some(before) = &write.before {
            item["rev"] = json!(rows::rev(&before.version)?);
        }
        if !write.timeline.is_empty() {
            item["timeline"] = to_json(&write.timeline);
        }
        callbacks.push(item);
    }
    if !callbacks.is_empty() {
        p.insert("callbacks".into(), Value::Array(callbacks));
    }
    if !plan.deliveries.is_empty() {
        let deliveries = plan
            .deliveries
            .iter()
            .map(|d| json!({"id": d.id.to_string(), "at": at(ms(d.next_attempt_at)), "data": to_json(d)}))
            .collect();
        p.insert("deliveries".into(), Value::Array(deliveries));
    }
    if let Some(settle) = &plan.settle {
        let mut c = json!({
            "id": settle.taken.delivery.id.to_string(),
            "rev": rows::rev(&settle.taken.version)?,
        });
        if let Some(keep) = &settle.keep {
            c["keep"] = json!({"at": at(ms(keep.next_attempt_at)), "data": to_json(keep)});
        }
        p.insert("settle".into(), c);
    }
    if let Some(event) = &plan.event {
        p.insert(
            "event".into(),
            json!({
                "id": event.record.id.to_string(),
                "received_at": at(event.record.received_at),
                "record": to_json(&event.record),
                "body": BASE64.encode(&event.body),
            }),
        );
    }
    if let Some(claim) = &plan.digest {
        p.insert(
            "digest".into(),
            json!({
                "schedule": claim.schedule,
                "occurrence": at(claim.occurrence),
                "claim": to_json(claim),
            }),
        );
    }
    Ok(Value::Object(p))
}

/// The columns a callback is found by.
struct Columns {
    id: String,
    customer: String,
    pending: bool,
    first_missed_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    next_wake: Option<DateTime<Utc>>,
}

fn columns(cb: &Callback) -> Columns {
    Columns {
        id: cb.id.to_string(),
        customer: cb.customer_number.as_str().to_string(),
        pending: cb.is_pending(),
        first_missed_at: ms(cb.first_missed_at),
        resolved_at: cb.resolved_at.map(ms),
        next_wake: cb.next_wake().map(ms),
    }
}

pub async fn write_callback(tx: &mut Tx<'_>, write: &CallbackWrite) -> StoreResult<()> {
    let c = columns(&write.after);
    let data = to_json(&write.after);
    let done = match &write.before {
        None => sqlx::query(
            "INSERT INTO callbacks (id, customer, pending, first_missed_at, resolved_at, next_wake, rev, data) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&c.id)
        .bind(&c.customer)
        .bind(c.pending)
        .bind(c.first_missed_at)
        .bind(c.resolved_at)
        .bind(c.next_wake)
        .bind(&data)
        .execute(&mut **tx)
        .await,
        Some(before) => sqlx::query(
            "UPDATE callbacks SET customer = $2, pending = $3, first_missed_at = $4, resolved_at = $5, \
             next_wake = $6, data = $7, rev = rev + 1 WHERE id = $1 AND rev = $8",
        )
        .bind(&c.id)
        .bind(&c.customer)
        .bind(c.pending)
        .bind(c.first_missed_at)
        .bind(c.resolved_at)
        .bind(c.next_wake)
        .bind(&data)
        .bind(rows::rev(&before.version)?)
        .execute(&mut **tx)
        .await,
    }
    .map_err(db_error)?;
    changed(done.rows_affected())?;
    if !write.timeline.is_empty() {
        sqlx::query("INSERT INTO timeline (callback_id, entries) VALUES ($1, $2)")
            .bind(&c.id)
            .bind(to_json(&write.timeline))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

pub async fn insert_delivery(tx: &mut Tx<'_>, delivery: &Delivery) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (id, takeable_at, next_attempt_at, rev, data) VALUES ($1, $2, $2, 1, $3)",
    )
    .bind(delivery.id.to_string())
    .bind(ms(delivery.next_attempt_at))
    .bind(to_json(delivery))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn insert_event(tx: &mut Tx<'_>, event: &EventWrite) -> StoreResult<()> {
    sqlx::query("INSERT INTO events (id, received_at, record, body) VALUES ($1, $2, $3, $4)")
        .bind(event.record.id.to_string())
        .bind(event.record.received_at)
        .bind(to_json(&event.record))
        .bind(&event.body)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}
