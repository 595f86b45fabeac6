//! What every backend promises about plans, reads, retention, the event log and the small
//! state. Each case takes a fresh, empty store.

use chrono::Duration;
use ulid::Ulid;

use super::Fixture;
use super::values::*;
use crate::domain::rules::RulesText;
use crate::store::{
    Cursor, CustomerWrite, Cutoffs, DedupKey, DedupWrite, DigestClaim, Health, ListQuery, Lookup,
    Phase, Plan, RulesChange, StatusFilter, StoreError, UnknownChat, UnreadableNumber,
};

fn lookup_customer(n: u32) -> Lookup {
    Lookup {
        customer: Some(customer(n)),
        ..Lookup::default()
    }
}

pub async fn a_plan_is_applied_all_or_nothing(f: &impl Fixture) {
    let store = f.store();
    let ev = event(1, 0, b"{}".to_vec());
    // The call must not exist yet, but it does: nothing of this plan may be written.
    store
        .apply(Plan {
            call: Some(call_write("c1", None, ev.record.id)),
            ..Plan::default()
        })
        .await
        .unwrap();
    let plan = Plan {
        call: Some(call_write("c1", None, ev.record.id)),
        event: Some(ev.clone()),
        ..opening(pending(1, 0))
    };
    assert!(matches!(store.apply(plan).await, Err(StoreError::Conflict)));
    assert!(store.callback(id(1)).await.unwrap().is_none());
    assert!(store.event(ev.record.id).await.unwrap().is_none());
    let found = store.lookup(lookup_customer(1)).await.unwrap();
    assert!(found.customer.unwrap().pending.is_none());
}

pub async fn at_most_one_pending_callback_per_customer_even_when_plans_race(f: &impl Fixture) {
    let store = f.store();
    // Ten plans, each decided from "nothing pending", each opening its own callback for
    // the same customer, applied at once.
    let mut plans = Vec::new();
    for n in 0..10u32 {
        let mut cb = pending(1, 0);
        cb.id = id(100 + u64::from(n));
        plans.push(store.apply(opening(cb)));
    }
    let results = futures_util::future::join_all(plans).await;
    let applied = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(applied, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict)))
    );
    let page = store
        .list_callbacks(ListQuery {
            status: StatusFilter::Pending,
            limit: 100,
            after: None,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.callbacks.len(), 1);
    assert_eq!(store.pending_stats().await.unwrap().count, 1);
    let found = store.lookup(lookup_customer(1)).await.unwrap();
    assert_eq!(
        found.customer.unwrap().pending.unwrap().value.id,
        page.callbacks[0].id
    );
}

pub async fn a_plan_decided_from_an_old_version_conflicts(f: &impl Fixture) {
    let store = f.store();
    store.apply(opening(pending(1, 0))).await.unwrap();
    let first = stored(store.as_ref(), 1).await;
    let mut once = first.value.clone();
    once.missed_calls = 2;
    store
        .apply(changing(first.clone(), once, "second call"))
        .await
        .unwrap();
    let mut stale = first.value.clone();
    stale.missed_calls = 5;
    assert!(matches!(
        store.apply(changing(first, stale, "late")).await,
        Err(StoreError::Conflict)
    ));
    let now = stored(store.as_ref(), 1).await;
    assert_eq!(now.value.missed_calls, 2);
    let detail = store.callback_detail(id(1)).await.unwrap().unwrap();
    let details: Vec<_> = detail
        .timeline
        .iter()
        .filter_map(|e| e.detail.clone())
        .collect();
    assert_eq!(details, ["opened", "second call"]);
}

