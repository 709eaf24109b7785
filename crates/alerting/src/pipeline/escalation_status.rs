//! What an alert's escalation looks like to an operator: the policy, the level reached,
//! when the next page is due, and whether it runs, was acknowledged or ended.
//!
//! A running escalation is a persisted timer (`StateStore::get_escalation`): `level` and
//! `repeat` of the timer name the step due next, so the level reached is the step before
//! it. Acknowledging or resolving deletes the timer, and so does the last step; the level
//! reached then follows from the policy: the steps whose time (`starts_at` + the level's
//! delay) came before the escalation stopped.

use serde::Serialize;
use strix_state::{AlertRecord, AlertState, Escalation};

use crate::routing::escalation::EscalationPolicy;

use super::AlertPipeline;

/// Whether an escalation still pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EscalationPhase {
    /// The alert fires and a next level is scheduled.
    Active,
    /// An operator acknowledged the alert: no further pages.
    Acknowledged,
    /// The alert resolved, or the last level (and its repeats) has been paged.
    Ended,
}

/// An alert's escalation (`"escalation"` of `GET /api/monitoring/alerts/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationStatus {
    /// The policy's name (the alert's severity).
    pub policy: String,
    /// The level reached, 0-based (level 0 is the first page).
    pub level: u32,
    /// Levels of the policy.
    pub levels: u32,
    /// When the next page is due (ms), while active.
    pub next_at: Option<i64>,
    /// How many times the last level has been paged again.
    pub repeat: u32,
    pub state: EscalationPhase,
}

/// Level and repeat of the `done`-th step (1-based count of steps paged).
fn reached(policy: &EscalationPolicy, done: u32, starts_at: i64) -> (u32, u32) {
    let Some(last) = done.checked_sub(1) else {
        return (0, 0);
    };
    match policy.step(last, starts_at) {
        Some(s) => {
            let level = u32::try_from(s.level).unwrap_or(u32::MAX);
            (level, s.step.saturating_sub(level))
        }
        None => (0, 0),
    }
}

/// Steps of `policy` due at or before `stop`.
fn steps_until(policy: &EscalationPolicy, starts_at: i64, stop: i64) -> u32 {
    let mut n = 0u32;
    while let Some(s) = policy.step(n, starts_at) {
        if s.due_at > stop {
            break;
        }
        n = n.saturating_add(1);
    }
    n
}

fn levels_of(policy: &EscalationPolicy) -> u32 {
    u32::try_from(policy.levels.len()).unwrap_or(u32::MAX)
}

impl AlertPipeline {
    /// The escalation of `alert` given its persisted timer (`None` when there is none), or
    /// `None` when the alert has no escalation (no policy for its severity, or pending).
    pub fn escalation_status(
        &self,
        alert: &AlertRecord,
        timer: Option<&Escalation>,
        now: i64,
    ) -> Option<EscalationStatus> {
        let policies = &self.inner.config.escalation;
        let phase_of_stopped = || match alert.state {
            AlertState::Acknowledged => EscalationPhase::Acknowledged,
            _ => EscalationPhase::Ended,
        };
        if let Some(t) = timer {
            let policy = policies.for_severity(&t.policy);
            let done = t.level.saturating_add(t.repeat);
            let (level, repeat) = match policy {
                Some(p) => reached(p, done, alert.starts_at),
                None => (t.level, t.repeat),
            };
            let active = alert.state == AlertState::Firing;
            return Some(EscalationStatus {
                policy: t.policy.clone(),
                level,
                levels: policy.map_or(t.level.saturating_add(1), levels_of),
                next_at: active.then_some(t.next_at),
                repeat,
                state: if active {
                    EscalationPhase::Active
                } else {
                    phase_of_stopped()
                },
            });
        }
        if alert.state == AlertState::Pending {
            return None;
        }
        let policy = policies.for_severity(&alert.severity)?;
        // No timer: stopped by an operator, by resolution, or after its last step.
        let stop = [alert.acknowledged_at, alert.ended_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
        let done = steps_until(policy, alert.starts_at, stop);
        let (level, repeat) = reached(policy, done, alert.starts_at);
        Some(EscalationStatus {
            policy: alert.severity.clone(),
            level,
            levels: levels_of(policy),
            next_at: None,
            repeat,
            state: phase_of_stopped(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strix_state::{SqliteStore, StateStore};

    use super::*;
    use crate::pipeline::{default_routing_config, PipelineOptions};

    const MIN: i64 = 60_000;

    fn pipeline() -> (tempfile::TempDir, AlertPipeline) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
        let mut reg = prometheus_client::registry::Registry::default();
        let p = AlertPipeline::new(
            default_routing_config().unwrap(),
            store,
            PipelineOptions::default(),
            &mut reg,
        )
        .unwrap();
        (dir, p)
    }

    fn alert(state: AlertState, severity: &str, starts_at: i64) -> AlertRecord {
        let mut a = AlertRecord::new("00000000000000f1", "Down", state, starts_at);
        a.severity = severity.into();
        a
    }

    #[test]
    fn status_from_timer_policy_and_lifecycle() {
        let (_d, p) = pipeline();
        let t0 = 1_700_000_000_000;
        // Timer due for level 1: level 0 was paged.
        let timer = Escalation {
            alert_id: "x".into(),
            policy: "critical".into(),
            level: 1,
            repeat: 0,
            next_at: t0 + 15 * MIN,
        };
        let s = p
            .escalation_status(&alert(AlertState::Firing, "critical", t0), Some(&timer), t0)
            .unwrap();
        assert_eq!(
            (s.level, s.levels, s.next_at, s.state),
            (0, 3, Some(t0 + 15 * MIN), EscalationPhase::Active)
        );
        // A firing alert without a timer has paged its last level.
        let s = p
            .escalation_status(
                &alert(AlertState::Firing, "critical", t0),
                None,
                t0 + 90 * MIN,
            )
            .unwrap();
        assert_eq!(
            (s.level, s.next_at, s.state),
            (2, None, EscalationPhase::Ended)
        );
        // Acknowledged after 20 minutes: levels 0 and 1 were paged.
        let mut acked = alert(AlertState::Acknowledged, "high", t0);
        acked.acknowledged_at = Some(t0 + 20 * MIN);
        let s = p.escalation_status(&acked, None, t0 + 90 * MIN).unwrap();
        assert_eq!(
            (s.policy.as_str(), s.level, s.state),
            ("high", 0, EscalationPhase::Acknowledged),
            "high pages level 1 after 60 min only"
        );
        // No policy, or not firing yet: no escalation.
        assert!(p
            .escalation_status(&alert(AlertState::Firing, "warning", t0), None, t0)
            .is_none());
        assert!(p
            .escalation_status(&alert(AlertState::Pending, "critical", t0), None, t0)
            .is_none());
    }
}
