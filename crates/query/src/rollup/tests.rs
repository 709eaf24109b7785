//! Rollup-based evaluation against raw evaluation over 8 days of data.

use std::sync::Mutex;

use strix_core::storage::{
    Queryable, RollupPoint, RollupTier, SeriesRollup, SeriesSamples, StorageError,
};
use strix_core::{is_stale_nan, Labels, Matcher, Sample, Timestamp, STALE_NAN};

use crate::eval::{instant_query_with, range_query_with};
use crate::{EngineOptions, QueryValue};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// A whole day (so a multiple of both tier steps).
const BASE: i64 = 19_676 * DAY;
const SCRAPE: i64 = 15_000;

/// Reads served, by kind: `(tier or None for raw, start, end)`.
#[derive(Default)]
struct Fixture {
    series: Vec<SeriesSamples>,
    reads: Mutex<Vec<(Option<RollupTier>, Timestamp, Timestamp)>>,
}

/// The downsampling rules of the tsdb (`strix_tsdb::rollup`), restated for the fixture:
/// stale markers are skipped, NaN counts and flows into sum/first/last but not min/max/
/// increase.
fn downsample(samples: &[Sample], step: i64) -> Vec<RollupPoint> {
    let mut out: Vec<RollupPoint> = Vec::new();
    let mut prev: Option<f64> = None;
    for s in samples.iter().filter(|s| !is_stale_nan(s.v)) {
        let end = s.t.div_euclid(step) * step + step;
        if out.last().map(|p| p.t) != Some(end) {
            out.push(RollupPoint {
                t: end,
                min: f64::NAN,
                max: f64::NAN,
                sum: 0.0,
                count: 0,
                first: s.v,
                last: s.v,
                increase: 0.0,
            });
            prev = None;
        }
        let Some(p) = out.last_mut() else { continue };
        p.count += 1;
        p.sum += s.v;
        p.last = s.v;
        if s.v.is_nan() {
            continue;
        }
        if p.min.is_nan() || s.v < p.min {
            p.min = s.v;
        }
        if p.max.is_nan() || s.v > p.max {
            p.max = s.v;
        }
        if let Some(pv) = prev {
            p.increase += if s.v >= pv { s.v - pv } else { s.v };
        }
        prev = Some(s.v);
    }
    out
}