pub async fn a_customer_version_covers_the_pending_callback_and_the_latest_answered_call(
    f: &impl Fixture,
) {
    let store = f.store();
    let before = store
        .lookup(lookup_customer(1))
        .await
        .unwrap()
        .customer
        .unwrap();
    assert!(before.pending.is_none() && before.last_answered_at.is_none());
    // An answered call moves the latest answered time: a plan decided before conflicts.
    store
        .apply(Plan {
            customer: Some(CustomerWrite {
                number: customer(1),
                expected: before.version.clone(),
                last_answered_at: Some(t(5)),
            }),
            ..Plan::default()
        })
        .await
        .unwrap();
    let stale = Plan {
        customer: Some(CustomerWrite {
            number: customer(1),
            expected: before.version.clone(),
            last_answered_at: None,
        }),
        ..opening(pending(1, 0))
    };
    assert!(matches!(
        store.apply(stale).await,
        Err(StoreError::Conflict)
    ));
    let now = store
        .lookup(lookup_customer(1))
        .await
        .unwrap()
        .customer
        .unwrap();
    assert_eq!(now.last_answered_at, Some(t(5)));
    // A callback opened for the customer changes it too.
    store
        .apply(Plan {
            customer: Some(CustomerWrite {
                number: customer(1),
                expected: now.version.clone(),
                last_answered_at: None,
            }),
            ..opening(pending(1, 10))
        })
        .await
        .unwrap();
    let again = Plan {
        customer: Some(CustomerWrite {
            number: customer(1),
            expected: now.version,
            last_answered_at: Some(t(20)),
        }),
        ..Plan::default()
    };
    assert!(matches!(
        store.apply(again).await,
        Err(StoreError::Conflict)
    ));
    let found = store
        .lookup(lookup_customer(1))
        .await
        .unwrap()
        .customer
        .unwrap();
    assert_eq!(found.pending.unwrap().value.id, id(1));
    // Another customer is untouched by all of it.
    let other = store
        .lookup(lookup_customer(2))
        .await
        .unwrap()
        .customer
        .unwrap();
    assert!(other.pending.is_none() && other.last_answered_at.is_none());
}

pub async fn a_delivery_without_a_call_is_remembered_once(f: &impl Fixture) {
    let store = f.store();
    let key = DedupKey {
        trigger: "call_received_on_server".into(),
        call_id: String::new(),
        leg: "#abc".into(),
    };
    let dedup = |event| Plan {
        dedup: Some(DedupWrite {
            key: key.clone(),
            event,
        }),
        ..Plan::default()
    };
    let first = Ulid::from_parts(1, 1);
    store.apply(dedup(first)).await.unwrap();
    assert!(matches!(
        store.apply(dedup(Ulid::from_parts(2, 2))).await,
        Err(StoreError::Conflict)
    ));
    let found = store
        .lookup(Lookup {
            dedup: Some(key),
            ..Lookup::default()
        })
        .await
        .unwrap();
    assert_eq!(found.dedup, Some(first));
}

pub async fn what_was_applied_is_there_after_reopening(f: &impl Fixture) {
    let store = f.store();
    let ev = event(1, 0, b"{\"call_id\":\"c1\"}".to_vec());
    store
        .apply(Plan {
            call: Some(call_write("c1", None, ev.record.id)),
            event: Some(ev.clone()),
            ..opening(pending(1, 0))
        })
        .await
        .unwrap();
    drop(store);
    let store = f.reopen().await;
    assert_eq!(stored(store.as_ref(), 1).await.value, pending(1, 0));
    let (record, body) = store.event(ev.record.id).await.unwrap().unwrap();
    assert_eq!((record, body), (ev.record, ev.body));
    let found = store
        .lookup(Lookup {
            call_id: Some("c1".into()),
            ..lookup_customer(1)
        })
        .await
        .unwrap();
    assert!(
        found
            .call
            .unwrap()
            .value
            .seen("call_hangup_missed", "c1")
            .is_some()
    );
    assert_eq!(found.customer.unwrap().pending.unwrap().value.id, id(1));
}

