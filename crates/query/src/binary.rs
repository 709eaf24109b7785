//! Binary operators: arithmetic, comparison (filtering or `bool`), set operators, and
//! vector matching with `on`/`ignoring` and `group_left`/`group_right`.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use strix_core::{Labels, LabelsBuilder, METRIC_NAME};

use crate::eval::Evaluator;
use crate::value::{by_step, drop_name, Grid, Point, Series, SeriesSet, Value};
use crate::QueryError;

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn arith(op: &str, l: f64, r: f64) -> f64 {
    match op {
        "+" => l + r,
        "-" => l - r,
        "*" => l * r,
        "/" => l / r,
        "%" => l % r,
        "^" => l.powf(r),
        "atan2" => l.atan2(r),
        _ => f64::NAN,
    }
}

fn compare(op: &str, l: f64, r: f64) -> bool {
    match op {
        "==" => l == r,
        "!=" => l != r,
        ">" => l > r,
        "<" => l < r,
        ">=" => l >= r,
        _ => l <= r,
    }
}

/// `(value, keep)` of one element operation; comparisons keep the left value.
fn elem(op: &str, l: f64, r: f64) -> (f64, bool) {
    if is_comparison(op) {
        (l, compare(op, l, r))
    } else {
        (arith(op, l, r), true)
    }
}

fn signature(l: &Labels, matching: &Option<LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(names)) => Labels::from_sorted(
            l.iter()
                .filter(|x| names.labels.contains(&x.name))
                .cloned()
                .collect(),
        ),
        Some(LabelModifier::Exclude(names)) => Labels::from_sorted(
            l.iter()
                .filter(|x| x.name != METRIC_NAME && !names.labels.contains(&x.name))
                .cloned()
                .collect(),
        ),
        None => drop_name(l),
    }
}

