//! The lifecycle rules of SPEC §5, one sentence each.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::domain::agent::{AgentRef, MissedAgent};
use crate::domain::callback::{CallbackId, ResolutionKind, Status, TimelineKind};
use crate::domain::phone::{CountryCode, PhoneNumber};

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 28, 5, minute, 0).unwrap()
}

fn customer() -> PhoneNumber {
    PhoneNumber::parse("9876543210", CountryCode::parse("91").unwrap()).unwrap()
}

fn rules() -> Rules {
    Rules {
        min_talk_seconds: 10,
        first_after: Duration::minutes(2),
        repeat_every: Duration::minutes(15),
        business_hours: crate::domain::schedule::BusinessHours::parse(
            "* * * * * *",
            chrono_tz::UTC,
        )
        .unwrap(),
        escalation: Vec::new(),
        escalate_after_attempts: None,
        sla: Default::default(),
    }
}

fn priya() -> AgentRef {
    AgentRef {
        name: "Priya".into(),
        number: None,
    }
}

fn facts(call_id: &str, started: u32) -> CallFacts {
    CallFacts {
        call_id: Some(call_id.into()),
        customer: Ok(customer()),
        started_at: t(started),
        caveat: None,
        billsec: None,
        missed_agents: vec![MissedAgent {
            name: Some("Priya".into()),
            number: None,
            smartflo_id: Some("0507".into()),
            agent: Some("Priya".into()),
        }],
        assignee: Some(priya()),
        answered_by: Some("Arjun".into()),
        department: None,
        callback_hint: None,
    }
}

fn meta(received: u32) -> EventMeta {
    EventMeta {
        event_id: format!("ev{received}"),
        trigger: "call_hangup".into(),
        received_at: t(received),
        new_callback_id: CallbackId::new(ulid::Ulid::from_parts(u64::from(received), 1)),
    }
}

/// Applies a decision to a snapshot the way storage would.
fn apply(snapshot: &mut Snapshot, d: &Decision) {
    if let Some(cb) = &d.callback {
        let cb = cb.clone();
        snapshot.pending = cb.is_pending().then_some(cb);
    }
    if let Some(at) = d.last_answered_at {
        snapshot.last_answered_at = Some(at);
    }
}

fn run(snapshot: &mut Snapshot, intent: Intent, facts: &CallFacts, received: u32) -> Decision {
    let d = decide(&intent, facts, &meta(received), snapshot, &rules());
    apply(snapshot, &d);
    // Storage keeps the call record under its call_id; the next event of the same call
    // sees it. Tests that mix calls reset it themselves.
    snapshot.call = d.call.clone();
    d
}

#[test]
fn missed_call_from_a_new_customer_opens_a_callback_assigned_to_the_first_missed_agent() {
    let mut s = Snapshot::default();
    let d = run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    assert_eq!(d.effect, Effect::Opened);
    let cb = d.callback.unwrap();
    assert_eq!(cb.missed_calls, 1);
    assert_eq!(cb.assigned_agent, Some(priya()));
    assert_eq!(cb.reminder_due_at, Some(t(3)));
    let kinds: Vec<_> = d.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [TimelineKind::MissedCall, TimelineKind::Assigned]);
}

#[test]
fn a_second_missed_call_updates_the_count_and_restarts_the_reminder_timer() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let d = run(&mut s, Intent::Missed, &facts("c2", 10), 11);
    assert_eq!(d.effect, Effect::Updated);
    let cb = d.callback.unwrap();
    assert_eq!(cb.missed_calls, 2);
    assert_eq!(cb.first_missed_at, t(0));
    assert_eq!(cb.last_missed_at, t(10));
    assert_eq!(cb.reminder_due_at, Some(t(13)));
    assert_eq!(cb.first_received_at, t(1));
}

#[test]
fn a_call_that_fires_two_missed_triggers_counts_once() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    let mut again = facts("c1", 0);
    again.department = Some("Sales".into());
    let d = run(&mut s, Intent::Missed, &again, 2);
    assert_eq!(d.effect, Effect::Updated);
    let cb = d.callback.unwrap();
    assert_eq!(cb.missed_calls, 1);
    assert_eq!(cb.department.as_deref(), Some("Sales"));
}

#[test]
fn a_call_missed_by_nobody_is_unassigned_and_a_later_agent_takes_it() {
    let mut s = Snapshot::default();
    let mut ivr = facts("c1", 0);
    ivr.missed_agents.clear();
    ivr.assignee = None;
    let d = run(&mut s, Intent::Missed, &ivr, 1);
    assert_eq!(d.callback.as_ref().unwrap().assigned_agent, None);
    s.call = None;
    let d = run(&mut s, Intent::Missed, &facts("c2", 5), 6);
    assert_eq!(d.callback.unwrap().assigned_agent, Some(priya()));
}

#[test]
fn a_later_missed_call_keeps_the_first_assignment() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let mut other = facts("c2", 5);
    other.assignee = Some(AgentRef {
        name: "Arjun".into(),
        number: None,
    });
    let d = run(&mut s, Intent::Missed, &other, 6);
    assert_eq!(d.callback.unwrap().assigned_agent, Some(priya()));
}

#[test]
fn an_answered_inbound_call_after_the_miss_resolves_it() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let mut answered = facts("c2", 20);
    answered.billsec = Some(45);
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredInbound),
        &answered,
        21,
    );
    assert_eq!(d.effect, Effect::Resolved);
    let cb = d.callback.unwrap();
    assert_eq!(cb.status, Status::Resolved);
    assert_eq!(cb.reminder_due_at, None);
    let r = cb.resolution.unwrap();
    assert_eq!(r.kind, ResolutionKind::AnsweredInbound);
    assert_eq!(r.call_id.as_deref(), Some("c2"));
    assert_eq!(r.agent.as_deref(), Some("Arjun"));
    assert_eq!(r.at, t(20));
    assert_eq!(d.last_answered_at, Some(t(20)));
}

