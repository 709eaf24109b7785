//! Aggregation operators: `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`,
//! `stdvar`, `quantile`, `topk`, `bottomk`, `limitk`, `limit_ratio`, `count_values`.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use strix_core::{Labels, LabelsBuilder, METRIC_NAME};

use crate::eval::Evaluator;
use crate::value::{
    by_step, format_float, kahan_inc, quantile, Grid, MeanAcc, SeriesSet, Value, VarAcc,
};
use crate::QueryError;

/// The labels of the group a series belongs to.
fn group_labels(l: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::default(),
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
    }
}

fn param_k(v: f64) -> Result<i64, QueryError> {
    if v.is_nan() {
        return Err(QueryError::Execution("Parameter value is NaN".into()));
    }
    if v >= i64::MAX as f64 || v <= i64::MIN as f64 {
        return Err(QueryError::Execution(format!(
            "Scalar value {v} overflows int64"
        )));
    }
    Ok(v as i64)
}

/// Prometheus' heap order for `topk` (`vectorByValueHeap`, smallest on top) and
/// `bottomk` (`vectorByReverseValueHeap`, largest on top): NaN is "less" than anything,
/// so it sits on top and is the first to be replaced.
fn heap_less(a: f64, b: f64, top: bool) -> bool {
    a.is_nan() || if top { a < b } else { a > b }
}

/// A bounded selection heap laid out and maintained exactly like Go's `container/heap`,
/// so that ties between equal values pick the same series as Prometheus does.
struct KHeap {
    top: bool,
    items: Vec<(usize, f64)>,
}

impl KHeap {
    fn less(&self, i: usize, j: usize) -> bool {
        heap_less(self.items[i].1, self.items[j].1, self.top)
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize) -> bool {
        let n = self.items.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && self.less(j1 + 1, j1) {
                j = j1 + 1;
            }
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
        i > i0
    }

    /// Offers a sample to a heap of at most `k` elements.
    fn offer(&mut self, k: usize, item: (usize, f64)) {
        if self.items.len() < k {
            self.items.push(item);
            self.up(self.items.len() - 1);
            return;
        }
        let head = self.items[0].1;
        let replaces = if self.top {
            head < item.1
        } else {
            head > item.1
        };
        if replaces || (head.is_nan() && !item.1.is_nan()) {
            self.items[0] = item;
            if k > 1 && !self.down(0) {
                self.up(0);
            }
        }
    }

