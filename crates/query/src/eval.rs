//! The evaluator: walks the AST, evaluating each node once over the whole step grid.

use std::time::{Duration, Instant, SystemTime};

use promql_parser::parser::{AtModifier, Expr, Offset};
use strix_core::storage::{Queryable, SeriesSamples};
use strix_core::{Sample, Timestamp};

use crate::value::{drop_name, Grid, Series, SeriesSet, Value};
use crate::{EngineOptions, InstantSample, QueryError, QueryValue};

/// Prometheus' default global evaluation interval, the step of subqueries without one.
pub(crate) const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// State of one query evaluation.
pub(crate) struct Evaluator<'a> {
    pub store: &'a dyn Queryable,
    pub lookback: i64,
    pub max_samples: usize,
    /// Start and end of the top-level query, for `@ start()` / `@ end()`.
    pub query_start: Timestamp,
    pub query_end: Timestamp,
    /// Whether range functions may read rollup tiers (see `crate::rollup`); always on
    /// outside tests, which turn it off to compare against raw evaluation.
    pub use_rollups: bool,
    deadline: Instant,
    ticks: u32,
}

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

impl<'a> Evaluator<'a> {
    pub fn new(
        store: &'a dyn Queryable,
        opts: &EngineOptions,
        start: Timestamp,
        end: Timestamp,
    ) -> Self {
        Evaluator {
            store,
            lookback: opts.lookback_delta.as_millis() as i64,
            max_samples: opts.max_samples,
            query_start: start,
            query_end: end,
            use_rollups: true,
            deadline: Instant::now() + opts.timeout,
            ticks: 0,
        }
    }

