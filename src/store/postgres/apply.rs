//! A plan as one transaction of conditional writes. Each write names the revision it was
//! decided from (`WHERE rev = $n`, or an insert that must not meet an existing row); a write
//! that finds nothing to change, or a unique index that refuses it (a second pending
//! callback for one customer), is a conflict: the transaction is rolled back and the
//! application decides again. The customer's row is written first, so plans about one
//! customer queue on its row lock instead of interleaving.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

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

pub async fn apply(store: &PgStore, plan: Plan) -> StoreResult<()> {
    let mut tx = store.pool.begin().await.map_err(db_error)?;
    if let Some(customer) = &plan.customer {
        let (rev, pending) = split_customer_version(&customer.expected)?;
        let number = customer.number.as_str();
        let done = if rev == 0 {
            sqlx::query(
                "INSERT INTO customers (number, last_answered_at, rev) VALUES ($1, $2, 1) \
                 ON CONFLICT (number) DO NOTHING",
            )
            .bind(number)
            .bind(customer.last_answered_at.map(ms))
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "UPDATE customers SET rev = rev + 1, \
                 last_answered_at = COALESCE($2, last_answered_at) WHERE number = $1 AND rev = $3",
            )
            .bind(number)
            .bind(customer.last_answered_at.map(ms))
            .bind(rev)
            .execute(&mut *tx)
            .await
        }
        .map_err(db_error)?;
        changed(done.rows_affected())?;
        // With the customer's row locked, their pending callback is the one decided from.
        let now: Option<String> =
            sqlx::query_scalar("SELECT id FROM callbacks WHERE customer = $1 AND pending")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if now != pending {
            return Err(StoreError::Conflict);
        }
    }
    if let Some(call) = &plan.call {
        let newest = call
            .state
            .newest_event()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let done =
            match &call.expected {
                None => sqlx::query(
                    "INSERT INTO calls (call_id, newest_event, rev, data) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (call_id) DO NOTHING",
                )
                .bind(&call.call_id)
                .bind(&newest)
                .bind(call_json(&call.state))
                .execute(&mut *tx)
                .await,
                Some(v) => {
                    sqlx::query(
                        "UPDATE calls SET newest_event = $2, data = $3, rev = rev + 1 \
                 WHERE call_id = $1 AND rev = $4",
                    )
                    .bind(&call.call_id)
                    .bind(&newest)
                    .bind(call_json(&call.state))
                    .bind(rows::rev(v)?)
                    .execute(&mut *tx)
                    .await
                }
            }
            .map_err(db_error)?;
        changed(done.rows_affected())?;
    }
    if let Some(dedup) = &plan.dedup {
        let done = sqlx::query(
            "INSERT INTO event_dedup (trigger, call_id, leg, event_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&dedup.key.trigger)
        .bind(&dedup.key.call_id)
        .bind(&dedup.key.leg)
        .bind(dedup.event.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        changed(done.rows_affected())?;
    }
    for write in &plan.callbacks {
        write_callback(&mut tx, write).await?;
    }
    for delivery in &plan.deliveries {
        insert_delivery(&mut tx, delivery).await?;
    }
    if let Some(settle) = &plan.settle {
        let id = settle.taken.delivery.id.to_string();
        let rev = rows::rev(&settle.taken.version)?;
        let done =
            match &settle.keep {
                Some(keep) => sqlx::query(
                    "UPDATE outbox SET takeable_at = $2, next_attempt_at = $2, lease_owner = NULL, \
                 lease_until = NULL, data = $3, rev = rev + 1 WHERE id = $1 AND rev = $4",
                )
                .bind(&id)
                .bind(ms(keep.next_attempt_at))
                .bind(to_json(keep))
                .bind(rev)
                .execute(&mut *tx)
                .await,
                None => {
                    sqlx::query("DELETE FROM outbox WHERE id = $1 AND rev = $2")
                        .bind(&id)
                        .bind(rev)
                        .execute(&mut *tx)
                        .await
                }
            }
            .map_err(db_error)?;
        changed(done.rows_affected())?;
    }
    if let Some(event) = &plan.event {
        insert_event(&mut tx, event).await?;
    }
    if let Some(claim) = &plan.digest {
        let done = sqlx::query(
            "INSERT INTO digests (schedule, occurrence, claim) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&claim.schedule)
        .bind(claim.occurrence)
        .bind(to_json(claim))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        changed(done.rows_affected())?;
    }
    tx.commit().await.map_err(db_error)
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
