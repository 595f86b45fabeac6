//! The reminder scheduler (SPEC §6). Each tick, at the clock's "now":
//!
//! 1. **claim** — the store issues every due reminder round (found through the time-ordered
//!    `due` index, so a tick costs what is due, not what is pending), advances each
//!    callback's schedule and records one delivery per recipient and channel in the
//!    outbox — durably, before anything is sent;
//! 2. **deliver** — every outbox delivery whose time has come is sent (concurrently), unless
//!    it is no longer wanted (the callback was resolved, or a newer round superseded it);
//! 3. **settle** — each result is recorded: sent (counted, on the timeline), retry later
//!    (exponential backoff with jitter, or Telegram's `retry_after`), or failed for good.
//!
//! A crash between 1 and 3 leaves the delivery in the outbox: it is sent after the restart
//! (at-least-once). What was settled is never sent again. The clock is injected, so tests
//! move time and call [`Scheduler::tick`] directly.
//!
//! The service loop ([`Scheduler::run`]) claims in the loop and hands each batch of ready
//! deliveries to a background delivery pass, so a round falling due while earlier ones are
//! still going out is claimed on time; an in-flight set keeps two passes apart.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::{Mutex, Notify, watch};
use ulid::Ulid;

use crate::clock::Clock;
use crate::domain::reminder::{self, Delivery, Purpose, Roster, Settlement};
use crate::domain::rules::LiveRules;
use crate::metrics::Metrics;
use crate::notify::{Notifier, SendResult};
use crate::store::{Claim, Purged, Store, StoreError};

/// Callbacks claimed per store round-trip.
const CLAIM_BATCH: usize = 1000;
/// Deliveries in flight at once.
const SEND_CONCURRENCY: usize = 16;
/// Retention runs at most this often.
const PURGE_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// Records deleted per writer batch; purging never holds the writer for long.
const PURGE_BATCH: usize = 500;
/// Batches per retention pass; the rest waits for the next pass.
const PURGE_BATCHES: usize = 200;

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

