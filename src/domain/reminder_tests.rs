//! Reminder rounds and delivery settlement (SPEC §6).

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::domain::agent::AgentRef;
use crate::domain::callback::{Callback, CallbackId, Status};
use crate::domain::phone::PhoneNumber;
use crate::domain::rules::EscalationStep;
use crate::domain::schedule::BusinessHours;

fn ist(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    let tz: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap();
    tz.with_ymd_and_hms(2026, 6, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn rules() -> Rules {
    Rules {
        min_talk_seconds: 0,
        first_after: Duration::minutes(2),
        repeat_every: Duration::minutes(15),
        business_hours: BusinessHours::parse(
            "* * 9-18 * * Mon-Sat",
            "Asia/Kolkata".parse().unwrap(),
        )
        .unwrap(),
        escalation: vec![
            EscalationStep {
                after: Duration::minutes(30),
                notify: vec!["Asha".into()],
            },
            EscalationStep {
                after: Duration::hours(2),
                notify: vec!["Asha".into(), "Arjun".into()],
            },
        ],
        escalate_after_attempts: Some(3),
        sla: Default::default(),
    }
}

/// A callback opened at `opened` (2026-06-01 is a Monday), first reminder due 2 min later.
fn callback(opened: DateTime<Utc>, agent: Option<&str>) -> Callback {
    let mut cb = Callback {
        id: CallbackId::new(Ulid::from_parts(1, 1)),
        customer_number: PhoneNumber::from_e164_unchecked("+919876543210"),
        status: Status::Pending,
        missed_calls: 1,
        first_missed_at: opened,
        last_missed_at: opened,
        first_received_at: opened,
        last_received_at: opened,
        assigned_agent: agent.map(|a| AgentRef {
            name: a.into(),
            number: None,
        }),
        missed_agents: Vec::new(),
        department: None,
        attempts: 0,
        reminders_sent: 0,
        escalation_level: 0,
        reminder_due_at: Some(opened + Duration::minutes(2)),
        next_reminder_at: None,
        rounds_issued: 0,
        next_escalation_at: None,
        telegram_messages: Vec::new(),
        snoozed_until: None,
        resolved_at: None,
        resolution: None,
        last_attempt_at: None,
    };
    cb.reschedule(&rules());
    cb
}

fn roster() -> Roster {
    Roster {
        contacts: vec![
            Contact {
                name: "Priya".into(),
                email: Some("priya@example.in".into()),
                telegram_chat_id: Some(42),
                channels: Vec::new(),
            },
            Contact {
                name: "Arjun".into(),
                email: Some("arjun@example.in".into()),
                telegram_chat_id: Some(43),
                channels: vec![Channel::Telegram],
            },
            Contact {
                name: "Asha".into(),
                email: Some("asha@example.in".into()),
                telegram_chat_id: None,
                channels: Vec::new(),
            },
        ],
        email_enabled: true,
        telegram_enabled: true,
    }
}

#[test]
fn the_first_round_is_due_first_after_the_miss_and_the_next_one_interval_later() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    assert_eq!(cb.next_reminder_at, Some(ist(1, 10, 2)));
    assert!(
        plan_round(&cb, ist(1, 10, 1), &rules()).is_none(),
        "not yet due"
    );
    let (cb, round) = plan_round(&cb, ist(1, 10, 2), &rules()).unwrap();
    assert_eq!(round, 1);
    assert_eq!(cb.next_reminder_at, Some(ist(1, 10, 17)));
    let (cb, round) = plan_round(&cb, ist(1, 10, 17), &rules()).unwrap();
    assert_eq!(round, 2);
    assert_eq!(cb.next_reminder_at, Some(ist(1, 10, 32)));
}

#[test]
fn a_round_due_after_hours_goes_out_once_at_the_next_business_moment() {
    let cb = callback(ist(1, 18, 55), Some("Priya"));
    // Due 18:57 (open), then 19:12 is after hours: next business moment is Tuesday 09:00.
    let (cb, _) = plan_round(&cb, ist(1, 18, 57), &rules()).unwrap();
    assert_eq!(cb.next_reminder_at, Some(ist(2, 9, 0)));
    assert!(plan_round(&cb, ist(1, 23, 0), &rules()).is_none());
    let (cb, round) = plan_round(&cb, ist(2, 9, 0), &rules()).unwrap();
    assert_eq!(round, 2);
    // One round at 09:00, then the normal interval — not every round the night skipped.
    assert_eq!(cb.next_reminder_at, Some(ist(2, 9, 15)));
}

#[test]
fn an_overdue_round_after_downtime_is_sent_once() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    let (cb, round) = plan_round(&cb, ist(1, 12, 0), &rules()).unwrap();
    assert_eq!(round, 1);
    assert_eq!(cb.next_reminder_at, Some(ist(1, 12, 15)));
    assert!(plan_round(&cb, ist(1, 12, 1), &rules()).is_none());
}

