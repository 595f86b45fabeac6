use chrono::TimeZone;
use ulid::Ulid;

use super::*;
use crate::domain::agent::AgentRef;
use crate::domain::callback::{Resolution, ResolutionKind, Status};
use crate::domain::schedule::BusinessHours;
use crate::domain::sla::Sla;

fn ist(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Kolkata
        .with_ymd_and_hms(2026, 5, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn rules() -> Rules {
    Rules {
        min_talk_seconds: 0,
        first_after: Duration::minutes(2),
        repeat_every: Duration::minutes(15),
        business_hours: BusinessHours::parse("* * 9-18 * * Mon-Sat", chrono_tz::Asia::Kolkata)
            .unwrap(),
        escalation: Vec::new(),
        escalate_after_attempts: None,
        sla: Sla {
            within: Some(Duration::minutes(30)),
            departments: Vec::new(),
        },
    }
}

fn callback(n: u64, received: DateTime<Utc>, agent: &str) -> Callback {
    Callback {
        id: CallbackId::new(Ulid::from_parts(n, 1)),
        customer_number: PhoneNumber::from_e164_unchecked(format!("+9198765000{n:02}")),
        status: Status::Pending,
        missed_calls: 1,
        first_missed_at: received,
        last_missed_at: received,
        first_received_at: received,
        last_received_at: received,
        assigned_agent: Some(AgentRef {
            name: agent.into(),
            number: None,
        }),
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

fn resolved(mut cb: Callback, at: DateTime<Utc>, reason: Option<&str>) -> Callback {
    cb.status = Status::Resolved;
    cb.resolved_at = Some(at);
    cb.resolution = Some(Resolution {
        kind: ResolutionKind::Manual,
        call_id: None,
        agent: None,
        at,
        reason: reason.map(str::to_string),
    });
    cb
}

#[test]
fn yesterday_and_today_are_counted_by_local_day() {
    // Thursday 28 May (yesterday) and Friday 29 May (today), digest at 09:30 on Friday.
    let callbacks = vec![
        // Called back in 10 minutes yesterday.
        resolved(callback(1, ist(28, 10, 0), "Meera"), ist(28, 10, 10), None),
        // Called back late yesterday: a breach of Meera's.
        resolved(callback(2, ist(28, 11, 0), "Meera"), ist(28, 12, 0), None),
        // A wrong number: resolved, not called back.
        resolved(
            callback(3, ist(28, 12, 0), "Arjun"),
            ist(28, 12, 5),
            Some("wrong_number"),
        ),
        // Still waiting since yesterday 18:50: due 09:20 today, breached at 09:30.
        callback(4, ist(28, 18, 50), "Arjun"),
        // Missed today at 09:25: not yet due.
        callback(5, ist(29, 9, 25), "Meera"),
    ];
    let report = report(&callbacks, ist(29, 9, 30), &rules());
    assert_eq!(report.yesterday.date.to_string(), "2026-05-28");
    assert_eq!(
        (report.yesterday.missed, report.yesterday.called_back),
        (4, 2)
    );
    assert_eq!(report.yesterday.within_sla, Some(1));
    assert_eq!(report.yesterday.breaches, 1);
    assert_eq!((report.today.missed, report.today.called_back), (1, 0));
    assert_eq!(report.today.breaches, 1);
    assert_eq!(
        report.breaches_by_agent,
        vec![
            AgentBreaches {
                agent: Some("Arjun".into()),
                yesterday: 0,
                today: 1
            },
            AgentBreaches {
                agent: Some("Meera".into()),
                yesterday: 1,
                today: 0
            },
        ]
    );
    assert_eq!(report.pending, 2);
    let oldest: Vec<u64> = report
        .oldest
        .iter()
        .map(|w| w.customer.as_str()[11..].parse().unwrap())
        .collect();
    assert_eq!(oldest, [4, 5]);
    assert!(report.oldest[0].breached && !report.oldest[1].breached);
}

#[test]
fn without_a_service_level_there_is_no_within_share_and_no_breach() {
    let mut rules = rules();
    rules.sla = Sla::default();
    let callbacks = vec![resolved(
        callback(1, ist(28, 10, 0), "Meera"),
        ist(28, 15, 0),
        None,
    )];
    let report = report(&callbacks, ist(29, 9, 30), &rules);
    assert_eq!(report.yesterday.within_sla, None);
    assert_eq!(report.yesterday.breaches, 0);
    assert!(report.breaches_by_agent.is_empty());
}

#[test]
fn the_schedule_finds_its_latest_and_next_moments() {
    let schedule = DigestSchedule::parse("0 30 9 * * Mon-Sat", chrono_tz::Asia::Kolkata).unwrap();
    assert_eq!(schedule.latest(ist(29, 9, 30)), Some(ist(29, 9, 30)));
    assert_eq!(schedule.latest(ist(29, 9, 29)), Some(ist(28, 9, 30)));
    // Not before its second has come, however little is missing; any time within it.
    let just_before = ist(29, 9, 30) - Duration::milliseconds(760);
    assert_eq!(schedule.latest(just_before), Some(ist(28, 9, 30)));
    let within = ist(29, 9, 30) + Duration::milliseconds(999);
    assert_eq!(schedule.latest(within), Some(ist(29, 9, 30)));
    assert_eq!(schedule.next_after(ist(29, 9, 30)), Some(ist(30, 9, 30)));
    // Saturday's digest is followed by Monday's.
    assert_eq!(
        schedule.next_after(ist(30, 9, 30)),
        Some(
            chrono_tz::Asia::Kolkata
                .with_ymd_and_hms(2026, 6, 1, 9, 30, 0)
                .unwrap()
                .with_timezone(&Utc)
        )
    );
    assert!(DigestSchedule::parse("0 30 9 * * 1-6", chrono_tz::Asia::Kolkata).is_err());
}

#[test]
fn the_window_starts_at_local_midnight_yesterday() {
    assert_eq!(
        window_start(ist(29, 9, 30), chrono_tz::Asia::Kolkata),
        ist(28, 0, 0)
    );
}
