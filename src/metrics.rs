//! Prometheus metrics (`GET /metrics`), with the official `prometheus-client` crate.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::domain::callback::Callback;
use crate::domain::reminder::Purpose;
use crate::domain::rules::Rules;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub channel: String,
    /// `transient` (will be retried) or `permanent` (given up).
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// `webhook`, `api`, `login` or `link`.
    pub what: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SetupLabels {
    /// `empty_body` (a POST without a body: in Smartflo, a custom header key that is not
    /// lower-case `content-type`).
    pub problem: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub trigger: String,
    pub effect: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `unavailable`, `corrupt`, `conflict`, `closed`, `busy`, `newer`, `backend` or
    /// `decision`.
    pub kind: String,
}

/// Requests that failed on storage (or on a decision), by kind. Process-wide, because an
/// error response is made where no application state is at hand.
static REQUEST_FAILURES: std::sync::LazyLock<Family<KindLabels, Counter>> =
    std::sync::LazyLock::new(Family::default);

/// Counts a request that failed on storage or on a decision.
pub fn request_failed(kind: &str) {
    REQUEST_FAILURES
        .get_or_create(&KindLabels { kind: kind.into() })
        .inc();
}

pub struct Metrics {
    registry: Registry,
    /// Stored records found unreadable and set aside, as the store counts them.
    quarantined: Counter,
    quarantined_seen: AtomicU64,
    pub reminders_sent: Family<ChannelLabels, Counter>,
    pub escalations_sent: Family<ChannelLabels, Counter>,
    pub reminders_failed: Family<FailureLabels, Counter>,
    pub webhooks: Family<WebhookLabels, Counter>,
    /// Webhooks refused because Smartflo's webhook is set up wrong (docs/smartflo-setup.md).
    pub webhook_setup_problems: Family<SetupLabels, Counter>,
    pub auth_failures: Family<AuthLabels, Counter>,
    /// Set at each scrape from the store.
    pub pending: Gauge,
    pub oldest_pending_age: Gauge<f64, AtomicU64>,
    /// From a reminder's (or escalation's) due time to its first hand-off to a transport.
    pub reminder_lateness: Histogram,
    pub digests_sent: Family<ChannelLabels, Counter>,
    /// Callbacks called back after their service level ran out, by assigned agent.
    pub sla_breaches: Family<AgentLabels, Counter>,
    /// First missed call to call-back, by assigned agent.
    pub time_to_callback: Family<AgentLabels, Histogram, fn() -> Histogram>,
    /// Missed calls whose customer number could not be read (no callback opened).
    pub unreadable_numbers: Counter,
    /// Pending callbacks a change left with no next reminder or escalation (the business
    /// hours never open again): nobody would hear of them, so they are counted and logged.
    pub pending_without_next_wake: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    /// The assigned agent's name, or `nobody`.
    pub agent: String,
}

