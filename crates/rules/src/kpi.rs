//! KPI thresholds as monitoring runbooks write them, compiled into alerting rules.
//!
//! ```yaml
//! kpis_builtin: true            # the pack below; entries with the same name replace it
//! kpis:
//!   - name: checkout_latency    # a metric-style name; the alert name and the `kpi` label
//!     expr: 1000 * histogram_quantile(0.95, sum by (le) (rate(checkout_duration_seconds_bucket[5m])))
//!     unit: ms
//!     direction: above          # the side on which the value is bad: above | below
//!     target: 200               # optional, informational (the "ok" goal)
//!     warning: 200              # at least one of warning / critical
//!     critical: 500
//!     for: 5m                   # optional, default 0s (as an alerting rule's `for`)
//!     description: p95 checkout latency   # optional
//!     labels: {team: shop}      # optional, added to the alerts
//! ```
//!
//! [`compile`] turns KPIs into one [`RuleGroup`] of alerting rules, two per KPI (one when
//! only one threshold is set), named after the KPI and labelled `{severity, kpi}`:
//!
//! | direction | severity `critical` | severity `warning` |
//! |---|---|---|
//! | above | `(expr) > critical` | `(expr) > warning <= critical` |
//! | below | `(expr) < critical` | `(expr) < warning >= critical` |
//!
//! (`a > w <= c` is PromQL's chained filter, `(a > w) <= c`: the same as
//! `expr > warning and expr <= critical`, with `expr` evaluated once.) So a series is in at
//! most one of the two alerts at a time. [`Kpi::status_of`] applies the same thresholds to
//! a single value for the status endpoint (instantly, without `for`).
//!
//! # Built-in pack
//!
//! [`builtin`] holds the usual defaults over conventional metric names: the Prometheus
//! client libraries' `http_request_duration_seconds` histogram and `http_requests_total`
//! counter (with a `code` label), node_exporter's `node_memory_*` and
//! `node_cpu_seconds_total` (which Strix's own host collector writes under the same names),
//! `cache_hits_total` / `cache_misses_total` counters, and a `queue_length` gauge. See each
//! entry for its expression.

use crate::file::{Rule, RuleGroup};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use strix_core::storage::Queryable;
use strix_core::{duration, Timestamp};
use strix_query::{Engine, QueryError, QueryValue};

/// The rule group name of compiled KPIs (as shown by `/api/v1/rules`).
pub const GROUP_NAME: &str = "strix-kpis";
/// The `file` of the compiled group.
pub const GROUP_FILE: &str = "strix.yaml (kpis)";
/// The label naming the KPI on every alert a KPI raises.
pub const KPI_LABEL: &str = "kpi";
/// The label carrying `warning` or `critical`.
pub const SEVERITY_LABEL: &str = "severity";

/// The side on which a KPI's value is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is worse (latency, error rate, memory use).
    Above,
    /// Lower is worse (throughput, cache hit rate).
    Below,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }

    /// Whether `v` is on the bad side of `threshold` (strictly).
    fn breaches(self, v: f64, threshold: f64) -> bool {
        match self {
            Direction::Above => v > threshold,
            Direction::Below => v < threshold,
        }
    }

    fn bad_op(self) -> &'static str {
        match self {
            Direction::Above => ">",
            Direction::Below => "<",
        }
    }

    fn good_or_equal_op(self) -> &'static str {
        match self {
            Direction::Above => "<=",
            Direction::Below => ">=",
        }
    }
}

/// One `kpis:` entry as written in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiConfig {
    pub name: String,
    pub expr: String,
    #[serde(default)]
    pub unit: String,
    pub direction: Direction,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
    /// How long the threshold must be crossed before the alert fires (`5m`).
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A validated KPI.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpi {
    /// A metric-style name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): the alert name and `kpi` label.
    pub name: String,
    /// PromQL yielding an instant vector.
    pub expr: String,
    pub unit: String,
    pub direction: Direction,
    pub target: Option<f64>,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub for_: Duration,
    pub description: String,
    /// Extra labels on the KPI's alerts.
    pub labels: BTreeMap<String, String>,
}

