//! Alerting rules: the per-rule state machine Prometheus defines.
//!
//! Each evaluation's result series become alert instances keyed by their labels
//! (result labels without `__name__`, plus group and rule labels, plus `alertname`):
//!
//! ```text
//! new result ──► pending ──(held for `for`)──► firing ──(absent, after keep_firing_for)──► resolved
//!                   └──(absent)──► dropped                                      (kept 15 min)
//! ```
//!
//! Every evaluation writes `ALERTS{alertstate="pending|firing", …} 1` and
//! `ALERTS_FOR_STATE{…} <activeAt seconds>` for active instances (stale markers when they
//! go). After a restart, `activeAt` is restored from `ALERTS_FOR_STATE` of the last hour,
//! so `for` keeps counting across restarts as in Prometheus. Firing instances are handed to
//! the notifier on every change and at least every `resend_delay`; resolved ones once
//! when they resolve and on the following resends while kept.

use crate::template::{self, TemplateData};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use strix_core::storage::TimeSeries;
use strix_core::{Labels, LabelsBuilder, Sample, Timestamp, METRIC_NAME};

/// How long resolved alerts are kept (and re-sent) after resolving.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;
/// How far back `ALERTS_FOR_STATE` is read to restore `for` state after a restart.
pub const OUTAGE_TOLERANCE_MS: i64 = 3_600_000;

/// State of one alert instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertInstanceState {
    Pending,
    Firing,
    /// No longer produced; kept for a while so receivers learn it resolved.
    Inactive,
}

impl AlertInstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertInstanceState::Pending => "pending",
            AlertInstanceState::Firing => "firing",
            AlertInstanceState::Inactive => "inactive",
        }
    }
}

/// One alert instance of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstance {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertInstanceState,
    pub value: f64,
    /// When the expression first returned this series (ms).
    pub active_at: Timestamp,
    pub fired_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub last_sent_at: Option<Timestamp>,
    /// Since when the series is absent while `keep_firing_for` holds it firing.
    pub keep_firing_since: Option<Timestamp>,
}

/// An alert handed to the notifier, shaped like Prometheus' alerts to Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// Set for resolved alerts; for firing ones, a time in the future after which a
    /// receiver may consider the alert resolved if no resend came (Prometheus: 4 ×
    /// max(resend delay, evaluation interval)).
    pub ends_at: Option<Timestamp>,
    pub resolved: bool,
    pub value: f64,
    pub generator_url: String,
}

/// Receives alerts from rule evaluation (Strix' alerting pipeline; an Alertmanager client).
pub trait AlertNotifier: Send + Sync {
    fn send(&self, alerts: Vec<NotifyAlert>);
}

/// The alert instances of one alerting rule between evaluations.
#[derive(Debug, Clone, Default)]
pub struct AlertRuleState {
    pub active: HashMap<Labels, AlertInstance>,
    /// `activeAt` by alert labels, read from `ALERTS_FOR_STATE` once after a restart.
    pub restored: Option<HashMap<Labels, Timestamp>>,
}

impl AlertRuleState {
    /// The rule's overall state: firing if any instance fires, else pending if any is
    /// pending, else inactive.
    pub fn rule_state(&self) -> AlertInstanceState {
        let states: HashSet<AlertInstanceState> = self.active.values().map(|a| a.state).collect();
        if states.contains(&AlertInstanceState::Firing) {
            AlertInstanceState::Firing
        } else if states.contains(&AlertInstanceState::Pending) {
            AlertInstanceState::Pending
        } else {
            AlertInstanceState::Inactive
        }
    }
}

/// Definition of one alerting rule as evaluated.
pub struct AlertRuleDef<'a> {
    pub name: &'a str,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub group_labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub resend_delay: Duration,
    /// Evaluation interval, for the `ends_at` of firing alerts.
    pub interval: Duration,
}

