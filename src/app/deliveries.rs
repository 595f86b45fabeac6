//! Deliveries from the outbox: taken with a lease (so one sender has each; a lease that
//! runs out makes it takeable again), and settled by whoever took it — sent, retry later,
//! failed for good, or dropped — with what that does to the callback.

use chrono::{DateTime, Utc};

use super::error::decide;
use super::writes::add_callback;
use super::{App, AppError, MAX_ATTEMPTS, back_off};
use crate::domain::callback::Callback;
use crate::domain::reminder::{self, Settlement};
use crate::store::{Plan, SettleWrite, StoreError, Take, Taken, Versioned};

/// How long a taken delivery is ours. Longer than any one send can take (SMTP and Telegram
/// calls are bounded well below it), so a live sender never loses one it is sending.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(5);

impl App {
    /// Takes up to `limit` deliveries due at `now` that nobody is sending.
    pub async fn take_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Taken>, AppError> {
        let until = now.checked_add_signed(LEASE).unwrap_or(now);
        Ok(self
            .store
            .take(Take {
                now,
                owner: self.owner,
                until,
                limit,
            })
            .await?)
    }

    /// Gives back deliveries taken but not sent (stopping).
    pub async fn release(&self, taken: Vec<ulid::Ulid>) -> Result<(), AppError> {
        Ok(self.store.release(self.owner, taken).await?)
    }

    /// Records what the transport reported. `read` is the delivery's callback as the sender
    /// read it, if it did (saves reading it again; a stale one costs a conflict and a fresh
    /// read). `Ok(false)` when the delivery is no longer ours (its lease ran out and someone
    /// else took it): their result counts.
    pub async fn settle(
        &self,
        taken: &Taken,
        settlement: &Settlement,
        mut read: Option<Versioned<Callback>>,
    ) -> Result<bool, AppError> {
        for attempt in 0..MAX_ATTEMPTS {
            back_off(attempt).await;
            let callback = match read.take() {
                Some(known) => Some(known),
                None => self.store.callback(taken.delivery.callback).await?,
            };
            let plan = decide("settling a delivery", || {
                let settled = reminder::settle(
                    callback.as_ref().map(|c| &c.value),
                    &taken.delivery,
                    settlement,
                );
                let mut plan = Plan {
                    settle: Some(SettleWrite {
                        taken: taken.clone(),
                        keep: settled.keep,
                    }),
                    ..Plan::default()
                };
                if let (Some(after), Some(before)) = (settled.callback, callback) {
                    add_callback(&mut plan, Some(before), after, settled.timeline, self.now());
                }
                plan
            })?;
            match self.apply(plan).await {
                Ok(()) => return Ok(true),
                // The callback changed meanwhile (read again), or the delivery is not ours.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        tracing::warn!(delivery = %taken.delivery.id, "a delivery's result was not recorded: it is no longer held by this process");
        Ok(false)
    }
}
