//! Figures for the summary page (SPEC §8, §11): how many wait, how fast callbacks are
//! cleared, and the share called back within the service level — overall, per agent and
//! per department. Pure: counts and small records in, figures out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::callback::Callback;
use super::digest::called_back;

/// How long a resolved callback's customer waited: first missed call to the resolving call
/// (or manual resolution).
pub fn time_to_callback(cb: &Callback) -> Option<Duration> {
    let resolved = cb.resolution.as_ref()?.at;
    Some((resolved - cb.first_missed_at).max(Duration::zero()))
}

/// The `p`-th percentile (0–100) by nearest rank; `None` for no data.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Of the customers called back in a period, how many were called back within their
/// service level (`[sla]`, business time) — the same count as the shift digest's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaShare {
    pub within: usize,
    pub called_back: usize,
}

impl SlaShare {
    /// Whole per cent, rounded down (so 99.6 % is not shown as 100 %); `None` for no
    /// call-backs.
    pub fn percent(self) -> Option<usize> {
        (self.called_back > 0).then(|| self.within * 100 / self.called_back)
    }

    fn count(list: &[&Cleared]) -> Self {
        let mut share = Self::default();
        for within in list.iter().filter_map(|c| c.within_sla) {
            share.called_back += 1;
            share.within += usize::from(within);
        }
        share
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentFigures {
    /// An agent's name, or `None` for callbacks nobody was assigned.
    pub name: Option<String>,
    pub pending: u64,
    pub resolved_today: usize,
    pub resolved_week: usize,
    pub median_week: Option<Duration>,
    /// `None` without a service level.
    pub sla_today: Option<SlaShare>,
    pub sla_week: Option<SlaShare>,
}

/// The service level of one department (`None`: calls Smartflo named no department for).
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentFigures {
    pub name: Option<String>,
    pub pending: u64,
    pub resolved_week: usize,
    pub sla_today: Option<SlaShare>,
    pub sla_week: Option<SlaShare>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub resolved_today: usize,
    pub median_today: Option<Duration>,
    pub p90_today: Option<Duration>,
    pub median_week: Option<Duration>,
    pub p90_week: Option<Duration>,
    /// `None` without a service level.
    pub sla_today: Option<SlaShare>,
    pub sla_week: Option<SlaShare>,
    pub per_agent: Vec<AgentFigures>,
    /// Departments seen, by name, then calls without one.
    pub per_department: Vec<DepartmentFigures>,
}

/// Whether a resolved callback was called back by its service level's due time; `None`
/// when no level applies to it.
pub type WithinSla<'a> = &'a dyn Fn(&Callback) -> Option<bool>;

/// What the summary keeps of a resolved callback: little, so a busy week of them fits in
/// memory while the summary is computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleared {
    pub agent: Option<String>,
    pub department: Option<String>,
    pub resolved_at: DateTime<Utc>,
    pub took: Option<Duration>,
    /// Whether the customer was called back within the service level: `None` when it
    /// does not count (no level set or applying, or not a call-back, e.g. a wrong number).
    pub within_sla: Option<bool>,
}

impl Cleared {
    /// `None` for a callback that is not resolved. `within_sla` judges it against the
    /// service level (`None`: no service level is set).
    pub fn of(cb: &Callback, within_sla: Option<WithinSla>) -> Option<Self> {
        Some(Self {
            agent: cb.assigned_agent.as_ref().map(|a| a.name.clone()),
            department: cb.department.clone(),
            resolved_at: cb.resolved_at?,
            took: time_to_callback(cb),
            within_sla: within_sla
                .filter(|_| called_back(cb))
                .and_then(|judge| judge(cb)),
        })
    }
}

/// What [`summarize`] reads from: how many callbacks wait now per assigned agent
/// (`pending_agents`, `None`: nobody) and per department (`pending_departments`, `None`:
/// no department); callbacks resolved since `week_start` (`resolved`, any order); where
/// today and the week start; and the configured agents (who appear even with nothing to
/// show).
pub struct Period<'a> {
    pub pending_agents: &'a BTreeMap<Option<String>, u64>,
    pub pending_departments: &'a BTreeMap<Option<String>, u64>,
    pub resolved: &'a [Cleared],
    pub today_start: DateTime<Utc>,
    pub week_start: DateTime<Utc>,
    pub agents: &'a [String],
}

/// The records of `list` that `keep` keeps.
fn only<'c>(list: &[&'c Cleared], keep: impl Fn(&Cleared) -> bool) -> Vec<&'c Cleared> {
    list.iter().copied().filter(|c| keep(c)).collect()
}

