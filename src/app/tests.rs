//! The application over the real sled store: decisions race safely, and one bad input
//! fails alone.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::{App, IncomingEvent, Parts};
use crate::clock::ManualClock;
use crate::domain::agent::AgentDirectory;
use crate::domain::lifecycle::{CallFacts, Effect, Intent};
use crate::domain::phone::PhoneNumber;
use crate::domain::reminder::Roster;
use crate::domain::rules::{LiveRules, Rules};
use crate::domain::schedule::BusinessHours;
use crate::store::sled::SledStore;
use crate::store::sled::writer::Fault;
use crate::store::{DedupKey, ListQuery, RawEvent, StatusFilter};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 6, 0, 0).unwrap()
}

struct World {
    app: Arc<App>,
    store: Arc<SledStore>,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let rules = Rules {
        min_talk_seconds: 0,
        first_after: chrono::Duration::minutes(2),
        repeat_every: chrono::Duration::minutes(15),
        business_hours: BusinessHours::parse("* * * * * *", chrono_tz::UTC).unwrap(),
        escalation: Vec::new(),
        escalate_after_attempts: None,
        sla: Default::default(),
    };
    let app = Arc::new(App::new(Parts {
        store: store.clone(),
        clock: Arc::new(ManualClock::new(now())),
        rules: Arc::new(LiveRules::new(rules)),
        roster: Arc::new(Roster::default()),
        agents: AgentDirectory::new(
            Vec::new(),
            crate::domain::phone::CountryCode::parse("91").unwrap(),
        ),
        click_to_call: None,
        retention: None,
        raw_retention: None,
        digests: Vec::new(),
    }));
    World {
        app,
        store,
        _dir: dir,
    }
}

/// An inbound missed call from customer `n`, call `call_id`, leg `leg`.
fn missed(n: u32, call_id: &str, leg: &str, trigger: &str) -> IncomingEvent {
    IncomingEvent {
        event_id: None,
        received_at: now(),
        trigger: trigger.into(),
        trigger_inferred: false,
        intent: Intent::Missed,
        facts: CallFacts {
            call_id: Some(call_id.into()),
            customer: Ok(PhoneNumber::from_e164_unchecked(format!("+9198765{n:05}"))),
            started_at: now(),
            billsec: Some(0),
            missed_agents: Vec::new(),
            assignee: None,
            answered_by: None,
            department: None,
            callback_hint: None,
            caveat: None,
        },
        dedup: DedupKey {
            trigger: trigger.into(),
            call_id: call_id.into(),
            leg: leg.into(),
        },
        uuid: Some(leg.into()),
        note: None,
        customer_raw: None,
        raw: RawEvent::default(),
        body: format!("{{\"call_id\":\"{call_id}\"}}").into_bytes(),
    }
}

async fn pending(app: &App) -> Vec<crate::domain::callback::Callback> {
    app.store
        .list_callbacks(ListQuery {
            status: StatusFilter::Pending,
            limit: 1000,
            after: None,
            ..ListQuery::default()
        })
        .await
        .unwrap()
        .callbacks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_webhooks_with_one_poisoned_store_ninety_nine_and_fail_one() {
    for fault in [Fault::Abort, Fault::Panic] {
        let w = world();
        w.store.inject_fault("c50", fault);
        let ingests = (0..100u32).map(|n| {
            let app = Arc::clone(&w.app);
            async move {
                app.ingest(missed(n, &format!("c{n}"), "leg", "call_hangup_missed"))
                    .await
            }
        });
        let results = futures_util::future::join_all(ingests).await;
        let failed: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(failed, [50], "{fault:?}");
        assert!(results.iter().flatten().all(|r| r.effect == Effect::Opened));
        assert_eq!(pending(&w.app).await.len(), 99);
        assert_eq!(w.app.store.events(None, 1000).await.unwrap().len(), 99);
        // And the writer takes the next ones.
        for n in 100..105 {
            let r = w
                .app
                .ingest(missed(n, &format!("c{n}"), "leg", "call_hangup_missed"))
                .await
                .unwrap();
            assert_eq!(r.effect, Effect::Opened);
        }
        assert_eq!(pending(&w.app).await.len(), 104);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_triggers_of_one_missed_call_at_once_count_it_once() {
    let w = world();
    let (a, b) = tokio::join!(
        w.app.ingest(missed(1, "c1", "leg-a", "call_hangup_missed")),
        w.app
            .ingest(missed(1, "c1", "leg-b", "call_missed_by_agent_hangup")),
    );
    let mut effects = [a.unwrap().effect, b.unwrap().effect];
    effects.sort_by_key(|e| e.as_str());
    assert_eq!(effects, [Effect::Opened, Effect::Updated]);
    let pending = pending(&w.app).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].missed_calls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_missed_calls_from_one_customer_at_once_make_one_callback() {
    let w = world();
    let ingests = (0..20).map(|i| {
        let app = Arc::clone(&w.app);
        async move {
            app.ingest(missed(7, &format!("call-{i}"), "leg", "call_hangup_missed"))
                .await
        }
    });
    let results = futures_util::future::join_all(ingests).await;
    let opened = results
        .iter()
        .filter(|r| r.as_ref().unwrap().effect == Effect::Opened)
        .count();
    assert_eq!(opened, 1);
    let pending = pending(&w.app).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].missed_calls, 20);
    let detail = w
        .app
        .store
        .callback_detail(pending[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.timeline.len(), 20, "one entry per call, none lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_twice_at_once_is_one_event_and_one_duplicate() {
    let w = world();
    let (a, b) = tokio::join!(
        w.app.ingest(missed(1, "c1", "leg-a", "call_hangup_missed")),
        w.app.ingest(missed(1, "c1", "leg-a", "call_hangup_missed")),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut effects = [a.effect, b.effect];
    effects.sort_by_key(|e| e.as_str());
    assert_eq!(effects, [Effect::Duplicate, Effect::Opened]);
    assert_eq!(
        a.event_id, b.event_id,
        "the duplicate names the first event"
    );
    assert_eq!(w.app.store.events(None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_callback_takes_the_id_of_the_event_that_opened_it() {
    let w = world();
    let receipt = w
        .app
        .ingest(missed(1, "c1", "leg-a", "call_hangup_missed"))
        .await
        .unwrap();
    assert_eq!(receipt.effect, Effect::Opened);
    assert_eq!(
        receipt.callback_id,
        Some(crate::domain::callback::CallbackId::new(receipt.event_id))
    );
}

#[tokio::test]
async fn a_replayed_event_keeps_its_stored_id_and_reopens_the_same_callback() {
    let stored = ulid::Ulid::from_parts(1_780_000_000_000, 42);
    let replay = || IncomingEvent {
        event_id: Some(stored),
        ..missed(1, "c1", "leg-a", "call_hangup_missed")
    };
    let mut callbacks = Vec::new();
    for _ in 0..2 {
        let w = world();
        let receipt = w.app.ingest(replay()).await.unwrap();
        assert_eq!(receipt.event_id, stored);
        assert!(w.app.store.event(stored).await.unwrap().is_some());
        callbacks.push(receipt.callback_id.expect("opened"));
    }
    assert_eq!(callbacks[0], callbacks[1]);
}
