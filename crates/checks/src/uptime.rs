//! Incidents, uptime, SLA error budget and MTTR, computed from a check's history.
//!
//! Everything here is a pure function of the history and explicit times (milliseconds since
//! the epoch), exact to the millisecond:
//!
//! - A history is a list of [`UptimeSample`]s, each the start of a period in which the check
//!   was up (`Some(true)`), down (`Some(false)`) or unknown (`None`); a period lasts until the
//!   next sample. Time before the first sample is unknown.
//! - Uptime over `[from, to)` = up time / (up time + down time); unknown time is left out of
//!   both, so a check added yesterday is not penalised for last month.
//! - The error budget of an SLA target `T`% over a window is `(100 − T)% × known time`; what
//!   is left is that minus the down time (negative once overspent).
//! - An incident is a period in `unhealthy`: it starts at the change to unhealthy and ends at
//!   the next change away from it (open while none). MTTR is the mean duration of the ended
//!   incidents.

use std::time::Duration;

use serde::Serialize;
use strix_core::Timestamp;

use crate::state::{CheckStatus, StateChange};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The start of a period in a check's availability history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UptimeSample {
    pub at: Timestamp,
    /// `Some(true)` up, `Some(false)` down, `None` unknown.
    pub up: Option<bool>,
}

/// Availability history from status changes (healthy and degraded are up), merging
/// consecutive samples with the same availability.
pub fn history_from_changes(changes: &[StateChange]) -> Vec<UptimeSample> {
    let mut out: Vec<UptimeSample> = Vec::with_capacity(changes.len());
    for c in changes {
        let up = c.to.is_up();
        if out.last().is_some_and(|l| l.up == up) {
            continue;
        }
        out.push(UptimeSample { at: c.at, up });
    }
    out
}

/// Up, down and unknown time over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uptime {
    pub from: Timestamp,
    pub to: Timestamp,
    pub up_ms: i64,
    pub down_ms: i64,
    pub unknown_ms: i64,
}

impl Uptime {
    /// Up plus down time.
    pub fn known_ms(&self) -> i64 {
        self.up_ms + self.down_ms
    }

    /// Up time over known time in `[0, 1]`; `None` when nothing is known.
    pub fn ratio(&self) -> Option<f64> {
        let known = self.known_ms();
        (known > 0).then(|| self.up_ms as f64 / known as f64)
    }

    /// [`Uptime::ratio`] in percent.
    pub fn percent(&self) -> Option<f64> {
        self.ratio().map(|r| r * 100.0)
    }
}

/// Up, down and unknown time over `[from, to)`. `history` should be sorted by time; it is
/// sorted here (a copy) when it is not.
pub fn uptime(history: &[UptimeSample], from: Timestamp, to: Timestamp) -> Uptime {
    let mut u = Uptime {
        from,
        to,
        up_ms: 0,
        down_ms: 0,
        unknown_ms: 0,
    };
    if to <= from {
        return u;
    }
    let sorted;
    let history = if history.windows(2).all(|w| w[0].at <= w[1].at) {
        history
    } else {
        let mut v = history.to_vec();
        v.sort_by_key(|s| s.at);
        sorted = v;
        &sorted
    };
    // Unknown until the first sample.
    let mut cursor = from;
    let mut state: Option<bool> = None;
    for s in history {
        if s.at > cursor {
            let end = s.at.min(to);
            add(&mut u, state, end - cursor);
            cursor = end;
        }
        if cursor >= to {
            break;
        }
        state = s.up;
    }
    if cursor < to {
        add(&mut u, state, to - cursor);
    }
    u
}

fn add(u: &mut Uptime, state: Option<bool>, ms: i64) {
    match state {
        Some(true) => u.up_ms += ms,
        Some(false) => u.down_ms += ms,
        None => u.unknown_ms += ms,
    }
}

/// `n` consecutive buckets of `step` starting at `from` (the status page's daily bars).
pub fn uptime_buckets(
    history: &[UptimeSample],
    from: Timestamp,
    step: Duration,
    n: usize,
) -> Vec<Uptime> {
    let step = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
    (0..n as i64)
        .map(|i| {
            let start = from.saturating_add(step.saturating_mul(i));
            uptime(history, start, start.saturating_add(step))
        })
        .collect()
}

/// The uptime windows Strix reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UptimeWindow {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
    #[serde(rename = "90d")]
    Quarter,
}

impl UptimeWindow {
    pub const ALL: [UptimeWindow; 4] = [
        UptimeWindow::Day,
        UptimeWindow::Week,
        UptimeWindow::Month,
        UptimeWindow::Quarter,
    ];

