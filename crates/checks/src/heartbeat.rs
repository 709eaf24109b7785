//! Heartbeats: jobs that report in (`/api/monitoring/heartbeat/{token}`, `/start`, `/fail`).
//!
//! A heartbeat expects a success ping every `period`, or at every time of a cron `schedule`
//! (UTC), and allows `grace` on top:
//!
//! | situation                                                    | state     | status    |
//! |--------------------------------------------------------------|-----------|-----------|
//! | never pinged, before the first deadline                      | `new`     | unknown   |
//! | pinged, next ping not yet due                                | `up`      | healthy   |
//! | due, inside the grace time                                   | `late`    | degraded  |
//! | deadline (due + grace) passed without a success ping         | `down`    | unhealthy |
//! | `/start` received, run not finished, inside `grace`          | `running` | healthy   |
//! | `/start` received and `grace` passed without success or fail | `down`    | unhealthy |
//! | `/fail` received (until the next success or start)           | `failed`  | unhealthy |
//!
//! "Due" is `last success + period`, or the first schedule time after the last success. Before
//! the first ping the reference is the time the heartbeat was created, so a job that never
//! reports goes down too. The latest ping decides: a success clears a failure or a run, a
//! start clears a failure. All functions take the time explicitly.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strix_core::Timestamp;

use crate::config::{HeartbeatCheck, HeartbeatExpect};
use crate::probe::{ProbeDetail, ProbeResult};
use crate::state::CheckStatus;

/// The kind of a ping: plain (success), `/start` or `/fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PingKind {
    Success,
    Start,
    Fail,
}

impl FromStr for PingKind {
    type Err = String;

    /// Parses the URL suffix: `""` or `"success"`, `"start"`, `"fail"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "success" => Ok(PingKind::Success),
            "start" => Ok(PingKind::Start),
            "fail" => Ok(PingKind::Fail),
            other => Err(format!(
                "unknown ping kind {other:?} (expected start or fail)"
            )),
        }
    }
}

/// Where a heartbeat stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatState {
    New,
    Up,
    Late,
    Running,
    Down,
    Failed,
}

impl HeartbeatState {
    pub fn status(self) -> CheckStatus {
        match self {
            HeartbeatState::New => CheckStatus::Unknown,
            HeartbeatState::Up | HeartbeatState::Running => CheckStatus::Healthy,
            HeartbeatState::Late => CheckStatus::Degraded,
            HeartbeatState::Down | HeartbeatState::Failed => CheckStatus::Unhealthy,
        }
    }
}

/// The status of a heartbeat at some time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatStatus {
    pub state: HeartbeatState,
    pub status: CheckStatus,
    /// When the state changes next without a ping (the end of `up`, `late`, `running`, `new`).
    pub next_change: Option<Timestamp>,
    /// The deadline in force: the ping due time plus grace, or the run's end.
    pub deadline: Option<Timestamp>,
    pub last_ping: Option<Timestamp>,
    pub last_ping_kind: Option<PingKind>,
    /// Why it is down or failed.
    pub reason: Option<String>,
}

