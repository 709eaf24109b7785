//! Vector and matrix selectors: one storage read per selector for the whole grid.

use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use promql_parser::parser::{MatrixSelector, VectorSelector};
use strix_core::storage::SeriesSamples;
use strix_core::{is_stale_nan, Labels, LabelsBuilder, MatchOp, Matcher, Timestamp, METRIC_NAME};

use crate::eval::{duration_ms, offset_ms, Evaluator};
use crate::value::{Grid, Point, RangeValue, Series};
use crate::QueryError;

fn convert_matcher(m: &PMatcher) -> Result<Matcher, QueryError> {
    let (op, re) = match &m.op {
        PMatchOp::Equal => return Ok(Matcher::equal(m.name.clone(), m.value.clone())),
        PMatchOp::NotEqual => (MatchOp::NotEqual, None),
        PMatchOp::Re(r) => (MatchOp::RegexMatch, Some(r)),
        PMatchOp::NotRe(r) => (MatchOp::RegexNoMatch, Some(r)),
    };
    match Matcher::new(op, m.name.clone(), m.value.clone()) {
        Ok(x) => Ok(x),
        // The parser rewrites some Go-only regex syntax; fall back to its (anchored) form.
        Err(e) => match re {
            Some(r) => Matcher::new(op, m.name.clone(), r.as_str())
                .map_err(|_| QueryError::BadData(e.to_string())),
            None => Err(QueryError::BadData(e.to_string())),
        },
    }
}

/// The matcher groups of a selector (more than one for `{a="1" or b="2"}`).
pub(crate) fn matcher_groups(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let name = vs
        .name
        .as_ref()
        .map(|n| Matcher::equal(METRIC_NAME, n.clone()));
    let mut groups = Vec::new();
    let raw: Vec<&Vec<PMatcher>> = if vs.matchers.or_matchers.is_empty() {
        vec![&vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers.iter().collect()
    };
    for g in raw {
        let mut ms: Vec<Matcher> = name.iter().cloned().collect();
        for m in g {
            ms.push(convert_matcher(m)?);
        }
        groups.push(ms);
    }
    Ok(groups)
}

/// Labels `absent()` reports for a selector: equality matchers except `__name__`; a
/// label constrained twice or by a non-equality matcher is left out.
pub(crate) fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut b: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for m in vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten())
    {
        if m.name == METRIC_NAME {
            continue;
        }
        b.retain(|(n, _)| *n != m.name);
        if matches!(m.op, PMatchOp::Equal) && !seen.contains(&m.name) {
            b.push((m.name.clone(), m.value.clone()));
        }
        seen.push(m.name.clone());
    }
    let mut lb = LabelsBuilder::new();
    for (n, v) in b {
        lb.set(n, v);
    }
    lb.build()
}

impl Evaluator<'_> {
    /// Reads series for `vs` with samples in `[lo, hi]`, counting them against the limit.
    pub(crate) fn select(
        &mut self,
        vs: &VectorSelector,
        lo: Timestamp,
        hi: Timestamp,
    ) -> Result<Vec<SeriesSamples>, QueryError> {
        let groups = matcher_groups(vs)?;
        let mut all: Vec<SeriesSamples> = Vec::new();
        for g in &groups {
            all.extend(self.store.select(g, lo, hi)?);
        }
        if groups.len() > 1 {
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            all.dedup_by(|a, b| a.labels == b.labels);
        }
        self.check_samples(all.iter().map(|s| s.samples.len()).sum())?;
        self.check_deadline()?;
        Ok(all)
    }

    /// An instant vector selector over the grid: the latest sample in
    /// `(te - lookback, te]` per step, none when it is a stale marker. With `sample_ts`
    /// the value is the sample's timestamp in seconds (for `timestamp()`).
    pub(crate) fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        grid: Grid,
        sample_ts: bool,
    ) -> Result<Vec<Series>, QueryError> {
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let (first_te, last_te) = match at {
            Some(a) => (a - off, a - off),
            None => (grid.start - off, grid.end - off),
        };
        let raw = self.select(vs, first_te - self.lookback + 1, last_te)?;
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            self.tick()?;
            let mut points = Vec::new();
            let mut idx = 0usize;
            for t in grid.times() {
                let te = at.unwrap_or(t) - off;
                while idx + 1 < s.samples.len() && s.samples[idx + 1].t <= te {
                    idx += 1;
                }
                let Some(smp) = s.samples.get(idx) else { break };
                if smp.t > te || smp.t <= te - self.lookback || is_stale_nan(smp.v) {
                    continue;
                }
                let v = if sample_ts {
                    smp.t as f64 / 1000.0
                } else {
                    smp.v
                };
                points.push(Point { t, v });
            }
            if !points.is_empty() {
                out.push(Series {
                    labels: s.labels,
                    points,
                });
            }
        }
        Ok(out)
    }

    pub(crate) fn eval_matrix_selector(
        &mut self,
        ms: &MatrixSelector,
        grid: Grid,
    ) -> Result<RangeValue, QueryError> {
        let vs = &ms.vs;
        let range = duration_ms(&ms.range);
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let (first_te, last_te) = match at {
            Some(a) => (a - off, a - off),
            None => (grid.start - off, grid.end - off),
        };
        let raw = self.select(vs, first_te - range + 1, last_te)?;
        let series = raw
            .into_iter()
            .map(|s| Series {
                labels: s.labels,
                points: s
                    .samples
                    .into_iter()
                    .filter(|p| !is_stale_nan(p.v))
                    .map(|p| Point { t: p.t, v: p.v })
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        Ok(RangeValue {
            series,
            range,
            offset: off,
            at,
            absent_labels: absent_labels(vs),
        })
    }
}

/// Iterates the windows `(te - range, te]` of one series over the grid with two
/// monotone cursors; calls `f(step_time, window)` for every step (windows may be empty).
pub(crate) fn for_each_window(
    rv: &RangeValue,
    points: &[Point],
    grid: &Grid,
    mut f: impl FnMut(Timestamp, &[Point]),
) {
    let (mut lo, mut hi) = (0usize, 0usize);
    for t in grid.times() {
        let te = rv.window_end(t);
        let start = te - rv.range;
        while hi < points.len() && points[hi].t <= te {
            hi += 1;
        }
        while lo < hi && points[lo].t <= start {
            lo += 1;
        }
        // With `@` the window is fixed; cursors never need to move back.
        let w = if lo <= hi { &points[lo..hi] } else { &[][..] };
        f(t, w);
    }
}
