//! Scheduler tick cost: 1 000 due callbacks among N pending, for N = 1 000 and N = 1 000 000
//! (issue 3). The due ones are found through the time-ordered `due` index, so the tick
//! should cost about the same whatever N is. Run with a release build:
//!
//!     cargo bench --bench scheduler_tick                 # N = 1 000, 100 000 and 1 000 000
//!     cargo bench --bench scheduler_tick -- 100000       # N = 1 000 and 100 000
//!
//! For each N it also starts the real `ringback serve` on the filled store and reports its
//! startup time (until `/healthz` answers) and resident memory (VmRSS), then starts it once
//! more on the same store (sled replays only what was written since its last open).
//!
//! The store is filled through its real ingest path (the same writes a webhook makes), so
//! filling a million takes a few minutes; the figure of interest is the ratio of the two
//! tick times, measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use ringback::app::{App, IncomingEvent, Parts};
use ringback::clock::ManualClock;
use ringback::domain::agent::AgentDirectory;
use ringback::domain::lifecycle::{CallFacts, Intent};
use ringback::domain::phone::PhoneNumber;
use ringback::domain::reminder::Roster;
use ringback::domain::rules::{LiveRules, Rules};
use ringback::domain::schedule::BusinessHours;
use ringback::metrics::Metrics;
use ringback::notify::templates::Templates;
use ringback::notify::{Composer, Notifier};
use ringback::scheduler::Scheduler;
use ringback::store::{DedupKey, RawEvent};

/// The allocator `ringback serve` runs with (`src/main.rs`), so that a tick here costs
/// what it costs in the service: with glibc's, a sixth of the tick's samples were malloc
/// and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DUE: usize = 1000;
const TICKS: usize = 5;

fn rules(first_after: chrono::Duration) -> Rules {
    Rules {
        min_talk_seconds: 0,
        first_after,
        repeat_every: chrono::Duration::minutes(15),
        business_hours: BusinessHours::parse("* * * * * *", chrono_tz::UTC).unwrap(),
        escalation: Vec::new(),
        escalate_after_attempts: None,
        sla: Default::default(),
    }
}

fn missed(i: usize, at: chrono::DateTime<Utc>) -> IncomingEvent {
    let customer = PhoneNumber::from_e164_unchecked(format!("+9170{i:08}"));
    IncomingEvent {
        event_id: None,
        received_at: at,
        trigger: "call_hangup_missed".into(),
        trigger_inferred: false,
        intent: Intent::Missed,
        facts: CallFacts {
            call_id: Some(format!("1780000000.{i}")),
            customer: Ok(customer),
            started_at: at,
            caveat: None,
            billsec: Some(0),
            missed_agents: Vec::new(),
            assignee: None,
            answered_by: None,
            department: None,
            callback_hint: None,
        },
        dedup: DedupKey {
            trigger: "call_hangup_missed".into(),
            call_id: format!("1780000000.{i}"),
            leg: format!("u{i}"),
        },
        uuid: Some(format!("u{i}")),
        note: None,
        customer_raw: None,
        raw: RawEvent {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            query: "trigger=call_hangup_missed".into(),
            headers: Vec::new(),
        },
        body: br#"{"call_status":"missed","direction":"inbound"}"#.to_vec(),
    }
}