/// A KPI entry that is not acceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("kpis[{index}] ({name:?}): {message}")]
pub struct KpiError {
    /// Position in the `kpis:` list (`usize::MAX` for the built-in pack).
    pub index: usize,
    pub name: String,
    pub message: String,
}

/// A KPI's status at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KpiStatus {
    /// No value (no data, NaN, or the query failed).
    Unknown,
    Ok,
    Warning,
    Critical,
}

impl KpiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KpiStatus::Unknown => "unknown",
            KpiStatus::Ok => "ok",
            KpiStatus::Warning => "warning",
            KpiStatus::Critical => "critical",
        }
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl KpiConfig {
    /// Validates the entry. `index` is its position, for the error.
    pub fn validate(&self, index: usize) -> Result<Kpi, KpiError> {
        let err = |message: String| KpiError {
            index,
            name: self.name.clone(),
            message,
        };
        if !valid_metric_name(&self.name) {
            return Err(err(
                "name must be a metric-style name ([a-zA-Z_:][a-zA-Z0-9_:]*), e.g. api_response_time".into(),
            ));
        }
        if self.expr.trim().is_empty() {
            return Err(err("expr must not be empty".into()));
        }
        let parsed = promql_parser::parser::parse(&self.expr)
            .map_err(|e| err(format!("expr {:?}: {e}", self.expr)))?;
        if parsed.value_type() != promql_parser::parser::value::ValueType::Vector {
            return Err(err(format!(
                "expr must yield an instant vector, not a {} (wrap a scalar in vector(...))",
                parsed.value_type()
            )));
        }
        for (field, v) in [
            ("target", self.target),
            ("warning", self.warning),
            ("critical", self.critical),
        ] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(err(format!("{field} must be a finite number")));
            }
        }
        if self.warning.is_none() && self.critical.is_none() {
            return Err(err(
                "at least one of warning and critical is required".into()
            ));
        }
        let dir = self.direction;
        if let (Some(w), Some(c)) = (self.warning, self.critical) {
            // The warning band must lie on the good side of the critical threshold.
            if !dir.breaches(c, w) {
                let rel = match dir {
                    Direction::Above => "below",
                    Direction::Below => "above",
                };
                return Err(err(format!(
                    "with direction {}, warning ({w}) must be {rel} critical ({c})",
                    dir.as_str()
                )));
            }
        }
        if let (Some(t), Some(first)) = (self.target, self.warning.or(self.critical)) {
            if dir.breaches(t, first) {
                return Err(err(format!(
                    "target ({t}) is itself past the {} threshold ({first})",
                    if self.warning.is_some() {
                        "warning"
                    } else {
                        "critical"
                    }
                )));
            }
        }
        let for_ = match self.for_.as_deref() {
            None => Duration::ZERO,
            Some(s) => duration::parse(s).map_err(|e| err(format!("for: {e}")))?,
        };
        for k in self.labels.keys() {
            if !valid_label_name(k) {
                return Err(err(format!("invalid label name {k:?}")));
            }
            if k == KPI_LABEL || k == SEVERITY_LABEL || k == "alertname" {
                return Err(err(format!(
                    "label {k:?} is set by Strix and cannot be overridden"
                )));
            }
        }
        Ok(Kpi {
            name: self.name.clone(),
            expr: self.expr.trim().to_string(),
            unit: self.unit.clone(),
            direction: dir,
            target: self.target,
            warning: self.warning,
            critical: self.critical,
            for_,
            description: self.description.clone(),
            labels: self.labels.clone(),
        })
    }
}

/// Validates the `kpis:` entries and, with `builtin`, puts them after the built-in pack;
/// an entry named like a built-in KPI replaces it. Names must be unique among entries.
pub fn from_config(entries: &[KpiConfig], builtin_pack: bool) -> Result<Vec<Kpi>, KpiError> {
    let mut seen = HashSet::new();
    let mut own = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let k = e.validate(i)?;
        if !seen.insert(k.name.clone()) {
            return Err(KpiError {
                index: i,
                name: k.name,
                message: "name repeated".into(),
            });
        }
        own.push(k);
    }
    let mut out: Vec<Kpi> = if builtin_pack {
        builtin()?
            .into_iter()
            .filter(|b| !seen.contains(&b.name))
            .collect()
    } else {
        Vec::new()
    };
    out.extend(own);
    Ok(out)
}

