//! [`ExportRequest`] to Prometheus series, the way Prometheus' OTLP receiver does it with
//! the `UnderscoreEscapingWithSuffixes` translation strategy (`prometheus/otlptranslator`).
//!
//! - Names: invalid characters split the name into tokens joined by `_` (so runs of
//!   invalid characters and underscores collapse), the unit becomes a suffix (`s` →
//!   `_seconds`, `By` → `_bytes`, `By/s` → `_bytes_per_second`, `1` → nothing, units in
//!   braces such as `{packets}` → nothing), monotonic sums get `_total`, gauges with unit
//!   `1` get `_ratio`, and a leading digit gets a `_` prefix.
//! - Types: gauge → gauge; cumulative monotonic sum → counter; non-monotonic sum → gauge;
//!   histogram → `_bucket{le}` (cumulative, with `+Inf` = count), `_sum`, `_count`;
//!   summary → `{quantile}` series plus `_sum` and `_count`. Exponential histograms are
//!   skipped and counted ([`SkipReason::ExponentialHistogram`]).
//! - Delta temporality (sums and histograms) is turned into cumulative values with a
//!   running total per series kept in the caller's [`DeltaState`]: values are therefore
//!   accumulated **since this Strix process started** (or since the series was pruned), not
//!   since the sender's start time. Resent or out-of-order delta points (time not after the
//!   last one seen) are skipped so a retry does not count twice.
//! - Labels: data point attributes, names sanitised (`[^a-zA-Z0-9]` runs → `_`, a leading
//!   digit gets `key_`, colliding names join their values with `;`); `service.name` (as
//!   `namespace/name` when `service.namespace` is set) → `job`, `service.instance.id` →
//!   `instance`. Other resource attributes go to one `target_info` series (value 1) per
//!   resource, at the latest data point time of that resource, with `job`/`instance`.
//! - Time: nanoseconds → milliseconds; the start time only matters for delta conversion.
//!   A point flagged `NoRecordedValue` becomes Prometheus' stale marker.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use strix_core::storage::TimeSeries;
use strix_core::{Label, Labels, Sample, STALE_NAN};

use super::proto::{self, any_value, metric, number_data_point};
use super::ExportRequest;
use crate::series::SeriesSet;
use crate::Metadata;

/// Why data points were left out of an [`OtlpDecoded`]. Bounded set: usable as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// Exponential histogram points: Strix has no native histograms yet.
    ExponentialHistogram,
    /// A metric without data (none of gauge, sum, histogram, summary).
    NoData,
    /// A number data point without a value.
    NoValue,
    /// A sum or histogram with `AGGREGATION_TEMPORALITY_UNSPECIFIED` (or an unknown value).
    InvalidTemporality,
    /// The metric name is empty or normalises to nothing but underscores.
    InvalidMetricName,
    /// An attribute key is empty or normalises to nothing but underscores.
    InvalidLabelName,
    /// A histogram whose bucket counts do not number explicit bounds + 1.
    InvalidHistogram,
    /// A delta point not newer than the last one seen for its series (likely a resend).
    DeltaOutOfOrder,
    /// A new delta series while the [`DeltaState`] is at its series limit.
    DeltaStateFull,
}

impl SkipReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ExponentialHistogram => "exponential_histogram",
            SkipReason::NoData => "no_data",
            SkipReason::NoValue => "no_value",
            SkipReason::InvalidTemporality => "invalid_temporality",
            SkipReason::InvalidMetricName => "invalid_metric_name",
            SkipReason::InvalidLabelName => "invalid_label_name",
            SkipReason::InvalidHistogram => "invalid_histogram",
            SkipReason::DeltaOutOfOrder => "delta_out_of_order",
            SkipReason::DeltaStateFull => "delta_state_full",
        }
    }
}

