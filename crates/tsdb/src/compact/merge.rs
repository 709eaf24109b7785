//! Merging blocks: a k-way merge of series by labels, samples merged by timestamp.

use std::cmp::Reverse;
use std::iter::Peekable;
use std::path::Path;
use std::sync::Arc;
use strix_core::storage::RollupPoint;
use strix_core::{Labels, Sample};

#[cfg(doc)]
use crate::block::MAX_BLOCK_CHUNK_SAMPLES;
use crate::block::{
    Block, BlockError, BlockMeta, BlockSeries, BlockWriter, CompactionMeta, Resolution,
};

type SeriesIter<'a> = Peekable<Box<dyn Iterator<Item = Result<BlockSeries, BlockError>> + 'a>>;

/// Merges `blocks` (one resolution) into a new block in `parent` and returns its metadata.
///
/// Series are merged by labels; samples (or rollup points) of the same series are merged by
/// timestamp, and for duplicate timestamps the value of the newer block (larger ULID)
/// wins, bit for bit (stale markers included). Raw data is re-encoded into dense chunks
/// of at most [`MAX_BLOCK_CHUNK_SAMPLES`] samples (whatever the sources' encodings: XOR
/// blocks are converted), rollup data into rollup chunks of at most 120 points. Work is done
/// series by series: memory holds the output index plus one series' data. The new block
/// covers the union of the source time ranges, has level `max(levels) + 1` and the union
/// of the sources' `sources` (a source without lineage counts as its own ULID).
pub fn compact(blocks: &[Arc<Block>], parent: &Path) -> Result<BlockMeta, BlockError> {
    let mut blocks: Vec<&Block> = blocks.iter().map(|b| b.as_ref()).collect();
    // Oldest first: a later position is a newer block.
    blocks.sort_by_key(|b| b.meta().ulid);
    let first = blocks
        .first()
        .ok_or_else(|| BlockError::InvalidInput("nothing to compact".into()))?;
    let resolution = first.meta().resolution;
    if let Some(b) = blocks.iter().find(|b| b.meta().resolution != resolution) {
        return Err(BlockError::InvalidInput(format!(
            "cannot compact blocks of resolutions {} and {} ({})",
            resolution.as_str(),
            b.meta().resolution.as_str(),
            b.meta().ulid
        )));
    }
    let min_time = blocks.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
    let max_time = blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
    let level = blocks
        .iter()
        .map(|b| b.meta().compaction.level)
        .max()
        .unwrap_or(0)
        + 1;
    let mut sources: Vec<_> = blocks
        .iter()
        .flat_map(|b| {
            let c = &b.meta().compaction;
            if c.sources.is_empty() {
                vec![b.meta().ulid]
            } else {
                c.sources.clone()
            }
        })
        .collect();
    sources.sort();
    sources.dedup();

    let mut w = BlockWriter::new(parent, resolution, min_time, max_time)?;
    let mut iters: Vec<SeriesIter<'_>> = blocks
        .iter()
        .map(|b| {
            let it: Box<dyn Iterator<Item = Result<BlockSeries, BlockError>> + '_> =
                Box::new(b.all_series());
            it.peekable()
        })
        .collect();

    let mut samples: Vec<(i64, Reverse<usize>, Sample)> = Vec::new();
    let mut points: Vec<(i64, Reverse<usize>, RollupPoint)> = Vec::new();
    let mut scratch_s = Vec::new();
    let mut scratch_p = Vec::new();
    loop {
        // The smallest labels among the heads of all iterators.
        let mut next: Option<Labels> = None;
        for it in iters.iter_mut() {
            match it.peek() {
                Some(Ok(s)) if next.as_ref().is_none_or(|n| s.labels < *n) => {
                    next = Some(s.labels.clone());
                }
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    if let Some(Err(e)) = it.next() {
                        return Err(e);
                    }
                }
                None => {}
            }
        }
        let Some(labels) = next else { break };

        samples.clear();
        points.clear();
        for (rank, it) in iters.iter_mut().enumerate() {
            if !matches!(it.peek(), Some(Ok(s)) if s.labels == labels) {
                continue;
            }
            let Some(Ok(series)) = it.next() else {
                continue;
            };
            let b = blocks[rank];
            for c in &series.chunks {
                if resolution == Resolution::Raw {
                    scratch_s.clear();
                    b.decode_samples(c, i64::MIN, i64::MAX, &mut scratch_s)?;
                    samples.extend(scratch_s.iter().map(|s| (s.t, Reverse(rank), *s)));
                } else {
                    scratch_p.clear();
                    b.decode_points(c, i64::MIN, i64::MAX, &mut scratch_p)?;
                    points.extend(scratch_p.iter().map(|p| (p.t, Reverse(rank), *p)));
                }
            }
        }
        if resolution == Resolution::Raw {
            // By time, newest block first within a timestamp; keep the first of each.
            samples.sort_by_key(|&(t, r, _)| (t, r));
            samples.dedup_by_key(|e| e.0);
            let merged: Vec<Sample> = samples.iter().map(|e| e.2).collect();
            w.add_series_samples(&labels, &merged)?;
        } else {
            points.sort_by_key(|&(t, r, _)| (t, r));
            points.dedup_by_key(|e| e.0);
            let merged: Vec<RollupPoint> = points.iter().map(|e| e.2).collect();
            w.add_series_points(&labels, &merged)?;
        }
    }
    w.finish(CompactionMeta { level, sources })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::plan;
    use strix_core::{MatchOp, Matcher, STALE_NAN};

    fn write(parent: &Path, series: &[(Labels, Vec<Sample>)], min: i64, max: i64) -> Arc<Block> {
        let mut w = BlockWriter::new(parent, Resolution::Raw, min, max).expect("writer");
        for (l, s) in series {
            w.add_series_samples(l, s).expect("add");
        }
        let u = w.ulid();
        let meta = w.finish(CompactionMeta::level1(u)).expect("finish");
        Arc::new(Block::open(&parent.join(meta.ulid.to_string())).expect("open"))
    }

    fn lbl(name: &str, inst: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("instance", inst)])
    }

    #[test]
    fn merges_overlapping_blocks_with_duplicates_and_stale_markers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = lbl("up", "a");
        let b = lbl("up", "b");
        let c = lbl("up", "c");
        // Older block: a at 0..300 step 1 (300 samples, > 2 chunks), b with a stale marker.
        let old_a: Vec<Sample> = (0..300).map(|t| Sample::new(t, 1.0)).collect();
        let old = write(
            dir.path(),
            &[
                (a.clone(), old_a),
                (
                    b.clone(),
                    vec![Sample::new(10, 5.0), Sample::new(20, STALE_NAN)],
                ),
            ],
            0,
            299,
        );
        // Newer, overlapping (backfill): a duplicates t=100..110 with other values, c is new,
        // b gets a duplicate at 20 that is a plain NaN and one new sample.
        let new_a: Vec<Sample> = (100..110)
            .map(|t| Sample::new(t, 2.0))
            .chain([Sample::new(400, 3.0)])
            .collect();
        let new = write(
            dir.path(),
            &[
                (a.clone(), new_a),
                (
                    b.clone(),
                    vec![Sample::new(15, STALE_NAN), Sample::new(30, 6.0)],
                ),
                (c.clone(), vec![Sample::new(50, 7.0)]),
            ],
            50,
            400,
        );
        assert_eq!(
            plan(&[old.meta().clone(), new.meta().clone()], &[7200]),
            Some(vec![old.meta().ulid, new.meta().ulid])
        );

        let out_dir = dir.path().join("out");
        // Order of the inputs does not matter: the ULID decides which block is newer.
        let meta = compact(&[new.clone(), old.clone()], &out_dir).expect("compact");
        assert_eq!((meta.min_time, meta.max_time), (0, 400));
        assert_eq!(meta.compaction.level, 2);
        let mut want_sources = vec![old.meta().ulid, new.meta().ulid];
        want_sources.sort();
        assert_eq!(meta.compaction.sources, want_sources);
        assert_eq!(meta.stats.num_series, 3);
        assert_eq!(meta.stats.num_samples, 301 + 4 + 1);

        let out = Block::open(&out_dir.join(meta.ulid.to_string())).expect("open");
        let all = out.read_samples(&[], i64::MIN, i64::MAX).expect("read");
        assert_eq!(
            all.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
            vec![a.clone(), b.clone(), c.clone()]
        );
        let sa = &all[0].samples;
        assert_eq!(sa.len(), 301);
        assert!(sa.windows(2).all(|w| w[0].t < w[1].t));
        for s in sa {
            let want = if (100..110).contains(&s.t) {
                2.0
            } else if s.t == 400 {
                3.0
            } else {
                1.0
            };
            assert_eq!(s.v, want, "t={}", s.t);
        }
        assert_eq!(
            all[1].samples,
            vec![
                Sample::new(10, 5.0),
                Sample::new(15, STALE_NAN),
                Sample::new(20, STALE_NAN),
                Sample::new(30, 6.0)
            ]
        );
        assert!(strix_core::is_stale_nan(all[1].samples[2].v));
        // Dense chunks of at most MAX_BLOCK_CHUNK_SAMPLES.
        let sel = out
            .select(
                &[Matcher::new(MatchOp::Equal, "instance", "a").expect("m")],
                i64::MIN,
                i64::MAX,
            )
            .expect("select");
        assert_eq!(
            sel[0].chunks.len(),
            301_usize.div_ceil(crate::block::MAX_BLOCK_CHUNK_SAMPLES)
        );
        let mut total = 0;
        for r in &sel[0].chunks {
            let bytes = out.chunk(r).expect("chunk");
            assert_eq!(bytes[0], crate::chunk::Encoding::Dense as u8);
            total += crate::chunk::sample_count(bytes).expect("count");
        }
        assert_eq!(total, 301);
    }

    #[test]
    fn newer_block_wins_on_duplicate_timestamps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = lbl("x", "a");
        let b1 = write(
            dir.path(),
            &[(a.clone(), vec![Sample::new(1, 1.0), Sample::new(2, 1.0)])],
            0,
            10,
        );
        let b2 = write(
            dir.path(),
            &[(a.clone(), vec![Sample::new(2, f64::NAN)])],
            0,
            10,
        );
        let b3 = write(dir.path(), &[(a.clone(), vec![Sample::new(1, 3.0)])], 0, 10);
        let meta = compact(&[b3, b1, b2], dir.path()).expect("compact");
        let out = Block::open(&dir.path().join(meta.ulid.to_string())).expect("open");
        let all = out.read_samples(&[], i64::MIN, i64::MAX).expect("read");
        assert_eq!(
            all[0].samples,
            vec![Sample::new(1, 3.0), Sample::new(2, f64::NAN)]
        );
    }

    #[test]
    fn mixed_resolutions_and_empty_input_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(compact(&[], dir.path()).is_err());
        let raw = write(
            dir.path(),
            &[(lbl("x", "a"), vec![Sample::new(1, 1.0)])],
            0,
            10,
        );
        let w = BlockWriter::new(dir.path(), Resolution::FiveMinutes, 0, 10).expect("writer");
        let meta = w.finish(CompactionMeta::default()).expect("finish");
        let r = Arc::new(Block::open(&dir.path().join(meta.ulid.to_string())).expect("open"));
        assert!(matches!(
            compact(&[raw, r], dir.path()),
            Err(BlockError::InvalidInput(_))
        ));
    }
}