impl Kpi {
    /// The status of one value: `critical` past the critical threshold, `warning` past the
    /// warning threshold, else `ok`; `unknown` for NaN. "Past" is strict (`>` for above,
    /// `<` for below), as in the compiled rules.
    pub fn status_of(&self, v: f64) -> KpiStatus {
        if v.is_nan() {
            return KpiStatus::Unknown;
        }
        if self.critical.is_some_and(|c| self.direction.breaches(v, c)) {
            KpiStatus::Critical
        } else if self.warning.is_some_and(|w| self.direction.breaches(v, w)) {
            KpiStatus::Warning
        } else {
            KpiStatus::Ok
        }
    }

    fn fmt_threshold(&self, v: f64) -> String {
        if self.unit.is_empty() {
            format!("{v}")
        } else if self.unit == "%" {
            format!("{v}%")
        } else {
            format!("{v} {}", self.unit)
        }
    }

    fn alert_rule(&self, severity: &str, expr: String, threshold: f64) -> Rule {
        let mut labels = self.labels.clone();
        labels.insert(SEVERITY_LABEL.into(), severity.into());
        labels.insert(KPI_LABEL.into(), self.name.clone());
        let value = if self.unit.is_empty() {
            "{{ $value }}".to_string()
        } else if self.unit == "%" {
            "{{ $value }}%".to_string()
        } else {
            format!("{{{{ $value }}}} {}", self.unit)
        };
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "summary".into(),
            format!(
                "KPI {} is {value}, {} the {severity} threshold of {}",
                self.name,
                self.direction.as_str(),
                self.fmt_threshold(threshold)
            ),
        );
        if !self.description.is_empty() {
            annotations.insert("description".into(), self.description.clone());
        }
        annotations.insert("threshold".into(), format!("{threshold}"));
        if let Some(t) = self.target {
            annotations.insert("target".into(), format!("{t}"));
        }
        if !self.unit.is_empty() {
            annotations.insert("unit".into(), self.unit.clone());
        }
        Rule::Alerting {
            alert: self.name.clone(),
            expr,
            for_: self.for_,
            keep_firing_for: Duration::ZERO,
            labels,
            annotations,
        }
    }

    /// The KPI's alerting rules: critical first, then warning.
    pub fn rules(&self) -> Vec<Rule> {
        let d = self.direction;
        let e = &self.expr;
        let mut out = Vec::with_capacity(2);
        if let Some(c) = self.critical {
            out.push(self.alert_rule("critical", format!("({e}) {} {c}", d.bad_op()), c));
        }
        if let Some(w) = self.warning {
            let expr = match self.critical {
                Some(c) => format!("({e}) {} {w} {} {c}", d.bad_op(), d.good_or_equal_op()),
                None => format!("({e}) {} {w}", d.bad_op()),
            };
            out.push(self.alert_rule("warning", expr, w));
        }
        out
    }
}

/// One rule group with every KPI's alerting rules (evaluated on the manager's default
/// interval).
pub fn compile(kpis: &[Kpi]) -> RuleGroup {
    RuleGroup {
        name: GROUP_NAME.to_string(),
        file: GROUP_FILE.to_string(),
        interval: None,
        limit: 0,
        query_offset: Duration::ZERO,
        labels: BTreeMap::new(),
        rules: kpis.iter().flat_map(Kpi::rules).collect(),
    }
}

/// The built-in pack, validated.
pub fn builtin() -> Result<Vec<Kpi>, KpiError> {
    builtin_config()
        .iter()
        .map(|c| c.validate(usize::MAX))
        .collect()
}

