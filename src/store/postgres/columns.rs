//! A batch of write plans as columns, for `ringback_apply_batch` (migrations/postgres/0005):
//! each kind of row (customers, calls, callbacks, …) becomes parallel arrays, bound in
//! PostgreSQL's binary format, so the database writes each kind with one statement for the
//! whole batch and parses JSON only where a column holds JSON. Rows keep their plans' order.
//!
//! The values are the same as `apply::plan_json` gives `ringback_apply`, which the batch
//! falls back to when a plan in it conflicts: times to the millisecond where the embedded
//! store keys by them, the domain's values as the same JSON.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;

use super::rows::{self, call_json, ms, split_customer_version};
use crate::domain::callback::{Callback, TimelineEntry};
use crate::domain::reminder::Delivery;
use crate::store::plan::DigestClaim;
use crate::store::{EventRecord, Plan, StoreResult};

/// The statement: one parameter per column below, in this order.
const APPLY_BATCH: &str = "SELECT ringback_apply_batch(\
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)";

type Time = DateTime<Utc>;

#[derive(Default)]
pub struct Columns<'a> {
    cu_number: Vec<&'a str>,
    /// 0: the customer has no row yet.
    cu_rev: Vec<i64>,
    cu_last: Vec<Option<Time>>,
    /// The pending callback the plan was decided with.
    cu_pending: Vec<Option<String>>,

    ca_id: Vec<&'a str>,
    ca_newest: Vec<String>,
    /// `None`: the call must not be stored yet.
    ca_rev: Vec<Option<i64>>,
    ca_data: Vec<Json<Value>>,

    dd_trigger: Vec<&'a str>,
    dd_call: Vec<&'a str>,
    dd_leg: Vec<&'a str>,
    dd_event: Vec<String>,

    cb_id: Vec<String>,
    cb_customer: Vec<&'a str>,
    cb_pending: Vec<bool>,
    cb_first: Vec<Time>,
    cb_resolved: Vec<Option<Time>>,
    cb_wake: Vec<Option<Time>>,
    /// `None`: a new callback.
    cb_rev: Vec<Option<i64>>,
    cb_data: Vec<Json<&'a Callback>>,
    cb_timeline: Vec<Option<Json<&'a Vec<TimelineEntry>>>>,

    ou_id: Vec<String>,
    ou_at: Vec<Time>,
    ou_data: Vec<Json<&'a Delivery>>,

    se_id: Vec<String>,
    se_rev: Vec<i64>,
    /// `false`: the delivery is done and goes.
    se_keep: Vec<bool>,
    se_at: Vec<Option<Time>>,
    se_data: Vec<Option<Json<&'a Delivery>>>,

    ev_id: Vec<String>,
    ev_at: Vec<Time>,
    ev_record: Vec<Json<&'a EventRecord>>,
    ev_body: Vec<&'a [u8]>,

    dg_schedule: Vec<&'a str>,
    dg_occurrence: Vec<Time>,
    dg_claim: Vec<Json<&'a DigestClaim>>,
}

impl<'a> Columns<'a> {
    /// The plans' rows, in the plans' order.
    pub fn of(plans: impl IntoIterator<Item = &'a Plan>) -> StoreResult<Self> {
        let mut c = Self::default();
        for plan in plans {
            c.push(plan)?;
        }
        Ok(c)
    }

    fn push(&mut self, plan: &'a Plan) -> StoreResult<()> {
        if let Some(customer) = &plan.customer {
            let (rev, pending) = split_customer_version(&customer.expected)?;
            self.cu_number.push(customer.number.as_str());
            self.cu_rev.push(rev);
            self.cu_last.push(customer.last_answered_at.map(ms));
            self.cu_pending.push(pending);
        }
        if let Some(call) = &plan.call {
            self.ca_id.push(&call.call_id);
            let newest = call.state.newest_event().map(|e| e.to_string());
            self.ca_newest.push(newest.unwrap_or_default());
            self.ca_rev
                .push(call.expected.as_ref().map(rows::rev).transpose()?);
            self.ca_data.push(Json(call_json(&call.state)));
        }
        if let Some(dedup) = &plan.dedup {
            self.dd_trigger.push(&dedup.key.trigger);
            self.dd_call.push(&dedup.key.call_id);
            self.dd_leg.push(&dedup.key.leg);
            self.dd_event.push(dedup.event.to_string());
        }
        for write in &plan.callbacks {
            let cb = &write.after;
            self.cb_id.push(cb.id.to_string());
            self.cb_customer.push(cb.customer_number.as_str());
            self.cb_pending.push(cb.is_pending());
            self.cb_first.push(ms(cb.first_missed_at));
            self.cb_resolved.push(cb.resolved_at.map(ms));
            self.cb_wake.push(cb.next_wake().map(ms));
            let rev = write.before.as_ref().map(|b| rows::rev(&b.version));
            self.cb_rev.push(rev.transpose()?);
            self.cb_data.push(Json(cb));
            let timeline = (!write.timeline.is_empty()).then_some(Json(&write.timeline));
            self.cb_timeline.push(timeline);
        }
        for delivery in &plan.deliveries {
            self.ou_id.push(delivery.id.to_string());
            self.ou_at.push(ms(delivery.next_attempt_at));
            self.ou_data.push(Json(delivery));
        }
        if let Some(settle) = &plan.settle {
            self.se_id.push(settle.taken.delivery.id.to_string());
            self.se_rev.push(rows::rev(&settle.taken.version)?);
            self.se_keep.push(settle.keep.is_some());
            self.se_at
                .push(settle.keep.as_ref().map(|k| ms(k.next_attempt_at)));
            self.se_data.push(settle.keep.as_ref().map(Json));
        }
        if let Some(event) = &plan.event {
            self.ev_id.push(event.record.id.to_string());
            self.ev_at.push(event.record.received_at);
            self.ev_record.push(Json(&event.record));
            self.ev_body.push(&event.body);
        }
        if let Some(claim) = &plan.digest {
            self.dg_schedule.push(&claim.schedule);
            self.dg_occurrence.push(claim.occurrence);
            self.dg_claim.push(Json(claim));
        }
        Ok(())
    }

    /// Applies the batch in one statement, all or nothing.
    pub async fn apply(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(APPLY_BATCH)
            .bind(self.cu_number)
            .bind(self.cu_rev)
            .bind(self.cu_last)
            .bind(self.cu_pending)
            .bind(self.ca_id)
            .bind(self.ca_newest)
            .bind(self.ca_rev)
            .bind(self.ca_data)
            .bind(self.dd_trigger)
            .bind(self.dd_call)
            .bind(self.dd_leg)
            .bind(self.dd_event)
            .bind(self.cb_id)
            .bind(self.cb_customer)
            .bind(self.cb_pending)
            .bind(self.cb_first)
            .bind(self.cb_resolved)
            .bind(self.cb_wake)
            .bind(self.cb_rev)
            .bind(self.cb_data)
            .bind(self.cb_timeline)
            .bind(self.ou_id)
            .bind(self.ou_at)
            .bind(self.ou_data)
            .bind(self.se_id)
            .bind(self.se_rev)
            .bind(self.se_keep)
            .bind(self.se_at)
            .bind(self.se_data)
            .bind(self.ev_id)
            .bind(self.ev_at)
            .bind(self.ev_record)
            .bind(self.ev_body)
            .bind(self.dg_schedule)
            .bind(self.dg_occurrence)
            .bind(self.dg_claim)
            .execute(conn)
            .await
            .map(|_| ())
    }
}
