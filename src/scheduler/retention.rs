//! Retention's own lane: at most once an hour (on the injectable clock), off the claim path,
//! so reminders never wait behind a purge.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use super::Scheduler;
use crate::app::{App, AppError};
use crate::store::Purged;

/// Retention runs at most this often.
const EVERY: TimeDelta = TimeDelta::hours(1);
/// How often the lane looks at the clock.
const LOOK_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Lane {
    last: Mutex<Option<DateTime<Utc>>>,
}

impl Lane {
    /// Runs a retention pass when none ran for an hour (and on the first call).
    pub async fn run_if_due(&self, app: &App, now: DateTime<Utc>) -> Result<Purged, AppError> {
        if app.retention.is_none() {
            return Ok(Purged::default());
        }
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| now - at < EVERY && now >= at) {
                return Ok(Purged::default());
            }
            *last = Some(now);
        }
        Ok(app.purge_expired(now).await?.purged)
    }
}

/// The service's retention lane, until `stop`.
pub async fn run(scheduler: Arc<Scheduler>, stop: CancellationToken) {
    loop {
        let now = scheduler.app.now();
        if let Err(e) = scheduler.retention.run_if_due(&scheduler.app, now).await {
            tracing::error!(error = %e, "retention pass failed; it runs again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}