/// The result of [`translate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtlpDecoded {
    /// One entry per distinct label set, samples sorted by time.
    pub series: Vec<TimeSeries>,
    /// One entry per metric family (first description and unit win).
    pub metadata: Vec<Metadata>,
    /// OTLP data points translated into samples.
    pub points: u64,
    /// OTLP data points left out (sum of `skip_reasons`); report it to the sender as
    /// `rejected_data_points`.
    pub skipped: u64,
    pub skip_reasons: Vec<(SkipReason, u64)>,
    /// A human-readable explanation of the first skip, for `error_message`.
    pub first_skip: Option<String>,
    /// Exemplars in the request; Strix does not store them.
    pub exemplars_skipped: u64,
}

impl OtlpDecoded {
    fn skip(&mut self, reason: SkipReason, points: u64, message: impl FnOnce() -> String) {
        if points == 0 {
            return;
        }
        self.skipped += points;
        match self.skip_reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += points,
            None => self.skip_reasons.push((reason, points)),
        }
        if self.first_skip.is_none() {
            self.first_skip = Some(message());
        }
    }
}

/// Running totals that turn delta temporality into cumulative values, owned by the caller
/// and passed to every [`translate`] call (one per Strix process, behind a mutex).
///
/// Totals start at the first delta seen by this process, so a counter fed by deltas counts
/// from Strix' start, not the sender's. Call [`DeltaState::prune`] now and then to forget
/// series that stopped reporting.
#[derive(Debug)]
pub struct DeltaState {
    sums: HashMap<Labels, DeltaSum>,
    hists: HashMap<Labels, DeltaHist>,
    max_series: usize,
}

#[derive(Debug)]
struct DeltaSum {
    total: f64,
    last_ns: u64,
}

#[derive(Debug)]
struct DeltaHist {
    bounds: Vec<f64>,
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
    last_ns: u64,
}

impl Default for DeltaState {
    fn default() -> Self {
        Self::new()
    }
}

impl DeltaState {
    /// Default limit on tracked delta series.
    pub const DEFAULT_MAX_SERIES: usize = 500_000;

    pub fn new() -> Self {
        Self::with_max_series(Self::DEFAULT_MAX_SERIES)
    }

    /// New series beyond `max_series` are skipped ([`SkipReason::DeltaStateFull`]).
    pub fn with_max_series(max_series: usize) -> Self {
        DeltaState {
            sums: HashMap::new(),
            hists: HashMap::new(),
            max_series,
        }
    }

    /// Number of tracked delta series.
    pub fn len(&self) -> usize {
        self.sums.len() + self.hists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets series whose last delta point is older than `cutoff_ms` (Unix ms); returns
    /// how many were dropped. A forgotten series restarts from zero, which PromQL's
    /// `rate` treats as a counter reset.
    pub fn prune(&mut self, cutoff_ms: i64) -> usize {
        let before = self.len();
        let keep = |last_ns: u64| ns_to_ms(last_ns) >= cutoff_ms;
        self.sums.retain(|_, s| keep(s.last_ns));
        self.hists.retain(|_, h| keep(h.last_ns));
        before - self.len()
    }

    fn full(&self) -> bool {
        self.len() >= self.max_series
    }
}

/// What a metric is, for naming: decides the `_total` and `_ratio` suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    MonotonicCounter,
    NonMonotonicCounter,
    Histogram,
    Summary,
}

const UNIT_MAP: &[(&str, &str)] = &[
    ("d", "days"),
    ("h", "hours"),
    ("min", "minutes"),
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("TiBy", "tibibytes"),
    ("KBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("TBy", "terabytes"),
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("1", ""),
    ("%", "percent"),
];

const PER_UNIT_MAP: &[(&str, &str)] = &[
    ("s", "second"),
    ("m", "minute"),
    ("h", "hour"),
    ("d", "day"),
    ("w", "week"),
    ("mo", "month"),
    ("y", "year"),
];

fn lookup<'a>(map: &[(&'a str, &'a str)], k: &'a str) -> &'a str {
    map.iter().find(|(u, _)| *u == k).map_or(k, |(_, p)| p)
}