#[test]
fn a_snoozed_callback_is_silent_until_the_snooze_ends() {
    let mut cb = callback(ist(1, 10, 0), Some("Priya"));
    cb.snoozed_until = Some(ist(1, 11, 0));
    cb.reschedule(&rules());
    assert_eq!(cb.next_reminder_at, Some(ist(1, 11, 0)));
    assert!(plan_round(&cb, ist(1, 10, 30), &rules()).is_none());
    assert!(plan_round(&cb, ist(1, 11, 0), &rules()).is_some());
}

#[test]
fn a_resolved_callback_has_no_next_reminder() {
    let mut cb = callback(ist(1, 10, 0), Some("Priya"));
    cb.status = Status::Resolved;
    cb.reschedule(&rules());
    assert_eq!(cb.next_reminder_at, None);
    assert!(plan_round(&cb, ist(1, 12, 0), &rules()).is_none());
}

#[test]
fn agents_get_every_channel_they_have_unless_narrowed() {
    let r = roster();
    let channels = |name: &str| -> Vec<Channel> {
        r.recipients(&[name.to_string()])
            .iter()
            .map(|x| x.channel)
            .collect()
    };
    assert_eq!(channels("Priya"), [Channel::Email, Channel::Telegram]);
    assert_eq!(channels("Arjun"), [Channel::Telegram]);
    assert_eq!(channels("Nobody"), [Channel::Log]);
}

#[test]
fn without_transports_reminders_go_to_the_log() {
    let r = Roster {
        email_enabled: false,
        telegram_enabled: false,
        ..roster()
    };
    let got = r.recipients(&["Priya".to_string()]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, Channel::Log);
}

#[test]
fn unassigned_callbacks_go_to_the_escalation_recipients() {
    let cb = callback(ist(1, 10, 0), None);
    let got = roster().for_reminder(&cb, &rules());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name, "Asha");
    assert_eq!(got[0].channel, Channel::Email);
}

fn delivery(round: u32) -> Delivery {
    Delivery {
        id: Ulid::from_parts(2, 2),
        callback: CallbackId::new(Ulid::from_parts(1, 1)),
        purpose: Purpose::Reminder,
        round,
        recipient: roster().recipients(&["Priya".to_string()])[0].clone(),
        attempts: 0,
        next_attempt_at: ist(1, 10, 2),
        created_at: ist(1, 10, 2),
        last_error: None,
        due_at: Some(ist(1, 10, 2)),
        message: None,
        digest: None,
    }
}

#[test]
fn a_sent_delivery_counts_its_round_and_goes_on_the_timeline() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    let s = settle(
        Some(&cb),
        &delivery(1),
        &Settlement::Sent {
            at: ist(1, 10, 2),
            message: Some(77),
        },
    );
    assert_eq!(s.callback.unwrap().reminders_sent, 1);
    assert_eq!(s.timeline[0].kind, TimelineKind::ReminderSent);
    assert!(
        s.timeline[0]
            .detail
            .as_ref()
            .unwrap()
            .contains("priya@example.in")
    );
    assert!(s.keep.is_none());
}