/// What one evaluation produced.
#[derive(Debug, Default)]
pub struct AlertEvalOutput {
    /// `ALERTS` and `ALERTS_FOR_STATE` samples at the evaluation time.
    pub series: Vec<TimeSeries>,
    pub notify: Vec<NotifyAlert>,
    /// Template errors (the alert is still raised, with the raw text).
    pub warnings: Vec<String>,
}

fn to_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

fn expand_all(
    src: &BTreeMap<String, String>,
    data: &TemplateData,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, String> {
    src.iter()
        .map(|(k, v)| {
            let out = match template::expand(v, data) {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("template {k:?}: {e}"));
                    v.clone()
                }
            };
            (k.clone(), out)
        })
        .collect()
}

/// Applies one evaluation result (`results`: result labels and values at `t`) to the
/// rule's state. Duplicated alert label sets are an error, as in Prometheus.
pub fn evaluate(
    def: &AlertRuleDef<'_>,
    state: &mut AlertRuleState,
    results: Vec<(Labels, f64)>,
    t: Timestamp,
) -> Result<AlertEvalOutput, String> {
    let mut out = AlertEvalOutput::default();
    let mut seen: HashSet<Labels> = HashSet::new();
    for (result_labels, value) in results {
        let data = TemplateData {
            labels: to_map(&result_labels),
            external_labels: def.external_labels.clone(),
            external_url: def.external_url.to_string(),
            value,
        };
        let mut b = LabelsBuilder::new();
        for l in result_labels.iter().filter(|l| l.name != METRIC_NAME) {
            b.set(l.name.clone(), l.value.clone());
        }
        for (k, v) in def.group_labels {
            b.set(k.clone(), v.clone());
        }
        for (k, v) in expand_all(def.labels, &data, &mut out.warnings) {
            b.set(k, v);
        }
        b.set("alertname", def.name);
        let labels = b.build();
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying alert labels".into(),
            );
        }
        let annotations = expand_all(def.annotations, &data, &mut out.warnings);
        match state.active.get_mut(&labels) {
            Some(a) if a.state != AlertInstanceState::Inactive => {
                a.value = value;
                a.annotations = annotations;
                a.keep_firing_since = None;
            }
            _ => {
                let restored = state
                    .restored
                    .as_ref()
                    .and_then(|r| r.get(&labels))
                    .copied();
                state.active.insert(
                    labels.clone(),
                    AlertInstance {
                        labels: labels.clone(),
                        annotations,
                        state: AlertInstanceState::Pending,
                        value,
                        active_at: restored.filter(|a| *a <= t).unwrap_or(t),
                        fired_at: None,
                        resolved_at: None,
                        last_sent_at: None,
                        keep_firing_since: None,
                    },
                );
            }
        }
    }
    // The restore applies to the first evaluation after start only.
    state.restored = None;

    let for_ms = def.for_.as_millis() as i64;
    let keep_ms = def.keep_firing_for.as_millis() as i64;
    let mut remove = Vec::new();
    for (labels, a) in state.active.iter_mut() {
        if seen.contains(labels) {
            if a.state == AlertInstanceState::Pending && t - a.active_at >= for_ms {
                a.state = AlertInstanceState::Firing;
                a.fired_at = Some(t);
            }
            continue;
        }
        match a.state {
            AlertInstanceState::Pending => remove.push(labels.clone()),
            AlertInstanceState::Firing => {
                let since = *a.keep_firing_since.get_or_insert(t);
                if keep_ms > 0 && t - since < keep_ms {
                    continue;
                }
                a.state = AlertInstanceState::Inactive;
                a.resolved_at = Some(t);
            }
            AlertInstanceState::Inactive => {
                if a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION_MS) {
                    remove.push(labels.clone());
                }
            }
        }
    }
    for l in remove {
        state.active.remove(&l);
    }

    let resend_ms = def.resend_delay.as_millis() as i64;
    let valid_for = 4 * resend_ms.max(def.interval.as_millis() as i64);
    let generator_url = format!(
        "{}/graph?g0.expr=ALERTS%7Balertname%3D%22{}%22%7D",
        def.external_url.trim_end_matches('/'),
        def.name
    );
    for a in state.active.values_mut() {
        if a.state != AlertInstanceState::Inactive {
            let mut alerts = LabelsBuilder::new();
            let mut for_state = LabelsBuilder::new();
            for l in a.labels.iter() {
                alerts.set(l.name.clone(), l.value.clone());
                for_state.set(l.name.clone(), l.value.clone());
            }
            alerts
                .set(METRIC_NAME, "ALERTS")
                .set("alertstate", a.state.as_str());
            for_state.set(METRIC_NAME, "ALERTS_FOR_STATE");
            out.series.push(TimeSeries {
                labels: alerts.build(),
                samples: vec![Sample::new(t, 1.0)],
            });
            out.series.push(TimeSeries {
                labels: for_state.build(),
                samples: vec![Sample::new(t, a.active_at as f64 / 1000.0)],
            });
        }
        // Pending alerts are not sent; firing and resolved ones are, on change and on resend.
        let send = match a.state {
            AlertInstanceState::Pending => false,
            AlertInstanceState::Firing => a
                .last_sent_at
                .is_none_or(|s| t - s >= resend_ms || a.fired_at == Some(t)),
            AlertInstanceState::Inactive => {
                a.resolved_at == Some(t) || a.last_sent_at.is_none_or(|s| t - s >= resend_ms)
            }
        };
        if send {
            a.last_sent_at = Some(t);
            let resolved = a.state == AlertInstanceState::Inactive;
            out.notify.push(NotifyAlert {
                labels: to_map(&a.labels),
                annotations: a.annotations.clone(),
                starts_at: a.active_at,
                ends_at: if resolved {
                    a.resolved_at
                } else {
                    Some(t + valid_for)
                },
                resolved,
                value: a.value,
                generator_url: generator_url.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def<'a>(
        labels: &'a BTreeMap<String, String>,
        annotations: &'a BTreeMap<String, String>,
        empty: &'a BTreeMap<String, String>,
        for_secs: u64,
        keep_secs: u64,
    ) -> AlertRuleDef<'a> {
        AlertRuleDef {
            name: "HighLatency",
            for_: Duration::from_secs(for_secs),
            keep_firing_for: Duration::from_secs(keep_secs),
            labels,
            annotations,
            group_labels: empty,
            external_labels: empty,
            external_url: "http://strix:3003",
            resend_delay: Duration::from_secs(60),
            interval: Duration::from_secs(10),
        }
    }

    fn result(instance: &str, v: f64) -> (Labels, f64) {
        (
            Labels::from_pairs([("__name__", "latency"), ("instance", instance)]),
            v,
        )
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let labels = BTreeMap::from([("severity".to_string(), "critical".to_string())]);
        let ann = BTreeMap::from([(
            "summary".to_string(),
            "{{ $labels.instance }} at {{ $value }}".to_string(),
        )]);
        let empty = BTreeMap::new();
        let d = def(&labels, &ann, &empty, 30, 0);
        let mut st = AlertRuleState::default();
        let out = evaluate(&d, &mut st, vec![result("a", 0.7)], 0).unwrap();
        assert!(out.notify.is_empty(), "pending alerts are not sent");
        assert_eq!(st.rule_state(), AlertInstanceState::Pending);
        let pending = out
            .series
            .iter()
            .find(|s| s.labels.metric_name() == Some("ALERTS"))
            .unwrap();
        assert_eq!(pending.labels.get("alertstate"), Some("pending"));
        assert_eq!(pending.labels.get("alertname"), Some("HighLatency"));
        assert_eq!(pending.labels.get("severity"), Some("critical"));
        assert!(pending.labels.get("__name__") == Some("ALERTS"));
        let out = evaluate(&d, &mut st, vec![result("a", 0.8)], 30_000).unwrap();
        assert_eq!(st.rule_state(), AlertInstanceState::Firing);
        assert_eq!(out.notify.len(), 1);
        assert!(!out.notify[0].resolved);
        assert_eq!(out.notify[0].annotations["summary"], "a at 0.8");
        assert_eq!(out.notify[0].starts_at, 0);
        // No resend before the resend delay.
        let out = evaluate(&d, &mut st, vec![result("a", 0.8)], 40_000).unwrap();
        assert!(out.notify.is_empty());
        let out = evaluate(&d, &mut st, vec![result("a", 0.8)], 91_000).unwrap();
        assert_eq!(out.notify.len(), 1, "resent after the resend delay");
        // Absent: resolved at once, sent once, no ALERTS series.
        let out = evaluate(&d, &mut st, vec![], 100_000).unwrap();
        assert_eq!(out.notify.len(), 1);
        assert!(out.notify[0].resolved);
        assert_eq!(out.notify[0].ends_at, Some(100_000));
        assert!(out.series.is_empty());
        // Forgotten after the retention.
        evaluate(&d, &mut st, vec![], 100_000 + RESOLVED_RETENTION_MS + 1).unwrap();
        assert!(st.active.is_empty());
    }

    #[test]
    fn pending_that_disappears_never_fires_and_keep_firing_for_holds() {
        let empty = BTreeMap::new();
        let d = def(&empty, &empty, &empty, 60, 0);
        let mut st = AlertRuleState::default();
        evaluate(&d, &mut st, vec![result("a", 1.0)], 0).unwrap();
        evaluate(&d, &mut st, vec![], 10_000).unwrap();
        assert!(st.active.is_empty());
        // keep_firing_for: 30s holds a firing alert through a short gap.
        let d = def(&empty, &empty, &empty, 0, 30);
        let mut st = AlertRuleState::default();
        evaluate(&d, &mut st, vec![result("a", 1.0)], 0).unwrap();
        assert_eq!(st.rule_state(), AlertInstanceState::Firing);
        evaluate(&d, &mut st, vec![], 10_000).unwrap();
        assert_eq!(st.rule_state(), AlertInstanceState::Firing);
        let out = evaluate(&d, &mut st, vec![], 40_000).unwrap();
        assert_eq!(st.rule_state(), AlertInstanceState::Inactive);
        assert!(out.notify[0].resolved);
    }

    #[test]
    fn restored_active_at_continues_for() {
        let empty = BTreeMap::new();
        let d = def(&empty, &empty, &empty, 60, 0);
        let labels = Labels::from_pairs([("alertname", "HighLatency"), ("instance", "a")]);
        let mut st = AlertRuleState {
            restored: Some(HashMap::from([(labels.clone(), 1_000)])),
            ..AlertRuleState::default()
        };
        evaluate(&d, &mut st, vec![result("a", 1.0)], 50_000).unwrap();
        assert_eq!(st.active[&labels].active_at, 1_000);
        evaluate(&d, &mut st, vec![result("a", 1.0)], 61_000).unwrap();
        assert_eq!(
            st.rule_state(),
            AlertInstanceState::Firing,
            "for counted from the restored activeAt"
        );
        let for_state = evaluate(&d, &mut st, vec![result("a", 1.0)], 70_000)
            .unwrap()
            .series
            .into_iter()
            .find(|s| s.labels.metric_name() == Some("ALERTS_FOR_STATE"))
            .unwrap();
        assert_eq!(for_state.samples[0].v, 1.0);
    }

    #[test]
    fn duplicate_alert_labels_are_an_error() {
        let empty = BTreeMap::new();
        let d = def(&empty, &empty, &empty, 0, 0);
        let mut st = AlertRuleState::default();
        let a = (
            Labels::from_pairs([("__name__", "x"), ("instance", "a")]),
            1.0,
        );
        let b = (
            Labels::from_pairs([("__name__", "y"), ("instance", "a")]),
            2.0,
        );
        assert!(evaluate(&d, &mut st, vec![a, b], 0).is_err());
    }
}