/// The built-in pack as configuration entries (every one `for: 5m`).
///
/// | name | expr (summary) | unit | bad when | target | warning | critical |
/// |---|---|---|---|---|---|---|
/// | `api_response_time` | p95 of `http_request_duration_seconds` × 1000 | ms | above | 200 | 200 | 500 |
/// | `throughput` | `sum(rate(http_requests_total[5m])) * 60` | req/min | below | 1000 | 1000 | – |
/// | `error_rate` | 5xx share of `http_requests_total` × 100 | % | above | 0.1 | 0.1 | 1 |
/// | `memory_usage` | `1 - MemAvailable/MemTotal` per instance × 100 | % | above | 70 | 70 | 85 |
/// | `cpu_usage` | `1 - idle` share of `node_cpu_seconds_total` per instance × 100 | % | above | 60 | 60 | 80 |
/// | `cache_hit_rate` | `cache_hits_total / (hits + cache_misses_total)` × 100 | % | below | 80 | 80 | 60 |
/// | `queue_length` | `max by (queue) (queue_length)` | – | above | 10 | 10 | 50 |
pub fn builtin_config() -> Vec<KpiConfig> {
    let kpi = |name: &str,
               expr: &str,
               unit: &str,
               direction: Direction,
               (target, warning, critical): (f64, f64, Option<f64>),
               description: &str| KpiConfig {
        name: name.into(),
        expr: expr.into(),
        unit: unit.into(),
        direction,
        target: Some(target),
        warning: Some(warning),
        critical,
        for_: Some("5m".into()),
        description: description.into(),
        labels: BTreeMap::new(),
    };
    vec![
        kpi(
            "api_response_time",
            "1000 * histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
            "ms",
            Direction::Above,
            (200.0, 200.0, Some(500.0)),
            "95th percentile API response time",
        ),
        kpi(
            "throughput",
            "sum(rate(http_requests_total[5m])) * 60",
            "req/min",
            Direction::Below,
            (1000.0, 1000.0, None),
            "Requests served per minute",
        ),
        kpi(
            "error_rate",
            "100 * sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
            "%",
            Direction::Above,
            (0.1, 0.1, Some(1.0)),
            "Share of requests answered with a 5xx status",
        ),
        kpi(
            "memory_usage",
            "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
            "%",
            Direction::Above,
            (70.0, 70.0, Some(85.0)),
            "Memory in use per host",
        ),
        kpi(
            "cpu_usage",
            "100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m])))",
            "%",
            Direction::Above,
            (60.0, 60.0, Some(80.0)),
            "CPU busy per host",
        ),
        kpi(
            "cache_hit_rate",
            "100 * sum(rate(cache_hits_total[5m])) / (sum(rate(cache_hits_total[5m])) + sum(rate(cache_misses_total[5m])))",
            "%",
            Direction::Below,
            (80.0, 80.0, Some(60.0)),
            "Share of cache lookups that hit",
        ),
        kpi(
            "queue_length",
            "max by (queue) (queue_length)",
            "",
            Direction::Above,
            (10.0, 10.0, Some(50.0)),
            "Items waiting per queue",
        ),
    ]
}

/// Remembers each KPI's last status and publishes changes as live `kpi` events:
/// `{"name", "status", "previous", "value", "unit", "target"}`.
#[derive(Debug, Default)]
pub struct KpiStatusTracker {
    last: std::collections::HashMap<String, KpiStatus>,
}

impl KpiStatusTracker {
    /// Records `reading` of `kpi`; returns the event document when the status changed to
    /// ok, warning or critical (a KPI without data is not announced, and its previous
    /// status is kept).
    pub fn observe(&mut self, kpi: &Kpi, reading: &KpiReading) -> Option<String> {
        if reading.status == KpiStatus::Unknown {
            return None;
        }
        let previous = self
            .last
            .insert(kpi.name.clone(), reading.status)
            .unwrap_or(KpiStatus::Unknown);
        if previous == reading.status {
            return None;
        }
        let num = |v: Option<f64>| {
            v.and_then(serde_json::Number::from_f64)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)
        };
        Some(
            serde_json::json!({
                "name": kpi.name,
                "status": reading.status.as_str(),
                "previous": previous.as_str(),
                "value": num(reading.value),
                "unit": kpi.unit,
                "target": num(kpi.target),
            })
            .to_string(),
        )
    }
}

/// One result series of a KPI's expression.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiSeries {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub status: KpiStatus,
}

/// A KPI evaluated at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiReading {
    /// The value of the worst series (`None` when there is no data).
    pub value: Option<f64>,
    /// The worst status over the series; `unknown` with no data or on error.
    pub status: KpiStatus,
    /// Every series, worst first.
    pub series: Vec<KpiSeries>,
    /// Why the query failed, if it did.
    pub error: Option<String>,
}