    pub fn millis(self) -> i64 {
        match self {
            UptimeWindow::Day => DAY_MS,
            UptimeWindow::Week => 7 * DAY_MS,
            UptimeWindow::Month => 30 * DAY_MS,
            UptimeWindow::Quarter => 90 * DAY_MS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UptimeWindow::Day => "24h",
            UptimeWindow::Week => "7d",
            UptimeWindow::Month => "30d",
            UptimeWindow::Quarter => "90d",
        }
    }

    /// Uptime over the window ending at `now`.
    pub fn uptime(self, history: &[UptimeSample], now: Timestamp) -> Uptime {
        uptime(history, now - self.millis(), now)
    }
}

/// The SLA error budget over a period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBudget {
    /// The target in percent.
    pub target: f64,
    /// Down time the target allows over the known time, rounded to the millisecond.
    pub allowed_down_ms: i64,
    pub used_down_ms: i64,
    /// `allowed − used`; negative when overspent.
    pub remaining_ms: i64,
    /// `remaining / allowed`: 1 untouched, 0 spent, negative overspent. With a 100% target
    /// (nothing allowed) it is 1 without down time and −∞ with some.
    pub remaining_ratio: f64,
}

/// The error budget of `sla_target` percent over `u`.
pub fn error_budget(u: &Uptime, sla_target: f64) -> ErrorBudget {
    let allowed = (u.known_ms() as f64 * (100.0 - sla_target) / 100.0)
        .round()
        .max(0.0) as i64;
    let used = u.down_ms;
    let remaining = allowed - used;
    let remaining_ratio = if allowed > 0 {
        remaining as f64 / allowed as f64
    } else if used == 0 {
        1.0
    } else {
        f64::NEG_INFINITY
    };
    ErrorBudget {
        target: sla_target,
        allowed_down_ms: allowed,
        used_down_ms: used,
        remaining_ms: remaining,
        remaining_ratio,
    }
}

/// A period in `unhealthy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub check: String,
    pub start: Timestamp,
    /// `None` while ongoing.
    pub end: Option<Timestamp>,
    /// The error of the probe that opened it.
    pub cause: Option<String>,
}

impl Incident {
    /// Duration until `end`, or until `now` while ongoing.
    pub fn duration(&self, now: Timestamp) -> Duration {
        let end = self.end.unwrap_or(now);
        Duration::from_millis(u64::try_from(end - self.start).unwrap_or(0))
    }

    pub fn is_open(&self) -> bool {
        self.end.is_none()
    }
}

/// The incidents in a check's status changes (sorted by time), oldest first.
pub fn incidents(changes: &[StateChange]) -> Vec<Incident> {
    let mut out: Vec<Incident> = Vec::new();
    let mut open: Option<Incident> = None;
    for c in changes {
        let down = c.to == CheckStatus::Unhealthy;
        match (&mut open, down) {
            (None, true) => {
                open = Some(Incident {
                    check: c.check.clone(),
                    start: c.at,
                    end: None,
                    cause: c.cause.clone(),
                })
            }
            (Some(_), false) => {
                if let Some(mut i) = open.take() {
                    i.end = Some(c.at);
                    out.push(i);
                }
            }
            _ => {}
        }
    }
    out.extend(open);
    out
}

/// The incidents overlapping `[from, to)`.
pub fn incidents_between(list: &[Incident], from: Timestamp, to: Timestamp) -> Vec<&Incident> {
    list.iter()
        .filter(|i| i.start < to && i.end.is_none_or(|e| e > from))
        .collect()
}