/// One heartbeat's pings and expectations.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    expect: HeartbeatExpect,
    grace_ms: i64,
    created_at: Timestamp,
    last_success: Option<Timestamp>,
    run_started: Option<Timestamp>,
    failed_at: Option<Timestamp>,
    last_ping: Option<(PingKind, Timestamp)>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Heartbeat {
    /// A heartbeat created at `created_at` (the reference until the first success ping).
    pub fn new(check: &HeartbeatCheck, created_at: Timestamp) -> Self {
        Heartbeat {
            expect: check.expect.clone(),
            grace_ms: ms(check.grace),
            created_at,
            last_success: None,
            run_started: None,
            failed_at: None,
            last_ping: None,
        }
    }

    /// Restores the last success (e.g. from the state store).
    pub fn with_last_success(mut self, at: Option<Timestamp>) -> Self {
        self.last_success = at;
        self
    }

    pub fn last_success(&self) -> Option<Timestamp> {
        self.last_success
    }

    /// Records a ping received at `at`.
    pub fn ping(&mut self, kind: PingKind, at: Timestamp) {
        self.last_ping = Some((kind, at));
        match kind {
            PingKind::Success => {
                self.last_success = Some(at);
                self.run_started = None;
                self.failed_at = None;
            }
            PingKind::Start => {
                self.run_started = Some(at);
                self.failed_at = None;
            }
            PingKind::Fail => {
                self.failed_at = Some(at);
                self.run_started = None;
            }
        }
    }

    /// When the next success ping is due after `reference` (`None`: a schedule with no more
    /// times).
    fn due_after(&self, reference: Timestamp) -> Option<Timestamp> {
        match &self.expect {
            HeartbeatExpect::Period(p) => Some(reference.saturating_add(ms(*p))),
            HeartbeatExpect::Cron { schedule, .. } => {
                let dt: DateTime<Utc> = DateTime::from_timestamp_millis(reference)?;
                schedule.after(&dt).next().map(|t| t.timestamp_millis())
            }
        }
    }

    /// The status at `now`.
    pub fn status(&self, now: Timestamp) -> HeartbeatStatus {
        let mk = |state: HeartbeatState, next_change, deadline, reason: Option<String>| {
            HeartbeatStatus {
                state,
                status: state.status(),
                next_change,
                deadline,
                last_ping: self.last_ping.map(|(_, t)| t),
                last_ping_kind: self.last_ping.map(|(k, _)| k),
                reason,
            }
        };
        if let Some(at) = self.failed_at {
            return mk(
                HeartbeatState::Failed,
                None,
                None,
                Some(format!("job reported failure at {at}")),
            );
        }
        if let Some(start) = self.run_started {
            let deadline = start.saturating_add(self.grace_ms);
            return if now <= deadline {
                mk(
                    HeartbeatState::Running,
                    Some(deadline + 1),
                    Some(deadline),
                    None,
                )
            } else {
                mk(
                    HeartbeatState::Down,
                    None,
                    Some(deadline),
                    Some(format!(
                        "run started at {start} did not finish within the grace time"
                    )),
                )
            };
        }
        let reference = self.last_success.unwrap_or(self.created_at);
        let never = self.last_success.is_none();
        let Some(due) = self.due_after(reference) else {
            let state = if never {
                HeartbeatState::New
            } else {
                HeartbeatState::Up
            };
            return mk(state, None, None, None);
        };
        let deadline = due.saturating_add(self.grace_ms);
        if now <= due {
            let state = if never {
                HeartbeatState::New
            } else {
                HeartbeatState::Up
            };
            let next = if never { deadline + 1 } else { due + 1 };
            mk(state, Some(next), Some(deadline), None)
        } else if now <= deadline {
            let state = if never {
                HeartbeatState::New
            } else {
                HeartbeatState::Late
            };
            mk(state, Some(deadline + 1), Some(deadline), None)
        } else {
            let why = if never {
                format!("no ping since creation; expected by {deadline}")
            } else {
                format!("no ping since {reference}; expected by {deadline}")
            };
            mk(HeartbeatState::Down, None, Some(deadline), Some(why))
        }
    }

    /// The status as a probe result, for the same state and metric paths as probes.
    pub fn to_result(&self, now: Timestamp) -> HeartbeatResult {
        let st = self.status(now);
        let result = match st.state {
            HeartbeatState::Down | HeartbeatState::Failed => ProbeResult::failure(
                Duration::ZERO,
                st.reason
                    .clone()
                    .unwrap_or_else(|| "heartbeat missed".into()),
                ProbeDetail::default(),
            ),
            HeartbeatState::Late => ProbeResult {
                degraded: true,
                error: Some("heartbeat late".into()),
                ..ProbeResult::success(Duration::ZERO, ProbeDetail::default())
            },
            _ => ProbeResult::success(Duration::ZERO, ProbeDetail::default()),
        };
        HeartbeatResult { status: st, result }
    }
}

