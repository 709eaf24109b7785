//! Subqueries `expr[range:step]`: the inner expression is evaluated once on a grid
//! aligned to absolute multiples of `step`, covering every outer window.

use promql_parser::parser::SubqueryExpr;
use strix_core::Labels;

use crate::eval::{duration_ms, offset_ms, Evaluator, DEFAULT_SUBQUERY_STEP_MS};
use crate::value::{Grid, RangeValue, Value};
use crate::QueryError;

/// First multiple of `step` that is `>= t`.
fn align_up(t: i64, step: i64) -> i64 {
    let r = t.rem_euclid(step);
    if r == 0 {
        t
    } else {
        t - r + step
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_subquery(
        &mut self,
        sq: &SubqueryExpr,
        grid: Grid,
    ) -> Result<RangeValue, QueryError> {
        let range = duration_ms(&sq.range);
        let off = offset_ms(&sq.offset);
        let at = self.at_ms(&sq.at);
        let step = match &sq.step {
            Some(d) if !d.is_zero() => duration_ms(d),
            _ => DEFAULT_SUBQUERY_STEP_MS,
        };
        let (first_te, last_te) = match at {
            Some(a) => (a - off, a - off),
            None => (grid.start - off, grid.end - off),
        };
        // Windows are left-open, so a point exactly at `first_te - range` is never used.
        let start = align_up(first_te - range + 1, step);
        let series = if start > last_te {
            Vec::new()
        } else {
            let inner = Grid {
                start,
                end: last_te,
                step,
            };
            let inner = Grid {
                end: inner.time(inner.len() - 1),
                ..inner
            };
            match self.eval(&sq.expr, inner)? {
                Value::Vector(s) => s,
                other => {
                    return Err(QueryError::BadData(format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        other.type_name()
                    )))
                }
            }
        };
        Ok(RangeValue {
            series,
            range,
            offset: off,
            at,
            absent_labels: Labels::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::align_up;

    #[test]
    fn alignment() {
        assert_eq!(align_up(61, 60), 120);
        assert_eq!(align_up(60, 60), 60);
        assert_eq!(align_up(-7, 5), -5);
    }
}
