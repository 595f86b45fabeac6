//! Figures for the summary page (SPEC §8, §11): how many wait, how fast callbacks are
//! cleared, and the share called back within the service level — overall, per agent and
//! per department. Pure: callbacks in, figures out.

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

    fn count(list: &[&Callback], within_sla: WithinSla) -> Self {
        let mut share = Self::default();
        for cb in list.iter().filter(|c| called_back(c)) {
            if let Some(within) = within_sla(cb) {
                share.called_back += 1;
                share.within += usize::from(within);
            }
        }
        share
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentFigures {
    /// An agent's name, or `None` for callbacks nobody was assigned.
    pub name: Option<String>,
    pub pending: usize,
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
    pub pending: usize,
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

/// The callbacks of `list` that `keep` keeps.
fn only<'c>(list: &[&'c Callback], keep: &dyn Fn(&Callback) -> bool) -> Vec<&'c Callback> {
    list.iter().copied().filter(|c| keep(c)).collect()
}

/// What [`summarize`] reads from: callbacks waiting now (`pending`), callbacks resolved
/// since `week_start` (`resolved`, any order), where today and the week start, and the
/// configured agents (who appear even with nothing to show).
pub struct Period<'a> {
    pub pending: &'a [Callback],
    pub resolved: &'a [Callback],
    pub today_start: DateTime<Utc>,
    pub week_start: DateTime<Utc>,
    pub agents: &'a [String],
}

/// Whether a resolved callback was called back by its service level's due time; `None`
/// when no level applies to it.
pub type WithinSla<'a> = &'a dyn Fn(&Callback) -> Option<bool>;

/// `within_sla` says whether a resolved callback was resolved by its service level's due
/// time (`None`: no level applies to it); pass `None` when no service level is set.
pub fn summarize(period: &Period, within_sla: Option<WithinSla>) -> Summary {
    let Period {
        pending,
        resolved,
        today_start,
        week_start,
        agents,
    } = *period;
    let in_week: Vec<&Callback> = resolved
        .iter()
        .filter(|c| c.resolved_at.is_some_and(|t| t >= week_start))
        .collect();
    let today: Vec<&Callback> = in_week
        .iter()
        .copied()
        .filter(|c| c.resolved_at.is_some_and(|t| t >= today_start))
        .collect();
    let sorted = |list: &[&Callback]| {
        let mut d: Vec<Duration> = list.iter().filter_map(|c| time_to_callback(c)).collect();
        d.sort();
        d
    };
    let share = |list: &[&Callback]| within_sla.map(|f| SlaShare::count(list, f));
    let (today_d, week_d) = (sorted(&today), sorted(&in_week));
    let agent_of = |c: &Callback| c.assigned_agent.as_ref().map(|a| a.name.clone());

    let mut names: Vec<Option<String>> = agents.iter().cloned().map(Some).collect();
    for c in pending.iter().chain(resolved) {
        let name = agent_of(c);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let per_agent = names
        .into_iter()
        .map(|name| {
            let theirs = |c: &Callback| agent_of(c) == name;
            let (week, day) = (only(&in_week, &theirs), only(&today, &theirs));
            AgentFigures {
                pending: pending.iter().filter(|c| theirs(c)).count(),
                resolved_today: day.len(),
                resolved_week: week.len(),
                median_week: percentile(&sorted(&week), 50.0),
                sla_today: share(&day),
                sla_week: share(&week),
                name,
            }
        })
        .collect();

    let mut departments: Vec<Option<String>> = pending
        .iter()
        .chain(resolved)
        .map(|c| c.department.clone())
        .collect();
    // Named departments in order, then "none" last.
    departments.sort_by(|a, b| (a.is_none(), a).cmp(&(b.is_none(), b)));
    departments.dedup();
    let per_department = departments
        .into_iter()
        .map(|name| {
            let theirs = |c: &Callback| c.department == name;
            let (week, day) = (only(&in_week, &theirs), only(&today, &theirs));
            DepartmentFigures {
                pending: pending.iter().filter(|c| theirs(c)).count(),
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
}