#[test]
fn an_answer_shorter_than_min_talk_seconds_does_not_clear() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let mut short = facts("c2", 20);
    short.billsec = Some(9);
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredOutbound),
        &short,
        21,
    );
    assert_eq!(d.effect, Effect::Recorded);
    assert!(s.pending.is_some());
    assert_eq!(d.timeline[0].kind, TimelineKind::AnsweredNotCleared);
    assert_eq!(
        d.last_answered_at, None,
        "a too-short call is not an answer"
    );
}

#[test]
fn an_answer_with_unknown_talk_time_clears() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredOutbound),
        &facts("c2", 20),
        21,
    );
    assert_eq!(d.effect, Effect::Resolved);
}

#[test]
fn an_answered_call_with_nothing_pending_is_remembered_and_blocks_older_misses() {
    let mut s = Snapshot::default();
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredInbound),
        &facts("c2", 20),
        21,
    );
    assert_eq!(d.effect, Effect::Recorded);
    assert_eq!(d.last_answered_at, Some(t(20)));
    s.call = None;
    // The missed call started before the answered one but arrived after it.
    let d = run(&mut s, Intent::Missed, &facts("c1", 10), 22);
    assert_eq!(d.effect, Effect::Recorded);
    assert!(d.callback.is_none());
    s.call = None;
    let d = run(&mut s, Intent::Missed, &facts("c3", 30), 31);
    assert_eq!(d.effect, Effect::Opened);
}

#[test]
fn an_answered_call_that_started_before_the_first_miss_does_not_clear() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 30), 31);
    s.call = None;
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredInbound),
        &facts("c0", 10),
        32,
    );
    assert_eq!(d.effect, Effect::Recorded);
    assert!(s.pending.is_some());
}

#[test]
fn an_answer_between_two_misses_leaves_the_later_miss_pending() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    run(&mut s, Intent::Missed, &facts("c3", 30), 31);
    s.call = None;
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredInbound),
        &facts("c2", 20),
        32,
    );
    assert_eq!(d.effect, Effect::Recorded);
    assert!(s.pending.is_some());
    assert_eq!(d.timeline[0].kind, TimelineKind::AnsweredNotCleared);
}

#[test]
fn the_answered_leg_of_a_call_counted_as_missed_clears_it() {
    // Agent A missed the call (call_missed_by_agent_hangup), agent B then answered it.
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    let d = run(
        &mut s,
        Intent::Answered(ResolutionKind::AnsweredInbound),
        &facts("c1", 0),
        2,
    );
    assert_eq!(d.effect, Effect::Resolved);
    // A late repeat of the missed trigger does not reopen it.
    let d = run(&mut s, Intent::Missed, &facts("c1", 0), 3);
    assert_eq!(d.effect, Effect::Recorded);
    assert!(s.pending.is_none());
}

#[test]
fn a_failed_call_back_counts_an_attempt_once() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let d = run(&mut s, Intent::Attempt, &facts("c2", 10), 11);
    assert_eq!(d.effect, Effect::Attempt);
    assert_eq!(d.callback.unwrap().attempts, 1);
    let d = run(&mut s, Intent::Attempt, &facts("c2", 10), 12);
    assert_eq!(d.effect, Effect::Recorded);
    assert_eq!(s.pending.as_ref().unwrap().attempts, 1);
}

#[test]
fn an_attempt_with_nothing_pending_is_only_recorded() {
    let mut s = Snapshot::default();
    let d = run(&mut s, Intent::Attempt, &facts("c2", 10), 11);
    assert_eq!(d.effect, Effect::Recorded);
    assert!(d.callback.is_none());
}

#[test]
fn an_event_without_a_usable_customer_is_recorded_with_the_reason() {
    let mut s = Snapshot::default();
    let mut f = facts("c1", 0);
    f.customer = Err("not a phone number".into());
    let d = run(&mut s, Intent::Missed, &f, 1);
    assert_eq!(d.effect, Effect::Recorded);
    assert!(d.note.unwrap().contains("not a phone number"));
}

#[test]
fn a_department_event_names_the_department_of_a_counted_call() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    let mut dept = facts("c1", 0);
    dept.department = Some("Support".into());
    let d = run(&mut s, Intent::Department, &dept, 2);
    assert_eq!(d.effect, Effect::Recorded);
    assert_eq!(d.callback.unwrap().department.as_deref(), Some("Support"));
    assert_eq!(d.call.unwrap().department.as_deref(), Some("Support"));
}

#[test]
fn a_department_seen_before_the_miss_is_carried_onto_the_callback() {
    let mut s = Snapshot::default();
    let mut dept = facts("c1", 0);
    dept.department = Some("Sales".into());
    run(&mut s, Intent::Department, &dept, 1);
    let d = run(&mut s, Intent::Missed, &facts("c1", 0), 2);
    assert_eq!(d.effect, Effect::Opened);
    assert_eq!(d.callback.unwrap().department.as_deref(), Some("Sales"));
}

#[test]
fn a_disposition_is_noted_on_the_pending_callback() {
    let mut s = Snapshot::default();
    run(&mut s, Intent::Missed, &facts("c1", 0), 1);
    s.call = None;
    let d = run(
        &mut s,
        Intent::Disposition("Busy / Call later".into()),
        &facts("c9", 5),
        6,
    );
    assert_eq!(d.effect, Effect::Recorded);
    assert_eq!(d.timeline[0].kind, TimelineKind::Disposition);
    assert_eq!(d.timeline[0].detail.as_deref(), Some("Busy / Call later"));
}
