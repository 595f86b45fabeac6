//! The callback service level (SPEC §11 `[sla]`): by when a missed customer should have
//! been called back, counted in business time from when Ringback received the first missed
//! call, and whether that was missed. Pure: the moment "now" is given.

use chrono::{DateTime, Duration, Utc};

use super::callback::Callback;
use super::schedule::BusinessHours;

/// `[sla] callback_within`, and per-department levels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sla {
    /// The level for every department not listed; `None`: no service level.
    pub within: Option<Duration>,
    /// Departments (as Smartflo names them, compared without case) with their own level.
    pub departments: Vec<(String, Duration)>,
}

/// A callback measured against its service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaStatus {
    pub due_at: DateTime<Utc>,
    /// Called back after `due_at`, or still pending past it.
    pub breached: bool,
}

impl Sla {
    pub fn is_set(&self) -> bool {
        self.within.is_some() || !self.departments.is_empty()
    }

    /// The level that applies to a callback of `department`.
    pub fn within_for(&self, department: Option<&str>) -> Option<Duration> {
        department
            .and_then(|d| {
                self.departments
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(d.trim()))
            })
            .map(|(_, within)| *within)
            .or(self.within)
    }

    /// When `cb` is due to have been called back, in business time.
    pub fn due_at(&self, cb: &Callback, hours: &BusinessHours) -> Option<DateTime<Utc>> {
        let within = self.within_for(cb.department.as_deref())?;
        hours.add_business_time(cb.first_received_at, within)
    }

    /// `cb` against its level at `now`: breached when it was resolved after the due time,
    /// or is pending past it.
    pub fn status(
        &self,
        cb: &Callback,
        hours: &BusinessHours,
        now: DateTime<Utc>,
    ) -> Option<SlaStatus> {
        let due_at = self.due_at(cb, hours)?;
        let ended = if cb.is_pending() {
            now
        } else {
            cb.resolved_at.unwrap_or(now)
        };
        Some(SlaStatus {
            due_at,
            breached: ended > due_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ulid::Ulid;

    use super::*;
    use crate::domain::callback::{CallbackId, Status};
    use crate::domain::phone::PhoneNumber;

    fn ist(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Kolkata
            .with_ymd_and_hms(2026, 5, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hours() -> BusinessHours {
        BusinessHours::parse("* * 9-18 * * Mon-Sat", chrono_tz::Asia::Kolkata).unwrap()
    }

    fn callback(received: DateTime<Utc>, department: Option<&str>) -> Callback {
        Callback {
            id: CallbackId::new(Ulid::from_parts(1, 1)),
            customer_number: PhoneNumber::from_e164_unchecked("+919876543210"),
            status: Status::Pending,
            missed_calls: 1,
            first_missed_at: received,
            last_missed_at: received,
            first_received_at: received,
            last_received_at: received,
            assigned_agent: None,
            missed_agents: Vec::new(),
            department: department.map(str::to_string),
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

    fn thirty_minutes_sales_fifteen() -> Sla {
        Sla {
            within: Some(Duration::minutes(30)),
            departments: vec![("Sales".into(), Duration::minutes(15))],
        }
    }

    #[test]
    fn a_call_missed_at_18_50_is_due_at_09_20_the_next_business_day() {
        let cb = callback(ist(28, 18, 50), None);
        let due = thirty_minutes_sales_fifteen().due_at(&cb, &hours());
        assert_eq!(due, Some(ist(29, 9, 20)));
    }

    #[test]
    fn a_department_with_its_own_level_uses_it_whatever_its_case() {
        let sla = thirty_minutes_sales_fifteen();
        let sales = callback(ist(28, 10, 0), Some("sales"));
        assert_eq!(sla.due_at(&sales, &hours()), Some(ist(28, 10, 15)));
        let support = callback(ist(28, 10, 0), Some("Support"));
        assert_eq!(sla.due_at(&support, &hours()), Some(ist(28, 10, 30)));
    }

    #[test]
    fn pending_past_the_due_time_is_breached_and_before_it_is_not() {
        let sla = thirty_minutes_sales_fifteen();
        let cb = callback(ist(28, 10, 0), None);
        let before = sla.status(&cb, &hours(), ist(28, 10, 29)).unwrap();
        assert!(!before.breached);
        let after = sla.status(&cb, &hours(), ist(28, 10, 31)).unwrap();
        assert!(after.breached);
    }

    #[test]
    fn a_resolved_callback_is_judged_by_when_it_was_resolved_not_by_now() {
        let sla = thirty_minutes_sales_fifteen();
        let mut cb = callback(ist(28, 10, 0), None);
        cb.status = Status::Resolved;
        cb.resolved_at = Some(ist(28, 10, 20));
        assert!(!sla.status(&cb, &hours(), ist(29, 12, 0)).unwrap().breached);
        cb.resolved_at = Some(ist(28, 10, 45));
        assert!(sla.status(&cb, &hours(), ist(28, 10, 45)).unwrap().breached);
    }

    #[test]
    fn without_a_level_there_is_no_due_time() {
        let cb = callback(ist(28, 10, 0), None);
        assert_eq!(Sla::default().status(&cb, &hours(), ist(28, 12, 0)), None);
        assert!(!Sla::default().is_set());
        let only_sales = Sla {
            within: None,
            departments: vec![("Sales".into(), Duration::minutes(15))],
        };
        assert_eq!(only_sales.due_at(&cb, &hours()), None);
    }
}