/// Main and per-unit suffixes of an OTLP (UCUM) unit, before clean-up.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let mut main_suffix = String::new();
    if !main.is_empty() && !main.contains(['{', '}']) {
        main_suffix = lookup(UNIT_MAP, main).to_owned();
    }
    let mut per_suffix = String::new();
    if let Some(per) = parts.next().map(str::trim) {
        if !per.is_empty() && !per.contains(['{', '}']) {
            per_suffix = format!("per_{}", lookup(PER_UNIT_MAP, per));
        }
    }
    (main_suffix, per_suffix)
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// Invalid characters → `_`, runs of `_` collapsed, leading `_` trimmed.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_metric_char(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out.trim_start_matches('_').to_owned()
}

/// The Prometheus unit for metadata: `s` → `seconds`, `By/s` → `bytes_per_second`.
pub fn unit_name(unit: &str) -> String {
    let (main, per) = unit_suffixes(unit);
    let (main, per) = (clean_unit(&main), clean_unit(&per));
    let u = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    u.trim_matches('_').to_owned()
}

/// The Prometheus metric name of an OTLP metric (`UnderscoreEscapingWithSuffixes`), or
/// `None` when it normalises to nothing usable.
pub fn metric_name(name: &str, unit: &str, kind: MetricKind) -> Option<String> {
    let mut tokens: Vec<String> = name
        .split(|c: char| !is_metric_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let (main, per) = unit_suffixes(unit);
    let (mut main, mut per) = (clean_unit(&main), clean_unit(&per));
    if tokens.contains(&main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        per = per.trim_end_matches('_').to_owned();
        if tokens.contains(&per) {
            per.clear();
        }
    }
    if !per.is_empty() {
        main = main.trim_end_matches('_').to_owned();
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    if kind == MetricKind::MonotonicCounter {
        tokens.retain(|t| t != "total");
        tokens.push("total".to_owned());
    }
    if unit == "1" && kind == MetricKind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".to_owned());
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() || (out != name && out.chars().all(|c| c == '_')) {
        return None;
    }
    Some(out)
}

/// The Prometheus label name of an OTLP attribute key: runs of characters outside
/// `[a-zA-Z0-9]` → one `_`, `__reserved__` names keep their underscores, a leading digit
/// gets `key_`. `None` for an empty key or one that becomes only underscores.
pub fn label_name(key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let (reserved, inner) = match key.strip_prefix("__").and_then(|k| k.strip_suffix("__")) {
        Some(inner) if key.len() >= 4 => (true, inner),
        _ => (false, key),
    };
    let mut s = String::with_capacity(key.len() + 4);
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    if reserved {
        s = format!("__{s}__");
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    }
    if s.is_empty() || s.chars().all(|c| c == '_') {
        return None;
    }
    Some(s)
}

/// An attribute value as a label value (pcommon `AsString`): strings as they are, numbers
/// and booleans in decimal, bytes in base64, arrays and maps as JSON.
pub fn attribute_string(v: Option<&proto::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => float_string(*d),
        Some(any_value::Value::BytesValue(b)) => {
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(other) => any_json(other).to_string(),
    }
}

fn any_json(v: &any_value::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        any_value::Value::StringValue(s) => J::String(s.clone()),
        any_value::Value::BoolValue(b) => J::Bool(*b),
        any_value::Value::IntValue(i) => J::from(*i),
        any_value::Value::DoubleValue(d) => {
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(float_string(*d)), J::Number)
        }
        any_value::Value::BytesValue(b) => {
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        any_value::Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(J::Null, any_json))
                .collect(),
        ),
        any_value::Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv
                        .value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .map_or(J::Null, any_json);
                    (kv.key.clone(), v)
                })
                .collect(),
        ),
    }
}

/// ES6 number formatting, as pcommon does: plain decimal except for very large and very
/// small magnitudes.
fn float_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// `le` and `quantile` label values: shortest decimal, no exponent (Go's `'f', -1`).
fn bound_string(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    format!("{f}")
}

fn ns_to_ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

fn find_attr<'a>(attrs: &'a [proto::KeyValue], key: &str) -> Option<&'a proto::KeyValue> {
    attrs.iter().find(|kv| kv.key == key)
}