pub async fn pending_callbacks_page_oldest_first_then_resolved_newest_first(f: &impl Fixture) {
    let store = f.store();
    // Pending first missed at 30, 10, 20; resolved at 50 and 40.
    for (n, minute) in [(1, 30), (2, 10), (3, 20), (4, 0), (5, 1)] {
        store.apply(opening(pending(n, minute))).await.unwrap();
    }
    for (n, at) in [(4, 50), (5, 40)] {
        let before = stored(store.as_ref(), n).await;
        let after = resolved(before.value.clone(), at);
        store
            .apply(changing(before, after, "resolved"))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_callbacks(ListQuery {
                status: StatusFilter::All,
                limit: 2,
                after,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        seen.extend(page.callbacks.iter().map(|c| c.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, [id(2), id(3), id(1), id(4), id(5)]);
    let resolved_only = store
        .list_callbacks(ListQuery {
            status: StatusFilter::Resolved,
            limit: 10,
            after: None,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = resolved_only.callbacks.iter().map(|c| c.id).collect();
    assert_eq!(ids, [id(4), id(5)]);
    let stats = store.pending_stats().await.unwrap();
    assert_eq!(stats.count, 3);
    assert_eq!(stats.oldest.unwrap().id, id(2));
}

pub async fn a_garbage_cursor_is_not_a_first_page(f: &impl Fixture) {
    // Cursors are the store's own text; anything else is refused when parsed, so no
    // caller can be sent back to the first page (and loop for ever).
    let _ = f.store();
    for text in ["", "p", "page2", &format!("q{}", "0".repeat(48))] {
        assert!(Cursor::parse(text).is_err(), "{text:?}");
    }
    let real = Cursor {
        phase: Phase::Pending,
        at: t(0),
        id: id(1),
    };
    assert_eq!(Cursor::parse(&real.encode()), Ok(real));
}

pub async fn retention_never_touches_what_is_pending(f: &impl Fixture) {
    let store = f.store();
    // A pending callback first missed long ago, one resolved long ago, one resolved lately.
    store.apply(opening(pending(1, -100_000))).await.unwrap();
    store.apply(opening(pending(2, -90_000))).await.unwrap();
    store.apply(opening(pending(3, -10))).await.unwrap();
    for (n, at) in [(2, -80_000), (3, -5)] {
        let before = stored(store.as_ref(), n).await;
        let after = resolved(before.value.clone(), at);
        store
            .apply(changing(before, after, "resolved"))
            .await
            .unwrap();
    }
    let old = event(1, -90_000, b"old".to_vec());
    let new = event(2, -1, b"new".to_vec());
    for e in [&old, &new] {
        store
            .apply(Plan {
                event: Some(e.clone()),
                ..Plan::default()
            })
            .await
            .unwrap();
    }
    let cutoff = t(0) - Duration::days(30);
    let cutoff = Cutoffs {
        callbacks: Some(cutoff),
        events: Some(cutoff),
    };
    let purged = store.purge(cutoff, 100).await.unwrap();
    assert_eq!((purged.callbacks, purged.events), (1, 1));
    assert!(
        store.callback(id(1)).await.unwrap().is_some(),
        "pending is kept"
    );
    assert!(store.callback(id(2)).await.unwrap().is_none());
    assert!(store.callback(id(3)).await.unwrap().is_some());
    assert!(store.event(old.record.id).await.unwrap().is_none());
    assert!(store.event(new.record.id).await.unwrap().is_some());
    assert_eq!(store.purge(cutoff, 100).await.unwrap(), Default::default());
    assert_eq!(store.pending_stats().await.unwrap().count, 1);
}

pub async fn unreadable_numbers_are_listed_newest_first_from_a_moment_on(f: &impl Fixture) {
    let store = f.store();
    let flagged = |n: u64, minute: i64| {
        let mut e = event(n, minute, b"{}".to_vec());
        e.record.unreadable = Some(UnreadableNumber {
            raw: Some(format!("anonymous {n}")),
            agent: Some("Meera".into()),
        });
        e
    };
    for e in [
        flagged(1, 1),
        event(2, 2, b"{}".to_vec()),
        flagged(3, 3),
        flagged(4, 4),
        event(5, 5, b"{}".to_vec()),
    ] {
        store
            .apply(Plan {
                event: Some(e),
                ..Plan::default()
            })
            .await
            .unwrap();
    }
    let raw = |list: Vec<crate::store::EventRecord>| -> Vec<String> {
        list.into_iter()
            .map(|r| r.unreadable.unwrap().raw.unwrap())
            .collect()
    };
    assert_eq!(
        raw(store.unreadable_numbers(t(0), 10).await.unwrap()),
        ["anonymous 4", "anonymous 3", "anonymous 1"]
    );
    assert_eq!(
        raw(store.unreadable_numbers(t(3), 10).await.unwrap()),
        ["anonymous 4", "anonymous 3"],
        "from the moment given on"
    );
    assert_eq!(
        raw(store.unreadable_numbers(t(0), 1).await.unwrap()),
        ["anonymous 4"]
    );
    assert!(store.unreadable_numbers(t(6), 10).await.unwrap().is_empty());
}

pub async fn the_event_log_keeps_bodies_whole_in_receive_order(f: &impl Fixture) {
    let store = f.store();
    let big: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let events = [
        event(1, 1, b"{\"a\":1}".to_vec()),
        event(2, 2, big),
        event(3, 3, Vec::new()),
    ];
    for e in events.iter().rev() {
        store
            .apply(Plan {
                event: Some(e.clone()),
                ..Plan::default()
            })
            .await
            .unwrap();
    }
    for e in &events {
        let (record, body) = store.event(e.record.id).await.unwrap().unwrap();
        assert_eq!(record, e.record);
        assert_eq!(body, e.body);
    }
    let listed = store.events(None, 10).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|r| r.id).collect();
    assert_eq!(ids, events.iter().map(|e| e.record.id).collect::<Vec<_>>());
    let after_first = store.events(Some(events[0].record.id), 1).await.unwrap();
    assert_eq!(after_first[0].id, events[1].record.id);
    assert_eq!(after_first.len(), 1);
}

fn rules_text(first_after: &str) -> RulesText {
    RulesText {
        first_after: first_after.into(),
        repeat_every: "15m".into(),
        business_hours: "* * 9-18 * * Mon-Sat".into(),
        escalation: Vec::new(),
    }
}

pub async fn rules_edits_are_audited_newest_first(f: &impl Fixture) {
    let store = f.store();
    assert!(store.stored_rules().await.unwrap().is_none());
    let mut changes = Vec::new();
    for (i, first) in ["3m", "4m", "5m"].into_iter().enumerate() {
        let change = RulesChange {
            id: Ulid::from_parts(1_780_000_000_000 + i as u64, 7),
            at: t(i as i64),
            who: format!("supervisor {i}"),
            before: rules_text("2m"),
            after: rules_text(first),
            reset: false,
        };
        store.save_rules(change.clone()).await.unwrap();
        changes.push(change);
    }
    assert_eq!(store.stored_rules().await.unwrap(), changes.last().cloned());
    let audit = store.rules_audit(2).await.unwrap();
    assert_eq!(audit, [changes[2].clone(), changes[1].clone()]);
}

pub async fn a_rules_reset_clears_the_saved_rules_and_is_audited(f: &impl Fixture) {
    let store = f.store();
    let edit = RulesChange {
        id: Ulid::from_parts(1_780_000_000_000, 7),
        at: t(0),
        who: "asha".into(),
        before: rules_text("2m"),
        after: rules_text("5m"),
        reset: false,
    };
    store.save_rules(edit.clone()).await.unwrap();
    let reset = RulesChange {
        id: Ulid::from_parts(1_780_000_000_001, 7),
        at: t(1),
        who: "asha".into(),
        before: rules_text("5m"),
        after: rules_text("2m"),
        reset: true,
    };
    store.save_rules(reset.clone()).await.unwrap();
    assert_eq!(
        store.stored_rules().await.unwrap(),
        None,
        "nothing saved: the file's rules are in force"
    );
    assert_eq!(store.rules_audit(10).await.unwrap(), [reset, edit.clone()]);
    // An edit after the reset is saved again as usual.
    let again = RulesChange {
        id: Ulid::from_parts(1_780_000_000_002, 7),
        at: t(2),
        ..edit
    };
    store.save_rules(again.clone()).await.unwrap();
    assert_eq!(store.stored_rules().await.unwrap(), Some(again));
}

pub async fn telegram_state_survives_and_unknown_chats_are_counted(f: &impl Fixture) {
    let store = f.store();
    assert_eq!(store.telegram_offset().await.unwrap(), 0);
    // Telegram's update ids are 64-bit.
    store.save_telegram_offset(3_000_000_000).await.unwrap();
    let chat = |at, text: &str| UnknownChat {
        chat_id: -1001,
        name: "Someone".into(),
        username: None,
        last_text: text.into(),
        first_seen: at,
        last_seen: at,
        messages: 1,
    };
    store.note_unknown_chat(chat(t(0), "hi")).await.unwrap();
    store.note_unknown_chat(chat(t(5), "hello?")).await.unwrap();
    drop(store);
    let store = f.reopen().await;
    assert_eq!(store.telegram_offset().await.unwrap(), 3_000_000_000);
    let chats = store.unknown_chats().await.unwrap();
    assert_eq!(chats.len(), 1);
    assert_eq!(
        (chats[0].first_seen, chats[0].last_seen, chats[0].messages),
        (t(0), t(5), 2)
    );
    assert_eq!(chats[0].last_text, "hello?");
}

pub async fn the_schedule_fingerprint_is_kept(f: &impl Fixture) {
    let store = f.store();
    assert_eq!(store.schedule_fingerprint().await.unwrap(), None);
    store
        .set_schedule_fingerprint("hours|2m|15m".into())
        .await
        .unwrap();
    assert_eq!(
        store.schedule_fingerprint().await.unwrap().as_deref(),
        Some("hours|2m|15m")
    );
}

pub async fn a_probe_is_a_durable_write_and_health_is_ready(f: &impl Fixture) {
    let store = f.store();
    assert_eq!(store.health(), Health::Ready);
    store.probe().await.unwrap();
    assert_eq!(store.quarantined(), 0);
}

pub async fn raw_events_can_go_before_the_callbacks_they_touched(f: &impl Fixture) {
    let store = f.store();
    // A callback resolved 40 days ago, and an event received 40 days ago.
    store.apply(opening(pending(1, -60_000))).await.unwrap();
    let before = stored(store.as_ref(), 1).await;
    let after = resolved(before.value.clone(), -57_600);
    store
        .apply(changing(before, after, "resolved"))
        .await
        .unwrap();
    let old = event(1, -57_600, b"old body".to_vec());
    store
        .apply(Plan {
            event: Some(old.clone()),
            ..Plan::default()
        })
        .await
        .unwrap();
    // Raw events are kept 30 days, callback state 90.
    let cutoffs = Cutoffs {
        callbacks: Some(t(0) - Duration::days(90)),
        events: Some(t(0) - Duration::days(30)),
    };
    let purged = store.purge(cutoffs, 100).await.unwrap();
    assert_eq!((purged.callbacks, purged.events), (0, 1));
    assert!(store.event(old.record.id).await.unwrap().is_none());
    assert!(store.callback(id(1)).await.unwrap().is_some());
    // Keeping events for ever and callbacks 30 days deletes the callback only.
    let cutoffs = Cutoffs {
        callbacks: Some(t(0) - Duration::days(30)),
        events: None,
    };
    let purged = store.purge(cutoffs, 100).await.unwrap();
    assert_eq!((purged.callbacks, purged.events), (1, 0));
}

pub async fn a_digest_moment_is_claimed_once_with_its_deliveries(f: &impl Fixture) {
    let store = f.store();
    let claim = |minute: i64| DigestClaim {
        schedule: "0 30 9 * * Mon-Sat -> Asha".into(),
        occurrence: t(minute),
        claimed_at: t(minute),
    };
    assert_eq!(
        store
            .last_digest("0 30 9 * * Mon-Sat -> Asha")
            .await
            .unwrap(),
        None
    );
    let first = Plan {
        deliveries: vec![delivery(1, 0)],
        digest: Some(claim(0)),
        ..Plan::default()
    };
    let again = Plan {
        deliveries: vec![delivery(2, 0)],
        digest: Some(claim(0)),
        ..Plan::default()
    };
    // Two processes claiming the same moment at once: one wins, with its deliveries only.
    let results = futures_util::future::join_all([store.apply(first), store.apply(again)]).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StoreError::Conflict)))
    );
    assert_eq!(store.outbox().await.unwrap().len(), 1);
    assert_eq!(
        store
            .last_digest("0 30 9 * * Mon-Sat -> Asha")
            .await
            .unwrap(),
        Some(t(0))
    );
    // The next moment is its own; another schedule is unaffected; both last a reopening.
    store
        .apply(Plan {
            digest: Some(claim(1440)),
            ..Plan::default()
        })
        .await
        .unwrap();
    assert_eq!(store.last_digest("other -> Asha").await.unwrap(), None);
    let store = f.reopen().await;
    assert_eq!(
        store
            .last_digest("0 30 9 * * Mon-Sat -> Asha")
            .await
            .unwrap(),
        Some(t(1440))
    );
    assert!(matches!(
        store
            .apply(Plan {
                digest: Some(claim(1440)),
                ..Plan::default()
            })
            .await,
        Err(StoreError::Conflict)
    ));
}

pub async fn an_ended_session_stays_ended_until_its_time_then_is_forgotten(f: &impl Fixture) {
    let store = f.store();
    assert!(!store.session_ended("s1").await.unwrap());
    // Ended at 0, remembered until 60.
    store.end_session("s1", t(60), t(0)).await.unwrap();
    assert!(store.session_ended("s1").await.unwrap());
    assert!(
        !store.session_ended("s2").await.unwrap(),
        "only the one ended"
    );
    let store = f.reopen().await;
    assert!(
        store.session_ended("s1").await.unwrap(),
        "an ending is durable"
    );
    // Ending another at 100: the first is past its time and forgotten on the way.
    store.end_session("s2", t(200), t(100)).await.unwrap();
    assert!(store.session_ended("s2").await.unwrap());
    assert!(!store.session_ended("s1").await.unwrap());
    // Ending one twice keeps the later time.
    store.end_session("s2", t(150), t(100)).await.unwrap();
    store.end_session("s3", t(400), t(199)).await.unwrap();
    assert!(store.session_ended("s2").await.unwrap(), "kept until 200");
}

pub async fn plans_and_lookups_made_together_are_answered_each_on_its_own(f: &impl Fixture) {
    let store = f.store();
    // Customer 1 already has a pending callback: a plan decided from "nothing pending"
    // for them conflicts, whatever else is applied beside it.
    store.apply(opening(pending(1, 0))).await.unwrap();
    let mut plans: Vec<Plan> = (2..=61u32).map(|n| opening(pending(n, 1))).collect();
    let mut stale = pending(1, 2);
    stale.id = id(999);
    plans.insert(30, opening(stale));
    let results = futures_util::future::join_all(plans.into_iter().map(|p| store.apply(p))).await;
    for (i, result) in results.iter().enumerate() {
        if i == 30 {
            assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        } else {
            assert!(result.is_ok(), "plan {i}: {result:?}");
        }
    }
    assert_eq!(store.pending_stats().await.unwrap().count, 61);
    assert!(store.callback(id(999)).await.unwrap().is_none());

    let lookups = (1..=61u32).map(|n| store.lookup(lookup_customer(n)));
    let found = futures_util::future::join_all(lookups).await;
    for (n, found) in (1..=61u32).zip(found) {
        let state = found.unwrap().customer.unwrap();
        assert_eq!(state.number, customer(n));
        assert_eq!(state.pending.unwrap().value.id, id(u64::from(n)));
    }
}
