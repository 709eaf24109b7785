//! `histogram_quantile` over classic histograms (`le` buckets).

use std::collections::HashMap;

use promql_parser::parser::Call;
use strix_core::Labels;

use super::arg;
use crate::eval::Evaluator;
use crate::value::{cmp_nan_first, drop_name, Grid, SeriesSet, Value};
use crate::QueryError;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < eps * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// The `q`-quantile of cumulative buckets, interpolating linearly inside a bucket.
fn bucket_quantile(q: f64, buckets: &mut [Bucket]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Prometheus does not expect NaN bounds (its comparator leaves their place
    // undefined); a total order with NaN first keeps the result deterministic.
    buckets.sort_by(|a, b| cmp_nan_first(a.upper, b.upper));
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Merge buckets with the same upper bound.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    // Force monotonic counts, ignoring tiny floating point differences.
    let mut prev = merged[0].count;
    for b in merged.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) || cur < prev {
            b.count = prev;
            continue;
        }
        prev = cur;
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let n = merged.len();
    let observations = merged[n - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..n - 1]
        .iter()
        .position(|x| x.count >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return merged[n - 2].upper;
    }
    if b == 0 && merged[0].upper <= 0.0 {
        return merged[0].upper;
    }
    let (mut start, end, mut count) = (0.0, merged[b].upper, merged[b].count);
    if b > 0 {
        start = merged[b - 1].upper;
        count -= merged[b - 1].count;
        rank -= merged[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

impl Evaluator<'_> {
    pub(crate) fn histogram_quantile(
        &mut self,
        call: &Call,
        grid: Grid,
    ) -> Result<Value, QueryError> {
        let q = self.eval_scalar(arg(call, 0)?, grid)?;
        let series = self.eval_vector(arg(call, 1)?, grid)?;
        // Group bucket series by their labels without `le` and `__name__`.
        let mut groups: HashMap<Labels, Vec<(usize, f64)>> = HashMap::new();
        for (i, s) in series.iter().enumerate() {
            let Some(le) = s.labels.get("le") else {
                continue;
            };
            let Ok(upper) = le.trim().parse::<f64>().or_else(|e| match le.trim() {
                "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
                "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(e),
            }) else {
                continue;
            };
            let key = Labels::from_sorted(
                drop_name(&s.labels)
                    .iter()
                    .filter(|l| l.name != "le")
                    .cloned()
                    .collect(),
            );
            groups.entry(key).or_default().push((i, upper));
        }
        let mut keys: Vec<&Labels> = groups.keys().collect();
        keys.sort();
        let mut set = SeriesSet::new();
        let mut buf = Vec::new();
        for key in keys {
            self.tick()?;
            let members = &groups[key];
            let slot = set.slot(key);
            let mut cursors = vec![0usize; members.len()];
            for (si, t) in grid.times().enumerate() {
                buf.clear();
                for (m, &(i, upper)) in members.iter().enumerate() {
                    let pts = &series[i].points;
                    while cursors[m] < pts.len() && pts[cursors[m]].t < t {
                        cursors[m] += 1;
                    }
                    if let Some(p) = pts.get(cursors[m]) {
                        if p.t == t {
                            buf.push(Bucket { upper, count: p.v });
                        }
                    }
                }
                if !buf.is_empty() {
                    set.push_at(slot, t, bucket_quantile(q[si], &mut buf))?;
                }
            }
        }
        Ok(Value::Vector(set.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[(f64, f64)]) -> Vec<Bucket> {
        v.iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn interpolates_within_bucket() {
        let mut x = b(&[(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (f64::INFINITY, 40.0)]);
        // rank 20 → bucket (0.1,0.5], 10 of 20 → 0.3
        assert!((bucket_quantile(0.5, &mut x) - 0.3).abs() < 1e-12);
        let mut x = b(&[(0.1, 10.0), (f64::INFINITY, 20.0)]);
        assert_eq!(bucket_quantile(0.99, &mut x), 0.1);
        let mut x = b(&[(0.1, 10.0)]);
        assert!(bucket_quantile(0.5, &mut x).is_nan());
    }
}
