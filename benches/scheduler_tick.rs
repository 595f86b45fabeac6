//! Scheduler tick cost: 1 000 due callbacks among N pending, for N = 1 000 and N = 1 000 000
//! (issue 3). The due ones are found through the time-ordered `due` index, so the tick
//! should cost about the same whatever N is. Run with a release build:
//!
//!     cargo bench --bench scheduler_tick                 # N = 1 000 and 1 000 000
//!     cargo bench --bench scheduler_tick -- 100000       # N = 1 000 and 100 000
//!
//! The store is filled through its real ingest path (the same writes a webhook makes), so
//! filling a million takes a few minutes; the figure of interest is the ratio of the two
//! tick times, measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use ringback::clock::{Clock, ManualClock};
use ringback::domain::callback::CallbackId;
use ringback::domain::lifecycle::{CallFacts, Intent};
use ringback::domain::phone::PhoneNumber;
use ringback::domain::reminder::Roster;
use ringback::domain::rules::{LiveRules, Rules};
use ringback::domain::schedule::BusinessHours;
use ringback::metrics::Metrics;
use ringback::notify::templates::Templates;
use ringback::notify::{Composer, Notifier};
use ringback::scheduler::Scheduler;
use ringback::store::sled::SledStore;
use ringback::store::{DedupKey, Ingest, RawEvent, Store};

const DUE: usize = 1000;
const TICKS: usize = 5;

fn rules(first_after: chrono::Duration) -> Rules {
    Rules {
        min_talk_seconds: 0,
        first_after,
        repeat_every: chrono::Duration::minutes(15),
        business_hours: BusinessHours::parse("* * * * * *", chrono_tz::UTC).unwrap(),
        escalation: Vec::new(),
    }
}

fn missed(i: usize, at: chrono::DateTime<Utc>, rules: &Arc<Rules>) -> Ingest {
    let customer = PhoneNumber::from_e164_unchecked(format!("+9170{i:08}"));
    let id = ulid::Ulid::new();
    Ingest {
        event_id: id,
        received_at: at,
        trigger: "call_hangup_missed".into(),
        trigger_inferred: false,
        intent: Intent::Missed,
        facts: CallFacts {
            call_id: Some(format!("1780000000.{i}")),
            customer: Ok(customer),
            started_at: at,
            billsec: Some(0),
            missed_agents: Vec::new(),
            assignee: None,
            answered_by: None,
            department: None,
            callback_hint: None,
        },
        rules: Arc::clone(rules),
        new_callback_id: CallbackId::new(ulid::Ulid::new()),
        dedup: DedupKey {
            trigger: "call_hangup_missed".into(),
            call_id: format!("1780000000.{i}"),
            leg: format!("u{i}"),
        },
        uuid: Some(format!("u{i}")),
        note: None,
        raw: RawEvent {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: "trigger=call_hangup_missed".into(),
            headers: Vec::new(),
        },
        body: br#"{"call_status":"missed","direction":"inbound"}"#.to_vec(),
    }
}

async fn fill(
    store: &Arc<SledStore>,
    range: std::ops::Range<usize>,
    at: chrono::DateTime<Utc>,
    rules: &Arc<Rules>,
) {
    let mut pending = Vec::with_capacity(4096);
    for i in range {
        pending.push(store.ingest(missed(i, at, rules)));
        if pending.len() == 4096 {
            for r in futures_util::future::join_all(pending.drain(..)).await {
                r.expect("ingest");
            }
        }
    }
    for r in futures_util::future::join_all(pending).await {
        r.expect("ingest");
    }
}

/// Median tick time with `DUE` due among `total` pending.
async fn measure(total: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 6, 0, 0).unwrap();
    let due_rules = Arc::new(rules(chrono::Duration::zero()));
    let later_rules = Arc::new(rules(chrono::Duration::days(365)));
    let store = Arc::new(SledStore::open(&dir.path().join("data")).unwrap());
    let filling = Instant::now();
    fill(&store, 0..DUE, t0, &due_rules).await;
    fill(&store, DUE..total, t0, &later_rules).await;
    eprintln!("  filled {total} pending in {:.1?}", filling.elapsed());

    let clock = Arc::new(ManualClock::new(t0));
    let templates = Templates::load(dir.path()).unwrap();
    let notifier = Notifier {
        email: None,
        telegram: None,
        templates,
        composer: Composer {
            zone: chrono_tz::UTC,
            public_url: "http://bench.invalid".parse().unwrap(),
            links: None,
            click_to_call: false,
        },
    };
    let scheduler = Scheduler::new(
        store.clone() as Arc<dyn Store>,
        clock.clone() as Arc<dyn Clock>,
        Arc::new(LiveRules::new((*due_rules).clone())),
        Arc::new(Roster::default()),
        Arc::new(notifier),
        Arc::new(Metrics::new()),
    );
    let mut times = Vec::new();
    for _ in 0..TICKS {
        let start = Instant::now();
        let report = scheduler.tick().await.unwrap();
        times.push(start.elapsed());
        assert_eq!((report.claimed, report.sent), (DUE, DUE), "{report:?}");
        clock.advance(chrono::Duration::minutes(15));
    }
    times.sort();
    drop(scheduler);
    store.close().unwrap();
    times[TICKS / 2]
}

#[tokio::main]
async fn main() {
    let large: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    eprintln!(
        "scheduler tick, {DUE} due, median of {TICKS} ticks (claim + deliver to the log channel)"
    );
    let small = measure(DUE).await;
    eprintln!("  {DUE} due among {DUE:>9} pending: {small:.2?}");
    let big = measure(large).await;
    eprintln!("  {DUE} due among {large:>9} pending: {big:.2?}");
    println!(
        "tick_1k_of_1k={:.1}ms tick_1k_of_{large}={:.1}ms ratio={:.2}",
        small.as_secs_f64() * 1e3,
        big.as_secs_f64() * 1e3,
        big.as_secs_f64() / small.as_secs_f64()
    );
}
