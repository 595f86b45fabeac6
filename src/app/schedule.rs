//! When the rules change (a dashboard edit, or a different `config.toml` at start), every
//! pending callback's next reminder and escalation is computed again under the new rules —
//! unless they were scheduled with the same rules already (a fingerprint in the store).

use std::sync::Arc;

use futures_util::future::join_all;

use super::error::decide;
use super::writes::add_callback;
use super::{App, AppError};
use crate::domain::rules::Rules;
use crate::store::{ListQuery, Plan, StatusFilter, StoreError};

/// Pending callbacks rescheduled per round (one writer batch).
const CHUNK: usize = 1000;

impl App {
    /// Reschedules every pending callback under `rules`; returns how many were looked at
    /// (0 when they were already scheduled with these rules).
    pub async fn align_schedule(&self, rules: Arc<Rules>) -> Result<usize, AppError> {
        let fingerprint = rules.schedule_fingerprint();
        if self.store.schedule_fingerprint().await?.as_deref() == Some(fingerprint.as_str()) {
            return Ok(0);
        }
        let now = self.now();
        let mut seen = 0;
        let mut after = None;
        loop {
            let page = self
                .store
                .list_callbacks(ListQuery {
                    status: StatusFilter::Pending,
                    limit: CHUNK,
                    after,
                    ..ListQuery::default()
                })
                .await?;
            seen += page.callbacks.len();
            let ids = page.callbacks.iter().map(|c| c.id).collect();
            // Read with their versions, rescheduled and written; one that changed meanwhile
            // was written by someone holding these rules (or is read again next start).
            let current = self.store.callbacks(ids).await?;
            let plans = decide("rescheduling pending callbacks", || {
                current
                    .into_iter()
                    .filter_map(|cb| {
                        let mut next = cb.value.clone();
                        next.reschedule(&rules);
                        (next != cb.value).then(|| {
                            let mut plan = Plan::default();
                            add_callback(&mut plan, Some(cb), next, Vec::new(), now);
                            plan
                        })
                    })
                    .collect::<Vec<_>>()
            })?;
            for result in join_all(plans.into_iter().map(|p| self.apply(p))).await {
                match result {
                    Ok(()) | Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        self.store.set_schedule_fingerprint(fingerprint).await?;
        if seen > 0 {
            tracing::info!(
                pending = seen,
                "schedule rules changed: pending callbacks rescheduled"
            );
        }
        self.nudge();
        Ok(seen)
    }
}