/// A heartbeat status and the equivalent probe result.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatResult {
    pub status: HeartbeatStatus,
    pub result: ProbeResult,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cron;

    const S: i64 = 1000;
    const MIN: i64 = 60 * S;
    // 2024-01-01T00:00:00Z
    const T0: i64 = 1_704_067_200_000;

    fn period(p_s: u64, grace_s: u64) -> HeartbeatCheck {
        HeartbeatCheck {
            token: "t".into(),
            expect: HeartbeatExpect::Period(Duration::from_secs(p_s)),
            grace: Duration::from_secs(grace_s),
        }
    }

    #[test]
    fn period_and_grace_deadlines() {
        let mut hb = Heartbeat::new(&period(60, 30), T0);
        let s = hb.status(T0 + 60 * S);
        assert_eq!(
            (s.state, s.status, s.deadline),
            (HeartbeatState::New, CheckStatus::Unknown, Some(T0 + 90 * S))
        );
        assert_eq!(hb.status(T0 + 90 * S).state, HeartbeatState::New);
        // Never pinged: down after the first deadline.
        assert_eq!(hb.status(T0 + 90 * S + 1).state, HeartbeatState::Down);
        hb.ping(PingKind::Success, T0 + 100 * S);
        let s = hb.status(T0 + 160 * S);
        assert_eq!(
            (s.state, s.next_change),
            (HeartbeatState::Up, Some(T0 + 160 * S + 1))
        );
        let s = hb.status(T0 + 160 * S + 1);
        assert_eq!(
            (s.state, s.status),
            (HeartbeatState::Late, CheckStatus::Degraded)
        );
        assert_eq!(hb.status(T0 + 190 * S).state, HeartbeatState::Late);
        let s = hb.status(T0 + 190 * S + 1);
        assert_eq!(
            (s.state, s.status),
            (HeartbeatState::Down, CheckStatus::Unhealthy)
        );
        assert!(s.reason.is_some());
        // A ping brings it back up at once.
        hb.ping(PingKind::Success, T0 + 200 * S);
        assert_eq!(hb.status(T0 + 200 * S).state, HeartbeatState::Up);
        assert!(hb.to_result(T0 + 200 * S).result.ok);
        assert!(!hb.to_result(T0 + 300 * S).result.ok);
    }

    #[test]
    fn start_and_fail() {
        let mut hb = Heartbeat::new(&period(3600, 300), T0);
        hb.ping(PingKind::Success, T0);
        hb.ping(PingKind::Start, T0 + 10 * MIN);
        let s = hb.status(T0 + 12 * MIN);
        assert_eq!(
            (s.state, s.deadline),
            (HeartbeatState::Running, Some(T0 + 15 * MIN))
        );
        assert_eq!(s.status, CheckStatus::Healthy);
        assert_eq!(hb.status(T0 + 15 * MIN + 1).state, HeartbeatState::Down);
        hb.ping(PingKind::Success, T0 + 16 * MIN);
        assert_eq!(hb.status(T0 + 17 * MIN).state, HeartbeatState::Up);
        hb.ping(PingKind::Fail, T0 + 20 * MIN);
        let s = hb.status(T0 + 20 * MIN);
        assert_eq!(
            (s.state, s.status),
            (HeartbeatState::Failed, CheckStatus::Unhealthy)
        );
        assert_eq!(s.last_ping_kind, Some(PingKind::Fail));
        hb.ping(PingKind::Start, T0 + 21 * MIN);
        assert_eq!(hb.status(T0 + 21 * MIN).state, HeartbeatState::Running);
        hb.ping(PingKind::Success, T0 + 22 * MIN);
        assert_eq!(hb.status(T0 + 22 * MIN).state, HeartbeatState::Up);
    }

    #[test]
    fn cron_schedule() {
        // Every day at 03:00 UTC, 30 minutes grace.
        let hb_cfg = HeartbeatCheck {
            token: "t".into(),
            expect: HeartbeatExpect::Cron {
                schedule: Box::new(parse_cron("0 3 * * *").unwrap()),
                source: "0 3 * * *".into(),
            },
            grace: Duration::from_secs(1800),
        };
        let mut hb = Heartbeat::new(&hb_cfg, T0);
        // Created at midnight: due 03:00, down after 03:30.
        let s = hb.status(T0 + 3 * 60 * MIN);
        assert_eq!(
            (s.state, s.deadline),
            (HeartbeatState::New, Some(T0 + 210 * MIN))
        );
        assert_eq!(hb.status(T0 + 210 * MIN + 1).state, HeartbeatState::Down);
        hb.ping(PingKind::Success, T0 + 181 * MIN);
        // Next due the following day at 03:00.
        let day = 24 * 60 * MIN;
        let s = hb.status(T0 + day);
        assert_eq!(
            (s.state, s.deadline),
            (HeartbeatState::Up, Some(T0 + day + 210 * MIN))
        );
        assert_eq!(hb.status(T0 + day + 200 * MIN).state, HeartbeatState::Late);
        assert_eq!(hb.status(T0 + day + 211 * MIN).state, HeartbeatState::Down);
    }

    #[test]
    fn ping_kinds_parse() {
        assert_eq!("".parse::<PingKind>(), Ok(PingKind::Success));
        assert_eq!("start".parse::<PingKind>(), Ok(PingKind::Start));
        assert_eq!("fail".parse::<PingKind>(), Ok(PingKind::Fail));
        assert!("bogus".parse::<PingKind>().is_err());
    }
}