fn time_to_callback_histogram() -> Histogram {
    // Minutes to a day: call centres look at 5, 15, 30 minutes and hours.
    Histogram::new([
        60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14_400.0, 28_800.0, 86_400.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ringback");
        let reminders_sent = Family::<ChannelLabels, Counter>::default();
        let escalations_sent = Family::<ChannelLabels, Counter>::default();
        let reminders_failed = Family::<FailureLabels, Counter>::default();
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "reminders_sent",
            "Reminder deliveries sent, by channel",
            reminders_sent.clone(),
        );
        registry.register(
            "escalations_sent",
            "Escalation message deliveries sent, by channel",
            escalations_sent.clone(),
        );
        registry.register(
            "reminders_failed",
            "Reminder delivery failures, by channel and kind (transient: retried; permanent: given up)",
            reminders_failed.clone(),
        );
        registry.register(
            "webhooks",
            "Webhooks accepted, by trigger and effect",
            webhooks.clone(),
        );
        let webhook_setup_problems = Family::<SetupLabels, Counter>::default();
        registry.register(
            "webhook_setup_problems",
            "Webhooks refused because of how the Smartflo webhook is set up, by problem (see docs/smartflo-setup.md)",
            webhook_setup_problems.clone(),
        );
        let auth_failures = Family::<AuthLabels, Counter>::default();
        // At zero from the start, so an alert on their increase works after a restart.
        for what in ["webhook", "api", "login", "link"] {
            drop(auth_failures.get_or_create(&AuthLabels { what: what.into() }));
        }
        registry.register(
            "auth_failures",
            "Requests refused for a wrong or missing credential, by what they tried to reach",
            auth_failures.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "pending_callbacks",
            "Callbacks waiting for a call-back",
            pending.clone(),
        );
        let oldest_pending_age = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "oldest_pending_age",
            "How long the oldest pending callback's customer has waited (since Ringback received the first missed call)",
            Unit::Seconds,
            oldest_pending_age.clone(),
        );
        let reminder_lateness = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
        ]);
        registry.register_with_unit(
            "reminder_lateness",
            "From a reminder's or escalation's due time to its first hand-off to email, Telegram or the log",
            Unit::Seconds,
            reminder_lateness.clone(),
        );
        for kind in [
            "unavailable",
            "corrupt",
            "conflict",
            "closed",
            "busy",
            "newer",
            "backend",
            "decision",
        ] {
            drop(REQUEST_FAILURES.get_or_create(&KindLabels { kind: kind.into() }));
        }
        registry.register(
            "request_failures",
            "Requests that failed on storage (unavailable, corrupt, …) or on a decision, by kind",
            REQUEST_FAILURES.clone(),
        );
        let digests_sent = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "digests_sent",
            "Shift digest deliveries sent, by channel",
            digests_sent.clone(),
        );
        let sla_breaches = Family::<AgentLabels, Counter>::default();
        registry.register(
            "sla_breaches",
            "Callbacks called back after their service level ([sla]) ran out, by assigned agent",
            sla_breaches.clone(),
        );
        let time_to_callback =
            Family::<AgentLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                time_to_callback_histogram,
            );
        registry.register_with_unit(
            "time_to_callback",
            "From the first missed call to the call-back that resolved it, by assigned agent",
            Unit::Seconds,
            time_to_callback.clone(),
        );
        let unreadable_numbers = Counter::default();
        registry.register(
            "unreadable_numbers",
            "Missed calls whose customer number could not be read, so no callback was opened (listed on the dashboard)",
            unreadable_numbers.clone(),
        );
        let pending_without_next_wake = Counter::default();
        registry.register(
            "pending_without_next_wake",
            "Pending callbacks a change left with no next reminder or escalation (business hours that never open again); should stay 0",
            pending_without_next_wake.clone(),
        );
        let quarantined = Counter::default();
        registry.register(
            "storage_quarantined_records",
            "Stored records found unreadable and set aside (quarantined) since the store was opened",
            quarantined.clone(),
        );
        // Series that alerts watch exist from the start at zero: an alert on
        // `increase(ringback_reminders_failed_total[…])` cannot fire on a series that appears
        // with its first failure, and an absent series reads as "not exported".
        for channel in ["email", "telegram"] {
            for kind in ["transient", "permanent"] {
                let _ = reminders_failed.get_or_create(&FailureLabels {
                    channel: channel.into(),
                    kind: kind.into(),
                });
            }
        }
        let _ = webhook_setup_problems.get_or_create(&SetupLabels {
            problem: "empty_body".into(),
        });
        Self {
            registry,
            quarantined,
            quarantined_seen: AtomicU64::new(0),
            reminder_lateness,
            reminders_sent,
            escalations_sent,
            reminders_failed,
            webhooks,
            webhook_setup_problems,
            auth_failures,
            pending,
            oldest_pending_age,
            digests_sent,
            sla_breaches,
            time_to_callback,
            unreadable_numbers,
            pending_without_next_wake,
        }
    }

    /// Counts a callback that was just called back: its time to callback and, when it came
    /// after the service level, a breach (a wrong number is neither).
    pub fn resolved(&self, cb: &Callback, rules: &Rules, now: chrono::DateTime<chrono::Utc>) {
        if !crate::domain::digest::called_back(cb) {
            return;
        }
        let labels = AgentLabels {
            agent: cb
                .assigned_agent
                .as_ref()
                .map_or_else(|| "nobody".to_string(), |a| a.name.clone()),
        };
        if let Some(d) = crate::domain::stats::time_to_callback(cb) {
            self.time_to_callback
                .get_or_create(&labels)
                .observe(d.num_milliseconds() as f64 / 1000.0);
        }
        if rules
            .sla
            .status(cb, &rules.business_hours, now)
            .is_some_and(|s| s.breached)
        {
            self.sla_breaches.get_or_create(&labels).inc();
        }
    }

    pub fn setup_problem(&self, problem: &str) {
        self.webhook_setup_problems
            .get_or_create(&SetupLabels {
                problem: problem.into(),
            })
            .inc();
    }

    pub fn sent(&self, purpose: Purpose, channel: &str) {
        let family = match purpose {
            Purpose::Reminder => &self.reminders_sent,
            Purpose::Escalation => &self.escalations_sent,
            Purpose::Digest => &self.digests_sent,
            Purpose::Closure => return,
        };
        family
            .get_or_create(&ChannelLabels {
                channel: channel.into(),
            })
            .inc();
    }

    pub fn failed(&self, channel: &str, permanent: bool) {
        self.reminders_failed
            .get_or_create(&FailureLabels {
                channel: channel.into(),
                kind: if permanent { "permanent" } else { "transient" }.into(),
            })
            .inc();
    }

    pub fn webhook(&self, trigger: &str, effect: &str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                trigger: trigger.into(),
                effect: effect.into(),
            })
            .inc();
    }

    /// Brings the quarantine counter up to the store's count.
    pub fn set_quarantined(&self, total: u64) {
        let seen = self
            .quarantined_seen
            .fetch_max(total, std::sync::atomic::Ordering::Relaxed);
        if total > seen {
            self.quarantined.inc_by(total - seen);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_and_setup_counters_are_exported_at_zero_before_anything_fails() {
        let text = Metrics::new().encode();
        for line in [
            "ringback_reminders_failed_total{channel=\"email\",kind=\"transient\"} 0",
            "ringback_reminders_failed_total{channel=\"telegram\",kind=\"permanent\"} 0",
            "ringback_webhook_setup_problems_total{problem=\"empty_body\"} 0",
            "ringback_auth_failures_total{what=\"login\"} 0",
            "ringback_request_failures_total{kind=\"decision\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
