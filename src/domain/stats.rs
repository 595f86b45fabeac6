//! Figures for the summary page (SPEC §8): how many wait, how fast callbacks are cleared,
//! per agent. Pure: callbacks in, figures out.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::callback::Callback;

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

#[derive(Debug, Clone, PartialEq)]
pub struct AgentFigures {
    /// An agent's name, or `None` for callbacks nobody was assigned.
    pub name: Option<String>,
    pub pending: u64,
    pub resolved_today: usize,
    pub resolved_week: usize,
    pub median_week: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub resolved_today: usize,
    pub median_today: Option<Duration>,
    pub p90_today: Option<Duration>,
    pub median_week: Option<Duration>,
    pub p90_week: Option<Duration>,
    pub per_agent: Vec<AgentFigures>,
}

/// What the summary keeps of a resolved callback: little, so a busy week of them fits in
/// memory while the summary is computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleared {
    pub agent: Option<String>,
    pub resolved_at: DateTime<Utc>,
    pub took: Option<Duration>,
}

impl Cleared {
    /// `None` for a callback that is not resolved.
    pub fn of(cb: &Callback) -> Option<Self> {
        Some(Self {
            agent: cb.assigned_agent.as_ref().map(|a| a.name.clone()),
            resolved_at: cb.resolved_at?,
            took: time_to_callback(cb),
        })
    }
}

/// `pending`: how many callbacks wait now, per assigned agent (`None`: nobody);
/// `resolved`: callbacks resolved since `week_start` (any order). `agents` lists the
/// configured agents, who appear even with nothing to show.
pub fn summarize(
    pending: &BTreeMap<Option<String>, u64>,
    resolved: &[Cleared],
    today_start: DateTime<Utc>,
    week_start: DateTime<Utc>,
    agents: &[String],
) -> Summary {
    let in_week: Vec<&Cleared> = resolved
        .iter()
        .filter(|c| c.resolved_at >= week_start)
        .collect();
    let today: Vec<&Cleared> = in_week
        .iter()
        .copied()
        .filter(|c| c.resolved_at >= today_start)
        .collect();
    let sorted = |list: &[&Cleared]| {
        let mut d: Vec<Duration> = list.iter().filter_map(|c| c.took).collect();
        d.sort();
        d
    };
    let (today_d, week_d) = (sorted(&today), sorted(&in_week));

    let mut names: Vec<Option<String>> = agents.iter().cloned().map(Some).collect();
    for name in pending.keys().chain(resolved.iter().map(|c| &c.agent)) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let per_agent = names
        .into_iter()
        .map(|name| {
            let week: Vec<&Cleared> = in_week
                .iter()
                .copied()
                .filter(|c| c.agent == name)
                .collect();
            AgentFigures {
                pending: pending.get(&name).copied().unwrap_or(0),
                resolved_today: today.iter().filter(|c| c.agent == name).count(),
                resolved_week: week.len(),
                median_week: percentile(&sorted(&week), 50.0),
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
        per_agent,
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
