//! The per-check state machine.
//!
//! Statuses (the meaning the runbooks give them):
//!
//! - `unknown`: no verdict yet (new check, or not enough failures to decide from nothing).
//! - `healthy`: the last probe succeeded.
//! - `degraded`: the last probe succeeded but slowly (`degraded_above`), or a TLS certificate
//!   is inside `warn_days`; counts as up for uptime.
//! - `unhealthy`: `retries` consecutive probes failed; counts as down.
//!
//! Rules: a failure increments the consecutive-failure count and turns the check unhealthy
//! when the count reaches `retries` (so `retries: 1` reacts to the first failure, `retries: 3`
//! to the third in a row); until then the status stays what it was. One success resets the
//! count and sets healthy or degraded at once. Every status change is a [`StateChange`]; the
//! history of changes feeds [`crate::state::incidents`] and [`crate::state::uptime`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strix_core::Timestamp;

use crate::probe::ProbeResult;

pub use crate::uptime::{
    error_budget, history_from_changes, incidents, incidents_between, mttr, uptime, uptime_buckets,
    ErrorBudget, Incident, Uptime, UptimeSample, UptimeWindow,
};

/// The status of a check, or of Strix overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Healthy,
    Degraded,
    Unhealthy,
    #[default]
    Unknown,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Healthy => "healthy",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Unhealthy => "unhealthy",
            CheckStatus::Unknown => "unknown",
        }
    }

    /// The value of `strix_check_status`: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy.
    pub fn as_metric(self) -> f64 {
        match self {
            CheckStatus::Unknown => 0.0,
            CheckStatus::Healthy => 1.0,
            CheckStatus::Degraded => 2.0,
            CheckStatus::Unhealthy => 3.0,
        }
    }

    /// Up for uptime purposes: `Some(true)` healthy/degraded, `Some(false)` unhealthy,
    /// `None` unknown (not counted).
    pub fn is_up(self) -> Option<bool> {
        match self {
            CheckStatus::Healthy | CheckStatus::Degraded => Some(true),
            CheckStatus::Unhealthy => Some(false),
            CheckStatus::Unknown => None,
        }
    }
}

/// The overall status of a set of checks: unhealthy if any is, else degraded if any is,
/// else healthy if any is healthy, else unknown (also for an empty set).
pub fn overall(statuses: impl IntoIterator<Item = CheckStatus>) -> CheckStatus {
    let mut any_healthy = false;
    let mut any_degraded = false;
    for s in statuses {
        match s {
            CheckStatus::Unhealthy => return CheckStatus::Unhealthy,
            CheckStatus::Degraded => any_degraded = true,
            CheckStatus::Healthy => any_healthy = true,
            CheckStatus::Unknown => {}
        }
    }
    if any_degraded {
        CheckStatus::Degraded
    } else if any_healthy {
        CheckStatus::Healthy
    } else {
        CheckStatus::Unknown
    }
}

/// A status change of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub check: String,
    pub from: CheckStatus,
    pub to: CheckStatus,
    /// When the probe that caused the change ran (ms since the epoch).
    pub at: Timestamp,
    /// The probe's error, for changes to unhealthy or degraded.
    pub cause: Option<String>,
}

/// The state of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckState {
    retries: u32,
    status: CheckStatus,
    since: Option<Timestamp>,
    consecutive_failures: u32,
    consecutive_successes: u32,
    last_check: Option<Timestamp>,
    #[serde(skip)]
    last_latency: Option<Duration>,
    last_error: Option<String>,
}

impl CheckState {
    /// A new check in `unknown`; `retries` is clamped to at least 1.
    pub fn new(retries: u32) -> Self {
        CheckState {
            retries: retries.max(1),
            status: CheckStatus::Unknown,
            since: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_check: None,
            last_latency: None,
            last_error: None,
        }
    }

    /// Restores a status (e.g. from the state store after a restart).
    pub fn restore(retries: u32, status: CheckStatus, since: Option<Timestamp>) -> Self {
        CheckState {
            status,
            since,
            ..CheckState::new(retries)
        }
    }

    pub fn status(&self) -> CheckStatus {
        self.status
    }