    /// Checks the deadline (cheaply: the clock is read every 256 calls).
    pub fn tick(&mut self) -> Result<(), QueryError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(256) {
            self.check_deadline()?;
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("query evaluation"));
        }
        Ok(())
    }

    /// Fails when `n` samples would be held at once.
    pub fn check_samples(&self, n: usize) -> Result<(), QueryError> {
        if n > self.max_samples {
            return Err(QueryError::Execution(
                "query processing would load too many samples into memory in query execution"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn at_ms(&self, at: &Option<AtModifier>) -> Option<Timestamp> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    pub fn eval(&mut self, expr: &Expr, grid: Grid) -> Result<Value, QueryError> {
        self.check_deadline()?;
        let v = match expr {
            Expr::NumberLiteral(n) => Value::Scalar(vec![n.val; grid.len()]),
            Expr::StringLiteral(s) => Value::String(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, grid)?,
            Expr::Unary(u) => match self.eval(&u.expr, grid)? {
                Value::Scalar(v) => Value::Scalar(v.into_iter().map(|x| -x).collect()),
                Value::Vector(series) => {
                    let mut set = SeriesSet::new();
                    for s in series {
                        set.add_series(Series {
                            labels: drop_name(&s.labels),
                            points: s.points.into_iter().map(|mut p| {
                                p.v = -p.v;
                                p
                            }).collect(),
                        })?;
                    }
                    Value::Vector(set.finish())
                }
                other => {
                    return Err(QueryError::BadData(format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                        other.type_name()
                    )))
                }
            },
            Expr::VectorSelector(vs) => Value::Vector(self.eval_vector_selector(vs, grid, false)?),
            Expr::MatrixSelector(ms) => Value::Range(self.eval_matrix_selector(ms, grid)?),
            Expr::Subquery(sq) => Value::Range(self.eval_subquery(sq, grid)?),
            Expr::Call(call) => self.eval_call(call, grid)?,
            Expr::Aggregate(agg) => self.eval_aggregate(agg, grid)?,
            Expr::Binary(b) => self.eval_binary(b, grid)?,
            Expr::Extension(_) => return Err(QueryError::BadData("extension expressions are not supported".into())),
        };
        if let Value::Vector(series) = &v {
            self.check_samples(series.iter().map(|s| s.points.len()).sum())?;
        }
        // Also after the node: one node's work can be large (a subquery over millions of
        // steps) without reaching the `tick` sampling interval.
        self.check_deadline()?;
        Ok(v)
    }

    pub fn eval_scalar(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr, grid)? {
            Value::Scalar(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    pub fn eval_vector(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<Series>, QueryError> {
        match self.eval(expr, grid)? {
            Value::Vector(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    pub fn eval_string(&mut self, expr: &Expr, grid: Grid) -> Result<String, QueryError> {
        match self.eval(expr, grid)? {
            Value::String(s) => Ok(s),
            other => Err(QueryError::BadData(format!(
                "expected string, got {}",
                other.type_name()
            ))),
        }
    }
}

fn parse(query: &str) -> Result<Expr, QueryError> {
    promql_parser::parser::parse(query).map_err(QueryError::BadData)
}

/// Whether the top-level expression defines the order of an instant vector result.
fn ordered_result(expr: &Expr) -> bool {
    match unwrap_parens(expr) {
        Expr::Call(c) => matches!(
            c.func.name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ),
        Expr::Aggregate(a) => matches!(a.op.to_string().as_str(), "topk" | "bottomk"),
        _ => false,
    }
}

fn range_to_matrix(rv: &crate::value::RangeValue, t: Timestamp) -> Vec<SeriesSamples> {
    let te = rv.window_end(t);
    let mut out: Vec<SeriesSamples> = rv
        .series
        .iter()
        .map(|s| SeriesSamples {
            labels: s.labels.clone(),
            samples: s
                .points
                .iter()
                .filter(|p| p.t > te - rv.range && p.t <= te)
                .map(|p| Sample::new(p.t, p.v))
                .collect(),
        })
        .filter(|s| !s.samples.is_empty())
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

pub(crate) fn instant_query(
    opts: &EngineOptions,
    store: &dyn Queryable,
    query: &str,
    time: Timestamp,
) -> Result<QueryValue, QueryError> {
    instant_query_with(opts, store, query, time, true)
}

pub(crate) fn instant_query_with(
    opts: &EngineOptions,
    store: &dyn Queryable,
    query: &str,
    time: Timestamp,
    use_rollups: bool,
) -> Result<QueryValue, QueryError> {
    let expr = parse(query)?;
    instant_query_parsed(opts, store, &expr, time, use_rollups)
}

/// [`instant_query_with`] for an expression parsed beforehand (rules parse once at load).
pub(crate) fn instant_query_parsed(
    opts: &EngineOptions,
    store: &dyn Queryable,
    expr: &Expr,
    time: Timestamp,
    use_rollups: bool,
) -> Result<QueryValue, QueryError> {
    let mut ev = Evaluator::new(store, opts, time, time);
    ev.use_rollups = use_rollups;
    let grid = Grid {
        start: time,
        end: time,
        step: 0,
    };
    Ok(match ev.eval(expr, grid)? {
        Value::Scalar(v) => QueryValue::Scalar {
            t: time,
            v: v.first().copied().unwrap_or(f64::NAN),
        },
        Value::String(s) => QueryValue::String { t: time, s },
        Value::Range(rv) => QueryValue::Matrix(range_to_matrix(&rv, time)),
        Value::Vector(series) => {
            let mut out: Vec<InstantSample> = series
                .into_iter()
                .filter_map(|s| {
                    s.points.first().map(|p| InstantSample {
                        labels: s.labels,
                        t: time,
                        v: p.v,
                    })
                })
                .collect();
            if !ordered_result(expr) {
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            QueryValue::Vector(out)
        }
    })
}

pub(crate) fn range_query(
    opts: &EngineOptions,
    store: &dyn Queryable,
    query: &str,
    start: Timestamp,
    end: Timestamp,
    step: i64,
) -> Result<QueryValue, QueryError> {
    range_query_with(opts, store, query, start, end, step, true)
}

pub(crate) fn range_query_with(
    opts: &EngineOptions,
    store: &dyn Queryable,
    query: &str,
    start: Timestamp,
    end: Timestamp,
    step: i64,
    use_rollups: bool,
) -> Result<QueryValue, QueryError> {
    if step <= 0 {
        return Err(QueryError::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end < start {
        return Err(QueryError::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    let expr = parse(query)?;
    match expr.value_type() {
        promql_parser::parser::value::ValueType::Scalar
        | promql_parser::parser::value::ValueType::Vector => {}
        other => {
            let name = match other {
                promql_parser::parser::value::ValueType::Matrix => "range vector",
                _ => "string",
            };
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let mut ev = Evaluator::new(store, opts, start, end);
    ev.use_rollups = use_rollups;
    let grid = Grid { start, end, step };
    let series = match ev.eval(&expr, grid)? {
        Value::Scalar(v) => vec![SeriesSamples {
            labels: strix_core::Labels::default(),
            samples: grid
                .times()
                .zip(v)
                .map(|(t, v)| Sample::new(t, v))
                .collect(),
        }],
        Value::Vector(series) => {
            let mut out: Vec<SeriesSamples> = series
                .into_iter()
                .filter(|s| !s.points.is_empty())
                .map(|s| SeriesSamples {
                    labels: s.labels,
                    samples: s
                        .points
                        .into_iter()
                        .map(|p| Sample::new(p.t, p.v))
                        .collect(),
                })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out
        }
        other => {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.type_name()
            )))
        }
    };
    Ok(QueryValue::Matrix(series))
}
