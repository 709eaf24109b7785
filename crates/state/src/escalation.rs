//! Persisted escalation timers and rule evaluation state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::AlertState;

/// The escalation timer of one open alert: at `next_at`, page `level` of `policy` (for the
/// `repeat`-th time). At most one per alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The alert escalated.
    pub alert_id: String,
    /// Escalation policy name.
    pub policy: String,
    /// Level index in the policy, 0-based.
    pub level: u32,
    /// How many times the policy has wrapped around (0 on the first pass).
    pub repeat: u32,
    /// When the level is due, ms.
    pub next_at: i64,
}

/// The evaluation state of one alert instance of a rule, so `for` durations survive a
/// restart (the equivalent of Prometheus' `ALERTS_FOR_STATE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStateRecord {
    /// Rule identity (for example `{file}:{group}:{rule name}:{index}`).
    pub rule_key: String,
    /// Fingerprint of the alert's label set.
    pub fingerprint: String,
    /// Only [`AlertState::Pending`] or [`AlertState::Firing`].
    pub state: AlertState,
    /// When the condition first held, ms.
    pub active_at: i64,
    /// Last value.
    pub value: f64,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// Last save, ms.
    pub updated_at: i64,
}

/// Rows removed by [`StateStore::prune`](crate::StateStore::prune).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PruneStats {
    /// Resolved alerts (with their history and escalation).
    pub alerts: u64,
    /// Expired silences.
    pub silences: u64,
    /// Delivered or abandoned outbox entries (with their delivery log).
    pub outbox: u64,
}
