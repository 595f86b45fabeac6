//! Retention (`[storage].retention`, `raw_retention`): callbacks resolved longer ago than
//! the retention and raw events received longer ago than the raw retention (the retention,
//! when none is set) are deleted, in small batches so webhooks interleave.
//! Pending callbacks are never deleted. The scheduler runs a pass in its own lane, at most
//! once an hour.

use chrono::{DateTime, Utc};

use super::{App, AppError};
use crate::store::{Cutoffs, Purged};

/// Records deleted per store batch; a batch holds the writer only briefly.
const BATCH: usize = 200;
/// Batches per pass; the rest waits for the next pass.
const BATCHES: usize = 500;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPass {
    pub purged: Purged,
    pub cutoff: Option<DateTime<Utc>>,
    /// Raw events received before this went.
    pub events_cutoff: Option<DateTime<Utc>>,
}

impl App {
    /// Deletes what retention no longer keeps as of `now` (nothing when it keeps all).
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<RetentionPass, AppError> {
        let cutoff = self.retention.and_then(|r| now.checked_sub_signed(r));
        // Raw bodies never outlive the callbacks' retention.
        let raw = self.raw_retention.and_then(|r| now.checked_sub_signed(r));
        let events_cutoff = match (cutoff, raw) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let cutoffs = Cutoffs {
            callbacks: cutoff,
            events: events_cutoff,
        };
        if cutoffs == Cutoffs::default() {
            return Ok(RetentionPass::default());
        }
        let mut purged = Purged::default();
        for _ in 0..BATCHES {
            let batch = self.store.purge(cutoffs, BATCH).await?;
            purged.add(batch);
            if batch.callbacks < BATCH && batch.events < BATCH {
                break;
            }
        }
        if purged != Purged::default() {
            tracing::info!(
                callbacks = purged.callbacks,
                events = purged.events,
                calls = purged.calls,
                callbacks_before = ?cutoff,
                events_before = ?events_cutoff,
                "retention: deleted old resolved callbacks and events"
            );
        }
        Ok(RetentionPass {
            purged,
            cutoff,
            events_cutoff,
        })
    }
}
