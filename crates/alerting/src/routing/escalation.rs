//! Escalation policies (Strix): who is notified, and when, while an alert stays firing
//! and unacknowledged.
//!
//! ```yaml
//! escalation_policies:
//!   critical:                  # applies to alerts with severity="critical"
//!     levels:
//!       - delay: 0s            # at once
//!         receivers: []        # empty: the receivers the alert was routed to
//!       - delay: 15m
//!         receivers: [team-lead]
//!       - delay: 30m
//!         receivers: [eng-manager]
//!     repeat: 2                # repeat the last level twice more ...
//!     repeat_every: 30m        # ... this far apart (default: the gap between the
//!                              # last two levels, or the last delay if only one)
//! ```
//!
//! Policies are keyed by the alert's `severity` label. Without configuration, `critical`
//! escalates at once, after 15m and after 30m, and `high` at once, after 60m and after
//! 240m, each to the routed receivers, without repeats. A configured key replaces the
//! default of the same name. Delays count from when the alert started firing.
//!
//! The planner is pure: the state layer persists how many steps were done and wakes
//! the planner at `next_at`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use strix_core::Timestamp;

use super::config::{AmDuration, Errs};

/// A policy as written in YAML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicyConfig {
    pub levels: Vec<EscalationLevelConfig>,
    /// How many more times the last level is notified.
    #[serde(default)]
    pub repeat: u32,
    pub repeat_every: Option<AmDuration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevelConfig {
    pub delay: AmDuration,
    /// Empty: the receivers the alert was routed to.
    #[serde(default)]
    pub receivers: Vec<String>,
}

/// A validated level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationLevel {
    pub delay: Duration,
    pub receivers: Vec<String>,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPolicy {
    pub levels: Vec<EscalationLevel>,
    pub repeat: u32,
    pub repeat_every: Duration,
}

/// One step of an escalation: a level notified at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    /// 0-based; steps past the last level are its repeats.
    pub step: u32,
    pub level: usize,
    /// Empty: the routed receivers.
    pub receivers: Vec<String>,
    pub due_at: Timestamp,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPlan {
    /// The step to notify now, if any. When several are overdue (e.g. after downtime),
    /// only the latest is returned and the earlier ones are counted in `skipped`.
    pub due: Option<EscalationStep>,
    pub skipped: u32,
    /// Steps done after acting on this plan (persist it).
    pub steps_done: u32,
    /// When to plan again; `None` when finished, acknowledged or resolved.
    pub next_at: Option<Timestamp>,
}

