//! What people do to a callback: the repeated-outcome rule.

use super::*;
use chrono::TimeZone;

fn pending_callback() -> Callback {
    let at = Utc.with_ymd_and_hms(2026, 5, 28, 5, 0, 0).unwrap();
    Callback {
        id: CallbackId::new(ulid::Ulid::from_parts(1, 1)),
        customer_number: crate::domain::phone::PhoneNumber::from_e164_unchecked("+919876543210"),
        status: Status::Pending,
        missed_calls: 1,
        first_missed_at: at,
        last_missed_at: at,
        first_received_at: at,
        last_received_at: at,
        assigned_agent: None,
        missed_agents: Vec::new(),
        department: None,
        attempts: 0,
        reminders_sent: 0,
        escalation_level: 0,
        reminder_due_at: None,
        next_reminder_at: None,
        rounds_issued: 0,
        next_escalation_at: None,
        telegram_messages: Vec::new(),
        snoozed_until: None,
        resolved_at: None,
        resolution: None,
        last_attempt_at: None,
    }
}

fn outcome_entry(who: &str, at: DateTime<Utc>, outcome: Outcome) -> TimelineEntry {
    TimelineEntry {
        at,
        kind: TimelineKind::Outcome,
        event_id: None,
        trigger: None,
        call_id: None,
        agent: None,
        who: Some(who.into()),
        detail: Some(format!("{}: {}", outcome.code(), outcome.words())),
    }
}

#[test]
fn only_the_same_outcome_by_the_same_person_moments_later_is_a_repeat() {
    let t = Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap();
    let timeline = [outcome_entry("Meera", t, Outcome::NoAnswer)];
    let no_answer = Action::Outcome {
        outcome: Outcome::NoAnswer,
        at: None,
    };
    let busy = Action::Outcome {
        outcome: Outcome::Busy,
        at: None,
    };
    let cb = pending_callback();
    let repeats = |timeline: &[TimelineEntry], action: &Action, who: &str, at| {
        repeats_last_outcome(&cb, timeline, action, who, at)
    };
    let soon = t + Duration::seconds(90);
    assert!(repeats(&timeline, &no_answer, "Meera", soon));
    assert!(!repeats(&timeline, &no_answer, "Arjun", soon));
    assert!(!repeats(&timeline, &busy, "Meera", soon));
    assert!(!repeats(&timeline, &no_answer, "Meera", t + REPEAT_WINDOW));
    assert!(!repeats(&[], &no_answer, "Meera", soon));
    let resolve = Action::Resolve {
        reason: "no_answer".into(),
    };
    assert!(!repeats(&timeline, &resolve, "Meera", soon));
    let by_api = [outcome_entry(ANONYMOUS_API_CALLER, t, Outcome::NoAnswer)];
    assert!(!repeats(&by_api, &no_answer, ANONYMOUS_API_CALLER, soon));
}

#[test]
fn call_later_repeats_only_when_it_asks_for_about_the_same_time() {
    let t = Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap();
    let timeline = [outcome_entry("Meera", t, Outcome::CallLater)];
    let mut cb = pending_callback();
    cb.snoozed_until = Some(t + Duration::hours(1));
    let later = |at| Action::Outcome {
        outcome: Outcome::CallLater,
        at: Some(at),
    };
    let soon = t + Duration::seconds(30);
    let refreshed = later(soon + Duration::hours(1));
    assert!(repeats_last_outcome(
        &cb, &timeline, &refreshed, "Meera", soon
    ));
    let other_time = later(t + Duration::hours(3));
    assert!(!repeats_last_outcome(
        &cb,
        &timeline,
        &other_time,
        "Meera",
        soon
    ));
}