fn result_metric(l: &Labels, r: &Labels, op: &str, m: &BinModifier) -> Labels {
    let mut b = LabelsBuilder::new();
    let drop = !is_comparison(op) || m.return_bool;
    for x in l.iter() {
        if drop && x.name == METRIC_NAME {
            continue;
        }
        if matches!(m.card, VectorMatchCardinality::OneToOne) {
            match &m.matching {
                Some(LabelModifier::Include(on)) if !on.labels.contains(&x.name) => continue,
                Some(LabelModifier::Exclude(ign)) if ign.labels.contains(&x.name) => continue,
                _ => {}
            }
        }
        b.set(x.name.clone(), x.value.clone());
    }
    if let Some(include) = m.card.labels() {
        for n in &include.labels {
            b.set(n.clone(), r.get(n).unwrap_or("").to_string());
        }
    }
    b.build()
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&mut self, be: &BinaryExpr, grid: Grid) -> Result<Value, QueryError> {
        let op = be.op.to_string();
        let modifier = be.modifier.clone().unwrap_or_default();
        if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
            return Err(QueryError::BadData(
                "fill modifiers are not supported".into(),
            ));
        }
        let rb = modifier.return_bool;
        let lhs = self.eval(&be.lhs, grid)?;
        let rhs = self.eval(&be.rhs, grid)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&a, &b)| {
                        if is_comparison(&op) {
                            f64::from(u8::from(compare(&op, a, b)))
                        } else {
                            arith(&op, a, b)
                        }
                    })
                    .collect(),
            )),
            (Value::Vector(v), Value::Scalar(s)) => self.vector_scalar(&op, rb, v, &s, false, grid),
            (Value::Scalar(s), Value::Vector(v)) => self.vector_scalar(&op, rb, v, &s, true, grid),
            (Value::Vector(l), Value::Vector(r)) => match op.as_str() {
                "and" | "or" | "unless" => self.set_op(&op, &modifier, l, r, grid),
                _ => self.vector_vector(&op, &modifier, l, r, grid),
            },
            (l, r) => Err(QueryError::BadData(format!(
                "binary expression must contain only scalar and instant vector types, got {} and {}",
                l.type_name(),
                r.type_name()
            ))),
        }
    }

    fn vector_scalar(
        &mut self,
        op: &str,
        rb: bool,
        v: Vec<Series>,
        s: &[f64],
        swap: bool,
        grid: Grid,
    ) -> Result<Value, QueryError> {
        let cmp = is_comparison(op);
        let mut set = SeriesSet::new();
        for series in v {
            self.tick()?;
            let mut points = Vec::with_capacity(series.points.len());
            for p in &series.points {
                let sv = s[grid.index(p.t)];
                let (l, r) = if swap { (sv, p.v) } else { (p.v, sv) };
                let (mut val, keep) = elem(op, l, r);
                if cmp {
                    // The vector's value is kept even when it is the right operand.
                    val = p.v;
                }
                if rb {
                    points.push(Point {
                        t: p.t,
                        v: f64::from(u8::from(keep)),
                    });
                } else if keep {
                    points.push(Point { t: p.t, v: val });
                }
            }
            let labels = if !cmp || rb {
                drop_name(&series.labels)
            } else {
                series.labels
            };
            set.add_series(Series { labels, points })?;
        }
        Ok(Value::Vector(set.finish()))
    }

    fn set_op(
        &mut self,
        op: &str,
        m: &BinModifier,
        l: Vec<Series>,
        r: Vec<Series>,
        grid: Grid,
    ) -> Result<Value, QueryError> {
        let lsig: Vec<Labels> = l
            .iter()
            .map(|s| signature(&s.labels, &m.matching))
            .collect();
        let rsig: Vec<Labels> = r
            .iter()
            .map(|s| signature(&s.labels, &m.matching))
            .collect();
        let (ls, rs) = (by_step(&grid, &l), by_step(&grid, &r));
        let mut set = SeriesSet::new();
        let lslots: Vec<usize> = l.iter().map(|s| set.slot(&s.labels)).collect();
        let mut rslots: Vec<Option<usize>> = vec![None; r.len()];
        for (si, (lstep, rstep)) in ls.iter().zip(&rs).enumerate() {
            self.tick()?;
            let t = grid.time(si);
            match op {
                "and" | "unless" => {
                    let right: HashSet<&Labels> = rstep.iter().map(|&(i, _)| &rsig[i]).collect();
                    let want = op == "and";
                    for &(i, v) in lstep {
                        if right.contains(&lsig[i]) == want {
                            set.push_at(lslots[i], t, v)?;
                        }
                    }
                }
                _ => {
                    let left: HashSet<&Labels> = lstep.iter().map(|&(i, _)| &lsig[i]).collect();
                    for &(i, v) in lstep {
                        set.push_at(lslots[i], t, v)?;
                    }
                    for &(i, v) in rstep {
                        if left.contains(&rsig[i]) {
                            continue;
                        }
                        let slot = match rslots[i] {
                            Some(s) => s,
                            None => {
                                let s = set.slot(&r[i].labels);
                                rslots[i] = Some(s);
                                s
                            }
                        };
                        set.push_at(slot, t, v)?;
                    }
                }
            }
        }
        Ok(Value::Vector(set.finish()))
    }

    fn vector_vector(
        &mut self,
        op: &str,
        m: &BinModifier,
        l: Vec<Series>,
        r: Vec<Series>,
        grid: Grid,
    ) -> Result<Value, QueryError> {
        let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
        let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
        // The "many" side is iterated; the "one" side is looked up by signature.
        let (many, one) = if one_to_many { (r, l) } else { (l, r) };
        let msig: Vec<Labels> = many
            .iter()
            .map(|s| signature(&s.labels, &m.matching))
            .collect();
        let osig: Vec<Labels> = one
            .iter()
            .map(|s| signature(&s.labels, &m.matching))
            .collect();
        let (ms, os) = (by_step(&grid, &many), by_step(&grid, &one));
        let mut set = SeriesSet::new();
        let mut metric_cache: HashMap<(usize, usize), (usize, Labels)> = HashMap::new();
        let side = if one_to_many { "left" } else { "right" };
        for (si, (mstep, ostep)) in ms.iter().zip(&os).enumerate() {
            self.tick()?;
            let t = grid.time(si);
            let mut right: HashMap<&Labels, (usize, f64)> = HashMap::with_capacity(ostep.len());
            for &(i, v) in ostep {
                if let Some(&(j, _)) = right.get(&osig[i]) {
                    return Err(QueryError::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        osig[i], one[i].labels, one[j].labels
                    )));
                }
                right.insert(&osig[i], (i, v));
            }
            let mut matched: HashMap<&Labels, HashSet<usize>> = HashMap::new();
            for &(i, v) in mstep {
                let Some(&(j, ov)) = right.get(&msig[i]) else {
                    continue;
                };
                let (fl, fr) = if one_to_many { (ov, v) } else { (v, ov) };
                let (mut val, keep) = elem(op, fl, fr);
                if m.return_bool {
                    val = f64::from(u8::from(keep));
                } else if !keep {
                    continue;
                }
                let (slot, _) = match metric_cache.get(&(i, j)) {
                    Some(x) => x.clone(),
                    None => {
                        let labels = result_metric(&many[i].labels, &one[j].labels, op, m);
                        let slot = set.slot(&labels);
                        metric_cache.insert((i, j), (slot, labels.clone()));
                        (slot, labels)
                    }
                };
                let entry = matched.entry(&msig[i]).or_default();
                if one_to_one {
                    if !entry.is_empty() {
                        return Err(QueryError::Execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                } else if entry.contains(&slot) {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
                entry.insert(slot);
                set.push_at(slot, t, val)?;
            }
        }
        Ok(Value::Vector(set.finish()))
    }
}
