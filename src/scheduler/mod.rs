//! The reminder scheduler (SPEC §6). Each pass, at the clock's "now":
//!
//! 1. **claim** — the application issues every due reminder round and escalation step
//!    (found through the store's time-ordered index, so a pass costs what is due, not what
//!    is pending) and records one delivery per recipient and channel in the outbox —
//!    durably, before anything is sent;
//! 2. **deliver** — outbox deliveries whose time has come are taken with a lease and sent
//!    (concurrently), unless no longer wanted (the callback was resolved, or a newer round
//!    superseded it);
//! 3. **settle** — each result is recorded: sent (counted, on the timeline), retry later
//!    (exponential backoff with jitter, or Telegram's `retry_after`), or failed for good.
//!
//! A crash between 1 and 3 leaves the delivery in the outbox: it is sent again once its
//! lease runs out, or at once after a restart (at-least-once). What was settled is never
//! sent again. The clock is injected, so tests move time and call [`Scheduler::tick`].
//!
//! The service loop ([`Scheduler::run`]) works in lanes: it claims and takes in the loop and
//! sends each batch of deliveries in a background pass, so a round falling due while
//! earlier ones are still going out is claimed on time; retention runs in a lane of its own
//! (`retention.rs`). On stop it takes nothing more, gives passes a bounded grace to finish
//! what they are sending, then abandons the rest and gives their leases back.

mod retention;
mod send;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, AppError};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::store::Purged;
use send::Outcome;

/// Callbacks claimed per round.
const CLAIM_BATCH: usize = 1000;
/// Deliveries taken per pass: as many as a claim records, so the deliveries of one claim go
/// out in one pass (a pass ends when its last settlement is durable).
const TAKE_BATCH: usize = CLAIM_BATCH;
/// Deliveries in flight at once.
const SEND_CONCURRENCY: usize = 16;
/// How long the loop waits before looking again when work is due but a pass did none.
const IDLE_PAUSE: Duration = Duration::from_millis(100);
/// How long a stopping scheduler lets sends already under way finish.
pub const SEND_GRACE: Duration = Duration::from_secs(5);

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    pub claimed: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub dropped: usize,
    /// What retention deleted (at most once an hour).
    pub purged: Purged,
}

impl TickReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Dropped => self.dropped += 1,
            Outcome::Unsent => {}
        }
    }
}

pub struct Scheduler {
    app: Arc<App>,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    /// One claim at a time.
    claiming: tokio::sync::Mutex<()>,
    retention: retention::Lane,
}

impl Scheduler {
    pub fn new(app: Arc<App>, notifier: Arc<Notifier>, metrics: Arc<Metrics>) -> Self {
        Self {
            app,
            notifier,
            metrics,
            claiming: tokio::sync::Mutex::new(()),
            retention: retention::Lane::default(),
        }
    }

    /// Asks the loop to look again now (a webhook changed a schedule).
    pub fn nudge(&self) {
        self.app.nudge();
    }

    /// One full pass at the clock's time: claim what is due, deliver what is ready, and
    /// apply retention when it is due.
    pub async fn tick(&self) -> Result<TickReport, AppError> {
        let now = self.app.now();
        let mut report = TickReport {
            claimed: self.claim(now).await? + self.app.claim_digests(now).await?,
            ..TickReport::default()
        };
        loop {
            let taken = self.app.take_deliveries(now, TAKE_BATCH).await?;
            if taken.is_empty() {
                break;
            }
            let never = CancellationToken::new();
            for outcome in self.deliver(taken, &never, &never).await? {
                report.count(outcome);
            }
        }
        report.purged = self.retention.run_if_due(&self.app, now).await?;
        if report != TickReport::default() {
            tracing::debug!(?report, "scheduler tick");
        }
        Ok(report)
    }

    /// Records every round due at `now` in the outbox without sending anything. Returns the
    /// number of deliveries recorded.
    pub async fn claim(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let _one_at_a_time = self.claiming.lock().await;
        let mut total = 0;
        loop {
            if !self.more_due(now).await? {
                return Ok(total);
            }
            let due_before = self.app.store.next_due().await?;
            let claimed = self.app.claim_due(now, CLAIM_BATCH).await?;
            total += claimed;
            // Nothing recorded and nothing moved: leave the rest to the next pass.
            if claimed == 0 && self.app.store.next_due().await? == due_before {
                return Ok(total);
            }
        }
    }

