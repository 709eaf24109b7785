//! Values flowing between evaluator nodes.
//!
//! Every node is evaluated once over the whole evaluation grid (all steps at once),
//! as Prometheus' range evaluation does: an instant-vector node yields series with at
//! most one point per step, a scalar node one value per step.

use std::collections::HashMap;

use strix_core::{Labels, Timestamp};

use crate::QueryError;

/// The evaluation steps: `start, start + step, ..., end` (one step when `step == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: Timestamp,
    pub end: Timestamp,
    pub step: i64,
}

impl Grid {
    pub fn len(&self) -> usize {
        if self.step <= 0 || self.end <= self.start {
            1
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }

    pub fn time(&self, i: usize) -> Timestamp {
        self.start + self.step * i as i64
    }

    pub fn times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        (0..self.len()).map(|i| self.time(i))
    }

    /// Index of step time `t` (which must be on the grid).
    pub fn index(&self, t: Timestamp) -> usize {
        if self.step <= 0 {
            0
        } else {
            ((t - self.start) / self.step) as usize
        }
    }
}

/// One float point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub t: Timestamp,
    pub v: f64,
}

/// A labelled series of points sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// A range-vector operand (matrix selector or subquery) with its windowing rule: at
/// step `t` the window is `(te - range, te]` where `te = at.unwrap_or(t) - offset`.
#[derive(Debug, Clone)]
pub(crate) struct RangeValue {
    pub series: Vec<Series>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<Timestamp>,
    /// Labels for `absent_over_time` (from the selector's equality matchers).
    pub absent_labels: Labels,
}

impl RangeValue {
    /// End of the window evaluated for step time `t`.
    pub fn window_end(&self, t: Timestamp) -> Timestamp {
        self.at.unwrap_or(t) - self.offset
    }
}

/// The result of evaluating one node over a grid.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<Series>),
    Range(RangeValue),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Range(_) => "range vector",
        }
    }
}

pub(crate) fn duplicate_labelset() -> QueryError {
    QueryError::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Collects output points into series keyed by labels; two points for the same label
/// set at the same step are Prometheus' "same labelset" error.
#[derive(Debug, Default)]
pub(crate) struct SeriesSet {
    index: HashMap<Labels, usize>,
    pub series: Vec<Series>,
}

impl SeriesSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn slot(&mut self, labels: &Labels) -> usize {
        if let Some(&i) = self.index.get(labels) {
            return i;
        }
        let i = self.series.len();
        self.index.insert(labels.clone(), i);
        self.series.push(Series {
            labels: labels.clone(),
            points: Vec::new(),
        });
        i
    }

    /// Appends a point at step time `t`; steps must be pushed in increasing time per slot.
    pub fn push_at(&mut self, slot: usize, t: Timestamp, v: f64) -> Result<(), QueryError> {
        let pts = &mut self.series[slot].points;
        if let Some(last) = pts.last() {
            if last.t == t {
                return Err(duplicate_labelset());
            }
        }
        pts.push(Point { t, v });
        Ok(())
    }

    pub fn push(&mut self, labels: &Labels, t: Timestamp, v: f64) -> Result<(), QueryError> {
        let slot = self.slot(labels);
        self.push_at(slot, t, v)
    }

    /// Adds a whole series, merging with an existing one of the same labels (points at
    /// the same time in both are an error).
    pub fn add_series(&mut self, s: Series) -> Result<(), QueryError> {
        if s.points.is_empty() {
            return Ok(());
        }
        match self.index.get(&s.labels) {
            None => {
                self.index.insert(s.labels.clone(), self.series.len());
                self.series.push(s);
                Ok(())
            }
            Some(&i) => {
                let existing = std::mem::take(&mut self.series[i].points);
                let mut merged = Vec::with_capacity(existing.len() + s.points.len());
                let (mut a, mut b) = (
                    existing.into_iter().peekable(),
                    s.points.into_iter().peekable(),
                );
                loop {
                    match (a.peek(), b.peek()) {
                        (Some(x), Some(y)) => {
                            if x.t == y.t {
                                return Err(duplicate_labelset());
                            }
                            if x.t < y.t {
                                merged.extend(a.next());
                            } else {
                                merged.extend(b.next());
                            }
                        }
                        (Some(_), None) => merged.extend(a.next()),
                        (None, Some(_)) => merged.extend(b.next()),
                        (None, None) => break,
                    }
                }
                self.series[i].points = merged;
                Ok(())
            }
        }
    }

    pub fn finish(self) -> Vec<Series> {
        self.series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect()
    }
}

