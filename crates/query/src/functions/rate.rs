//! Counter and gauge rates: `rate`, `increase`, `delta`, `irate`, `idelta`, `deriv`,
//! `predict_linear`, `changes`, `resets`.

use promql_parser::parser::Call;

use super::{arg, range_apply};
use crate::eval::Evaluator;
use crate::value::{kahan_inc, Grid, Point, Value};
use crate::QueryError;

/// `rate`/`increase`/`delta` over the window `(end - range, end]` with Prometheus'
/// extrapolation: to the window edges when the first/last sample is within 1.1 average
/// sample intervals of them, otherwise by half an interval; counters are never
/// extrapolated below zero.
pub(crate) fn extrapolated_rate(
    w: &[Point],
    end: i64,
    range: i64,
    counter: bool,
    per_second: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.v - first.v;
    if counter {
        let mut prev = first.v;
        for p in &w[1..] {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    Some(extrapolate(
        &WindowSummary {
            first_t: first.t as f64,
            first_v: first.v,
            last_t: last.t as f64,
            samples: w.len(),
            result,
        },
        end,
        range,
        counter,
        per_second,
    ))
}

/// What the extrapolation needs to know about one window: its first sample's time
/// (milliseconds) and value, its last sample's time, the number of samples, and the
/// (counter-corrected) difference between the last and the first sample. The rollup
/// path fills it with estimated timestamps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowSummary {
    pub first_t: f64,
    pub first_v: f64,
    pub last_t: f64,
    pub samples: usize,
    pub result: f64,
}

/// Prometheus' extrapolation of `s.result` to the window `(end - range, end]` (see
/// [`extrapolated_rate`]); `s.samples` must be at least 2 and `last_t > first_t`.
pub(crate) fn extrapolate(
    s: &WindowSummary,
    end: i64,
    range: i64,
    counter: bool,
    per_second: bool,
) -> f64 {
    let result = s.result;
    let start = (end - range) as f64;
    let mut to_start = (s.first_t - start) / 1000.0;
    let mut to_end = (end as f64 - s.last_t) / 1000.0;
    let sampled = (s.last_t - s.first_t) / 1000.0;
    let avg = sampled / (s.samples - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter && result > 0.0 && s.first_v >= 0.0 {
        let to_zero = sampled * (s.first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if per_second {
        factor /= range as f64 / 1000.0;
    }
    result * factor
}

fn instant_value(w: &[Point], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
    if !is_rate {
        return Some(last.v - prev.v);
    }
    let dv = if last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let dt = (last.t - prev.t) as f64 / 1000.0;
    if dt == 0.0 {
        return None;
    }
    Some(dv / dt)
}

/// Least-squares slope and intercept, x in seconds relative to `intercept_t`.
pub(crate) fn linear_regression(w: &[Point], intercept_t: i64) -> (f64, f64) {
    let init = w[0].v;
    let const_y = w.iter().all(|p| p.v == init);
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let n = w.len() as f64;
    let (mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        let x = (p.t - intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

impl Evaluator<'_> {
    pub(crate) fn rate_family(&mut self, call: &Call, grid: Grid) -> Result<Value, QueryError> {
        let name = call.func.name;
        let rv = self.eval_range_arg(arg(call, 0)?, grid)?;
        let range = rv.range;
        let out = match name {
            "rate" | "increase" | "delta" => {
                let counter = name != "delta";
                let per_second = name == "rate";
                range_apply(self, &rv, &grid, true, |_, end, w| {
                    extrapolated_rate(w, end, range, counter, per_second)
                })?
            }
            "irate" => range_apply(self, &rv, &grid, true, |_, _, w| instant_value(w, true))?,
            "idelta" => range_apply(self, &rv, &grid, true, |_, _, w| instant_value(w, false))?,
            "deriv" => range_apply(self, &rv, &grid, true, |_, _, w| {
                (w.len() >= 2).then(|| linear_regression(w, w[0].t).0)
            })?,
            "predict_linear" => {
                let dur = self.eval_scalar(arg(call, 1)?, grid)?;
                let times: Vec<i64> = grid.times().collect();
                range_apply(self, &rv, &grid, true, |i, _, w| {
                    if w.len() < 2 {
                        return None;
                    }
                    let (slope, icept) = linear_regression(w, times[i]);
                    Some(slope * dur[i] + icept)
                })?
            }
            "changes" => range_apply(self, &rv, &grid, true, |_, _, w| {
                let n = w
                    .windows(2)
                    .filter(|p| !(p[0].v == p[1].v || (p[0].v.is_nan() && p[1].v.is_nan())))
                    .count();
                Some(n as f64)
            })?,
            _ => range_apply(self, &rv, &grid, true, |_, _, w| {
                Some(w.windows(2).filter(|p| p[1].v < p[0].v).count() as f64)
            })?,
        };
        Ok(Value::Vector(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn rate_extrapolates_to_window_edges() {
        // Samples every 10s over (0, 60]: 10..60 → 5 intervals covered, extrapolate 10s to start.
        let w = pts(&[
            (10_000, 10.0),
            (20_000, 20.0),
            (30_000, 30.0),
            (40_000, 40.0),
            (50_000, 50.0),
            (60_000, 60.0),
        ]);
        // result 50 over 50s; to_start=10 < 11 → extrapolate; but zero point is at 10s → to_start = 10.
        assert_eq!(
            extrapolated_rate(&w, 60_000, 60_000, true, false),
            Some(60.0)
        );
        assert_eq!(extrapolated_rate(&w, 60_000, 60_000, true, true), Some(1.0));
    }

    #[test]
    fn counter_reset_adds_previous_value() {
        let w = pts(&[(10_000, 5.0), (20_000, 10.0), (30_000, 2.0)]);
        // raw increase 2-5+10 = 7 over 20s, window (0,30]: to_start 10 < 11, zero at 5/7*20=14.3s → 10.
        let v = extrapolated_rate(&w, 30_000, 30_000, true, false).unwrap_or(0.0);
        assert!((v - 7.0 * 30.0 / 20.0).abs() < 1e-9);
    }

    #[test]
    fn regression_slope() {
        let w = pts(&[(0, 1.0), (1000, 3.0), (2000, 5.0)]);
        assert_eq!(linear_regression(&w, 0), (2.0, 1.0));
    }
}