/// Sanitised attribute pairs; colliding names join values with `;` in key order.
fn attribute_labels(attrs: &[proto::KeyValue]) -> Result<BTreeMap<String, String>, String> {
    let mut by_name: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for kv in attrs {
        let name = label_name(&kv.key)
            .ok_or_else(|| format!("attribute key {:?} is not a usable label name", kv.key))?;
        by_name
            .entry(name)
            .or_default()
            .push((kv.key.as_str(), attribute_string(kv.value.as_ref())));
    }
    Ok(by_name
        .into_iter()
        .map(|(name, mut vals)| {
            vals.sort_by(|a, b| a.0.cmp(b.0));
            let joined = vals
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(";");
            (name, joined)
        })
        .collect())
}

fn to_labels(map: BTreeMap<String, String>) -> Labels {
    // BTreeMap iterates in name order, so the pairs are sorted and unique.
    Labels::from_sorted(
        map.into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, value)| Label { name, value })
            .collect(),
    )
}

/// Per-resource context: `job` / `instance` labels.
struct ResourceCtx {
    job: Option<String>,
    instance: Option<String>,
}

struct Out<'a> {
    dec: OtlpDecoded,
    set: SeriesSet<'a>,
    meta_index: HashMap<String, usize>,
}

impl Out<'_> {
    fn push(&mut self, labels: Labels, t: i64, v: f64) {
        let idx = self.set.index_of(None, labels);
        self.set.push_at(idx, Sample::new(t, v));
    }

    fn metadata(&mut self, family: &str, kind: &str, m: &proto::Metric) {
        if self.meta_index.contains_key(family) {
            return;
        }
        self.meta_index
            .insert(family.to_owned(), self.dec.metadata.len());
        self.dec.metadata.push(Metadata {
            metric_family_name: family.to_owned(),
            r#type: kind.to_owned(),
            help: m.description.clone(),
            unit: unit_name(&m.unit),
        });
    }
}

/// Base labels of one data point: sanitised attributes, then `job` / `instance`.
fn point_labels(
    attrs: &[proto::KeyValue],
    res: &ResourceCtx,
) -> Result<BTreeMap<String, String>, String> {
    let mut map = attribute_labels(attrs)?;
    if let Some(job) = &res.job {
        map.insert("job".to_owned(), job.clone());
    }
    if let Some(instance) = &res.instance {
        map.insert("instance".to_owned(), instance.clone());
    }
    Ok(map)
}

fn with(map: &BTreeMap<String, String>, extra: &[(&str, &str)]) -> Labels {
    let mut m = map.clone();
    for (k, v) in extra {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    to_labels(m)
}

/// Translates a decoded request into series and metadata. Never fails: data points that
/// cannot be translated are counted in [`OtlpDecoded::skipped`] with a reason; label and
/// name validity beyond that is the engine's to judge.
pub fn translate(req: ExportRequest, delta: &mut DeltaState) -> OtlpDecoded {
    let mut out = Out {
        dec: OtlpDecoded::default(),
        set: SeriesSet::default(),
        meta_index: HashMap::new(),
    };
    for rm in &req.resource_metrics {
        let attrs: &[proto::KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
        let job = find_attr(attrs, SERVICE_NAME).map(|kv| {
            let name = attribute_string(kv.value.as_ref());
            match find_attr(attrs, SERVICE_NAMESPACE) {
                Some(ns) => format!("{}/{name}", attribute_string(ns.value.as_ref())),
                None => name,
            }
        });
        let instance =
            find_attr(attrs, SERVICE_INSTANCE_ID).map(|kv| attribute_string(kv.value.as_ref()));
        let res = ResourceCtx { job, instance };
        let mut latest_ns: Option<u64> = None;
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                if let Some(t) = translate_metric(m, &res, delta, &mut out) {
                    latest_ns = Some(latest_ns.map_or(t, |l| l.max(t)));
                }
            }
        }
        if let Some(t) = latest_ns {
            target_info(attrs, &res, ns_to_ms(t), &mut out);
        }
    }
    let Out { mut dec, set, .. } = out;
    dec.series = set.series;
    for s in &mut dec.series {
        s.samples.sort_by_key(|s| s.t);
    }
    dec
}