pub struct Scheduler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rules: Arc<LiveRules>,
    roster: Arc<Roster>,
    notifier: Arc<Notifier>,
    metrics: Arc<Metrics>,
    /// One tick (or claim) at a time.
    ticking: Mutex<()>,
    /// Deliveries a delivery pass is sending or settling: no other pass picks them, so the
    /// service loop can claim the next due round while earlier ones are still going out.
    in_flight: std::sync::Mutex<std::collections::HashSet<Ulid>>,
    /// Woken when something may have become due sooner than the loop expects.
    nudge: Notify,
    /// `[storage].retention`: resolved callbacks and events older than this are deleted.
    retention: Option<chrono::TimeDelta>,
    last_purge: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rules: Arc<LiveRules>,
        roster: Arc<Roster>,
        notifier: Arc<Notifier>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            clock,
            rules,
            roster,
            notifier,
            metrics,
            ticking: Mutex::new(()),
            in_flight: std::sync::Mutex::new(std::collections::HashSet::new()),
            nudge: Notify::new(),
            retention: None,
            last_purge: std::sync::Mutex::new(None),
        }
    }

    /// Deletes resolved callbacks and raw events older than `retention` (None: keep all).
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention.and_then(|r| chrono::TimeDelta::from_std(r).ok());
        self
    }

    /// Asks the loop to look again now (a webhook changed a schedule).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// One pass: claim what is due, then deliver what is ready.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let _one_at_a_time = self.ticking.lock().await;
        let now = self.clock.now();
        let claimed = self.claim_unlocked(now).await?;
        let ready = self.take_ready(now)?;
        let mut report = self.deliver(ready).await?;
        report.claimed = claimed;
        report.purged = self.purge_if_due(now).await?;
        if report != TickReport::default() {
            tracing::debug!(?report, "scheduler tick");
        }
        Ok(report)
    }

    /// The service loop's half of a tick: claims what is due, purges when due, and takes
    /// the deliveries that are ready.
    async fn claim_and_take(&self) -> Result<Vec<Delivery>, StoreError> {
        let _one_at_a_time = self.ticking.lock().await;
        let now = self.clock.now();
        self.claim_unlocked(now).await?;
        self.purge_if_due(now).await?;
        self.take_ready(now)
    }

    /// Only the first half of a tick: records the rounds due at `now` in the outbox without
    /// sending them. Returns the number of deliveries recorded.
    pub async fn claim(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let _one_at_a_time = self.ticking.lock().await;
        self.claim_unlocked(now).await
    }

    async fn claim_unlocked(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut total = 0;
        // Nothing due: no round trip through the writer (and its fsync) at all.
        if !self.more_due(now)? {
            return Ok(0);
        }
        loop {
            let claimed = self
                .store
                .claim_due(Claim {
                    now,
                    rules: self.rules.get(),
                    roster: Arc::clone(&self.roster),
                    limit: CLAIM_BATCH,
                })
                .await?;
            total += claimed.len();
            if claimed.is_empty() || !self.more_due(now)? {
                return Ok(total);
            }
        }
    }

    /// The outbox deliveries whose time has come and that no pass is handling yet, marked
    /// as in flight (released by [`Scheduler::deliver`]).
    fn take_ready(&self, now: DateTime<Utc>) -> Result<Vec<Delivery>, StoreError> {
        // The outbox is read while holding the in-flight set: a pass releases its deliveries
        // only after their settlements are applied, so a delivery is either still marked or
        // already settled in what is read here — never both stale and unmarked, which would
        // send it twice. (A short blocking read; the outbox holds only unsettled deliveries.)
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let outbox = self.store.outbox()?;
        Ok(outbox
            .into_iter()
            .filter(|d| d.next_attempt_at <= now && in_flight.insert(d.id))
            .collect())
    }

    /// Sends `ready` and records each result durably.
    async fn deliver(&self, ready: Vec<Delivery>) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        let _release = Release {
            in_flight: &self.in_flight,
            ids: ready.iter().map(|d| d.id).collect(),
        };
        // Sends run SEND_CONCURRENCY at a time; each result is handed to the store as soon
        // as it is known, without holding a send slot while it waits for its fsync, so the
        // writer settles many deliveries per transaction and flush.
        let (results, mut settled) = tokio::sync::mpsc::unbounded_channel();
        let sending = async move {
            futures_util::stream::iter(ready)
                .for_each_concurrent(SEND_CONCURRENCY, |d| {
                    let results = results.clone();
                    async move {
                        let _ = results.send(self.attempt(d).await);
                    }
                })
                .await;
        };
        let settling = async {
            let mut waiting = futures_util::stream::FuturesUnordered::new();
            let mut outcomes = Vec::new();
            loop {
                tokio::select! {
                    next = settled.recv() => match next {
                        Some(Ok((id, settlement, outcome))) => {
                            let done = self.store.settle(id, settlement);
                            waiting.push(async move { done.await.map(|()| outcome) });
                        }
                        Some(Err(e)) => outcomes.push(Err(e)),
                        None => break,
                    },
                    Some(done) = waiting.next(), if !waiting.is_empty() => outcomes.push(done),
                }
            }
            while let Some(done) = waiting.next().await {
                outcomes.push(done);
            }
            outcomes
        };
        let ((), outcomes) = tokio::join!(sending, settling);
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => report.sent += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Dropped => report.dropped += 1,
            }
        }
        Ok(report)
    }

    fn more_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.store.next_due()?.is_some_and(|t| t <= now))
    }

    /// Sends one delivery (unless it is no longer wanted) and says how to settle it.
    async fn attempt(&self, delivery: Delivery) -> Result<(Ulid, Settlement, Outcome), StoreError> {
        let store = Arc::clone(&self.store);
        let id = delivery.callback;
        let cb = blocking(move || store.callback(id)).await?;
        let cb = match cb {
            // Closing edits are for resolved callbacks by definition.
            Some(cb) if delivery.purpose == Purpose::Closure => cb,
            Some(cb) if cb.is_pending() && !superseded(&delivery, &cb) => cb,
            other => {
                let reason = match other {
                    None => "the callback no longer exists",
                    Some(cb) if !cb.is_pending() => "the callback was resolved",
                    Some(_) => "a newer reminder round replaced it",
                };
                let dropped = Settlement::Dropped {
                    reason: reason.into(),
                };
                return Ok((delivery.id, dropped, Outcome::Dropped));
            }
        };
        let channel = delivery.recipient.channel.as_str();
        if let (0, Some(due)) = (delivery.attempts, delivery.due_at) {
            let late = (self.clock.now() - due).to_std().unwrap_or_default();
            self.metrics.reminder_lateness.observe(late.as_secs_f64());
        }
        let result = self.notifier.send(&cb, &delivery, self.clock.now()).await;
        let at = self.clock.now();
        let (settlement, outcome) = match result {
            SendResult::Sent { message } => {
                self.metrics.sent(delivery.purpose, channel);
                (Settlement::Sent { at, message }, Outcome::Sent)
            }
            SendResult::Transient {
                reason,
                retry_after,
            } => {
                self.metrics.failed(channel, false);
                let wait = match retry_after {
                    Some(wait) => {
                        chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1))
                    }
                    None => reminder::backoff(delivery.attempts, rand::rng().random()),
                };
                tracing::warn!(channel, recipient = %delivery.recipient.name, %reason, retry_in = %wait, "reminder delivery failed; will retry");
                let settlement = Settlement::Retry {
                    at,
                    retry_at: at + wait,
                    reason,
                };
                let gives_up = at - delivery.created_at >= reminder::give_up_after();
                (
                    settlement,
                    if gives_up {
                        Outcome::Failed
                    } else {
                        Outcome::Retrying
                    },
                )
            }
            SendResult::Permanent(reason) => {
                self.metrics.failed(channel, true);
                tracing::warn!(channel, recipient = %delivery.recipient.name, %reason, "reminder delivery failed for good");
                (Settlement::Failed { at, reason }, Outcome::Failed)
            }
        };
        Ok((delivery.id, settlement, outcome))
    }

    /// Applies retention when it has not run for [`PURGE_EVERY`] (and on the first tick).
    async fn purge_if_due(&self, now: DateTime<Utc>) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        let Some(retention) = self.retention else {
            return Ok(purged);
        };
        {
            let mut last = self.last_purge.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| now - at < PURGE_EVERY && now >= at) {
                return Ok(purged);
            }
            *last = Some(now);
        }
        let cutoff = now - retention;
        for _ in 0..PURGE_BATCHES {
            let batch = self.store.purge(cutoff, PURGE_BATCH).await?;
            purged.add(batch);
            if batch.callbacks < PURGE_BATCH && batch.events < PURGE_BATCH {
                break;
            }
        }
        if purged != Purged::default() {
            tracing::info!(
                callbacks = purged.callbacks,
                events = purged.events,
                calls = purged.calls,
                before = %cutoff,
                "retention: deleted old resolved callbacks and events"
            );
        }
        Ok(purged)
    }

    /// Ticks until `stop` turns true: at the next due time (or retry), when nudged, and at
    /// least every `max_sleep`.
    pub async fn run(self: Arc<Self>, max_sleep: Duration, mut stop: watch::Receiver<bool>) {
        let mut passes = tokio::task::JoinSet::new();
        // Set when `stop` turned true or its sender went away.
        let mut stopping = false;
        loop {
            if stopping || *stop.borrow() {
                // Let what is being sent be recorded, so a restart does not send it again.
                while passes.join_next().await.is_some() {}
                return;
            }
            // Claim (and purge) in the loop; send in the background, so a round that falls
            // due while earlier reminders are still going out is claimed on time.
            match self.claim_and_take().await {
                Ok(ready) if !ready.is_empty() => {
                    let me = Arc::clone(&self);
                    passes.spawn(async move {
                        match me.deliver(ready).await {
                            Ok(report) => tracing::debug!(?report, "delivery pass"),
                            Err(e) => tracing::error!(error = %e, "delivery pass failed"),
                        }
                        // Retries may now be due at other times.
                        me.nudge();
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "scheduler tick failed; retrying shortly");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            while passes.try_join_next().is_some() {}
            // Sleep until the next work falls due. A nudge (a webhook changed a schedule)
            // only makes the loop look again at when that is: under thousands of webhooks a
            // second, ticking on every nudge kept the loop busy with empty ticks and made
            // the reminder that was due wait behind them.
            loop {
                let sleep = self.time_to_next_work().unwrap_or(max_sleep).min(max_sleep);
                if sleep.is_zero() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => break,
                    _ = self.nudge.notified() => {}
                    _ = stop.wait_for(|s| *s) => {
                        stopping = true;
                        break;
                    }
                }
            }
        }
    }

    fn time_to_next_work(&self) -> Option<Duration> {
        let now = self.clock.now();
        let next_due = self.store.next_due().ok().flatten();
        let outbox = self.store.outbox().ok()?;
        let next_retry = {
            let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            outbox
                .iter()
                .filter(|d| !in_flight.contains(&d.id))
                .map(|d| d.next_attempt_at)
                .min()
        };
        let next = [next_due, next_retry].into_iter().flatten().min()?;
        Some((next - now).to_std().unwrap_or(Duration::ZERO))
    }
}

/// A reminder round that a newer round replaced before it went out (escalation messages
/// are never superseded: each level is its own news).
fn superseded(delivery: &Delivery, cb: &crate::domain::callback::Callback) -> bool {
    delivery.purpose == Purpose::Reminder && delivery.round < cb.rounds_issued
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
    Dropped,
}

async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| StoreError::Io(format!("blocking read: {e}")))?
}

/// Takes deliveries out of the in-flight set when their pass ends, however it ends.
struct Release<'a> {
    in_flight: &'a std::sync::Mutex<std::collections::HashSet<Ulid>>,
    ids: Vec<Ulid>,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for id in &self.ids {
            in_flight.remove(id);
        }
    }
}
