//! Values the contract cases build plans from.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ulid::Ulid;

use crate::domain::call::CallState;
use crate::domain::callback::{
    Callback, CallbackId, Resolution, ResolutionKind, Status, TimelineEntry, TimelineKind,
};
use crate::domain::lifecycle::Effect;
use crate::domain::phone::PhoneNumber;
use crate::domain::reminder::{Channel, Delivery, Purpose, Recipient};
use crate::store::{
    CallWrite, CallbackWrite, EventRecord, EventWrite, Plan, RawEvent, Store, Versioned,
};

pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 6, 0, 0).unwrap() + Duration::minutes(minutes)
}

pub fn customer(n: u32) -> PhoneNumber {
    PhoneNumber::from_e164_unchecked(format!("+9198765{n:05}"))
}

pub fn id(n: u64) -> CallbackId {
    CallbackId::new(Ulid::from_parts(1_780_000_000_000 + n, u128::from(n)))
}

/// A pending callback for `customer(n)`, first missed at `t(minute)`, next woken then.
pub fn pending(n: u32, minute: i64) -> Callback {
    Callback {
        id: id(u64::from(n)),
        customer_number: customer(n),
        status: Status::Pending,
        missed_calls: 1,
        first_missed_at: t(minute),
        last_missed_at: t(minute),
        first_received_at: t(minute),
        last_received_at: t(minute),
        assigned_agent: None,
        missed_agents: Vec::new(),
        department: None,
        attempts: 0,
        reminders_sent: 0,
        escalation_level: 0,
        reminder_due_at: Some(t(minute)),
        next_reminder_at: Some(t(minute)),
        rounds_issued: 0,
        next_escalation_at: None,
        telegram_messages: Vec::new(),
        snoozed_until: None,
        resolved_at: None,
        resolution: None,
        last_attempt_at: None,
    }
}

pub fn resolved(mut cb: Callback, minute: i64) -> Callback {
    cb.status = Status::Resolved;
    cb.resolved_at = Some(t(minute));
    cb.next_reminder_at = None;
    cb.reminder_due_at = None;
    cb.resolution = Some(Resolution {
        kind: ResolutionKind::Manual,
        call_id: None,
        agent: None,
        at: t(minute),
        reason: Some("done".into()),
    });
    cb
}

pub fn entry(detail: &str) -> TimelineEntry {
    TimelineEntry {
        at: t(0),
        kind: TimelineKind::MissedCall,
        event_id: None,
        trigger: None,
        call_id: None,
        agent: None,
        who: None,
        detail: Some(detail.into()),
    }
}

/// A plan that opens `cb` (a new callback).
pub fn opening(cb: Callback) -> Plan {
    Plan {
        callbacks: vec![CallbackWrite::new(cb, vec![entry("opened")])],
        ..Plan::default()
    }
}

/// A plan that changes `before` into `after`.
pub fn changing(before: Versioned<Callback>, after: Callback, detail: &str) -> Plan {
    Plan {
        callbacks: vec![CallbackWrite::update(before, after, vec![entry(detail)])],
        ..Plan::default()
    }
}

pub fn event(n: u64, minute: i64, body: Vec<u8>) -> EventWrite {
    let at = t(minute);
    EventWrite {
        record: EventRecord {
            id: Ulid::from_parts(u64::try_from(at.timestamp_millis()).unwrap(), u128::from(n)),
            received_at: at,
            trigger: "call_hangup_missed".into(),
            trigger_inferred: false,
            effect: Effect::Recorded,
            note: None,
            callback_id: None,
            call_id: Some(format!("call-{n}")),
            uuid: None,
            raw: RawEvent::default(),
            body_len: u32::try_from(body.len()).unwrap(),
            unreadable: None,
        },
        body,
    }
}

pub fn call_write(
    call_id: &str,
    expected: Option<crate::store::Version>,
    event: Ulid,
) -> CallWrite {
    let mut state = CallState::default();
    state.remember("call_hangup_missed", call_id, event);
    CallWrite {
        call_id: call_id.into(),
        expected,
        state,
    }
}

pub fn delivery(n: u128, minute: i64) -> Delivery {
    Delivery {
        id: Ulid::from_parts(1_780_000_000_000, n),
        callback: id(1),
        purpose: Purpose::Reminder,
        round: 1,
        recipient: Recipient {
            name: "Priya".into(),
            channel: Channel::Log,
            address: String::new(),
        },
        attempts: 0,
        next_attempt_at: t(minute),
        created_at: t(minute),
        last_error: None,
        due_at: Some(t(minute)),
        message: None,
        digest: None,
    }
}

/// The stored callback `n`, which must exist.
pub async fn stored(store: &dyn Store, n: u64) -> Versioned<Callback> {
    store
        .callback(id(n))
        .await
        .expect("read")
        .expect("the callback is stored")
}