#[test]
fn a_transient_failure_is_kept_for_retry_and_noted_once() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    let retry = Settlement::Retry {
        at: ist(1, 10, 2),
        retry_at: ist(1, 10, 3),
        reason: "connection refused".into(),
    };
    let s = settle(Some(&cb), &delivery(1), &retry);
    let kept = s.keep.unwrap();
    assert_eq!(kept.attempts, 1);
    assert_eq!(kept.next_attempt_at, ist(1, 10, 3));
    assert_eq!(s.timeline.len(), 1);
    let again = settle(Some(&cb), &kept, &retry);
    assert!(
        again.timeline.is_empty(),
        "later retries stay off the timeline"
    );
    assert!(again.keep.is_some());
}

#[test]
fn a_permanent_failure_is_recorded_and_not_retried() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    let s = settle(
        Some(&cb),
        &delivery(1),
        &Settlement::Failed {
            at: ist(1, 10, 2),
            reason: "chat not found".into(),
        },
    );
    assert!(s.keep.is_none());
    assert_eq!(s.timeline[0].kind, TimelineKind::DeliveryFailed);
    assert!(
        s.timeline[0]
            .detail
            .as_ref()
            .unwrap()
            .contains("chat not found")
    );
    assert_eq!(s.callback.unwrap().reminders_sent, 0);
}

#[test]
fn transient_failures_give_up_after_a_day() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    let s = settle(
        Some(&cb),
        &delivery(1),
        &Settlement::Retry {
            at: ist(2, 10, 3),
            retry_at: ist(2, 10, 4),
            reason: "timeout".into(),
        },
    );
    assert!(s.keep.is_none());
    assert!(s.timeline[0].detail.as_ref().unwrap().contains("for good"));
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(0, 0.5), Duration::seconds(15));
    assert_eq!(backoff(1, 0.5), Duration::seconds(30));
    assert_eq!(backoff(20, 0.5), Duration::minutes(15));
    assert!(backoff(0, 0.0) < backoff(0, 0.99));
}

#[test]
fn each_escalation_step_fires_once_when_the_callback_reaches_its_age() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    assert_eq!(cb.next_escalation_at, Some(ist(1, 10, 30)));
    assert!(plan_escalations(&cb, ist(1, 10, 29), &rules()).is_none());
    let (cb, fired, entries) = plan_escalations(&cb, ist(1, 10, 30), &rules()).unwrap();
    assert_eq!(
        fired,
        [Escalation {
            level: 1,
            notify: vec!["Asha".into()]
        }]
    );
    assert_eq!(cb.escalation_level, 1);
    assert_eq!(entries[0].kind, TimelineKind::Escalated);
    assert_eq!(cb.next_escalation_at, Some(ist(1, 12, 0)));
    assert!(
        plan_escalations(&cb, ist(1, 11, 0), &rules()).is_none(),
        "once only"
    );
    let (cb, fired, _) = plan_escalations(&cb, ist(1, 12, 0), &rules()).unwrap();
    assert_eq!(fired[0].level, 2);
    assert_eq!(cb.next_escalation_at, None, "no more steps");
}

#[test]
fn an_unassigned_callback_escalates_at_once() {
    let cb = callback(ist(1, 10, 0), None);
    assert_eq!(cb.next_escalation_at, Some(ist(1, 10, 0)));
}

#[test]
fn escalation_waits_for_business_hours_and_snooze() {
    let cb = callback(ist(1, 18, 45), Some("Priya"));
    assert_eq!(
        cb.next_escalation_at,
        Some(ist(2, 9, 0)),
        "18:45 + 30 min is after hours"
    );
    let mut snoozed = callback(ist(1, 10, 0), Some("Priya"));
    snoozed.snoozed_until = Some(ist(1, 11, 0));
    snoozed.reschedule(&rules());
    assert_eq!(snoozed.next_escalation_at, Some(ist(1, 11, 0)));
}

#[test]
fn overdue_steps_all_fire_when_the_service_comes_back() {
    let cb = callback(ist(1, 10, 0), Some("Priya"));
    let (cb, fired, _) = plan_escalations(&cb, ist(1, 15, 0), &rules()).unwrap();
    assert_eq!(fired.len(), 2);
    assert_eq!(cb.escalation_level, 2);
}