/// Mean time to recovery over the ended incidents; `None` without any.
pub fn mttr(list: &[Incident]) -> Option<Duration> {
    let ended: Vec<i64> = list
        .iter()
        .filter_map(|i| i.end.map(|e| e - i.start))
        .collect();
    if ended.is_empty() {
        return None;
    }
    let total: i128 = ended.iter().map(|&d| i128::from(d)).sum();
    let mean = total / ended.len() as i128;
    Some(Duration::from_millis(u64::try_from(mean).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;
    const T0: i64 = 1_700_000_000_000;

    fn change(to: CheckStatus, at: i64, cause: Option<&str>) -> StateChange {
        StateChange {
            check: "api".into(),
            from: CheckStatus::Unknown,
            to,
            at,
            cause: cause.map(str::to_string),
        }
    }

    /// Up from T0, down 90 s at T0+1h, degraded (still up) at T0+2h, down 30 s at T0+3h,
    /// ongoing incident from T0+23h59m.
    fn history() -> Vec<StateChange> {
        use CheckStatus::*;
        vec![
            change(Healthy, T0, None),
            change(Unhealthy, T0 + HOUR_MS, Some("connect error")),
            change(Healthy, T0 + HOUR_MS + 90 * S, None),
            change(Degraded, T0 + 2 * HOUR_MS, Some("slow")),
            change(Unhealthy, T0 + 3 * HOUR_MS, Some("status 500")),
            change(Healthy, T0 + 3 * HOUR_MS + 30 * S, None),
            change(Unhealthy, T0 + DAY_MS - 60 * S, Some("timed out")),
        ]
    }

    #[test]
    fn incidents_and_mttr_exact() {
        let inc = incidents(&history());
        assert_eq!(inc.len(), 3);
        assert_eq!(inc[0].start, T0 + HOUR_MS);
        assert_eq!(inc[0].end, Some(T0 + HOUR_MS + 90 * S));
        assert_eq!(inc[0].cause.as_deref(), Some("connect error"));
        assert_eq!(inc[0].duration(0), Duration::from_secs(90));
        assert_eq!(inc[1].duration(0), Duration::from_secs(30));
        assert!(inc[2].is_open());
        assert_eq!(inc[2].duration(T0 + DAY_MS), Duration::from_secs(60));
        assert_eq!(mttr(&inc), Some(Duration::from_secs(60)));
        assert_eq!(
            incidents_between(&inc, T0 + 2 * HOUR_MS, T0 + 4 * HOUR_MS).len(),
            1
        );
        assert_eq!(incidents_between(&inc, T0, T0 + HOUR_MS).len(), 0);
        assert_eq!(mttr(&[]), None);
    }

    #[test]
    fn uptime_exact_to_the_second() {
        let h = history_from_changes(&history());
        // Degraded merges into the preceding up period.
        assert_eq!(h.len(), 6);
        let now = T0 + DAY_MS;
        let u = UptimeWindow::Day.uptime(&h, now);
        assert_eq!(u.down_ms, (90 + 30 + 60) * S);
        assert_eq!(u.up_ms, DAY_MS - 180 * S);
        assert_eq!(u.unknown_ms, 0);
        assert_eq!(u.ratio(), Some((86_400.0 - 180.0) / 86_400.0));
        // 7 days: 6 days unknown before the first sample, not counted.
        let w = UptimeWindow::Week.uptime(&h, now);
        assert_eq!(w.unknown_ms, 6 * DAY_MS);
        assert_eq!(w.known_ms(), DAY_MS);
        assert_eq!(w.percent(), u.percent());
        // A window cutting an incident in the middle.
        let part = uptime(&h, T0 + HOUR_MS + 60 * S, T0 + HOUR_MS + 120 * S);
        assert_eq!((part.down_ms, part.up_ms), (30 * S, 30 * S));
        // Nothing known.
        assert_eq!(uptime(&h, T0 - 10 * S, T0).ratio(), None);
        assert_eq!(uptime(&h, T0, T0).known_ms(), 0);
    }

    #[test]
    fn unsorted_history_is_sorted() {
        let h = vec![
            UptimeSample {
                at: 10 * S,
                up: Some(false),
            },
            UptimeSample {
                at: 0,
                up: Some(true),
            },
        ];
        let u = uptime(&h, 0, 20 * S);
        assert_eq!((u.up_ms, u.down_ms), (10 * S, 10 * S));
    }

    #[test]
    fn error_budget_exact() {
        let h = history_from_changes(&history());
        let u = UptimeWindow::Day.uptime(&h, T0 + DAY_MS);
        let b = error_budget(&u, 99.9);
        // 0.1 % of 24 h = 86.4 s allowed; 180 s used.
        assert_eq!(b.allowed_down_ms, 86_400);
        assert_eq!(b.used_down_ms, 180_000);
        assert_eq!(b.remaining_ms, 86_400 - 180_000);
        assert!(b.remaining_ratio < 0.0);
        let b = error_budget(&u, 99.0);
        assert_eq!(b.allowed_down_ms, 864_000);
        assert_eq!(b.remaining_ms, 684_000);
        assert!((b.remaining_ratio - 684.0 / 864.0).abs() < 1e-12);
        let perfect = uptime(
            &[UptimeSample {
                at: 0,
                up: Some(true),
            }],
            0,
            DAY_MS,
        );
        assert_eq!(error_budget(&perfect, 100.0).remaining_ratio, 1.0);
    }

    #[test]
    fn daily_buckets() {
        let h = history_from_changes(&history());
        let b = uptime_buckets(&h, T0 - DAY_MS, Duration::from_secs(86_400), 2);
        assert_eq!(b[0].known_ms(), 0);
        assert_eq!(b[1].down_ms, 180 * S);
    }
}