    async fn more_due(&self, now: DateTime<Utc>) -> Result<bool, AppError> {
        Ok(self.app.store.next_due().await?.is_some_and(|t| t <= now))
    }

    /// Ticks until `stop` is cancelled: at the next due time (or retry), when nudged, and
    /// at least every `max_sleep`. Returns once in-flight sends are done or abandoned.
    pub async fn run(self: Arc<Self>, max_sleep: Duration, stop: CancellationToken) {
        let passes = TaskTracker::new();
        // Cancelled after the grace period: passes abandon what they are sending.
        let abandon = CancellationToken::new();
        passes.spawn(retention::run(Arc::clone(&self), stop.clone()));
        while !stop.is_cancelled() {
            let now = self.app.now();
            let mut idle = true;
            match self.claim_and_take(now).await {
                Ok(taken) if !taken.is_empty() => {
                    idle = false;
                    let me = Arc::clone(&self);
                    let (stop, abandon) = (stop.clone(), abandon.clone());
                    passes.spawn(async move {
                        match me.deliver(taken, &stop, &abandon).await {
                            Ok(outcomes) => {
                                tracing::debug!(deliveries = outcomes.len(), "delivery pass")
                            }
                            Err(e) => tracing::error!(error = %e, "delivery pass failed"),
                        }
                        // Retries may now be due at other times.
                        me.app.nudge();
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "scheduler pass failed; retrying shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.cancelled() => break,
                    }
                }
            }
            self.sleep_until_work(max_sleep, idle, &stop).await;
        }
        passes.close();
        if tokio::time::timeout(SEND_GRACE, passes.wait())
            .await
            .is_err()
        {
            tracing::warn!(grace = ?SEND_GRACE, "sends still under way at shutdown were abandoned; they are sent again after the restart");
            abandon.cancel();
            passes.wait().await;
        }
    }

    /// The loop's half of a pass: claims what is due and takes the deliveries ready now.
    async fn claim_and_take(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::store::Taken>, AppError> {
        self.claim(now).await?;
        self.app.claim_digests(now).await?;
        self.app.take_deliveries(now, TAKE_BATCH).await
    }

    /// Sleeps until the next work falls due. A nudge (a webhook changed a schedule) only
    /// makes the loop look again at when that is: under thousands of webhooks a second,
    /// ticking on every nudge kept the loop busy with empty passes and made the reminder that
    /// was due wait behind them.
    async fn sleep_until_work(&self, max_sleep: Duration, idle: bool, stop: &CancellationToken) {
        loop {
            // Until it is known when to look again, every change nudges: one that lands
            // between the read below and the sleep is not missed.
            self.app.looking_again_at(DateTime::<Utc>::MAX_UTC);
            let mut sleep = self
                .time_to_next_work()
                .await
                .unwrap_or(max_sleep)
                .min(max_sleep);
            if sleep.is_zero() {
                if !idle {
                    return;
                }
                // Work is due but this pass could do none of it (a conflict, a callback
                // changing under it): look again shortly rather than spin.
                sleep = IDLE_PAUSE;
            }
            let wake_at = chrono::Duration::from_std(sleep)
                .ok()
                .and_then(|d| self.app.now().checked_add_signed(d));
            if let Some(at) = wake_at {
                self.app.looking_again_at(at);
            }
            tokio::select! {
                _ = tokio::time::sleep(sleep) => return,
                _ = self.app.schedule_changed() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    async fn time_to_next_work(&self) -> Option<Duration> {
        let now = self.app.now();
        let store = &self.app.store;
        let next_due = store.next_due().await.ok().flatten();
        let next_delivery = store.next_delivery_at().await.ok().flatten();
        let next_digest = self.app.next_digest_at(now);
        let next = [next_due, next_delivery, next_digest]
            .into_iter()
            .flatten()
            .min()?;
        Some((next - now).to_std().unwrap_or(Duration::ZERO))
    }
}
