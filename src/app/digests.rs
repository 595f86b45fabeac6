//! Shift digests (SPEC §11 `[[digests]]`): at each moment of a digest's schedule, the
//! figures are read and decided into a report, and one delivery per recipient and channel
//! goes into the outbox — in the same plan that claims the moment in the store. A second
//! claim of the same moment conflicts, so a digest goes out once per schedule, across
//! restarts (and, on a shared database, across replicas); the outbox then retries it like
//! any reminder.

use chrono::{DateTime, Duration, Utc};
use ulid::Ulid;

use super::error::decide;
use super::{App, AppError};
use crate::config::extras::DigestSettings;
use crate::domain::callback::{Callback, CallbackId};
use crate::domain::digest::{self, DigestReport};
use crate::domain::reminder::{Delivery, Purpose};
use crate::store::{DigestClaim, ListQuery, Plan, StatusFilter, StoreError};

/// A moment missed by more than this (the service was down) is skipped, not sent late: a
/// morning digest arriving in the afternoon tells nobody anything.
pub const DIGEST_GRACE: Duration = Duration::hours(2);
/// Callbacks read per page, and pages at most, when gathering a digest's figures.
const PAGE: usize = 1000;
const PAGES: usize = 50;

impl App {
    /// Claims every digest moment due at `now` that nobody claimed; returns how many
    /// deliveries were recorded.
    pub async fn claim_digests(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let mut recorded = 0;
        for digest in &self.digests {
            recorded += self.claim_digest(digest, now).await?;
        }
        Ok(recorded)
    }

    /// When the next digest moment after `now` comes.
    pub fn next_digest_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.digests
            .iter()
            .filter_map(|d| d.schedule.next_after(now))
            .min()
    }

    async fn claim_digest(
        &self,
        settings: &DigestSettings,
        now: DateTime<Utc>,
    ) -> Result<usize, AppError> {
        let Some(moment) = settings.schedule.latest(now) else {
            return Ok(0);
        };
        if now - moment > DIGEST_GRACE {
            return Ok(0);
        }
        let key = store_key(settings);
        if self
            .store
            .last_digest(&key)
            .await?
            .is_some_and(|last| last >= moment)
        {
            return Ok(0);
        }
        let rules = self.rules.get();
        let callbacks = self
            .digest_callbacks(digest::window_start(now, rules.business_hours.zone()))
            .await?;
        let report = decide("making a digest", || {
            digest::report(&callbacks, now, &rules)
        })?;
        let plan = self.digest_plan(settings, &key, moment, report, now);
        let sends = plan.deliveries.len();
        match self.apply(plan).await {
            Ok(()) => {
                tracing::info!(digest = %settings.key, moment = %moment, deliveries = sends, "shift digest recorded");
                self.nudge();
                Ok(sends)
            }
            // Claimed meanwhile (by another process): it goes out once, from there.
            Err(StoreError::Conflict) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn digest_plan(
        &self,
        settings: &DigestSettings,
        key: &str,
        moment: DateTime<Utc>,
        report: DigestReport,
        now: DateTime<Utc>,
    ) -> Plan {
        let id = self.next_id(now);
        let report = Box::new(report);
        let deliveries = self
            .roster
            .recipients(&settings.notify)
            .into_iter()
            .map(|recipient| Delivery {
                id: Ulid::new(),
                // The digest's own id: it belongs to no callback.
                callback: CallbackId::new(id),
                purpose: Purpose::Digest,
                round: 0,
                recipient,
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
                last_error: None,
                due_at: Some(moment),
                message: None,
                digest: Some(report.clone()),
            })
            .collect();
        Plan {
            deliveries,
            digest: Some(DigestClaim {
                schedule: key.to_string(),
                occurrence: moment,
                claimed_at: now,
            }),
            ..Plan::default()
        }
    }

    /// Every pending callback, and every one resolved since `since`.
    async fn digest_callbacks(&self, since: DateTime<Utc>) -> Result<Vec<Callback>, AppError> {
        let mut out = Vec::new();
        for status in [StatusFilter::Pending, StatusFilter::Resolved] {
            let mut after = None;
            for _ in 0..PAGES {
                let page = self
                    .store
                    .list_callbacks(ListQuery {
                        status,
                        limit: PAGE,
                        after,
                        ..ListQuery::default()
                    })
                    .await?;
                // Resolved ones come newest first: stop at the first one before `since`.
                let done = status == StatusFilter::Resolved
                    && page
                        .callbacks
                        .iter()
                        .any(|c| c.resolved_at.is_some_and(|t| t < since));
                out.extend(
                    page.callbacks
                        .into_iter()
                        .filter(|c| c.is_pending() || c.resolved_at.is_some_and(|t| t >= since)),
                );
                match page.next {
                    Some(next) if !done => after = Some(next),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

/// How the store names a digest schedule: its cron and its recipients, so two digests at
/// the same moment for different people are two digests.
pub fn store_key(settings: &DigestSettings) -> String {
    format!(
        "{} -> {}",
        settings.schedule.expression(),
        settings.notify.join(",")
    )
}