/// The state of one alert's escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationState {
    pub fired_at: Timestamp,
    pub acknowledged: bool,
    pub resolved: bool,
    /// Steps already notified.
    pub steps_done: u32,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl EscalationPolicy {
    /// A policy notifying the routed receivers after each delay.
    pub fn from_delays(delays_secs: &[u64]) -> Self {
        let levels: Vec<EscalationLevel> = delays_secs
            .iter()
            .map(|&s| EscalationLevel {
                delay: Duration::from_secs(s),
                receivers: Vec::new(),
            })
            .collect();
        let repeat_every = default_repeat_every(&levels);
        EscalationPolicy {
            levels,
            repeat: 0,
            repeat_every,
        }
    }

    pub(crate) fn compile(
        c: &EscalationPolicyConfig,
        path: &str,
        receivers: &HashSet<&str>,
        errs: &mut Errs,
    ) -> Option<Self> {
        let before = errs.0.len();
        if c.levels.is_empty() {
            errs.push(format!("{path}.levels"), "at least one level is required");
        }
        let mut prev = Duration::ZERO;
        for (i, l) in c.levels.iter().enumerate() {
            if l.delay.0 < prev {
                errs.push(
                    format!("{path}.levels[{i}].delay"),
                    format!("delay {} is shorter than the previous level's", l.delay),
                );
            }
            prev = l.delay.0;
            for (j, r) in l.receivers.iter().enumerate() {
                if !receivers.contains(r.as_str()) {
                    errs.push(
                        format!("{path}.levels[{i}].receivers[{j}]"),
                        format!("unknown receiver {r:?}"),
                    );
                }
            }
        }
        let levels: Vec<EscalationLevel> = c
            .levels
            .iter()
            .map(|l| EscalationLevel {
                delay: l.delay.0,
                receivers: l.receivers.clone(),
            })
            .collect();
        let repeat_every = c
            .repeat_every
            .map_or_else(|| default_repeat_every(&levels), |d| d.0);
        if c.repeat > 0 && repeat_every.is_zero() {
            errs.push(
                format!("{path}.repeat_every"),
                "repeat needs a non-zero repeat_every (the last levels' delays do not give one)",
            );
        }
        (errs.0.len() == before).then_some(EscalationPolicy {
            levels,
            repeat: c.repeat,
            repeat_every,
        })
    }

    fn step_count(&self) -> u32 {
        u32::try_from(self.levels.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.repeat)
    }

    /// The step `i` for an alert that fired at `fired_at`.
    pub fn step(&self, i: u32, fired_at: Timestamp) -> Option<EscalationStep> {
        if i >= self.step_count() {
            return None;
        }
        let n = self.levels.len();
        let idx = i as usize;
        let (level, at) = if idx < n {
            (idx, fired_at.saturating_add(ms(self.levels[idx].delay)))
        } else {
            let last = n.checked_sub(1)?;
            let k = i64::try_from(idx - last).unwrap_or(i64::MAX);
            let base = fired_at.saturating_add(ms(self.levels[last].delay));
            (
                last,
                base.saturating_add(ms(self.repeat_every).saturating_mul(k)),
            )
        };
        Some(EscalationStep {
            step: i,
            level,
            receivers: self.levels[level].receivers.clone(),
            due_at: at,
        })
    }

    /// What to do at `now`.
    pub fn plan(&self, state: EscalationState, now: Timestamp) -> EscalationPlan {
        let mut plan = EscalationPlan {
            due: None,
            skipped: 0,
            steps_done: state.steps_done,
            next_at: None,
        };
        if state.acknowledged || state.resolved {
            return plan;
        }
        let mut i = state.steps_done;
        while let Some(s) = self.step(i, state.fired_at) {
            if s.due_at > now {
                plan.next_at = Some(s.due_at);
                break;
            }
            if plan.due.is_some() {
                plan.skipped += 1;
            }
            plan.due = Some(s);
            i += 1;
        }
        plan.steps_done = i;
        plan
    }
}

fn default_repeat_every(levels: &[EscalationLevel]) -> Duration {
    match levels {
        [] => Duration::ZERO,
        [one] => one.delay,
        [.., a, b] => b.delay.saturating_sub(a.delay),
    }
}

/// Policies by severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPolicies {
    by_severity: BTreeMap<String, EscalationPolicy>,
}

impl EscalationPolicies {
    /// `critical`: 0, 15m, 30m; `high`: 0, 60m, 240m.
    pub fn defaults() -> Self {
        let mut by_severity = BTreeMap::new();
        by_severity.insert(
            "critical".into(),
            EscalationPolicy::from_delays(&[0, 15 * 60, 30 * 60]),
        );
        by_severity.insert(
            "high".into(),
            EscalationPolicy::from_delays(&[0, 60 * 60, 240 * 60]),
        );
        EscalationPolicies { by_severity }
    }

    pub fn insert(&mut self, severity: String, p: EscalationPolicy) {
        self.by_severity.insert(severity, p);
    }

    pub fn for_severity(&self, severity: &str) -> Option<&EscalationPolicy> {
        self.by_severity.get(severity)
    }

