//! Downsampling raw samples into rollup points, and rollup blocks.
//!
//! A rollup point aggregates one series over one bucket `[end - step, end)`, where `end`
//! is a multiple of the tier's step (5m or 1h) and is the point's timestamp. Raw blocks are
//! aligned to 2h boundaries, so a bucket never straddles two raw blocks and a rollup block
//! can be built from one raw block alone.
//!
//! Value rules (also in docs/format/chunk.md):
//! - Stale markers are ignored entirely: they are not counted and do not affect any field.
//! - Other NaN values are counted and flow into `sum` (making it NaN, as `sum_over_time`
//!   would), and into `first`/`last` when they are first/last. They are excluded from
//!   `min`/`max` (which are NaN only when every counted value is NaN, like
//!   `min_over_time`) and from `increase` (the delta is taken between non-NaN values).
//! - `increase` is counter-aware and covers consecutive samples inside the bucket only: a
//!   decrease is a counter reset and adds the new value. The increase across a bucket
//!   boundary can be recovered from the previous bucket's `last` and this bucket's `first`.

use std::path::Path;
use strix_core::storage::{RollupPoint, RollupTier};
use strix_core::{is_stale_nan, Sample, Timestamp};

use crate::block::{Block, BlockError, BlockMeta, BlockWriter, CompactionMeta, Resolution};

/// The end of the bucket holding `t`: the smallest multiple of `step` greater than `t`.
pub fn bucket_end(t: Timestamp, step: i64) -> Timestamp {
    t.div_euclid(step).saturating_mul(step).saturating_add(step)
}

struct Acc {
    p: RollupPoint,
    prev: Option<f64>,
}

impl Acc {
    fn new(t: Timestamp, v: f64) -> Acc {
        Acc {
            p: RollupPoint {
                t,
                min: f64::NAN,
                max: f64::NAN,
                sum: 0.0,
                count: 0,
                first: v,
                last: v,
                increase: 0.0,
            },
            prev: None,
        }
    }

    fn add(&mut self, v: f64) {
        let p = &mut self.p;
        p.count += 1;
        p.sum += v;
        p.last = v;
        if v.is_nan() {
            return;
        }
        if p.min.is_nan() || v < p.min {
            p.min = v;
        }
        if p.max.is_nan() || v > p.max {
            p.max = v;
        }
        if let Some(prev) = self.prev {
            p.increase += if v >= prev { v - prev } else { v };
        }
        self.prev = Some(v);
    }
}

/// Aggregates `samples` (sorted by time) into points of `tier`, one per non-empty bucket,
/// sorted by bucket end. See the module docs for the value rules.
pub fn downsample(samples: &[Sample], tier: RollupTier) -> Vec<RollupPoint> {
    let step = tier.step_ms();
    let mut out = Vec::new();
    let mut cur: Option<Acc> = None;
    for s in samples {
        if is_stale_nan(s.v) {
            continue;
        }
        let end = bucket_end(s.t, step);
        match &mut cur {
            Some(acc) if acc.p.t == end => acc.add(s.v),
            _ => {
                if let Some(acc) = cur.take() {
                    out.push(acc.p);
                }
                let mut acc = Acc::new(end, s.v);
                acc.add(s.v);
                cur = Some(acc);
            }
        }
    }
    if let Some(acc) = cur {
        out.push(acc.p);
    }
    out
}