/// `sla`: whether a service level is set (without one the shares are `None`; with one,
/// each [`Cleared::within_sla`] says how a callback counts).
pub fn summarize(period: &Period, sla: bool) -> Summary {
    let Period {
        pending_agents,
        pending_departments,
        resolved,
        today_start,
        week_start,
        agents,
    } = *period;
    let in_week: Vec<&Cleared> = resolved
        .iter()
        .filter(|c| c.resolved_at >= week_start)
        .collect();
    let today = only(&in_week, |c| c.resolved_at >= today_start);
    let sorted = |list: &[&Cleared]| {
        let mut d: Vec<Duration> = list.iter().filter_map(|c| c.took).collect();
        d.sort();
        d
    };
    let share = |list: &[&Cleared]| sla.then(|| SlaShare::count(list));
    let (today_d, week_d) = (sorted(&today), sorted(&in_week));

    let mut names: Vec<Option<String>> = agents.iter().cloned().map(Some).collect();
    for name in pending_agents
        .keys()
        .chain(in_week.iter().map(|c| &c.agent))
    {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let per_agent = names
        .into_iter()
        .map(|name| {
            let theirs = |c: &Cleared| c.agent == name;
            let (week, day) = (only(&in_week, theirs), only(&today, theirs));
            AgentFigures {
                pending: pending_agents.get(&name).copied().unwrap_or(0),
                resolved_today: day.len(),
                resolved_week: week.len(),
                median_week: percentile(&sorted(&week), 50.0),
                sla_today: share(&day),
                sla_week: share(&week),
                name,
            }
        })
        .collect();

    let mut departments: Vec<Option<String>> = pending_departments
        .keys()
        .cloned()
        .chain(in_week.iter().map(|c| c.department.clone()))
        .collect();
    // Named departments in order, then "none" last.
    departments.sort_by(|a, b| (a.is_none(), a).cmp(&(b.is_none(), b)));
    departments.dedup();
    let per_department = departments
        .into_iter()
        .map(|name| {
            let theirs = |c: &Cleared| c.department == name;
            let (week, day) = (only(&in_week, theirs), only(&today, theirs));
            DepartmentFigures {
                pending: pending_departments.get(&name).copied().unwrap_or(0),
                resolved_week: week.len(),
                sla_today: share(&day),
                sla_week: share(&week),
                name,
            }
        })
        .collect();
    Summary {
        resolved_today: today.len(),
        median_today: percentile(&today_d, 50.0),
        p90_today: percentile(&today_d, 90.0),
        median_week: percentile(&week_d, 50.0),
        p90_week: percentile(&week_d, 90.0),
        sla_today: share(&today),
        sla_week: share(&in_week),
        per_agent,
        per_department,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let d: Vec<Duration> = (1..=10).map(Duration::minutes).collect();
        assert_eq!(percentile(&d, 50.0), Some(Duration::minutes(5)));
        assert_eq!(percentile(&d, 90.0), Some(Duration::minutes(9)));
        assert_eq!(percentile(&d, 100.0), Some(Duration::minutes(10)));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&d[..1], 90.0), Some(Duration::minutes(1)));
    }

    fn cleared(agent: &str, department: Option<&str>, ago_h: i64, within: Option<bool>) -> Cleared {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Cleared {
            agent: Some(agent.into()),
            department: department.map(Into::into),
            resolved_at: now - Duration::hours(ago_h),
            took: Some(Duration::minutes(10)),
            within_sla: within,
        }
    }

    #[test]
    fn shares_and_departments_from_counts_and_cleared_records() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let pending_agents = BTreeMap::from([(Some("asha".to_string()), 2), (None, 1)]);
        let pending_departments = BTreeMap::from([(Some("sales".to_string()), 2), (None, 1)]);
        let resolved = [
            cleared("asha", Some("sales"), 1, Some(true)),
            cleared("asha", Some("support"), 30, Some(false)),
            cleared("ravi", Some("sales"), 2, None),
            cleared("ravi", None, 200, Some(true)),
        ];
        let agents = ["asha".to_string()];
        let period = Period {
            pending_agents: &pending_agents,
            pending_departments: &pending_departments,
            resolved: &resolved,
            today_start: now - Duration::hours(10),
            week_start: now - Duration::days(7),
            agents: &agents,
        };
        let s = summarize(&period, true);
        assert_eq!(s.resolved_today, 2);
        let share = |within, called_back| {
            Some(SlaShare {
                within,
                called_back,
            })
        };
        assert_eq!(s.sla_today, share(1, 1));
        assert_eq!(s.sla_week, share(1, 2));
        let names: Vec<_> = s.per_agent.iter().map(|a| a.name.as_deref()).collect();
        assert_eq!(names, [Some("asha"), None, Some("ravi")]);
        assert_eq!(s.per_agent[0].pending, 2);
        assert_eq!(s.per_agent[0].sla_week, share(1, 2));
        assert_eq!(s.per_agent[2].sla_week, share(0, 0));
        let depts: Vec<_> = s.per_department.iter().map(|d| d.name.as_deref()).collect();
        assert_eq!(depts, [Some("sales"), Some("support"), None]);
        assert_eq!(s.per_department[0].pending, 2);
        assert_eq!(s.per_department[0].resolved_week, 2);
        assert_eq!(s.per_department[0].sla_today, share(1, 1));
        assert_eq!(s.per_department[1].pending, 0);
        assert_eq!(s.per_department[2].pending, 1);
        assert_eq!(s.per_department[2].resolved_week, 0);

        let plain = summarize(&period, false);
        assert_eq!(plain.sla_week, None);
        assert!(plain.per_agent.iter().all(|a| a.sla_today.is_none()));
    }
}