    /// Plans for an alert of `severity`; no policy means nothing to escalate.
    pub fn plan(&self, severity: &str, state: EscalationState, now: Timestamp) -> EscalationPlan {
        match self.for_severity(severity) {
            Some(p) => p.plan(state, now),
            None => EscalationPlan {
                due: None,
                skipped: 0,
                steps_done: state.steps_done,
                next_at: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::AlertmanagerConfig;
    use super::*;

    const M: i64 = 60_000;
    const T0: i64 = 1_700_000_000_000;

    fn st(steps_done: u32) -> EscalationState {
        EscalationState {
            fired_at: T0,
            acknowledged: false,
            resolved: false,
            steps_done,
        }
    }

    /// Drives the planner like the state layer would, returning (time, level) sent.
    fn run(p: &EscalationPolicies, sev: &str, until: i64) -> Vec<(i64, usize)> {
        let mut s = st(0);
        let mut now = T0;
        let mut sent = Vec::new();
        loop {
            let plan = p.plan(sev, s, now);
            if let Some(d) = plan.due {
                sent.push(((now - T0) / M, d.level));
            }
            s.steps_done = plan.steps_done;
            match plan.next_at {
                Some(t) if t <= until => now = t,
                _ => return sent,
            }
        }
    }

    #[test]
    fn default_policies() {
        let p = EscalationPolicies::defaults();
        assert_eq!(
            run(&p, "critical", T0 + 1000 * M),
            vec![(0, 0), (15, 1), (30, 2)]
        );
        assert_eq!(
            run(&p, "high", T0 + 1000 * M),
            vec![(0, 0), (60, 1), (240, 2)]
        );
        assert!(run(&p, "warning", T0 + 1000 * M).is_empty());
    }

    #[test]
    fn ack_and_resolve_stop_escalation() {
        let p = EscalationPolicies::defaults();
        let plan = p.plan("critical", st(1), T0 + 5 * M);
        assert_eq!((plan.due, plan.next_at), (None, Some(T0 + 15 * M)));
        let mut s = st(1);
        s.acknowledged = true;
        let plan = p.plan("critical", s, T0 + 20 * M);
        assert_eq!((plan.due, plan.next_at, plan.steps_done), (None, None, 1));
        s.acknowledged = false;
        s.resolved = true;
        assert_eq!(p.plan("critical", s, T0 + 20 * M).due, None);
    }

    #[test]
    fn overdue_steps_collapse_to_the_latest() {
        let p = EscalationPolicies::defaults();
        let plan = p.plan("critical", st(0), T0 + 31 * M);
        let due = plan.due.unwrap();
        assert_eq!(
            (due.level, plan.skipped, plan.steps_done, plan.next_at),
            (2, 2, 3, None)
        );
    }

    #[test]
    fn configured_policy_with_repeats() {
        let y = "route: {receiver: r}\nreceivers: [{name: r}, {name: lead}]\nescalation_policies:\n  critical:\n    levels:\n      - {delay: 0s}\n      - {delay: 10m, receivers: [lead]}\n    repeat: 2\n";
        let c = AlertmanagerConfig::load(y).unwrap();
        assert_eq!(
            run(&c.escalation, "critical", T0 + 1000 * M),
            vec![(0, 0), (10, 1), (20, 1), (30, 1)]
        );
        let step = c
            .escalation
            .for_severity("critical")
            .unwrap()
            .step(1, T0)
            .unwrap();
        assert_eq!(step.receivers, vec!["lead".to_string()]);
        // `high` keeps its default.
        assert_eq!(run(&c.escalation, "high", T0 + 1000 * M).len(), 3);
    }

    #[test]
    fn policy_validation() {
        let y = "route: {receiver: r}\nreceivers: [{name: r}]\nescalation_policies:\n  critical:\n    levels:\n      - {delay: 30m}\n      - {delay: 10m, receivers: [ghost]}\n  high:\n    levels: []\n  low:\n    levels: [{delay: 0s}]\n    repeat: 3\n";
        let e = AlertmanagerConfig::load(y).unwrap_err();
        assert!(
            e.has(
                "alertmanager.escalation_policies.critical.levels[1].delay",
                "shorter"
            ),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.escalation_policies.critical.levels[1].receivers[0]",
                "unknown receiver \"ghost\""
            ),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.escalation_policies.high.levels",
                "at least one level"
            ),
            "{e}"
        );
        assert!(
            e.has(
                "alertmanager.escalation_policies.low.repeat_every",
                "non-zero"
            ),
            "{e}"
        );
    }
}
