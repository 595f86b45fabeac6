//! The shift digest (SPEC §11 `[[digests]]`): when it is due, and the figures it carries —
//! yesterday's and today's missed customers, call-backs, share within the service level,
//! breaches by agent, and the oldest callbacks still waiting. Pure: callbacks and a moment
//! in, a report out; the report is kept with each delivery, so a retry sends the figures
//! of the digest's own moment.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::callback::{Callback, CallbackId};
use super::phone::PhoneNumber;
use super::rules::Rules;
use super::schedule::{ScheduleError, parse_cron};

/// Oldest pending callbacks listed in a digest.
pub const OLDEST_LISTED: usize = 5;

/// A digest's cron schedule (six fields, day names), in the configured zone.
#[derive(Debug, Clone)]
pub struct DigestSchedule {
    expression: String,
    schedule: cron::Schedule,
    zone: Tz,
}

impl DigestSchedule {
    pub fn parse(expression: &str, zone: Tz) -> Result<Self, ScheduleError> {
        let schedule = parse_cron(expression.trim())?;
        let parsed = Self {
            expression: expression.split_whitespace().collect::<Vec<_>>().join(" "),
            schedule,
            zone,
        };
        if parsed.next_after(Utc::now()).is_none() {
            return Err(ScheduleError::NeverOpen);
        }
        Ok(parsed)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The latest moment of the schedule at or before `now`. The schedule's moments are
    /// whole seconds and the search is for those before a bound: the bound is the second
    /// after `now`'s whole second, so 09:29:59.4 does not reach 09:30:00 (a digest claimed
    /// up to a second early was titled with the minute before its own).
    pub fn latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        use chrono::SubsecRound;
        let just_after = now
            .trunc_subsecs(0)
            .checked_add_signed(Duration::seconds(1))?;
        self.schedule
            .after(&just_after.with_timezone(&self.zone))
            .next_back()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first moment of the schedule after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&now.with_timezone(&self.zone))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFigures {
    pub date: NaiveDate,
    /// Customers whose first missed call of a callback was received that day.
    pub missed: u32,
    /// Callbacks resolved that day (a wrong number is not a call-back).
    pub called_back: u32,
    /// Of those, called back by their service level (`None` without `[sla]`).
    pub within_sla: Option<u32>,
    /// Callbacks whose service level ran out that day without a call-back in time.
    pub breaches: u32,
}

/// Breaches of one agent (or of nobody, `None`), yesterday and today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentBreaches {
    pub agent: Option<String>,
    pub yesterday: u32,
    pub today: u32,
}

/// A pending callback as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub id: CallbackId,
    pub customer: PhoneNumber,
    pub agent: Option<String>,
    pub first_received_at: DateTime<Utc>,
    pub missed_calls: u32,
    pub breached: bool,
}

/// What a digest says, as of `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestReport {
    pub at: DateTime<Utc>,
    pub yesterday: DayFigures,
    pub today: DayFigures,
    pub breaches_by_agent: Vec<AgentBreaches>,
    pub pending: u32,
    /// The oldest pending callbacks, oldest first (at most [`OLDEST_LISTED`]).
    pub oldest: Vec<Waiting>,
}

/// The local day of `at`, and where it and the day before start.
fn days(at: DateTime<Utc>, zone: Tz) -> (NaiveDate, NaiveDate) {
    let today = at.with_timezone(&zone).date_naive();
    (today.pred_opt().unwrap_or(today), today)
}

fn local_date(t: DateTime<Utc>, zone: Tz) -> NaiveDate {
    t.with_timezone(&zone).date_naive()
}

/// Whether a resolved callback counts as called back (a wrong number does not).
pub fn called_back(cb: &Callback) -> bool {
    !cb.is_pending()
        && cb
            .resolution
            .as_ref()
            .is_none_or(|r| r.reason.as_deref() != Some("wrong_number"))
}

/// The digest as of `at` from `callbacks`: every pending one, and every one resolved since
/// the start of yesterday (local), in any order.
pub fn report(callbacks: &[Callback], at: DateTime<Utc>, rules: &Rules) -> DigestReport {
    let zone = rules.business_hours.zone();
    let (yesterday, today) = days(at, zone);
    let sla = |cb: &Callback| rules.sla.status(cb, &rules.business_hours, at);
    let day = |date: NaiveDate| {
        let mut figures = DayFigures {
            date,
            missed: 0,
            called_back: 0,
            within_sla: rules.sla.is_set().then_some(0),
            breaches: 0,
        };
        for cb in callbacks {
            if local_date(cb.first_received_at, zone) == date {
                figures.missed += 1;
            }
            let status = sla(cb);
            if called_back(cb) && cb.resolved_at.is_some_and(|t| local_date(t, zone) == date) {
                figures.called_back += 1;
                if let (Some(within), Some(s)) = (figures.within_sla.as_mut(), status)
                    && !s.breached
                {
                    *within += 1;
                }
            }
            if status.is_some_and(|s| s.breached && local_date(s.due_at, zone) == date) {
                figures.breaches += 1;
            }
        }
        figures
    };
    let mut breaches_by_agent: Vec<AgentBreaches> = Vec::new();
    for cb in callbacks {
        let Some(s) = sla(cb).filter(|s| s.breached) else {
            continue;
        };
        let date = local_date(s.due_at, zone);
        if date != today && date != yesterday {
            continue;
        }
        let agent = cb.assigned_agent.as_ref().map(|a| a.name.clone());
        let row = match breaches_by_agent.iter().position(|b| b.agent == agent) {
            Some(i) => &mut breaches_by_agent[i],
            None => {
                breaches_by_agent.push(AgentBreaches {
                    agent,
                    yesterday: 0,
                    today: 0,
                });
                breaches_by_agent.last_mut().expect("just pushed")
            }
        };
        if date == today {
            row.today += 1;
        } else {
            row.yesterday += 1;
        }
    }
    breaches_by_agent.sort_by(|a, b| {
        (b.today + b.yesterday)
            .cmp(&(a.today + a.yesterday))
            .then_with(|| a.agent.cmp(&b.agent))
    });
    let mut pending: Vec<&Callback> = callbacks.iter().filter(|c| c.is_pending()).collect();
    pending.sort_by_key(|c| (c.first_received_at, c.id));
    DigestReport {
        at,
        yesterday: day(yesterday),
        today: day(today),
        breaches_by_agent,
        pending: u32::try_from(pending.len()).unwrap_or(u32::MAX),
        oldest: pending
            .iter()
            .take(OLDEST_LISTED)
            .map(|cb| Waiting {
                id: cb.id,
                customer: cb.customer_number.clone(),
                agent: cb.assigned_agent.as_ref().map(|a| a.name.clone()),
                first_received_at: cb.first_received_at,
                missed_calls: cb.missed_calls,
                breached: sla(cb).is_some_and(|s| s.breached),
            })
            .collect(),
    }
}

/// The start of the local day before `at`'s: callbacks resolved before it are not in a
/// digest made at `at`.
pub fn window_start(at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let (yesterday, _) = days(at, zone);
    let midnight = yesterday.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map_or(at - Duration::days(2), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
