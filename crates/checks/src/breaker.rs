//! Circuit breakers, per check or declared dependency.
//!
//! ```text
//!            failure_threshold consecutive failures
//!   closed ─────────────────────────────────────────▶ open
//!     ▲                                                │ cool_down elapsed
//!     │ success_threshold consecutive successes        ▼
//!     └────────────────────────────────────────── half-open ──▶ open (any failure)
//! ```
//!
//! The breaker is pure: every call takes the current time ([`Timestamp`], milliseconds), so it
//! is tested with a fake clock. While open, results are ignored (the cool-down is not
//! restarted); the first call at or after the end of the cool-down moves it to half-open.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strix_core::Timestamp;

use crate::config::ConfigError;

/// Breaker settings (`circuit_breaker:` on a check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (default 3).
    pub failure_threshold: u32,
    /// Time an open breaker waits before half-opening (default 30s).
    #[serde(with = "strix_core::duration::serde_str")]
    pub cool_down: Duration,
    /// Consecutive successes that close a half-open breaker (default 2).
    pub success_threshold: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(30),
            success_threshold: 2,
        }
    }
}

impl BreakerConfig {
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.failure_threshold == 0 {
            return Err(ConfigError::new(
                format!("{key}.failure_threshold"),
                "must be at least 1",
            ));
        }
        if self.success_threshold == 0 {
            return Err(ConfigError::new(
                format!("{key}.success_threshold"),
                "must be at least 1",
            ));
        }
        if self.cool_down.is_zero() {
            return Err(ConfigError::new(
                format!("{key}.cool_down"),
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// The state of a breaker, as shown in the API (`closed`, `open`, `half-open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }

    /// The value of `strix_check_circuit_breaker_state`: 0 closed, 1 half-open, 2 open.
    pub fn as_metric(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// A state change of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreakerTransition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at: Timestamp,
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    /// Consecutive failures while closed.
    failures: u32,
    /// Consecutive successes while half-open.
    successes: u32,
    /// When the breaker last opened.
    opened_at: Option<Timestamp>,
    /// When the state last changed.
    since: Option<Timestamp>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            state: BreakerState::Closed,
            failures: 0,
            successes: 0,
            opened_at: None,
            since: None,
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The state at `now`, counting an elapsed cool-down as half-open (does not mutate).
    pub fn state(&self, now: Timestamp) -> BreakerState {
        if self.state == BreakerState::Open && self.cool_down_over(now) {
            BreakerState::HalfOpen
        } else {
            self.state
        }
    }

    /// When the state last changed (`None`: never).
    pub fn since(&self) -> Option<Timestamp> {
        self.since
    }

    /// Consecutive failures counted while closed.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// When an open breaker will half-open.
    pub fn retry_at(&self) -> Option<Timestamp> {
        match (self.state, self.opened_at) {
            (BreakerState::Open, Some(t)) => Some(t.saturating_add(self.cool_down_ms())),
            _ => None,
        }
    }

    fn cool_down_ms(&self) -> i64 {
        i64::try_from(self.config.cool_down.as_millis()).unwrap_or(i64::MAX)
    }

    fn cool_down_over(&self, now: Timestamp) -> bool {
        self.retry_at().is_some_and(|t| now >= t)
    }

    fn set(&mut self, to: BreakerState, at: Timestamp) -> Option<BreakerTransition> {
        if self.state == to {
            return None;
        }
        let from = self.state;
        self.state = to;
        self.since = Some(at);
        match to {
            BreakerState::Open => {
                self.opened_at = Some(at);
                self.successes = 0;
            }
            BreakerState::HalfOpen => self.successes = 0,
            BreakerState::Closed => {
                self.failures = 0;
                self.successes = 0;
                self.opened_at = None;
            }
        }
        Some(BreakerTransition { from, to, at })
    }

    /// Applies time-driven transitions (open → half-open after the cool-down).
    pub fn poll(&mut self, now: Timestamp) -> Option<BreakerTransition> {
        if self.state == BreakerState::Open && self.cool_down_over(now) {
            return self.set(BreakerState::HalfOpen, now);
        }
        None
    }

    /// Whether a call may go through at `now` (closed or half-open); half-opens when due.
    pub fn allow(&mut self, now: Timestamp) -> bool {
        self.poll(now);
        self.state != BreakerState::Open
    }

    /// Records a successful call.
    pub fn on_success(&mut self, now: Timestamp) -> Option<BreakerTransition> {
        let polled = self.poll(now);
        let t = match self.state {
            BreakerState::Closed => {
                self.failures = 0;
                None
            }
            BreakerState::Open => None,
            BreakerState::HalfOpen => {
                self.successes += 1;
                if self.successes >= self.config.success_threshold {
                    self.set(BreakerState::Closed, now)
                } else {
                    None
                }
            }
        };
        t.or(polled)
    }

    /// Records a failed call.
    pub fn on_failure(&mut self, now: Timestamp) -> Option<BreakerTransition> {
        let polled = self.poll(now);
        let t = match self.state {
            BreakerState::Closed => {
                self.failures += 1;
                if self.failures >= self.config.failure_threshold {
                    self.set(BreakerState::Open, now)
                } else {
                    None
                }
            }
            BreakerState::Open => None,
            BreakerState::HalfOpen => self.set(BreakerState::Open, now),
        };
        // Report the net change when a poll happened first (open → half-open → open is no change).
        match (polled, t) {
            (Some(p), Some(t)) if p.from == t.to => None,
            (Some(p), Some(t)) => Some(BreakerTransition { from: p.from, ..t }),
            (p, t) => t.or(p),
        }
    }

    /// Records a result.
    pub fn record(&mut self, ok: bool, now: Timestamp) -> Option<BreakerTransition> {
        if ok {
            self.on_success(now)
        } else {
            self.on_failure(now)
        }
    }

    /// Closes the breaker (the admin reset).
    pub fn reset(&mut self, now: Timestamp) -> Option<BreakerTransition> {
        self.failures = 0;
        self.successes = 0;
        self.set(BreakerState::Closed, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(30),
            success_threshold: 2,
        }
    }

    #[test]
    fn full_cycle_with_fake_clock() {
        let mut b = CircuitBreaker::new(cfg());
        let t0 = 1_000_000;
        assert_eq!(b.on_failure(t0), None);
        assert_eq!(b.on_failure(t0 + 1000), None);
        // A success in between resets the count.
        assert_eq!(b.on_success(t0 + 2000), None);
        assert_eq!(b.on_failure(t0 + 3000), None);
        assert_eq!(b.on_failure(t0 + 4000), None);
        let t = b.on_failure(t0 + 5000).unwrap();
        assert_eq!(
            (t.from, t.to, t.at),
            (BreakerState::Closed, BreakerState::Open, t0 + 5000)
        );
        assert!(!b.allow(t0 + 5000 + 29_999));
        assert_eq!(b.state(t0 + 5000 + 29_999), BreakerState::Open);
        assert_eq!(b.retry_at(), Some(t0 + 35_000));
        // Results while open are ignored.
        assert_eq!(b.on_success(t0 + 10_000), None);
        assert_eq!(b.state(t0 + 10_000), BreakerState::Open);
        // Cool-down over: half-open exactly at 30 s.
        assert_eq!(b.state(t0 + 35_000), BreakerState::HalfOpen);
        assert!(b.allow(t0 + 35_000));
        assert_eq!(b.on_success(t0 + 36_000), None);
        let t = b.on_success(t0 + 37_000).unwrap();
        assert_eq!(
            (t.from, t.to),
            (BreakerState::HalfOpen, BreakerState::Closed)
        );
        assert_eq!(b.state(t0 + 37_000), BreakerState::Closed);
    }

    #[test]
    fn half_open_failure_reopens() {
        let mut b = CircuitBreaker::new(cfg());
        for i in 0..3 {
            b.on_failure(i);
        }
        assert_eq!(b.state(2), BreakerState::Open);
        // The failure arriving after the cool-down: half-open then open again, no net change.
        assert_eq!(b.on_failure(30_002), None);
        assert_eq!(b.state(30_002), BreakerState::Open);
        assert_eq!(b.retry_at(), Some(60_002));
        assert!(b.allow(60_002));
        assert_eq!(b.on_success(60_003), None);
        let t = b.on_failure(60_004).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::HalfOpen, BreakerState::Open));
        assert_eq!(b.retry_at(), Some(90_004));
    }

    #[test]
    fn reset_closes() {
        let mut b = CircuitBreaker::new(cfg());
        for i in 0..3 {
            b.on_failure(i);
        }
        let t = b.reset(10).unwrap();
        assert_eq!((t.from, t.to), (BreakerState::Open, BreakerState::Closed));
        assert_eq!(b.reset(11), None);
        assert_eq!(b.consecutive_failures(), 0);
        assert_eq!(b.on_failure(12), None);
    }

    #[test]
    fn serde_names() {
        assert_eq!(
            serde_json::to_string(&BreakerState::HalfOpen).unwrap(),
            "\"half-open\""
        );
        let c: BreakerConfig = serde_json::from_str(r#"{"cool_down": "1m"}"#).unwrap();
        assert_eq!(c.cool_down, Duration::from_secs(60));
        assert_eq!(c.failure_threshold, 3);
        assert!(serde_json::from_str::<BreakerConfig>(r#"{"bogus": 1}"#).is_err());
    }
}