/// Per-step view of a set of series: for each step, `(series index, value)` pairs.
pub(crate) fn by_step(grid: &Grid, series: &[Series]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = vec![Vec::new(); grid.len()];
    for (si, s) in series.iter().enumerate() {
        for p in &s.points {
            if let Some(slot) = out.get_mut(grid.index(p.t)) {
                slot.push((si, p.v));
            }
        }
    }
    out
}

/// Labels without `__name__`.
pub(crate) fn drop_name(l: &Labels) -> Labels {
    if l.metric_name().is_none() {
        return l.clone();
    }
    Labels::from_sorted(
        l.iter()
            .filter(|x| x.name != strix_core::METRIC_NAME)
            .cloned()
            .collect(),
    )
}

/// Neumaier-compensated summation step (the algorithm Prometheus uses for sums).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Compensated sum.
pub(crate) fn kahan_sum(vals: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for v in vals {
        (s, c) = kahan_inc(v, s, c);
    }
    s + c
}

/// Mean with compensated summation, switching to an incremental mean when the plain
/// sum overflows.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MeanAcc {
    count: f64,
    sum: f64,
    c: f64,
    mean: f64,
    incremental: bool,
}

impl MeanAcc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if !self.incremental {
            let (ns, nc) = kahan_inc(v, self.sum, self.c);
            if self.count == 1.0 || !ns.is_infinite() {
                self.sum = ns;
                self.c = nc;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        if self.mean.is_infinite() {
            if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                return;
            }
            if !v.is_infinite() && !v.is_nan() {
                return;
            }
        }
        let corrected = self.mean + self.c;
        (self.mean, self.c) = kahan_inc(v / self.count - corrected / self.count, self.mean, self.c);
    }

    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            (self.sum + self.c) / self.count
        }
    }
}

/// Population variance with compensated Welford updates.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct VarAcc {
    count: f64,
    mean: f64,
    c_mean: f64,
    aux: f64,
    c_aux: f64,
}

impl VarAcc {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        let delta = v - (self.mean + self.c_mean);
        (self.mean, self.c_mean) = kahan_inc(delta / self.count, self.mean, self.c_mean);
        (self.aux, self.c_aux) = kahan_inc(
            delta * (v - (self.mean + self.c_mean)),
            self.aux,
            self.c_aux,
        );
    }

    pub fn variance(&self) -> f64 {
        (self.aux + self.c_aux) / self.count
    }
}

/// Prometheus' value order for quantiles: ascending with NaN before everything (its
/// `vectorByValueHeap.Less` is true whenever the left value is NaN, and Go's
/// `slices.Sort` on floats also puts NaN first). A total order, so sorting is
/// deterministic; all NaNs compare equal.
pub(crate) fn cmp_nan_first(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Quantile by linear interpolation between closest ranks (Prometheus' `quantile`),
/// over the values sorted by [`cmp_nan_first`]: NaNs occupy the lowest ranks.
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| cmp_nan_first(*a, *b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    let (lo, hi) = (vals[lower as usize], vals[upper as usize]);
    lo * (1.0 - w) + hi * w
}

/// Go's `math.Max`/`math.Min` semantics: NaN wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_steps() {
        let g = Grid {
            start: 10,
            end: 30,
            step: 10,
        };
        assert_eq!(g.times().collect::<Vec<_>>(), vec![10, 20, 30]);
        assert_eq!(g.index(20), 1);
        let g = Grid {
            start: 5,
            end: 5,
            step: 0,
        };
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(0.5, &mut [1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
    }

    #[test]
    fn quantile_ranks_nan_lowest() {
        // Sorted as [NaN, 1, 2, 3]: rank 1.5 interpolates between 1 and 2.
        assert_eq!(quantile(0.5, &mut [3.0, f64::NAN, 1.0, 2.0]), 1.5);
        assert_eq!(quantile(1.0, &mut [f64::NAN, 5.0, f64::NAN]), 5.0);
        assert!(quantile(0.0, &mut [2.0, f64::NAN]).is_nan());
        // Rank 0.5 between NaN and 2: NaN.
        assert!(quantile(0.5, &mut [2.0, f64::NAN]).is_nan());
    }

    #[test]
    fn kahan_is_precise() {
        assert_eq!(kahan_sum([1e100, 1.0, -1e100]), 1.0);
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }
}
