//! Throttling of failed authentication, per source address.
//!
//! A source that fails to authenticate more than `limit` times within a minute is answered
//! `429 Too Many Requests` (with `Retry-After`) until its oldest counted failure is a minute
//! old. This slows password guessing on the dashboard login to a crawl, stops a scanner from
//! filling the log, and keeps argon2 from being used to burn the CPU.
//!
//! Hand-written rather than built on `governor`: the policy needs to *look* at a source's
//! state before checking a credential and to *count* only failures after it, and governor
//! only offers a check that consumes a cell. The state is one small map behind a mutex,
//! touched once per failed request and once per request from a throttled source.
//! Password checks are the exception: they are counted before the hash ([`AuthThrottle::attempt`])
//! and given back when right, so simultaneous guesses cannot all slip past the check.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;

/// Failures are counted over this window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked sources, sources with no failure inside the window are dropped
/// (so a spray from many addresses cannot grow the map without bound).
const PRUNE_ABOVE: usize = 10_000;

/// Where requests came from, for throttling and logs.
#[derive(Debug, Clone)]
pub struct SourceResolver {
    /// Peers whose `X-Forwarded-For` is believed (a reverse proxy in front of Ringback).
    trusted_proxies: Vec<IpAddr>,
}

impl SourceResolver {
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self { trusted_proxies }
    }

    /// The client address: the TCP peer, unless the peer is a trusted proxy, in which case
    /// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
    /// its left were written by the client and prove nothing).
    pub fn source(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .or(Some(peer))
    }
}

#[derive(Debug)]
pub struct AuthThrottle {
    /// Failures allowed per source per [`WINDOW`]; `0` turns throttling off.
    limit: u32,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl AuthThrottle {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when `source` has used up its failures and must wait `wait` before the
    /// next attempt is even looked at.
    pub fn check(&self, source: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(source) = source.filter(|_| self.limit > 0) else {
            return Ok(());
        };
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = failures.get_mut(&source) else {
            return Ok(());
        };
        forget_old(times, now);
        if times.len() < self.limit as usize {
            return Ok(());
        }
        Err(wait_for(times, now))
    }

    /// Counts one failed attempt from `source`; returns `true` when this failure is the one
    /// that used up the allowance (worth one log line, not one per request).
    pub fn failed(&self, source: Option<IpAddr>, now: Instant) -> bool {
        let Some(source) = source.filter(|_| self.limit > 0) else {
            return false;
        };
        self.with_times(source, now, |times| {
            times.push_back(now);
            times.len() == self.limit as usize
        })
    }

    /// Checks and counts in one step, for a check costly enough that it must not start
    /// unless it is allowed (a password hash): `Err(wait)` when `source` is out of
    /// attempts, else the attempt is counted as a failure until [`AuthThrottle::forgive`]
    /// takes it back. Checking first and counting after the hash let a burst of
    /// simultaneous guesses all pass the check before any of them was counted.
    /// `Ok(true)` when this attempt used up the allowance.
    pub fn attempt(&self, source: Option<IpAddr>, now: Instant) -> Result<bool, Duration> {
        let Some(source) = source.filter(|_| self.limit > 0) else {
            return Ok(false);
        };
        self.with_times(source, now, |times| {
            if times.len() >= self.limit as usize {
                return Err(wait_for(times, now));
            }
            times.push_back(now);
            Ok(times.len() == self.limit as usize)
        })
    }

    /// Takes back the attempt counted at `at` by [`AuthThrottle::attempt`]: it succeeded.
    pub fn forgive(&self, source: Option<IpAddr>, at: Instant) {
        let Some(source) = source.filter(|_| self.limit > 0) else {
            return;
        };
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = failures.get_mut(&source)
            && let Some(i) = times.iter().rposition(|t| *t == at)
        {
            times.remove(i);
        }
    }

    /// Runs `f` on `source`'s failures inside the window, under the lock.
    fn with_times<R>(
        &self,
        source: IpAddr,
        now: Instant,
        f: impl FnOnce(&mut VecDeque<Instant>) -> R,
    ) -> R {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, times| {
                forget_old(times, now);
                !times.is_empty()
            });
        }
        let times = failures.entry(source).or_default();
        forget_old(times, now);
        f(times)
    }
}

/// How long until the oldest counted failure leaves the window (at least a second).
fn wait_for(times: &VecDeque<Instant>, now: Instant) -> Duration {
    times.front().map_or(Duration::from_secs(1), |oldest| {
        (*oldest + WINDOW)
            .saturating_duration_since(now)
            .max(Duration::from_secs(1))
    })
}

fn forget_old(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_source_is_throttled_after_its_allowance_of_failures_and_freed_a_minute_later() {
        let throttle = AuthThrottle::new(3);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(throttle.check(ip(1), t0).is_ok(), "attempt {i}");
            throttle.failed(ip(1), t0 + Duration::from_secs(i));
        }
        let wait = throttle
            .check(ip(1), t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            throttle.check(ip(2), t0).is_ok(),
            "other sources are not affected"
        );
        assert!(throttle.check(ip(1), t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn only_the_failure_that_uses_up_the_allowance_says_so() {
        let throttle = AuthThrottle::new(2);
        let t0 = Instant::now();
        assert!(!throttle.failed(ip(1), t0));
        assert!(throttle.failed(ip(1), t0));
        assert!(!throttle.failed(ip(1), t0));
    }

    #[test]
    fn a_limit_of_zero_never_throttles() {
        let throttle = AuthThrottle::new(0);
        let t0 = Instant::now();
        for _ in 0..100 {
            throttle.failed(ip(1), t0);
        }
        assert!(throttle.check(ip(1), t0).is_ok());
    }

    #[test]
    fn a_spray_from_many_sources_is_pruned_once_its_failures_age_out() {
        let throttle = AuthThrottle::new(5);
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            throttle.failed(Some(IpAddr::from(i.to_be_bytes())), t0);
        }
        throttle.failed(ip(9), t0 + WINDOW);
        assert_eq!(throttle.failures.lock().unwrap().len(), 1);
    }

    #[test]
    fn attempts_are_counted_before_they_are_judged_and_a_right_one_is_taken_back() {
        let throttle = AuthThrottle::new(2);
        let t0 = Instant::now();
        let first = t0;
        assert_eq!(throttle.attempt(ip(1), first), Ok(false));
        // A second attempt arriving while the first is still being judged is counted too.
        assert_eq!(throttle.attempt(ip(1), t0), Ok(true));
        assert!(throttle.attempt(ip(1), t0).is_err(), "the third waits");
        throttle.forgive(ip(1), first);
        assert_eq!(
            throttle.attempt(ip(1), t0 + Duration::from_secs(1)),
            Ok(true),
            "a right password gives its attempt back"
        );
    }
}