    /// The selected samples best first (NaN last), ordered as Prometheus'
    /// `sort.Sort(sort.Reverse(heap))`: an insertion sort for up to 12 elements (what Go
    /// uses for short slices), a stable sort beyond.
    fn into_sorted(mut self) -> Vec<(usize, f64)> {
        let top = self.top;
        let rev_less = |a: f64, b: f64| heap_less(b, a, top);
        let v = &mut self.items;
        if v.len() <= 12 {
            for i in 1..v.len() {
                let mut j = i;
                while j > 0 && rev_less(v[j].1, v[j - 1].1) {
                    v.swap(j, j - 1);
                    j -= 1;
                }
            }
        } else {
            v.sort_by(|a, b| {
                if rev_less(a.1, b.1) {
                    std::cmp::Ordering::Less
                } else if rev_less(b.1, a.1) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            });
        }
        self.items
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(
        &mut self,
        agg: &AggregateExpr,
        grid: Grid,
    ) -> Result<Value, QueryError> {
        let op = agg.op.to_string();
        let mut fparam: Vec<f64> = Vec::new();
        let mut sparam = String::new();
        if let Some(p) = &agg.param {
            if op == "count_values" {
                sparam = self.eval_string(p, grid)?;
                if sparam.is_empty() {
                    return Err(QueryError::Execution(format!(
                        "invalid label name {sparam:?}"
                    )));
                }
            } else {
                fparam = self.eval_scalar(p, grid)?;
            }
        }
        let series = self.eval_vector(&agg.expr, grid)?;
        let steps = by_step(&grid, &series);

        // Group membership per input series.
        let mut group_index: HashMap<Labels, usize> = HashMap::new();
        let mut groups: Vec<Labels> = Vec::new();
        let mut member: Vec<usize> = Vec::with_capacity(series.len());
        for s in &series {
            let g = group_labels(&s.labels, &agg.modifier);
            let gi = *group_index.entry(g.clone()).or_insert_with(|| {
                groups.push(g);
                groups.len() - 1
            });
            member.push(gi);
        }

        let mut set = SeriesSet::new();
        match op.as_str() {
            "topk" | "bottomk" | "limitk" | "limit_ratio" => {
                let mut sel: Vec<Vec<(usize, f64)>> = vec![Vec::new(); groups.len()];
                let mut slots: Vec<Option<usize>> = vec![None; series.len()];
                for (si, step) in steps.iter().enumerate() {
                    self.tick()?;
                    let t = grid.time(si);
                    sel.iter_mut().for_each(Vec::clear);
                    if op == "limit_ratio" {
                        let r = fparam.get(si).copied().unwrap_or(f64::NAN);
                        if r.is_nan() {
                            return Err(QueryError::Execution("Ratio value is NaN".into()));
                        }
                        let r = r.clamp(-1.0, 1.0);
                        for &(i, v) in step {
                            let off = series[i].labels.stable_hash() as f64 / u64::MAX as f64;
                            if (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r) {
                                sel[member[i]].push((i, v));
                            }
                        }
                    } else {
                        let k = param_k(fparam.get(si).copied().unwrap_or(f64::NAN))?;
                        if k < 1 {
                            continue;
                        }
                        let k = usize::try_from(k).unwrap_or(usize::MAX);
                        if op == "limitk" {
                            for &(i, v) in step {
                                let g = &mut sel[member[i]];
                                if g.len() < k {
                                    g.push((i, v));
                                }
                            }
                        } else {
                            let top = op == "topk";
                            let mut heaps: Vec<KHeap> = (0..groups.len())
                                .map(|_| KHeap {
                                    top,
                                    items: Vec::new(),
                                })
                                .collect();
                            for &(i, v) in step {
                                heaps[member[i]].offer(k, (i, v));
                            }
                            for (g, h) in sel.iter_mut().zip(heaps) {
                                *g = h.into_sorted();
                            }
                        }
                    }
                    for g in &sel {
                        for &(i, v) in g {
                            let slot = match slots[i] {
                                Some(s) => s,
                                None => {
                                    let s = set.slot(&series[i].labels);
                                    slots[i] = Some(s);
                                    s
                                }
                            };
                            set.push_at(slot, t, v)?;
                        }
                    }
                }
                return Ok(Value::Vector(set.finish()));
            }
            "count_values" => {
                for (si, step) in steps.iter().enumerate() {
                    let t = grid.time(si);
                    let mut counts: Vec<(Labels, f64)> = Vec::new();
                    let mut idx: HashMap<Labels, usize> = HashMap::new();
                    for &(i, v) in step {
                        let mut b = LabelsBuilder::new();
                        for l in groups[member[i]].iter() {
                            b.set(l.name.clone(), l.value.clone());
                        }
                        b.set(sparam.clone(), format_float(v));
                        let l = b.build();
                        match idx.get(&l) {
                            Some(&j) => counts[j].1 += 1.0,
                            None => {
                                idx.insert(l.clone(), counts.len());
                                counts.push((l, 1.0));
                            }
                        }
                    }
                    for (l, c) in counts {
                        set.push(&l, t, c)?;
                    }
                }
                return Ok(Value::Vector(set.finish()));
            }
            _ => {}
        }

        let slots: Vec<usize> = groups.iter().map(|g| set.slot(g)).collect();
        let mut buf: Vec<Vec<f64>> = vec![Vec::new(); groups.len()];
        for (si, step) in steps.iter().enumerate() {
            self.tick()?;
            let t = grid.time(si);
            buf.iter_mut().for_each(Vec::clear);
            for &(i, v) in step {
                buf[member[i]].push(v);
            }
            for (gi, vals) in buf.iter_mut().enumerate() {
                if vals.is_empty() {
                    continue;
                }
                let v = match op.as_str() {
                    "sum" => {
                        let (mut s, mut c) = (0.0, 0.0);
                        for &v in vals.iter() {
                            (s, c) = kahan_inc(v, s, c);
                        }
                        s + c
                    }
                    "avg" => {
                        let mut m = MeanAcc::default();
                        vals.iter().for_each(|&v| m.add(v));
                        m.value()
                    }
                    "count" => vals.len() as f64,
                    "group" => 1.0,
                    "min" | "max" => {
                        let mut m = vals[0];
                        for &v in vals.iter() {
                            let better = if op == "max" { v > m } else { v < m };
                            if better || m.is_nan() {
                                m = v;
                            }
                        }
                        m
                    }
                    "stddev" | "stdvar" => {
                        let mut a = VarAcc::default();
                        vals.iter().for_each(|&v| a.add(v));
                        if op == "stddev" {
                            a.variance().sqrt()
                        } else {
                            a.variance()
                        }
                    }
                    "quantile" => quantile(fparam.get(si).copied().unwrap_or(f64::NAN), vals),
                    other => {
                        return Err(QueryError::BadData(format!(
                            "unsupported aggregation {other:?}"
                        )))
                    }
                };
                set.push_at(slots[gi], t, v)?;
            }
        }
        Ok(Value::Vector(set.finish()))
    }
}