    /// Changes the failures needed before unhealthy (a replaced check keeps its state);
    /// clamped to at least 1.
    pub fn set_retries(&mut self, retries: u32) {
        self.retries = retries.max(1);
    }
    /// When the current status began.
    pub fn since(&self) -> Option<Timestamp> {
        self.since
    }
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
    pub fn consecutive_successes(&self) -> u32 {
        self.consecutive_successes
    }
    pub fn last_check(&self) -> Option<Timestamp> {
        self.last_check
    }
    pub fn last_latency(&self) -> Option<Duration> {
        self.last_latency
    }
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Applies one probe result taken at `at`; returns the change, if any.
    pub fn observe(
        &mut self,
        check: &str,
        result: &ProbeResult,
        at: Timestamp,
    ) -> Option<StateChange> {
        self.last_check = Some(at);
        self.last_latency = Some(result.latency);
        self.last_error = result.error.clone();
        let next = if result.ok {
            self.consecutive_failures = 0;
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            if result.degraded {
                CheckStatus::Degraded
            } else {
                CheckStatus::Healthy
            }
        } else {
            self.consecutive_successes = 0;
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            if self.consecutive_failures >= self.retries {
                CheckStatus::Unhealthy
            } else {
                self.status
            }
        };
        self.set(check, next, at, result.error.clone())
    }

    /// Sets a status directly (heartbeats, which have their own rules); returns the change.
    pub fn set(
        &mut self,
        check: &str,
        to: CheckStatus,
        at: Timestamp,
        cause: Option<String>,
    ) -> Option<StateChange> {
        if to == self.status {
            return None;
        }
        let from = self.status;
        self.status = to;
        self.since = Some(at);
        Some(StateChange {
            check: check.to_string(),
            from,
            to,
            at,
            cause: if to == CheckStatus::Healthy {
                None
            } else {
                cause
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeDetail;

    fn ok() -> ProbeResult {
        ProbeResult::success(Duration::from_millis(5), ProbeDetail::default())
    }
    fn slow() -> ProbeResult {
        ProbeResult {
            degraded: true,
            error: Some("slow".into()),
            ..ok()
        }
    }
    fn fail() -> ProbeResult {
        ProbeResult::failure(Duration::from_millis(5), "boom", ProbeDetail::default())
    }

    #[test]
    fn retries_before_unhealthy_and_one_success_recovers() {
        let mut s = CheckState::new(3);
        let c = s.observe("a", &ok(), 1000).unwrap();
        assert_eq!(
            (c.from, c.to, c.at),
            (CheckStatus::Unknown, CheckStatus::Healthy, 1000)
        );
        assert_eq!(s.observe("a", &fail(), 2000), None);
        assert_eq!(s.observe("a", &fail(), 3000), None);
        assert_eq!(s.status(), CheckStatus::Healthy);
        let c = s.observe("a", &fail(), 4000).unwrap();
        assert_eq!(
            (c.to, c.at, c.cause.as_deref()),
            (CheckStatus::Unhealthy, 4000, Some("boom"))
        );
        assert_eq!(s.since(), Some(4000));
        assert_eq!(s.observe("a", &fail(), 5000), None);
        let c = s.observe("a", &ok(), 6000).unwrap();
        assert_eq!(
            (c.from, c.to, c.cause),
            (CheckStatus::Unhealthy, CheckStatus::Healthy, None)
        );
        // A failure streak interrupted by a success starts over.
        s.observe("a", &fail(), 7000);
        s.observe("a", &fail(), 8000);
        s.observe("a", &ok(), 9000);
        s.observe("a", &fail(), 10_000);
        s.observe("a", &fail(), 11_000);
        assert_eq!(s.status(), CheckStatus::Healthy);
    }

    #[test]
    fn unknown_stays_unknown_until_retries() {
        let mut s = CheckState::new(2);
        assert_eq!(s.observe("a", &fail(), 1), None);
        assert_eq!(s.status(), CheckStatus::Unknown);
        assert_eq!(
            s.observe("a", &fail(), 2).map(|c| c.to),
            Some(CheckStatus::Unhealthy)
        );
    }

    #[test]
    fn degraded_is_immediate_and_up() {
        let mut s = CheckState::new(1);
        s.observe("a", &ok(), 1);
        let c = s.observe("a", &slow(), 2).unwrap();
        assert_eq!(
            (c.to, c.cause.as_deref()),
            (CheckStatus::Degraded, Some("slow"))
        );
        assert_eq!(CheckStatus::Degraded.is_up(), Some(true));
        assert_eq!(
            s.observe("a", &ok(), 3).map(|c| c.to),
            Some(CheckStatus::Healthy)
        );
        assert_eq!(
            s.observe("a", &fail(), 4).map(|c| c.to),
            Some(CheckStatus::Unhealthy)
        );
    }

    #[test]
    fn overall_status() {
        use CheckStatus::*;
        assert_eq!(overall([]), Unknown);
        assert_eq!(overall([Unknown, Healthy]), Healthy);
        assert_eq!(overall([Healthy, Degraded, Unknown]), Degraded);
        assert_eq!(overall([Healthy, Degraded, Unhealthy]), Unhealthy);
        assert_eq!(serde_json::to_string(&Unhealthy).unwrap(), "\"unhealthy\"");
    }
}