fn target_info(attrs: &[proto::KeyValue], res: &ResourceCtx, t: i64, out: &mut Out<'_>) {
    let rest: Vec<proto::KeyValue> = attrs
        .iter()
        .filter(|kv| {
            kv.key != SERVICE_NAME && kv.key != SERVICE_NAMESPACE && kv.key != SERVICE_INSTANCE_ID
        })
        .cloned()
        .collect();
    // Keys that cannot be label names are dropped here rather than losing target_info.
    let usable: Vec<proto::KeyValue> = rest
        .into_iter()
        .filter(|kv| label_name(&kv.key).is_some())
        .collect();
    let Ok(map) = point_labels(&usable, res) else {
        return;
    };
    let non_identifying = map
        .iter()
        .filter(|(k, v)| *k != "job" && *k != "instance" && !v.is_empty())
        .count();
    if non_identifying == 0 {
        return;
    }
    let labels = with(&map, &[("__name__", "target_info")]);
    out.push(labels, t, 1.0);
    if !out.meta_index.contains_key("target_info") {
        out.meta_index
            .insert("target_info".to_owned(), out.dec.metadata.len());
        out.dec.metadata.push(Metadata {
            metric_family_name: "target_info".to_owned(),
            r#type: "gauge".to_owned(),
            help: "Target metadata".to_owned(),
            unit: String::new(),
        });
    }
}

/// Translates one metric; returns the latest data point time it produced samples for.
fn translate_metric(
    m: &proto::Metric,
    res: &ResourceCtx,
    delta: &mut DeltaState,
    out: &mut Out<'_>,
) -> Option<u64> {
    let Some(data) = &m.data else {
        out.dec.skip(SkipReason::NoData, 1, || {
            format!("metric {:?} has no data", m.name)
        });
        return None;
    };
    let (kind, n_points, temporality) = match data {
        metric::Data::Gauge(g) => (MetricKind::Gauge, g.data_points.len(), None),
        metric::Data::Sum(s) => (
            if s.is_monotonic {
                MetricKind::MonotonicCounter
            } else {
                MetricKind::NonMonotonicCounter
            },
            s.data_points.len(),
            Some(s.aggregation_temporality),
        ),
        metric::Data::Histogram(h) => (
            MetricKind::Histogram,
            h.data_points.len(),
            Some(h.aggregation_temporality),
        ),
        metric::Data::Summary(s) => (MetricKind::Summary, s.data_points.len(), None),
        metric::Data::ExponentialHistogram(e) => {
            out.dec.skip(
                SkipReason::ExponentialHistogram,
                e.data_points.len() as u64,
                || {
                    format!(
                        "metric {:?}: exponential histograms are not supported yet; configure the \
                         SDK's aggregation for this instrument as explicit-bucket histogram",
                        m.name
                    )
                },
            );
            return None;
        }
    };
    let n_points = n_points as u64;
    if let Some(t) = temporality {
        if t != proto::TEMPORALITY_CUMULATIVE && t != proto::TEMPORALITY_DELTA {
            out.dec.skip(SkipReason::InvalidTemporality, n_points, || {
                format!(
                    "metric {:?}: aggregation temporality {t} is neither delta (1) nor cumulative (2)",
                    m.name
                )
            });
            return None;
        }
    }
    let is_delta = temporality == Some(proto::TEMPORALITY_DELTA);
    let Some(name) = metric_name(&m.name, &m.unit, kind) else {
        out.dec.skip(SkipReason::InvalidMetricName, n_points, || {
            format!("metric name {:?} is not usable", m.name)
        });
        return None;
    };
    let type_name = match kind {
        MetricKind::Gauge | MetricKind::NonMonotonicCounter => "gauge",
        MetricKind::MonotonicCounter => "counter",
        MetricKind::Histogram => "histogram",
        MetricKind::Summary => "summary",
    };
    out.metadata(&name, type_name, m);
    let mut latest: Option<u64> = None;
    let mut seen = |t: u64| latest = Some(latest.map_or(t, |l: u64| l.max(t)));
    match data {
        metric::Data::Gauge(g) => {
            for p in &g.data_points {
                if number_point(&name, p, res, None, out) {
                    seen(p.time_unix_nano);
                }
            }
        }
        metric::Data::Sum(s) => {
            for p in &s.data_points {
                let d = if is_delta { Some(&mut *delta) } else { None };
                if number_point(&name, p, res, d, out) {
                    seen(p.time_unix_nano);
                }
            }
        }
        metric::Data::Histogram(h) => {
            for p in &h.data_points {
                let d = if is_delta { Some(&mut *delta) } else { None };
                if histogram_point(&name, p, res, d, out) {
                    seen(p.time_unix_nano);
                }
            }
        }
        metric::Data::Summary(s) => {
            for p in &s.data_points {
                if summary_point(&name, p, res, out) {
                    seen(p.time_unix_nano);
                }
            }
        }
        metric::Data::ExponentialHistogram(_) => {}
    }
    latest
}

