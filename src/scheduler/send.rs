//! A delivery pass: sends taken deliveries, SEND_CONCURRENCY at a time, and settles each
//! result as soon as it is known (without holding a send slot while it waits for its
//! fsync, so the writer settles many deliveries per batch and flush).

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::{SEND_CONCURRENCY, Scheduler};
use crate::app::AppError;
use crate::domain::callback::Callback;
use crate::domain::reminder::{self, Delivery, Purpose, Settlement};
use crate::notify::SendResult;
use crate::store::{Taken, Versioned};

/// A send's result: how to settle it, and the callback as read before sending.
pub(super) struct Attempted {
    settlement: Settlement,
    outcome: Outcome,
    read: Option<Versioned<Callback>>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retrying,
    Failed,
    Dropped,
    /// Not sent: the scheduler is stopping (its lease is given back).
    Unsent,
}

impl Scheduler {
    /// Sends `taken` and records each result durably. Once `stop` is cancelled nothing more
    /// is started; once `abandon` is, sends under way are given up. Deliveries not sent are
    /// given back before this returns.
    pub(super) async fn deliver(
        &self,
        taken: Vec<Taken>,
        stop: &CancellationToken,
        abandon: &CancellationToken,
    ) -> Result<Vec<Outcome>, AppError> {
        let (results, mut settled) = tokio::sync::mpsc::unbounded_channel();
        let sending = async move {
            futures_util::stream::iter(taken)
                .for_each_concurrent(SEND_CONCURRENCY, |t| {
                    let results = results.clone();
                    async move {
                        let attempt = if stop.is_cancelled() {
                            None
                        } else {
                            tokio::select! {
                                a = self.attempt(&t.delivery) => Some(a),
                                _ = abandon.cancelled() => None,
                            }
                        };
                        let _ = results.send((t, attempt));
                    }
                })
                .await;
        };
        let settling = async {
            let mut waiting = FuturesUnordered::new();
            let mut outcomes = Vec::new();
            let mut unsent = Vec::new();
            loop {
                tokio::select! {
                    next = settled.recv() => match next {
                        Some((t, Some(Ok(Attempted { settlement, outcome, read })))) => {
                            waiting.push(async move {
                                self.app.settle(&t, &settlement, read).await.map(|_| outcome)
                            });
                        }
                        Some((_, Some(Err(e)))) => outcomes.push(Err(e)),
                        Some((t, None)) => unsent.push(t.delivery.id),
                        None => break,
                    },
                    Some(done) = waiting.next(), if !waiting.is_empty() => outcomes.push(done),
                }
            }
            while let Some(done) = waiting.next().await {
                outcomes.push(done);
            }
            (outcomes, unsent)
        };
        let ((), (outcomes, unsent)) = tokio::join!(sending, settling);
        let given_back = unsent.len();
        if given_back > 0 {
            self.app.release(unsent).await?;
        }
        let mut done = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?;
        done.extend(std::iter::repeat_n(Outcome::Unsent, given_back));
        Ok(done)
    }

    /// Sends one delivery (unless it is no longer wanted) and says how to settle it.
    async fn attempt(&self, delivery: &Delivery) -> Result<Attempted, AppError> {
        if delivery.purpose == Purpose::Digest {
            let result = self.notifier.send_digest(delivery, self.app.now()).await;
            return Ok(self.settlement(delivery, result, None));
        }
        let read = self.app.store.callback(delivery.callback).await?;
        let cb = match read.as_ref().map(|c| &c.value) {
            // Closing edits are for resolved callbacks by definition.
            Some(cb) if delivery.purpose == Purpose::Closure => cb,
            Some(cb) if cb.is_pending() && !superseded(delivery, cb) => cb,
            other => {
                let reason = match other {
                    None => "the callback no longer exists",
                    Some(cb) if !cb.is_pending() => "the callback was resolved",
                    Some(_) => "a newer reminder round replaced it",
                };
                return Ok(Attempted {
                    settlement: Settlement::Dropped {
                        reason: reason.into(),
                    },
                    outcome: Outcome::Dropped,
                    read,
                });
            }
        };
        if let (0, Some(due)) = (delivery.attempts, delivery.due_at) {
            let late = (self.app.now() - due).to_std().unwrap_or_default();
            self.metrics.reminder_lateness.observe(late.as_secs_f64());
        }
        let result = self.notifier.send(cb, delivery, self.app.now()).await;
        Ok(self.settlement(delivery, result, read))
    }

    /// How to settle what the transport reported, counted in the metrics.
    fn settlement(
        &self,
        delivery: &Delivery,
        result: SendResult,
        read: Option<Versioned<Callback>>,
    ) -> Attempted {
        let (settlement, outcome) = self.settled(delivery, result);
        Attempted {
            settlement,
            outcome,
            read,
        }
    }

    fn settled(&self, delivery: &Delivery, result: SendResult) -> (Settlement, Outcome) {
        let channel = delivery.recipient.channel.as_str();
        let what = purpose_word(delivery.purpose);
        let recipient = self.notifier.composer.recipient_name(&delivery.recipient);
        let callback = delivery.callback;
        let at = self.app.now();
        match result {
            SendResult::Sent { message } => {
                self.metrics.sent(delivery.purpose, channel);
                // One line per message handed over (operations.md): who got what, and where.
                if delivery.purpose == Purpose::Digest {
                    tracing::info!(what, channel, %recipient, digest = %callback, "message sent");
                } else {
                    tracing::info!(what, round = delivery.round, channel, %recipient, %callback, "message sent");
                }
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
                let retry_in = humantime::format_duration(std::time::Duration::from_secs(
                    wait.num_seconds().max(0) as u64,
                ));
                tracing::warn!(what, channel, %recipient, %callback, %reason, %retry_in, "delivery failed; will retry");
                let gives_up = at - delivery.created_at >= reminder::give_up_after();
                let settlement = Settlement::Retry {
                    at,
                    retry_at: at.checked_add_signed(wait).unwrap_or(at),
                    reason,
                };
                let outcome = if gives_up {
                    Outcome::Failed
                } else {
                    Outcome::Retrying
                };
                (settlement, outcome)
            }
            SendResult::Permanent(reason) => {
                self.metrics.failed(channel, true);
                tracing::warn!(what, channel, %recipient, %callback, %reason, "delivery failed for good");
                (Settlement::Failed { at, reason }, Outcome::Failed)
            }
        }
    }
}

/// What a delivery carries, as its log lines say it.
fn purpose_word(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Reminder => "reminder",
        Purpose::Escalation => "escalation",
        Purpose::Closure => "closure",
        Purpose::Digest => "digest",
    }
}

/// A reminder round that a newer round replaced before it went out (escalation messages
/// are never superseded: each level is its own news).
fn superseded(delivery: &Delivery, cb: &Callback) -> bool {
    delivery.purpose == Purpose::Reminder && delivery.round < cb.rounds_issued
}