impl Kpi {
    /// Evaluates the expression at `t` and grades every result series.
    pub fn evaluate(
        &self,
        engine: &Engine,
        store: &dyn Queryable,
        t: Timestamp,
    ) -> Result<Vec<KpiSeries>, QueryError> {
        let samples: Vec<(BTreeMap<String, String>, f64)> =
            match engine.instant_query(store, &self.expr, t)? {
                QueryValue::Vector(v) => v
                    .into_iter()
                    .map(|s| {
                        (
                            s.labels
                                .iter()
                                .map(|l| (l.name.clone(), l.value.clone()))
                                .collect(),
                            s.v,
                        )
                    })
                    .collect(),
                QueryValue::Scalar { v, .. } => vec![(BTreeMap::new(), v)],
                QueryValue::String { .. } | QueryValue::Matrix(_) => Vec::new(),
            };
        Ok(samples
            .into_iter()
            .map(|(labels, value)| KpiSeries {
                status: self.status_of(value),
                labels,
                value,
            })
            .collect())
    }

    /// [`Kpi::evaluate`] summarised: worst status first, and among equal statuses the
    /// value furthest on the bad side.
    pub fn reading(&self, engine: &Engine, store: &dyn Queryable, t: Timestamp) -> KpiReading {
        match self.evaluate(engine, store, t) {
            Ok(series) => self.summarise(series),
            Err(e) => KpiReading {
                value: None,
                status: KpiStatus::Unknown,
                series: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }

    /// Orders `series` worst first and takes the first as the KPI's value and status.
    pub fn summarise(&self, mut series: Vec<KpiSeries>) -> KpiReading {
        let badness = |v: f64| match self.direction {
            Direction::Above => v,
            Direction::Below => -v,
        };
        series.sort_by(|a, b| {
            b.status
                .cmp(&a.status)
                .then_with(|| badness(b.value).total_cmp(&badness(a.value)))
                .then_with(|| a.labels.cmp(&b.labels))
        });
        let first = series.first().filter(|s| s.status != KpiStatus::Unknown);
        KpiReading {
            value: first.map(|s| s.value),
            status: first.map_or(KpiStatus::Unknown, |s| s.status),
            series,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(direction: Direction, warning: Option<f64>, critical: Option<f64>) -> KpiConfig {
        KpiConfig {
            name: "latency".into(),
            expr: "latency_ms".into(),
            unit: "ms".into(),
            direction,
            target: None,
            warning,
            critical,
            for_: Some("2m".into()),
            description: String::new(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn builtin_pack_is_valid_and_parses() {
        let pack = builtin().unwrap_or_default();
        assert_eq!(pack.len(), 7);
        for r in compile(&pack).rules {
            assert!(
                promql_parser::parser::parse(r.expr()).is_ok(),
                "{}",
                r.expr()
            );
        }
    }

    #[test]
    fn status_thresholds_are_strict() {
        let k = cfg(Direction::Above, Some(200.0), Some(500.0))
            .validate(0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.status_of(100.0), KpiStatus::Ok);
        assert_eq!(k.status_of(200.0), KpiStatus::Ok);
        assert_eq!(k.status_of(200.5), KpiStatus::Warning);
        assert_eq!(k.status_of(500.0), KpiStatus::Warning);
        assert_eq!(k.status_of(501.0), KpiStatus::Critical);
        assert_eq!(k.status_of(f64::NAN), KpiStatus::Unknown);
        let k = cfg(Direction::Below, Some(80.0), Some(60.0))
            .validate(0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.status_of(90.0), KpiStatus::Ok);
        assert_eq!(k.status_of(70.0), KpiStatus::Warning);
        assert_eq!(k.status_of(59.0), KpiStatus::Critical);
    }

    #[test]
    fn thresholds_must_be_ordered() {
        let e = cfg(Direction::Above, Some(500.0), Some(200.0))
            .validate(3)
            .unwrap_err();
        assert!(
            e.to_string().contains("kpis[3]") && e.message.contains("below critical"),
            "{e}"
        );
        let e = cfg(Direction::Below, Some(50.0), Some(60.0))
            .validate(0)
            .unwrap_err();
        assert!(e.message.contains("above critical"), "{e}");
        assert!(cfg(Direction::Above, None, None).validate(0).is_err());
    }
}
