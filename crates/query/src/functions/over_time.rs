//! `*_over_time` and `double_exponential_smoothing`: one value per window.

use promql_parser::parser::Call;

use super::{arg, range_apply};
use crate::eval::Evaluator;
use crate::value::{kahan_sum, quantile, Grid, MeanAcc, Point, Series, Value, VarAcc};
use crate::QueryError;

fn min_max(w: &[Point], max: bool) -> f64 {
    let mut m = w[0].v;
    for p in w {
        if (if max { p.v > m } else { p.v < m }) || m.is_nan() {
            m = p.v;
        }
    }
    m
}

fn smoothing(w: &[Point], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let mut s0;
    let mut s1 = w[0].v;
    let mut b = w[1].v - w[0].v;
    s0 = s1;
    for (i, p) in w.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

impl Evaluator<'_> {
    pub(crate) fn over_time(&mut self, call: &Call, grid: Grid) -> Result<Value, QueryError> {
        let name = call.func.name;
        if name == "quantile_over_time" {
            let q = self.eval_scalar(arg(call, 0)?, grid)?;
            let rv = self.eval_range_arg(arg(call, 1)?, grid)?;
            let mut buf = Vec::new();
            let out = range_apply(self, &rv, &grid, true, |i, _, w| {
                buf.clear();
                buf.extend(w.iter().map(|p| p.v));
                Some(quantile(q[i], &mut buf))
            })?;
            return Ok(Value::Vector(out));
        }
        let rv = self.eval_range_arg(arg(call, 0)?, grid)?;
        let out = match name {
            "double_exponential_smoothing" | "holt_winters" => {
                let sf = self.eval_scalar(arg(call, 1)?, grid)?;
                let tf = self.eval_scalar(arg(call, 2)?, grid)?;
                for (&s, &t) in sf.iter().zip(&tf) {
                    if s <= 0.0 || s >= 1.0 || s.is_nan() {
                        return Err(QueryError::Execution(format!(
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: {s:.6}"
                        )));
                    }
                    if t <= 0.0 || t >= 1.0 || t.is_nan() {
                        return Err(QueryError::Execution(format!(
                            "invalid trend factor. Expected: 0 < tf < 1, got: {t:.6}"
                        )));
                    }
                }
                range_apply(self, &rv, &grid, true, |i, _, w| smoothing(w, sf[i], tf[i]))?
            }
            "absent_over_time" => {
                let mut present = vec![false; grid.len()];
                range_apply(self, &rv, &grid, true, |i, _, _| {
                    present[i] = true;
                    None
                })?;
                let points: Vec<Point> = grid
                    .times()
                    .zip(present)
                    .filter(|(_, p)| !p)
                    .map(|(t, _)| Point { t, v: 1.0 })
                    .collect();
                if points.is_empty() {
                    vec![]
                } else {
                    vec![Series {
                        labels: rv.absent_labels.clone(),
                        points,
                    }]
                }
            }
            "avg_over_time" => range_apply(self, &rv, &grid, true, |_, _, w| {
                let mut m = MeanAcc::default();
                w.iter().for_each(|p| m.add(p.v));
                Some(m.value())
            })?,
            "count_over_time" => {
                range_apply(self, &rv, &grid, true, |_, _, w| Some(w.len() as f64))?
            }
            "sum_over_time" => range_apply(self, &rv, &grid, true, |_, _, w| {
                Some(kahan_sum(w.iter().map(|p| p.v)))
            })?,
            "min_over_time" => {
                range_apply(self, &rv, &grid, true, |_, _, w| Some(min_max(w, false)))?
            }
            "max_over_time" => {
                range_apply(self, &rv, &grid, true, |_, _, w| Some(min_max(w, true)))?
            }
            "last_over_time" => {
                range_apply(self, &rv, &grid, false, |_, _, w| w.last().map(|p| p.v))?
            }
            "first_over_time" => {
                range_apply(self, &rv, &grid, false, |_, _, w| w.first().map(|p| p.v))?
            }
            "ts_of_last_over_time" => range_apply(self, &rv, &grid, true, |_, _, w| {
                w.last().map(|p| p.t as f64 / 1000.0)
            })?,
            "ts_of_first_over_time" => range_apply(self, &rv, &grid, true, |_, _, w| {
                w.first().map(|p| p.t as f64 / 1000.0)
            })?,
            "present_over_time" => range_apply(self, &rv, &grid, true, |_, _, _| Some(1.0))?,
            "stddev_over_time" | "stdvar_over_time" => {
                let sd = name == "stddev_over_time";
                range_apply(self, &rv, &grid, true, |_, _, w| {
                    let mut a = VarAcc::default();
                    w.iter().for_each(|p| a.add(p.v));
                    Some(if sd {
                        a.variance().sqrt()
                    } else {
                        a.variance()
                    })
                })?
            }
            "mad_over_time" => {
                let mut buf = Vec::new();
                range_apply(self, &rv, &grid, true, |_, _, w| {
                    buf.clear();
                    buf.extend(w.iter().map(|p| p.v));
                    let median = quantile(0.5, &mut buf);
                    buf.iter_mut().for_each(|v| *v = (*v - median).abs());
                    Some(quantile(0.5, &mut buf))
                })?
            }
            _ => {
                return Err(QueryError::BadData(format!(
                    "function {name:?} is not supported"
                )))
            }
        };
        Ok(Value::Vector(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_of_a_line_follows_it() {
        let w: Vec<Point> = (0..5)
            .map(|i| Point {
                t: i * 1000,
                v: i as f64,
            })
            .collect();
        let v = smoothing(&w, 0.5, 0.5).unwrap_or(f64::NAN);
        assert!((v - 4.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn min_max_skip_leading_nan() {
        let w = [
            Point { t: 0, v: f64::NAN },
            Point { t: 1, v: 3.0 },
            Point { t: 2, v: 1.0 },
        ];
        assert_eq!(min_max(&w, false), 1.0);
        assert_eq!(min_max(&w, true), 3.0);
    }
}
