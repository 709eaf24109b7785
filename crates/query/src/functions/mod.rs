//! Function calls. Each file holds one family; this module dispatches by name.

mod histogram;
mod label;
mod math;
mod over_time;
pub(crate) mod rate;
mod sort;
mod time;

use promql_parser::parser::{Call, Expr};
use strix_core::Labels;

use crate::eval::{unwrap_parens, Evaluator};
use crate::selectors::absent_labels;
use crate::value::{drop_name, Grid, Point, RangeValue, Series, SeriesSet, Value};
use crate::QueryError;

/// Applies `f(step_index, value)` to every point, optionally dropping `__name__`;
/// `None` drops the point. Series that collide after renaming are an error when they
/// have points at the same step.
pub(crate) fn map_points(
    grid: &Grid,
    series: Vec<Series>,
    drop: bool,
    mut f: impl FnMut(usize, f64) -> Option<f64>,
) -> Result<Vec<Series>, QueryError> {
    let mut set = SeriesSet::new();
    for s in series {
        let points: Vec<Point> = s
            .points
            .into_iter()
            .filter_map(|p| f(grid.index(p.t), p.v).map(|v| Point { t: p.t, v }))
            .collect();
        let labels = if drop { drop_name(&s.labels) } else { s.labels };
        set.add_series(Series { labels, points })?;
    }
    Ok(set.finish())
}

pub(crate) fn arg(call: &Call, i: usize) -> Result<&Expr, QueryError> {
    call.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        QueryError::BadData(format!(
            "missing argument {} to {}()",
            i + 1,
            call.func.name
        ))
    })
}

impl Evaluator<'_> {
    pub(crate) fn eval_range_arg(
        &mut self,
        e: &Expr,
        grid: Grid,
    ) -> Result<RangeValue, QueryError> {
        match self.eval(e, grid)? {
            Value::Range(r) => Ok(r),
            other => Err(QueryError::BadData(format!(
                "expected range vector, got {}",
                other.type_name()
            ))),
        }
    }

    pub(crate) fn eval_call(&mut self, call: &Call, grid: Grid) -> Result<Value, QueryError> {
        let name = call.func.name;
        if let Some(series) = self.try_rollup_call(call, grid)? {
            return Ok(Value::Vector(series));
        }
        let n = grid.len();
        let times = || grid.times().map(|t| t as f64 / 1000.0);
        Ok(match name {
            "time" => Value::Scalar(times().collect()),
            "pi" => Value::Scalar(vec![std::f64::consts::PI; n]),
            "vector" => {
                let v = self.eval_scalar(arg(call, 0)?, grid)?;
                Value::Vector(vec![Series {
                    labels: Labels::default(),
                    points: grid.times().zip(v).map(|(t, v)| Point { t, v }).collect(),
                }])
            }
            "scalar" => {
                let series = self.eval_vector(arg(call, 0)?, grid)?;
                let mut out = vec![f64::NAN; n];
                let mut count = vec![0u32; n];
                for s in &series {
                    for p in &s.points {
                        let i = grid.index(p.t);
                        out[i] = p.v;
                        count[i] += 1;
                    }
                }
                for (o, c) in out.iter_mut().zip(count) {
                    if c != 1 {
                        *o = f64::NAN;
                    }
                }
                Value::Scalar(out)
            }
            "timestamp" => {
                let e = arg(call, 0)?;
                let series = match unwrap_parens(e) {
                    Expr::VectorSelector(vs) => self.eval_vector_selector(vs, grid, true)?,
                    _ => {
                        let s = self.eval_vector(e, grid)?;
                        s.into_iter()
                            .map(|s| Series {
                                labels: s.labels,
                                points: s
                                    .points
                                    .into_iter()
                                    .map(|p| Point {
                                        t: p.t,
                                        v: p.t as f64 / 1000.0,
                                    })
                                    .collect(),
                            })
                            .collect()
                    }
                };
                Value::Vector(map_points(&grid, series, true, |_, v| Some(v))?)
            }
            "absent" => {
                let e = arg(call, 0)?;
                let series = self.eval_vector(e, grid)?;
                let labels = match e {
                    Expr::VectorSelector(vs) => absent_labels(vs),
                    _ => Labels::default(),
                };
                let mut present = vec![false; n];
                for s in &series {
                    for p in &s.points {
                        present[grid.index(p.t)] = true;
                    }
                }
                let points: Vec<Point> = grid
                    .times()
                    .zip(present)
                    .filter(|(_, p)| !p)
                    .map(|(t, _)| Point { t, v: 1.0 })
                    .collect();
                Value::Vector(if points.is_empty() {
                    vec![]
                } else {
                    vec![Series { labels, points }]
                })
            }
            "label_replace" => self.label_replace(call, grid)?,
            "label_join" => self.label_join(call, grid)?,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                self.sort_fn(call, grid)?
            }
            "histogram_quantile" => self.histogram_quantile(call, grid)?,
            "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
            | "minute" | "month" | "year" => {
                let series = match call.args.args.first() {
                    Some(e) => self.eval_vector(e, grid)?,
                    None => vec![Series {
                        labels: Labels::default(),
                        points: grid
                            .times()
                            .map(|t| Point {
                                t,
                                v: t as f64 / 1000.0,
                            })
                            .collect(),
                    }],
                };
                Value::Vector(map_points(&grid, series, true, |_, v| {
                    Some(time::date_fn(name, v))
                })?)
            }
            "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "predict_linear"
            | "changes" | "resets" => self.rate_family(call, grid)?,
            "absent_over_time"
            | "avg_over_time"
            | "count_over_time"
            | "first_over_time"
            | "last_over_time"
            | "mad_over_time"
            | "max_over_time"
            | "min_over_time"
            | "present_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "sum_over_time"
            | "double_exponential_smoothing"
            | "holt_winters"
            | "ts_of_first_over_time"
            | "ts_of_last_over_time"
            | "ts_of_max_over_time"
            | "ts_of_min_over_time" => self.over_time(call, grid)?,
            _ => {
                if let Some(v) = self.math_fn(call, grid)? {
                    v
                } else {
                    return Err(QueryError::BadData(format!(
                        "function {name:?} is not supported"
                    )));
                }
            }
        })
    }
}

/// Applies `f(step_index, window_end, window)` to every series of a range operand at
/// every step; `None` (or an empty window) yields no point.
pub(crate) fn range_apply(
    ev: &mut Evaluator<'_>,
    rv: &RangeValue,
    grid: &Grid,
    drop: bool,
    mut f: impl FnMut(usize, i64, &[Point]) -> Option<f64>,
) -> Result<Vec<Series>, QueryError> {
    let mut set = SeriesSet::new();
    for s in &rv.series {
        ev.tick()?;
        let mut points = Vec::new();
        let mut i = 0usize;
        crate::selectors::for_each_window(rv, &s.points, grid, |t, w| {
            if !w.is_empty() {
                if let Some(v) = f(i, rv.window_end(t), w) {
                    points.push(Point { t, v });
                }
            }
            i += 1;
        });
        let labels = if drop {
            drop_name(&s.labels)
        } else {
            s.labels.clone()
        };
        set.add_series(Series { labels, points })?;
    }
    Ok(set.finish())
}