impl Fixture {
    fn matching<'a>(&'a self, m: &'a [Matcher]) -> impl Iterator<Item = &'a SeriesSamples> + 'a {
        self.series.iter().filter(move |s| {
            m.iter()
                .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
        })
    }

    fn raw(&self, m: &[Matcher], start: Timestamp, end: Timestamp) -> Vec<SeriesSamples> {
        self.matching(m)
            .map(|s| SeriesSamples {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .filter(|x| x.t >= start && x.t <= end)
                    .copied()
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    }

    fn rollup_reads(&self) -> usize {
        self.reads
            .lock()
            .map(|r| r.iter().filter(|x| x.0.is_some()).count())
            .unwrap_or(0)
    }

    fn raw_reads(&self) -> usize {
        self.reads
            .lock()
            .map(|r| r.iter().filter(|x| x.0.is_none()).count())
            .unwrap_or(0)
    }

    fn clear_reads(&self) {
        if let Ok(mut r) = self.reads.lock() {
            r.clear();
        }
    }
}

impl Queryable for Fixture {
    fn select(
        &self,
        m: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesSamples>, StorageError> {
        if let Ok(mut r) = self.reads.lock() {
            r.push((None, start, end));
        }
        Ok(self.raw(m, start, end))
    }
    fn series(
        &self,
        m: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<Labels>, StorageError> {
        Ok(self.matching(m).map(|s| s.labels.clone()).collect())
    }
    fn label_names(
        &self,
        _: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        Ok(vec![])
    }
    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        Ok(vec![])
    }
    /// Like the tsdb querier: buckets computed from raw samples read from the bucket
    /// holding `start` to `end`, so the last one (ending after `end`) may be partial.
    fn select_rollup(
        &self,
        tier: RollupTier,
        m: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesRollup>, StorageError> {
        if let Ok(mut r) = self.reads.lock() {
            r.push((Some(tier), start, end));
        }
        let step = tier.step_ms();
        Ok(self
            .raw(m, start.div_euclid(step) * step, end)
            .into_iter()
            .map(|s| SeriesRollup {
                labels: s.labels,
                points: downsample(&s.samples, step)
                    .into_iter()
                    .filter(|p| p.t > start && p.t <= end + step)
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect())
    }
}

/// Deterministic pseudo-random numbers in [0, 1).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Sample times: every 15 s at `.217` s, so never on a bucket boundary.
fn times(days: i64) -> impl Iterator<Item = (i64, Timestamp)> {
    (0..days * DAY / SCRAPE).map(|k| (k, BASE + k * SCRAPE + 217))
}

fn fixture() -> Fixture {
    let mut rng = Rng(42);
    let mut series = Vec::new();
    let labels = |name: &str, k: &str| Labels::from_pairs([("__name__", name), ("k", k)]);
    // Gauges with quarter values: every sum is exact, so sums agree bit for bit.
    let mut q = Vec::new();
    let mut nan = Vec::new();
    let mut f = Vec::new();
    for (k, t) in times(8) {
        q.push(Sample::new(
            t,
            ((rng.uniform() * 400.0).floor() - 200.0) / 4.0,
        ));
        // NaNs now and then; a stale marker and a 3-hour gap on day 7.
        let v = if k % 997 == 3 {
            f64::NAN
        } else {
            (rng.uniform() * 100.0).floor()
        };
        let gap = (t - BASE) / HOUR;
        if (7 * 24 + 5..7 * 24 + 8).contains(&gap) {
            continue;
        }
        nan.push(Sample::new(
            t,
            if k == 7 * DAY / SCRAPE + 5 * HOUR / SCRAPE - 1 {
                STALE_NAN
            } else {
                v
            },
        ));
        f.push(Sample::new(t, rng.uniform() * 1e3 - 100.0));
    }
    series.push(SeriesSamples {
        labels: labels("g", "quarter"),
        samples: q,
    });
    series.push(SeriesSamples {
        labels: labels("g", "nan_gap"),
        samples: nan,
    });
    series.push(SeriesSamples {
        labels: labels("g", "float"),
        samples: f,
    });
    // Counters: one regular, one jittered by whole seconds (still off the boundaries),
    // both with resets; the jittered one also stops for 3 hours on day 7.
    let mut c1 = Vec::new();
    let mut c2 = Vec::new();
    let (mut v1, mut v2) = (1000.0, 50.0);
    for (k, t) in times(8) {
        v1 += (rng.uniform() * 10.0).floor();
        v2 += rng.uniform() * 5.0;
        if k % 20_000 == 777 {
            v1 = 3.0;
            v2 = 1.0;
        }
        c1.push(Sample::new(t, v1));
        let jitter = ((rng.uniform() * 5.0).floor() as i64 - 2) * 1000;
        let hour = (t - BASE) / HOUR;
        if !(7 * 24 + 10..7 * 24 + 13).contains(&hour) {
            c2.push(Sample::new(t + jitter, v2));
        }
    }
    series.push(SeriesSamples {
        labels: labels("c", "regular"),
        samples: c1,
    });
    series.push(SeriesSamples {
        labels: labels("c", "jitter"),
        samples: c2,
    });
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Fixture {
        series,
        reads: Mutex::new(Vec::new()),
    }
}

type Flat = Vec<(String, Timestamp, f64)>;

fn flatten(v: QueryValue) -> Flat {
    match v {
        QueryValue::Matrix(m) => m
            .into_iter()
            .flat_map(|s| {
                let l = s.labels.to_string();
                s.samples.into_iter().map(move |x| (l.clone(), x.t, x.v))
            })
            .collect(),
        QueryValue::Vector(v) => v
            .into_iter()
            .map(|s| (s.labels.to_string(), s.t, s.v))
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

enum Q {
    Instant(Timestamp),
    Range(Timestamp, Timestamp, i64),
}

/// Runs `query` with and without rollups; returns (rollup result, raw result, rollup
/// reads made, raw reads made) of the rollup-enabled run.
fn both(fx: &Fixture, query: &str, q: &Q) -> (Flat, Flat, usize, usize) {
    let opts = EngineOptions::default();
    let run = |rollups: bool| -> Flat {
        let r = match *q {
            Q::Instant(t) => instant_query_with(&opts, fx, query, t, rollups),
            Q::Range(s, e, st) => range_query_with(&opts, fx, query, s, e, st, rollups),
        };
        flatten(r.unwrap_or_else(|e| panic!("{query}: {e}")))
    };
    fx.clear_reads();
    let with = run(true);
    let (rr, raw) = (fx.rollup_reads(), fx.raw_reads());
    let without = run(false);
    (with, without, rr, raw)
}

/// Asserts the same points, values within `tol(a, b)`; returns the largest relative
/// difference seen.
fn assert_close(query: &str, a: &Flat, b: &Flat, rel_tol: f64) -> f64 {
    assert_eq!(
        a.len(),
        b.len(),
        "{query}: {} points with rollups vs {} raw",
        a.len(),
        b.len()
    );
    let mut worst: f64 = 0.0;
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.0, x.1), (&y.0, y.1), "{query}: series/time differ");
        if x.2.is_nan() || y.2.is_nan() {
            assert!(x.2.is_nan() && y.2.is_nan(), "{query}: {x:?} vs {y:?}");
            continue;
        }
        let rel = if x.2 == y.2 {
            0.0
        } else {
            (x.2 - y.2).abs() / y.2.abs().max(1e-300)
        };
        worst = worst.max(rel);
        assert!(
            rel <= rel_tol,
            "{query} at {}: rollup {} vs raw {} (relative {rel:e} > {rel_tol:e})",
            x.1,
            x.2,
            y.2
        );
    }
    worst
}

/// The aligned query shapes for a range: (description, query kind).
fn shapes(range_ms: i64) -> Vec<(&'static str, Q)> {
    let end = BASE + 8 * DAY - HOUR;
    let start = BASE + range_ms.max(HOUR);
    vec![
        ("range step 1h", Q::Range(start, end, HOUR)),
        ("range step 3h", Q::Range(start + 2 * HOUR, end, 3 * HOUR)),
        ("instant", Q::Instant(end - 5 * HOUR)),
    ]
}

#[test]
fn aggregates_over_time_equal_raw_exactly() {
    let fx = fixture();
    for (range, tier_ms) in [("7d", HOUR), ("1d", HOUR), ("2h", HOUR)] {
        let range_ms = strix_core::duration::parse(range)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for (shape, q) in shapes(range_ms) {
            for f in [
                "sum_over_time",
                "count_over_time",
                "avg_over_time",
                "min_over_time",
                "max_over_time",
                "last_over_time",
            ] {
                for sel in ["g{k=\"quarter\"}", "g{k=\"nan_gap\"}", "c"] {
                    let query = format!("{f}({sel}[{range}])");
                    let (with, raw, rollup_reads, raw_reads) = both(&fx, &query, &q);
                    if range_ms < 12 * 5 * MIN {
                        // Fewer than 12 buckets of the finest tier: raw samples are read.
                        assert!(
                            rollup_reads == 0 && raw_reads > 0,
                            "{query} ({shape}): short window read rollups"
                        );
                        continue;
                    }
                    assert!(
                        rollup_reads > 0 && raw_reads == 0,
                        "{query} ({shape}): rollups not used"
                    );
                    assert!(!raw.is_empty(), "{query} ({shape}): empty");
                    // Quarter values, integers and NaN: sums are exact, so everything is;
                    // `c` includes a float counter, whose sums differ by rounding.
                    let tol = if sel == "c" && matches!(f, "sum_over_time" | "avg_over_time") {
                        1e-12
                    } else {
                        0.0
                    };
                    assert_close(
                        &format!("{query} ({shape}, tier {tier_ms})"),
                        &with,
                        &raw,
                        tol,
                    );
                }
                // Arbitrary floats: sums differ only by rounding (bucket sums are plain).
                let query = format!("{f}(g{{k=\"float\"}}[{range}])");
                let (with, raw, ..) = both(&fx, &query, &q);
                assert_close(&query, &with, &raw, 1e-12);
            }
        }
    }
}

#[test]
fn five_minute_tier_serves_what_the_hour_tier_cannot() {
    let fx = fixture();
    let start = BASE + DAY + 5 * MIN;
    let q = Q::Range(start, start + 4 * HOUR, 10 * MIN);
    for f in [
        "sum_over_time",
        "count_over_time",
        "min_over_time",
        "max_over_time",
        "last_over_time",
    ] {
        let query = format!("{f}(g{{k=\"quarter\"}}[35m])");
        let (with, raw, rollup_reads, raw_reads) = both(&fx, &query, &q);
        assert!(
            rollup_reads > 0 && raw_reads == 0,
            "{query}: rollups not used"
        );
        assert_close(&query, &with, &raw, 0.0);
    }
    let tiers: Vec<_> = fx
        .reads
        .lock()
        .map(|r| r.iter().filter_map(|x| x.0).collect())
        .unwrap_or_default();
    assert!(
        tiers.iter().all(|t| *t == RollupTier::FiveMinutes),
        "{tiers:?}"
    );
    // Range and step multiples of 1h pick the coarser tier.
    fx.clear_reads();
    let _ = both(
        &fx,
        "sum_over_time(c[2h])",
        &Q::Range(BASE + DAY, BASE + 2 * DAY, 2 * HOUR),
    );
    let tiers: Vec<_> = fx
        .reads
        .lock()
        .map(|r| r.iter().filter_map(|x| x.0).collect())
        .unwrap_or_default();
    assert!(
        !tiers.is_empty() && tiers.iter().all(|t| *t == RollupTier::OneHour),
        "{tiers:?}"
    );
}

#[test]
fn offsets_and_at_modifiers_on_the_grid_use_rollups() {
    let fx = fixture();
    let end = BASE + 7 * DAY;
    for (query, q) in [
        (
            "sum_over_time(c[1d] offset 1h)",
            Q::Range(BASE + 2 * DAY, end, HOUR),
        ),
        (
            "max_over_time(g{k=\"nan_gap\"}[1d] offset -2h)",
            Q::Range(BASE + 2 * DAY, end, HOUR),
        ),
        (
            "count_over_time(c[7d] @ 1700611200)",
            Q::Range(BASE + 2 * DAY, BASE + 2 * DAY + 10 * SCRAPE, SCRAPE),
        ),
        ("(sum_over_time((g{k=\"quarter\"}[1d])))", Q::Instant(end)),
        (
            "sum_over_time({__name__=\"g\", k=\"quarter\" or __name__=\"c\"}[1d])",
            Q::Range(BASE + 2 * DAY, end, HOUR),
        ),
    ] {
        let (with, raw, rollup_reads, raw_reads) = both(&fx, query, &q);
        assert!(
            rollup_reads > 0 && raw_reads == 0,
            "{query}: rollups not used"
        );
        assert!(!raw.is_empty(), "{query}: empty");
        // `c` holds a float-valued counter: its sums differ by rounding.
        assert_close(query, &with, &raw, 1e-12);
    }
}

#[test]
fn misaligned_queries_fall_back_to_raw() {
    let fx = fixture();
    let t = BASE + 7 * DAY;
    for (query, q) in [
        // Start off the 5-minute grid.
        ("sum_over_time(c[1h])", Q::Range(t + 1000, t + DAY, HOUR)),
        // Step not a multiple of 5 minutes.
        ("sum_over_time(c[1h])", Q::Range(t, t + DAY, 90_000)),
        // Range not a multiple of 5 minutes.
        ("sum_over_time(c[61m30s])", Q::Range(t, t + DAY, HOUR)),
        // Offset moves the windows off the grid.
        ("sum_over_time(c[1h] offset 1m)", Q::Range(t, t + DAY, HOUR)),
        ("rate(c[1h])", Q::Instant(t + 7_000)),
        ("last_over_time(c[1h] @ 1700611230)", Q::Instant(t)),
        // Not a plain matrix selector, or not a supported function.
        ("sum_over_time(c[1h:5m])", Q::Range(t, t + DAY, HOUR)),
        ("stddev_over_time(c[1h])", Q::Range(t, t + DAY, HOUR)),
        ("delta(c[1h])", Q::Range(t, t + DAY, HOUR)),
        ("first_over_time(c[1h])", Q::Range(t, t + DAY, HOUR)),
    ] {
        let (with, raw, rollup_reads, raw_reads) = both(&fx, query, &q);
        assert_eq!(rollup_reads, 0, "{query}: used rollups");
        assert!(raw_reads > 0, "{query}: no raw read");
        assert_eq!(with.len(), raw.len(), "{query}");
    }
}

#[test]
fn rate_and_increase_within_documented_tolerance() {
    let fx = fixture();
    let mut worst_regular: f64 = 0.0;
    for (range, range_ms) in [
        ("7d", 7 * DAY),
        ("1d", DAY),
        ("1h", HOUR),
        ("30m", 30 * MIN),
    ] {
        for (shape, q) in shapes(range_ms) {
            for f in ["rate", "increase"] {
                for (sel, tol) in [
                    // Regular samples: the estimated sampled duration is exact, so only
                    // float rounding remains.
                    ("c{k=\"regular\"}", 1e-12),
                    // Samples jittered by up to ±2 s (intervals up to 19 s), resets, and a
                    // 3-hour gap: the documented 2 × largest interval / range.
                    (
                        "c{k=\"jitter\"}",
                        2.0 * (SCRAPE + 4000) as f64 / range_ms as f64,
                    ),
                ] {
                    let query = format!("{f}({sel}[{range}])");
                    let (with, raw, rollup_reads, raw_reads) = both(&fx, &query, &q);
                    if range_ms < 12 * 5 * MIN {
                        // Fewer than 12 buckets of the finest tier: raw samples are read.
                        assert!(
                            rollup_reads == 0 && raw_reads > 0,
                            "{query} ({shape}): short window read rollups"
                        );
                        continue;
                    }
                    assert!(
                        rollup_reads > 0 && raw_reads == 0,
                        "{query} ({shape}): rollups not used"
                    );
                    assert!(!raw.is_empty(), "{query} ({shape}): empty");
                    let worst = assert_close(&format!("{query} ({shape})"), &with, &raw, tol);
                    eprintln!(
                        "{query} ({shape}): worst relative difference {worst:e}, tolerance {tol:e}"
                    );
                    if sel.contains("regular") {
                        worst_regular = worst_regular.max(worst);
                    }
                }
            }
        }
    }
    assert!(worst_regular < 1e-12, "{worst_regular}");
}

#[test]
fn a_sample_on_a_bucket_boundary_belongs_to_the_later_window() {
    // One sample every 5 minutes exactly on the boundary, value = its index.
    let samples: Vec<Sample> = (0..=24)
        .map(|k| Sample::new(BASE + k * 5 * MIN, k as f64))
        .collect();
    let fx = Fixture {
        series: vec![SeriesSamples {
            labels: Labels::from_pairs([("__name__", "b")]),
            samples,
        }],
        reads: Mutex::new(Vec::new()),
    };
    let t = BASE + 2 * HOUR;
    let (with, raw, rollup_reads, _) = both(&fx, "sum_over_time(b[1h])", &Q::Instant(t));
    assert!(rollup_reads > 0);
    // Raw (t - 1h, t]: samples 13..=24. Rollup [t - 1h, t): samples 12..=23.
    assert_eq!(raw[0].2, (13..=24).sum::<i64>() as f64);
    assert_eq!(with[0].2, (12..=23).sum::<i64>() as f64);
    let (with, raw, ..) = both(&fx, "count_over_time(b[1h])", &Q::Instant(t));
    assert_eq!((with[0].2, raw[0].2), (12.0, 12.0));
}