/// Builds the `tier` rollup block of the raw block `src` in `parent` and returns its
/// metadata. The block covers the bucket ends of `src`'s range; its lineage is level 1 with
/// `src` as the only source (so the caller can tell which raw blocks are rolled up).
pub fn build_rollup_block(
    src: &Block,
    tier: RollupTier,
    parent: &Path,
) -> Result<BlockMeta, BlockError> {
    let m = src.meta();
    if m.resolution != Resolution::Raw {
        return Err(BlockError::InvalidInput(format!(
            "block {} is not a raw block",
            m.ulid
        )));
    }
    let step = tier.step_ms();
    let mut w = BlockWriter::new(
        parent,
        Resolution::from(tier),
        bucket_end(m.min_time, step),
        bucket_end(m.max_time, step),
    )?;
    let mut samples = Vec::new();
    for series in src.all_series() {
        let series = series?;
        samples.clear();
        for c in &series.chunks {
            src.decode_samples(c, i64::MIN, i64::MAX, &mut samples)?;
        }
        let points = downsample(&samples, tier);
        w.add_series_points(&series.labels, &points)?;
    }
    w.finish(CompactionMeta {
        level: 1,
        sources: vec![m.ulid],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::rollup_points_bit_eq;
    use std::sync::Arc;
    use strix_core::{Labels, MatchOp, Matcher, STALE_NAN};

    const M5: i64 = 300_000;

    #[test]
    fn buckets_are_aligned_and_end_exclusive() {
        assert_eq!(bucket_end(0, M5), M5);
        assert_eq!(bucket_end(M5 - 1, M5), M5);
        assert_eq!(bucket_end(M5, M5), 2 * M5);
        assert_eq!(bucket_end(-1, M5), 0);
        let s = [
            Sample::new(0, 1.0),
            Sample::new(M5 - 1, 2.0),
            Sample::new(M5, 3.0),
            Sample::new(3 * M5 + 5, 4.0),
        ];
        let p = downsample(&s, RollupTier::FiveMinutes);
        assert_eq!(
            p.iter().map(|p| (p.t, p.count)).collect::<Vec<_>>(),
            vec![(M5, 2), (2 * M5, 1), (4 * M5, 1)]
        );
        assert_eq!(
            (p[0].min, p[0].max, p[0].sum, p[0].first, p[0].last),
            (1.0, 2.0, 3.0, 1.0, 2.0)
        );
        let h = downsample(&s, RollupTier::OneHour);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].t, h[0].count, h[0].sum), (3_600_000, 4, 10.0));
    }

    #[test]
    fn counter_reset_and_stale_markers() {
        // 10, 15, stale, 3 (reset), 8, NaN, 9
        let vals = [10.0, 15.0, STALE_NAN, 3.0, 8.0, f64::NAN, 9.0];
        let s: Vec<Sample> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(i as i64 * 1000, v))
            .collect();
        let p = downsample(&s, RollupTier::FiveMinutes);
        assert_eq!(p.len(), 1);
        let p = p[0];
        assert_eq!(p.count, 6, "stale marker not counted, NaN counted");
        assert_eq!((p.min, p.max), (3.0, 15.0), "NaN excluded from min/max");
        assert!(p.sum.is_nan(), "NaN makes the sum NaN");
        assert_eq!((p.first, p.last), (10.0, 9.0));
        // 15-10 = 5, reset adds 3, 8-3 = 5, NaN skipped, 9-8 = 1.
        assert_eq!(p.increase, 14.0);
        // Only stale markers: no point at all.
        assert!(downsample(&[Sample::new(1, STALE_NAN)], RollupTier::FiveMinutes).is_empty());
        // Only NaN: counted, min/max NaN.
        let p = downsample(&[Sample::new(1, f64::NAN)], RollupTier::FiveMinutes)[0];
        assert_eq!(p.count, 1);
        assert!(p.min.is_nan() && p.max.is_nan() && p.increase == 0.0);
    }

    #[test]
    fn rollup_block_round_trip_and_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw_dir = dir.path().join("blocks");
        let two_h = 7_200_000;
        let mut w = BlockWriter::new(&raw_dir, Resolution::Raw, 0, two_h - 1).expect("writer");
        let mut inputs = Vec::new();
        for i in 0..5 {
            let l =
                Labels::from_pairs([("__name__", "reqs_total".to_string()), ("i", i.to_string())]);
            let s: Vec<Sample> = (0..720)
                .map(|k| Sample::new(k * 10_000 + i, (k * (i + 1)) as f64))
                .collect();
            w.add_series_samples(&l, &s).expect("add");
            inputs.push((l, s));
        }
        let raw_meta = w.finish(CompactionMeta::default()).expect("finish");
        let raw = Block::open(&raw_dir.join(raw_meta.ulid.to_string())).expect("open");

        let rdir = dir.path().join("rollup/5m");
        let meta = build_rollup_block(&raw, RollupTier::FiveMinutes, &rdir).expect("build");
        assert_eq!(meta.resolution, Resolution::FiveMinutes);
        assert_eq!((meta.min_time, meta.max_time), (M5, two_h));
        assert_eq!(meta.stats.num_samples, 5 * 24);
        assert_eq!(meta.compaction.sources, vec![raw_meta.ulid]);
        let rb = Block::open(&rdir.join(meta.ulid.to_string())).expect("open");
        assert!(
            rb.read_samples(&[], 0, 1).is_err(),
            "rollup block has no raw samples"
        );

        let got = rb.select_rollup(&[], i64::MIN, i64::MAX).expect("select");
        assert_eq!(got.len(), 5);
        for (g, (l, s)) in got.iter().zip(&inputs) {
            assert_eq!(&g.labels, l);
            let want = downsample(s, RollupTier::FiveMinutes);
            assert_eq!(g.points.len(), want.len());
            assert!(g
                .points
                .iter()
                .zip(&want)
                .all(|(a, b)| rollup_points_bit_eq(a, b)));
        }
        // (start, end] on bucket ends.
        let m = Matcher::new(MatchOp::Equal, "i", "2").expect("m");
        let got = rb.select_rollup(&[m], M5, 3 * M5).expect("select");
        assert_eq!(
            got[0].points.iter().map(|p| p.t).collect::<Vec<_>>(),
            vec![2 * M5, 3 * M5]
        );

        // A second rollup block of the next 2h, compacted with the first.
        let mut w =
            BlockWriter::new(&raw_dir, Resolution::Raw, two_h, 2 * two_h - 1).expect("writer");
        w.add_series_samples(&inputs[0].0, &[Sample::new(two_h, 1.0)])
            .expect("add");
        let raw2 = w.finish(CompactionMeta::default()).expect("finish");
        let raw2 = Block::open(&raw_dir.join(raw2.ulid.to_string())).expect("open");
        let meta2 = build_rollup_block(&raw2, RollupTier::FiveMinutes, &rdir).expect("build");
        let rb2 = Block::open(&rdir.join(meta2.ulid.to_string())).expect("open");
        let merged =
            crate::compact::compact(&[Arc::new(rb), Arc::new(rb2)], &rdir).expect("compact");
        assert_eq!(merged.resolution, Resolution::FiveMinutes);
        assert_eq!(merged.stats.num_samples, 5 * 24 + 1);
        let mb = Block::open(&rdir.join(merged.ulid.to_string())).expect("open");
        let got = mb
            .select_rollup(
                &[Matcher::new(MatchOp::Equal, "i", "0").expect("m")],
                i64::MIN,
                i64::MAX,
            )
            .expect("select");
        assert_eq!(got[0].points.len(), 25);
        assert_eq!(got[0].points[24].t, two_h + M5);
    }
}
