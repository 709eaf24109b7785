//! Range functions served from rollup tiers instead of raw samples (rules in the crate
//! docs, "Rollup reads").
//!
//! A rollup point aggregates one series over the bucket `[end - T, end)`; a window
//! `(te - range, te]` whose both ends are multiples of `T` is read as the `range / T`
//! buckets with ends in `(te - range, te]`, i.e. as `[te - range, te)`.

use promql_parser::parser::{Call, Expr, MatrixSelector};
use strix_core::storage::{RollupPoint, RollupTier, SeriesRollup};
use strix_core::Timestamp;

use crate::eval::{duration_ms, offset_ms, unwrap_parens, Evaluator};
use crate::functions::arg;
use crate::functions::rate::{extrapolate, WindowSummary};
use crate::selectors::matcher_groups;
use crate::value::{drop_name, kahan_inc, Grid, Point, Series, SeriesSet};
use crate::QueryError;

/// The functions a rollup window can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RollupFn {
    Sum,
    Count,
    Avg,
    Min,
    Max,
    Last,
    Rate,
    Increase,
}

impl RollupFn {
    fn from_name(name: &str) -> Option<RollupFn> {
        Some(match name {
            "sum_over_time" => RollupFn::Sum,
            "count_over_time" => RollupFn::Count,
            "avg_over_time" => RollupFn::Avg,
            "min_over_time" => RollupFn::Min,
            "max_over_time" => RollupFn::Max,
            "last_over_time" => RollupFn::Last,
            "rate" => RollupFn::Rate,
            "increase" => RollupFn::Increase,
            _ => return None,
        })
    }
}

/// The coarsest tier whose step divides the range and puts every window end on a bucket
/// boundary: `range`, the grid step (unless there is a single window) and the first
/// window end must all be multiples of the tier step.
/// `min_buckets` is the fewest buckets a window must span (rate/increase need several).
pub(crate) fn choose_tier(
    range: i64,
    offset: i64,
    at: Option<Timestamp>,
    grid: &Grid,
    min_buckets: i64,
) -> Option<RollupTier> {
    [RollupTier::OneHour, RollupTier::FiveMinutes]
        .into_iter()
        .filter(|tier| range >= min_buckets * tier.step_ms())
        .find(|tier| {
            let step = tier.step_ms();
            let aligned_ends = match at {
                // `@` fixes the window: one window end for every step.
                Some(a) => (a - offset).rem_euclid(step) == 0,
                None => {
                    (grid.start - offset).rem_euclid(step) == 0
                        && (grid.len() == 1 || (grid.step > 0 && grid.step % step == 0))
                }
            };
            range > 0 && range % step == 0 && aligned_ends
        })
}

/// Minimum of the non-NaN values, NaN when all are NaN (`min_over_time`'s rule; a
/// bucket's `min` is NaN only when all its values are).
fn fold_min_max(w: &[RollupPoint], max: bool) -> f64 {
    let mut m = f64::NAN;
    for p in w {
        let v = if max { p.max } else { p.min };
        if m.is_nan() || (if max { v > m } else { v < m }) {
            m = v;
        }
    }
    m
}

/// Minimum window, in buckets of the chosen tier, for rate/increase from rollups.
const MIN_RATE_BUCKETS: i64 = 12;

fn kahan(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for v in vals {
        (s, c) = kahan_inc(v, s, c);
    }
    s + c
}

/// `rate`/`increase` of a window of buckets. The counter-corrected increase is exact:
/// the buckets' own increases plus, between consecutive buckets, the step from the
/// previous bucket's `last` to this bucket's `first` (a decrease is a reset). The first
/// and last sample times, which the extrapolation needs and rollups do not keep, are
/// estimated from the bucket counts (see the crate docs for the resulting tolerance).
fn rollup_rate(
    w: &[RollupPoint],
    step: i64,
    end: Timestamp,
    range: i64,
    per_second: bool,
) -> Option<f64> {
    let n: u64 = w.iter().map(|p| p.count).sum();
    if n < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let (mut s, mut c) = (0.0, 0.0);
    for (i, p) in w.iter().enumerate() {
        (s, c) = kahan_inc(p.increase, s, c);
        if i > 0 {
            let prev = w[i - 1].last;
            // Like the bucket increase, the step skips NaN values.
            if !prev.is_nan() && !p.first.is_nan() {
                let d = if p.first >= prev {
                    p.first - prev
                } else {
                    p.first
                };
                (s, c) = kahan_inc(d, s, c);
            }
        }
    }
    let result = s + c;
    let t = step as f64;
    // Average sample interval: over the buckets between the first and the last (those
    // are typically full), else over all buckets assuming they are filled.
    let interval = if w.len() >= 3 {
        let inner = &w[1..w.len() - 1];
        t * inner.len() as f64 / inner.iter().map(|p| p.count as f64).sum::<f64>()
    } else {
        t * w.len() as f64 / n as f64
    };
    // The first bucket's samples are taken to be the last `count` of a regular series
    // with that interval, the last bucket's the first `count`, each sample in the middle
    // of where it may be (so a regular series gets the exact sampled duration).
    let (first_start, first_end) = ((first.t - step) as f64, first.t as f64);
    let (last_start, last_end) = ((last.t - step) as f64, last.t as f64);
    let first_t =
        (first_end - (first.count as f64 - 0.5) * interval).clamp(first_start, first_end - 1.0);
    let mut last_t =
        (last_start + (last.count as f64 - 0.5) * interval).clamp(last_start, last_end - 1.0);
    if last_t <= first_t {
        last_t = first_t + 1.0;
    }
    let summary = WindowSummary {
        first_t,
        first_v: first.first,
        last_t,
        samples: usize::try_from(n).unwrap_or(usize::MAX),
        result,
    };
    Some(extrapolate(&summary, end, range, true, per_second))
}