/// Ingests missed calls `range` through the application, under the rules it has now.
async fn fill(app: &Arc<App>, range: std::ops::Range<usize>, at: chrono::DateTime<Utc>) {
    let mut pending = Vec::with_capacity(4096);
    for i in range {
        let app = Arc::clone(app);
        pending.push(async move { app.ingest(missed(i, at)).await });
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

/// What the real service does with a store of this size.
struct Service {
    startup: Duration,
    /// Starting again on the same store: sled 0.34 writes its recovery snapshot when it
    /// opens a database, so this start replays only what the first one wrote.
    restart: Duration,
    rss_mib: f64,
}

/// Median tick time with `DUE` due among `total` pending, and (when `service`) the real
/// binary's startup time and resident memory on that store.
async fn measure(total: usize, service: bool) -> (Duration, Option<Service>) {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 6, 0, 0).unwrap();
    let due_rules = Arc::new(rules(chrono::Duration::zero()));
    let later_rules = rules(chrono::Duration::days(365));
    let settings = ringback::config::StorageSettings::sled(dir.path().join("data"));
    let store = ringback::store::open(&settings).await.unwrap().store;
    let clock = Arc::new(ManualClock::new(t0));
    let live_rules = Arc::new(LiveRules::new((*due_rules).clone()));
    let app = Arc::new(App::new(Parts {
        store: Arc::clone(&store),
        clock: clock.clone(),
        rules: Arc::clone(&live_rules),
        roster: Arc::new(Roster::default()),
        agents: AgentDirectory::new(
            Vec::new(),
            ringback::domain::phone::CountryCode::parse("91").unwrap(),
        ),
        click_to_call: None,
        retention: None,
        raw_retention: None,
        digests: Vec::new(),
    }));
    // Record the rules the service will run with (the same as `due_rules`), as a running
    // service would have, so the service started below does not reschedule every callback.
    app.align_schedule(Arc::clone(&due_rules)).await.unwrap();
    let filling = Instant::now();
    fill(&app, 0..DUE, t0).await;
    // The rest first reminded a year from now: pending, but not due.
    live_rules.set(later_rules);
    fill(&app, DUE..total, t0).await;
    live_rules.set((*due_rules).clone());
    eprintln!("  filled {total} pending in {:.1?}", filling.elapsed());

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
            agents: Vec::new(),
            mask_numbers: false,
            languages: Vec::new(),
            chats: Vec::new(),
        },
    };
    let scheduler = Scheduler::new(
        Arc::clone(&app),
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
    drop(app);
    store.close().await.unwrap();
    drop(store);
    let started = if service {
        let mut first = start_service(dir.path()).await;
        first.restart = start_service(dir.path()).await.startup;
        Some(first)
    } else {
        None
    };
    (times[TICKS / 2], started)
}

/// Starts `ringback serve` on the filled store: the time until `/healthz` answers (the
/// store is open and the schedule aligned before the server binds), and its resident
/// memory once it has listed callbacks and run its first scheduler ticks.
async fn start_service(dir: &std::path::Path) -> Service {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [storage]\npath = \"data\"\n[webhook]\ntokens = [\"bench-webhook-token-0123456789\"]\n\
             [api]\ntokens = [\"bench-api-token-0123456789abcdef\"]\n\
             [reminders]\ntimezone = \"UTC\"\nfirst_after = \"0s\"\nrepeat_every = \"15m\"\nbusiness_hours = \"* * * * * *\"\n"
        ),
    )
    .unwrap();
    let spawned = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start ringback");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let startup = loop {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break spawned.elapsed();
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(120),
            "ringback did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    for path in ["/api/v1/callbacks?limit=1000", "/metrics", "/readyz"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth("bench-api-token-0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    Service {
        startup,
        restart: Duration::ZERO,
        rss_mib: rss_kib / 1024.0,
    }
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
    let mut sizes = vec![DUE, large];
    if large > 100_000 {
        sizes.insert(1, 100_000);
    }
    let mut ticks = Vec::new();
    for &size in &sizes {
        let (tick, service) = measure(size, true).await;
        let service = service.unwrap();
        eprintln!(
            "  {DUE} due among {size:>9} pending: tick {tick:.2?}; the service starts in {:.0?} (again: {:.0?}) and holds {:.1} MiB resident",
            service.startup, service.restart, service.rss_mib
        );
        ticks.push((size, tick, service));
    }
    let base = ticks[0].1.as_secs_f64();
    for (size, tick, service) in &ticks {
        println!(
            "pending={size} tick_ms={:.1} tick_ratio={:.2} startup_ms={:.0} restart_ms={:.0} rss_mib={:.1}",
            tick.as_secs_f64() * 1e3,
            tick.as_secs_f64() / base,
            service.startup.as_secs_f64() * 1e3,
            service.restart.as_secs_f64() * 1e3,
            service.rss_mib
        );
    }
}