fn labels_or_skip(
    name: &str,
    attrs: &[proto::KeyValue],
    res: &ResourceCtx,
    out: &mut Out<'_>,
) -> Option<BTreeMap<String, String>> {
    match point_labels(attrs, res) {
        Ok(mut map) => {
            map.insert("__name__".to_owned(), name.to_owned());
            Some(map)
        }
        Err(msg) => {
            out.dec.skip(SkipReason::InvalidLabelName, 1, || {
                format!("metric {name:?}: {msg}")
            });
            None
        }
    }
}

fn stale(flags: u32) -> bool {
    flags & proto::FLAG_NO_RECORDED_VALUE != 0
}

fn number_point(
    name: &str,
    p: &proto::NumberDataPoint,
    res: &ResourceCtx,
    delta: Option<&mut DeltaState>,
    out: &mut Out<'_>,
) -> bool {
    out.dec.exemplars_skipped += p.exemplars.len() as u64;
    let Some(map) = labels_or_skip(name, &p.attributes, res, out) else {
        return false;
    };
    let t = ns_to_ms(p.time_unix_nano);
    let labels = to_labels(map);
    if stale(p.flags) {
        out.push(labels, t, STALE_NAN);
        out.dec.points += 1;
        return true;
    }
    let v = match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => {
            out.dec.skip(SkipReason::NoValue, 1, || {
                format!("{labels}: data point has no value")
            });
            return false;
        }
    };
    let v = match delta {
        None => v,
        Some(state) => {
            let full = state.full();
            match state.sums.get_mut(&labels) {
                Some(s) if p.time_unix_nano <= s.last_ns => {
                    out.dec.skip(SkipReason::DeltaOutOfOrder, 1, || {
                        format!("{labels}: delta point not newer than the last one (resent?)")
                    });
                    return false;
                }
                Some(s) => {
                    s.total += v;
                    s.last_ns = p.time_unix_nano;
                    s.total
                }
                None if full => {
                    out.dec.skip(SkipReason::DeltaStateFull, 1, || {
                        format!("{labels}: too many delta series to track")
                    });
                    return false;
                }
                None => {
                    state.sums.insert(
                        labels.clone(),
                        DeltaSum {
                            total: v,
                            last_ns: p.time_unix_nano,
                        },
                    );
                    v
                }
            }
        }
    };
    out.push(labels, t, v);
    out.dec.points += 1;
    true
}