fn apply(f: RollupFn, w: &[RollupPoint], step: i64, end: Timestamp, range: i64) -> Option<f64> {
    if w.is_empty() {
        return None;
    }
    Some(match f {
        RollupFn::Count => w.iter().map(|p| p.count).sum::<u64>() as f64,
        RollupFn::Sum => kahan(w.iter().map(|p| p.sum)),
        RollupFn::Avg => {
            kahan(w.iter().map(|p| p.sum)) / w.iter().map(|p| p.count).sum::<u64>() as f64
        }
        RollupFn::Min => fold_min_max(w, false),
        RollupFn::Max => fold_min_max(w, true),
        RollupFn::Last => w[w.len() - 1].last,
        RollupFn::Rate => return rollup_rate(w, step, end, range, true),
        RollupFn::Increase => return rollup_rate(w, step, end, range, false),
    })
}

impl Evaluator<'_> {
    /// Evaluates `call` from a rollup tier when the rules allow it; `None` means
    /// "evaluate from raw samples".
    pub(crate) fn try_rollup_call(
        &mut self,
        call: &Call,
        grid: Grid,
    ) -> Result<Option<Vec<Series>>, QueryError> {
        if !self.use_rollups {
            return Ok(None);
        }
        let Some(f) = RollupFn::from_name(call.func.name) else {
            return Ok(None);
        };
        let Ok(e) = arg(call, 0) else {
            return Ok(None);
        };
        let Expr::MatrixSelector(ms) = unwrap_parens(e) else {
            return Ok(None);
        };
        let range = duration_ms(&ms.range);
        let off = offset_ms(&ms.vs.offset);
        let at = self.at_ms(&ms.vs.at);
        // rate/increase estimate the window's first and last sample times from bucket
        // counts; over at least MIN_RATE_BUCKETS buckets the extrapolation error stays
        // small (see the crate docs); shorter windows read raw samples.
        let min_buckets = if matches!(f, RollupFn::Rate | RollupFn::Increase) {
            MIN_RATE_BUCKETS
        } else {
            1
        };
        let Some(tier) = choose_tier(range, off, at, &grid, min_buckets) else {
            return Ok(None);
        };
        let series = self.select_rollup(ms, tier, grid, range, off, at)?;
        let step = tier.step_ms();
        let mut set = SeriesSet::new();
        for s in series {
            self.tick()?;
            let mut points = Vec::new();
            let (mut lo, mut hi) = (0usize, 0usize);
            for t in grid.times() {
                let te = at.unwrap_or(t) - off;
                // Buckets with ends in (te - range, te].
                while hi < s.points.len() && s.points[hi].t <= te {
                    hi += 1;
                }
                while lo < hi && s.points[lo].t <= te - range {
                    lo += 1;
                }
                let w = if lo <= hi { &s.points[lo..hi] } else { &[][..] };
                if let Some(v) = apply(f, w, step, te, range) {
                    points.push(Point { t, v });
                }
            }
            let labels = if f == RollupFn::Last {
                s.labels
            } else {
                drop_name(&s.labels)
            };
            set.add_series(Series { labels, points })?;
        }
        Ok(Some(set.finish()))
    }

    /// Reads the buckets every window of `ms` needs, counting them against the limit.
    fn select_rollup(
        &mut self,
        ms: &MatrixSelector,
        tier: RollupTier,
        grid: Grid,
        range: i64,
        off: i64,
        at: Option<Timestamp>,
    ) -> Result<Vec<SeriesRollup>, QueryError> {
        let (first_te, last_te) = match at {
            Some(a) => (a - off, a - off),
            None => (grid.start - off, grid.end - off),
        };
        let (lo, hi) = (first_te - range, last_te);
        let groups = matcher_groups(&ms.vs)?;
        let mut all: Vec<SeriesRollup> = Vec::new();
        for g in &groups {
            all.extend(self.store.select_rollup(tier, g, lo, hi)?);
        }
        if groups.len() > 1 {
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            all.dedup_by(|a, b| a.labels == b.labels);
        }
        for s in &mut all {
            s.points.sort_by_key(|p| p.t);
            // Stores may return a partial bucket past `hi`; every window wants whole ones.
            s.points.retain(|p| p.t > lo && p.t <= hi && p.count > 0);
        }
        all.retain(|s| !s.points.is_empty());
        self.check_samples(all.iter().map(|s| s.points.len()).sum())?;
        self.check_deadline()?;
        Ok(all)
    }
}

#[cfg(test)]
mod tests;
