//! `label_replace` and `label_join`: per-series label rewrites (the metric name is kept).

use promql_parser::parser::Call;
use regex::Regex;
use strix_core::{Labels, LabelsBuilder};

use super::arg;
use crate::eval::Evaluator;
use crate::value::{Grid, Series, SeriesSet, Value};
use crate::QueryError;

fn with_label(l: &Labels, name: &str, value: &str) -> Labels {
    let mut b = LabelsBuilder::new();
    for x in l.iter() {
        b.set(x.name.clone(), x.value.clone());
    }
    b.set(name, value);
    b.build()
}

fn relabel(
    series: Vec<Series>,
    mut f: impl FnMut(&Labels) -> Labels,
) -> Result<Vec<Series>, QueryError> {
    let mut set = SeriesSet::new();
    for s in series {
        let labels = f(&s.labels);
        set.add_series(Series {
            labels,
            points: s.points,
        })?;
    }
    Ok(set.finish())
}

impl Evaluator<'_> {
    pub(crate) fn label_replace(&mut self, call: &Call, grid: Grid) -> Result<Value, QueryError> {
        let series = self.eval_vector(arg(call, 0)?, grid)?;
        let dst = self.eval_string(arg(call, 1)?, grid)?;
        let repl = self.eval_string(arg(call, 2)?, grid)?;
        let src = self.eval_string(arg(call, 3)?, grid)?;
        let re_src = self.eval_string(arg(call, 4)?, grid)?;
        // Prometheus fails evaluation (`execution`, not `bad_data`) with the pattern as given.
        let re = Regex::new(&format!("^(?s:{re_src})$")).map_err(|_| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {re_src}"
            ))
        })?;
        if dst.is_empty() {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let out = relabel(series, |l| {
            let v = l.get(&src).unwrap_or("");
            match re.captures(v) {
                Some(caps) => {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    with_label(l, &dst, &res)
                }
                None => l.clone(),
            }
        })?;
        Ok(Value::Vector(out))
    }

    pub(crate) fn label_join(&mut self, call: &Call, grid: Grid) -> Result<Value, QueryError> {
        let series = self.eval_vector(arg(call, 0)?, grid)?;
        let dst = self.eval_string(arg(call, 1)?, grid)?;
        let sep = self.eval_string(arg(call, 2)?, grid)?;
        let mut srcs = Vec::new();
        for e in call.args.args.iter().skip(3) {
            let s = self.eval_string(e, grid)?;
            if s.is_empty() {
                return Err(QueryError::Execution(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
            srcs.push(s);
        }
        if dst.is_empty() {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let out = relabel(series, |l| {
            let joined: Vec<&str> = srcs.iter().map(|s| l.get(s).unwrap_or("")).collect();
            with_label(l, &dst, &joined.join(&sep))
        })?;
        Ok(Value::Vector(out))
    }
}