fn histogram_point(
    name: &str,
    p: &proto::HistogramDataPoint,
    res: &ResourceCtx,
    delta: Option<&mut DeltaState>,
    out: &mut Out<'_>,
) -> bool {
    out.dec.exemplars_skipped += p.exemplars.len() as u64;
    let Some(base) = labels_or_skip(name, &p.attributes, res, out) else {
        return false;
    };
    if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
        out.dec.skip(SkipReason::InvalidHistogram, 1, || {
            format!(
                "{}: {} bucket counts for {} explicit bounds (want bounds + 1)",
                to_labels(base.clone()),
                p.bucket_counts.len(),
                p.explicit_bounds.len()
            )
        });
        return false;
    }
    let t = ns_to_ms(p.time_unix_nano);
    let is_stale = stale(p.flags);
    let mut buckets = p.bucket_counts.clone();
    let mut count = p.count;
    let mut sum = p.sum;
    if let (Some(state), false) = (delta, is_stale) {
        let key = to_labels(base.clone());
        let full = state.full();
        match state.hists.get_mut(&key) {
            Some(h) if p.time_unix_nano <= h.last_ns => {
                out.dec.skip(SkipReason::DeltaOutOfOrder, 1, || {
                    format!("{key}: delta point not newer than the last one (resent?)")
                });
                return false;
            }
            Some(h) => {
                if h.bounds != p.explicit_bounds || h.buckets.len() != buckets.len() {
                    // The bucket layout changed: start over from this point.
                    h.bounds = p.explicit_bounds.clone();
                    h.buckets = buckets.clone();
                    h.count = count;
                    h.sum = sum.unwrap_or(0.0);
                } else {
                    for (acc, b) in h.buckets.iter_mut().zip(&buckets) {
                        *acc = acc.saturating_add(*b);
                    }
                    h.count = h.count.saturating_add(count);
                    h.sum += sum.unwrap_or(0.0);
                }
                h.last_ns = p.time_unix_nano;
                buckets = h.buckets.clone();
                count = h.count;
                sum = sum.map(|_| h.sum);
            }
            None if full => {
                out.dec.skip(SkipReason::DeltaStateFull, 1, || {
                    format!("{key}: too many delta series to track")
                });
                return false;
            }
            None => {
                state.hists.insert(
                    key,
                    DeltaHist {
                        bounds: p.explicit_bounds.clone(),
                        buckets: buckets.clone(),
                        count,
                        sum: sum.unwrap_or(0.0),
                        last_ns: p.time_unix_nano,
                    },
                );
            }
        }
    }
    let val = |v: f64| if is_stale { STALE_NAN } else { v };
    let bucket_name = format!("{name}_bucket");
    let mut cumulative: u64 = 0;
    for (i, bound) in p.explicit_bounds.iter().enumerate() {
        if let Some(c) = buckets.get(i) {
            cumulative = cumulative.saturating_add(*c);
        }
        let le = bound_string(*bound);
        let labels = with(&base, &[("__name__", &bucket_name), ("le", &le)]);
        out.push(labels, t, val(cumulative as f64));
    }
    let labels = with(&base, &[("__name__", &bucket_name), ("le", "+Inf")]);
    out.push(labels, t, val(count as f64));
    if let Some(sum) = sum {
        let labels = with(&base, &[("__name__", &format!("{name}_sum"))]);
        out.push(labels, t, val(sum));
    }
    let labels = with(&base, &[("__name__", &format!("{name}_count"))]);
    out.push(labels, t, val(count as f64));
    out.dec.points += 1;
    true
}

fn summary_point(
    name: &str,
    p: &proto::SummaryDataPoint,
    res: &ResourceCtx,
    out: &mut Out<'_>,
) -> bool {
    let Some(base) = labels_or_skip(name, &p.attributes, res, out) else {
        return false;
    };
    let t = ns_to_ms(p.time_unix_nano);
    let is_stale = stale(p.flags);
    let val = |v: f64| if is_stale { STALE_NAN } else { v };
    for q in &p.quantile_values {
        let qs = bound_string(q.quantile);
        let labels = with(&base, &[("quantile", &qs)]);
        out.push(labels, t, val(q.value));
    }
    let labels = with(&base, &[("__name__", &format!("{name}_sum"))]);
    out.push(labels, t, val(p.sum));
    let labels = with(&base, &[("__name__", &format!("{name}_count"))]);
    out.push(labels, t, val(p.count as f64));
    out.dec.points += 1;
    true
}
