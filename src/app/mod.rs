//! The application layer: every orchestration between the doors (the webhook and API in
//! `web/`, the Telegram bot, the scheduler, the CLI) and the store. Each operation reads
//! what it needs through the store, decides with the pure domain, and hands the store one
//! [`Plan`](crate::store::Plan) to apply atomically and durably; when what it read changed
//! in between (a conflict), it reads and decides again. The store decides nothing, so
//! every backend behaves the same by construction.
//!
//! - `ingest`: a webhook event (dedup, the lifecycle decision, the event log);
//! - `due`: issuing due reminder rounds and escalation steps into the outbox;
//! - `deliveries`: taking deliveries to send (with leases) and settling their results;
//! - `actions`: what people do to a callback (resolve, snooze, assign, call back);
//! - `schedule`: rescheduling pending callbacks when the rules change;
//! - `retention`: deleting what `[storage].retention` no longer keeps.

mod actions;
mod deliveries;
mod digests;
mod due;
mod error;
mod ingest;
mod retention;
mod schedule;
mod turns;
mod writes;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use ulid::Ulid;

use crate::clock::Clock;
use crate::domain::agent::AgentDirectory;
use crate::domain::reminder::Roster;
use crate::domain::rules::LiveRules;
use crate::metrics::Metrics;
use crate::smartflo::click_to_call::ClickToCall;
use crate::store::{LeaseOwner, Store};

pub use actions::{ActOutcome, CallOutcome, MAX_SNOOZE_MINUTES, snooze_until};
pub use deliveries::LEASE;
pub use digests::{DIGEST_GRACE, store_key as digest_store_key};
pub use error::AppError;
pub use ingest::{IncomingEvent, Receipt};
pub use retention::RetentionPass;

/// How many times an operation reads and decides again after a conflict before giving up
/// (answered as "storage busy, retry": the webhook's 503). Each round of conflicting plans
/// lets one through, so this is how many writers one record can have at once.
const MAX_ATTEMPTS: usize = 32;

/// A short random pause before deciding again, after the first few conflicts: writers
/// that keep meeting each other spread out instead of colliding in every batch.
async fn back_off(attempt: usize) {
    if attempt >= 2 {
        let ceiling = 1u64 << attempt.min(6);
        let ms = rand::Rng::random_range(&mut rand::rng(), 0..=ceiling);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rules: Arc<LiveRules>,
    pub roster: Arc<Roster>,
    pub agents: AgentDirectory,
    pub click_to_call: Option<ClickToCall>,
    /// `[storage].retention`: resolved callbacks and events older than this are deleted.
    pub retention: Option<chrono::Duration>,
    /// `[storage].raw_retention`: raw events older than this are deleted (when sooner).
    pub raw_retention: Option<chrono::Duration>,
    /// `[[digests]]`: the shift digests and who gets them.
    pub digests: Vec<crate::config::extras::DigestSettings>,
    /// This process, as the holder of delivery leases.
    pub owner: LeaseOwner,
    /// Counts what the application sees happen (call-backs, breaches); `/metrics` shows it.
    pub metrics: Arc<Metrics>,
    /// Signalled when a change may have moved a reminder or escalation earlier.
    schedule_changed: Notify,
    /// When the scheduler will look at its work again by itself (ms since the epoch):
    /// a change due later than that needs no nudge.
    looks_again_at: AtomicI64,
    ids: Mutex<ulid::Generator>,
    /// Webhooks about one customer take turns (`turns.rs`), where the store wants it.
    turns: Option<turns::Turns>,
}

/// What the application is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rules: Arc<LiveRules>,
    pub roster: Arc<Roster>,
    pub agents: AgentDirectory,
    pub click_to_call: Option<ClickToCall>,
    pub retention: Option<chrono::Duration>,
    pub raw_retention: Option<chrono::Duration>,
    pub digests: Vec<crate::config::extras::DigestSettings>,
}

impl App {
    pub fn new(parts: Parts) -> Self {
        let turns = parts
            .store
            .one_customer_at_a_time()
            .then(turns::Turns::default);
        Self {
            store: parts.store,
            clock: parts.clock,
            rules: parts.rules,
            roster: parts.roster,
            agents: parts.agents,
            click_to_call: parts.click_to_call,
            retention: parts.retention,
            raw_retention: parts.raw_retention,
            digests: parts.digests,
            owner: LeaseOwner(Ulid::new()),
            metrics: Arc::new(Metrics::new()),
            schedule_changed: Notify::new(),
            looks_again_at: AtomicI64::new(i64::MAX),
            ids: Mutex::new(ulid::Generator::new()),
            turns,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A fresh id stamped with `at`, ordered after every id handed out before (one
    /// monotonic ULID generator, so even a clock that steps back keeps ids in order).
    pub fn next_id(&self, at: DateTime<Utc>) -> Ulid {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let at = std::time::SystemTime::from(at);
        ids.generate_from_datetime(at)
            .unwrap_or_else(|_| Ulid::from_datetime(at))
    }

    /// Counts callbacks just resolved in the metrics.
    fn observe_resolved(&self, resolved: &[crate::domain::callback::Callback]) {
        if resolved.is_empty() {
            return;
        }
        let rules = self.rules.get();
        let now = self.now();
        for cb in resolved {
            self.metrics.resolved(cb, &rules, now);
        }
    }

    /// Applies `plan` (see [`Lifecycle::apply`](crate::store::Lifecycle::apply)); a pending
    /// callback it leaves without a next reminder or escalation is logged and counted, never
    /// left silently (business hours that never open again would do it).
    async fn apply(&self, plan: crate::store::Plan) -> Result<(), crate::store::StoreError> {
        let stranded = writes::stranded(&plan);
        self.store.apply(plan).await?;
        for id in stranded {
            self.metrics.pending_without_next_wake.inc();
            tracing::warn!(callback = %id, "a pending callback has no next reminder or escalation: the business hours never open again; check [reminders] business_hours and holidays");
        }
        Ok(())
    }

    /// Tells the scheduler to look again at when its next work is.
    pub fn nudge(&self) {
        self.schedule_changed.notify_one();
    }

    /// Nudges the scheduler only if `work_at` comes before it looks again by itself. Under
    /// thousands of webhooks a second, a nudge per webhook kept the scheduler re-reading
    /// its next due time for nothing (a new callback is first due minutes later).
    pub fn nudge_for(&self, work_at: Option<DateTime<Utc>>) {
        let Some(at) = work_at else { return };
        if at.timestamp_millis() < self.looks_again_at.load(Ordering::Relaxed) {
            self.nudge();
        }
    }

    /// The scheduler says when it will look again by itself.
    pub fn looking_again_at(&self, at: DateTime<Utc>) {
        self.looks_again_at
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// Resolves at the next [`App::nudge`].
    pub async fn schedule_changed(&self) {
        self.schedule_changed.notified().await;
    }
}
