//! `sort`, `sort_desc`, `sort_by_label`, `sort_by_label_desc`. Order only matters for
//! instant queries; range query results are always sorted by labels.

use std::cmp::Ordering;

use promql_parser::parser::Call;

use super::arg;
use crate::eval::Evaluator;
use crate::value::{Grid, Value};
use crate::QueryError;

/// Natural order: digit runs compare numerically, everything else byte-wise.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// Ascending by value with NaN last (`desc` reverses the non-NaN order).
fn by_value(a: f64, b: f64, desc: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

impl Evaluator<'_> {
    pub(crate) fn sort_fn(&mut self, call: &Call, grid: Grid) -> Result<Value, QueryError> {
        let name = call.func.name;
        let mut series = self.eval_vector(arg(call, 0)?, grid)?;
        let mut keys = Vec::new();
        for e in call.args.args.iter().skip(1) {
            keys.push(self.eval_string(e, grid)?);
        }
        // Only the first step's order is observable (instant queries).
        let first = |s: &crate::value::Series| s.points.first().map(|p| p.v).unwrap_or(f64::NAN);
        match name {
            "sort" | "sort_desc" => {
                let desc = name == "sort_desc";
                series.sort_by(|a, b| {
                    by_value(first(a), first(b), desc).then_with(|| a.labels.cmp(&b.labels))
                });
            }
            _ => {
                let desc = name == "sort_by_label_desc";
                series.sort_by(|a, b| {
                    let mut o = Ordering::Equal;
                    for k in &keys {
                        let (x, y) = (a.labels.get(k).unwrap_or(""), b.labels.get(k).unwrap_or(""));
                        o = natural_cmp(x, y);
                        if o != Ordering::Equal {
                            break;
                        }
                    }
                    let o = o.then_with(|| a.labels.cmp(&b.labels));
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
        }
        Ok(Value::Vector(series))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
    }
}
