//! Reads across the head and the blocks of every resolution ([`Queryable`] for [`Db`]).

use crate::block::{Block, Resolution};
use crate::db::Db;
use crate::maintenance::rollup_covers;
use crate::rollup;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use strix_core::storage::{
    Queryable, RollupPoint, RollupTier, SeriesRollup, SeriesSamples, StorageError,
};
use strix_core::{Labels, Matcher, Sample, Timestamp};

impl Db {
    fn overlapping(&self, res: Resolution, start: Timestamp, end: Timestamp) -> Vec<Arc<Block>> {
        let b = self.inner.blocks.read().unwrap_or_else(|p| p.into_inner());
        b.tier(res)
            .iter()
            .filter(|b| b.meta().overlaps(start, end))
            .cloned()
            .collect()
    }
}

fn merge_samples(parts: Vec<Vec<Sample>>) -> Vec<Sample> {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let mut all: Vec<Sample> = parts.into_iter().flatten().collect();
    // Stable sort keeps source order for equal timestamps; the last (newest) source wins.
    all.sort_by_key(|s| s.t);
    let mut out: Vec<Sample> = Vec::with_capacity(all.len());
    for s in all {
        match out.last_mut() {
            Some(last) if last.t == s.t => *last = s,
            _ => out.push(s),
        }
    }
    out
}

impl Queryable for Db {
    fn select(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesSamples>, StorageError> {
        let mut by_labels: BTreeMap<Labels, Vec<Vec<Sample>>> = BTreeMap::new();
        for b in self.overlapping(Resolution::Raw, start, end) {
            for s in b
                .read_samples(matchers, start, end)
                .map_err(|e| StorageError::new(e.class(), e.to_string()))?
            {
                by_labels.entry(s.labels).or_default().push(s.samples);
            }
        }
        for (labels, samples) in self.inner.head.select(matchers, start, end) {
            by_labels.entry(labels).or_default().push(samples);
        }
        Ok(by_labels
            .into_iter()
            .map(|(labels, parts)| SeriesSamples {
                labels,
                samples: merge_samples(parts),
            })
            .filter(|s| !s.samples.is_empty())
            .collect())
    }

    fn series(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Labels>, StorageError> {
        let mut set = BTreeSet::new();
        for b in self.overlapping(Resolution::Raw, start, end) {
            for s in b
                .select(matchers, start, end)
                .map_err(|e| StorageError::new(e.class(), e.to_string()))?
            {
                set.insert(s.labels);
            }
        }
        let mut buf = Vec::new();
        for s in self.inner.head.select_refs(matchers) {
            buf.clear();
            s.data
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .samples(start, end, &mut buf);
            if !buf.is_empty() {
                set.insert(s.labels.clone());
            }
        }
        Ok(set.into_iter().collect())
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        let mut set: BTreeSet<String> = BTreeSet::new();
        if matchers.is_empty() {
            for b in self.overlapping(Resolution::Raw, start, end) {
                set.extend(
                    b.label_names(&[])
                        .map_err(|e| StorageError::new(e.class(), e.to_string()))?,
                );
            }
            set.extend(self.inner.head.label_names());
        } else {
            for l in self.series(matchers, start, end)? {
                set.extend(l.iter().map(|l| l.name.clone()));
            }
        }
        Ok(set.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<String>, StorageError> {
        let mut set: BTreeSet<String> = BTreeSet::new();
        if matchers.is_empty() {
            for b in self.overlapping(Resolution::Raw, start, end) {
                set.extend(
                    b.label_values(name, &[])
                        .map_err(|e| StorageError::new(e.class(), e.to_string()))?,
                );
            }
            set.extend(self.inner.head.label_values(name));
        } else {
            for l in self.series(matchers, start, end)? {
                if let Some(v) = l.get(name) {
                    set.insert(v.to_string());
                }
            }
        }
        Ok(set.into_iter().collect())
    }

    fn select_rollup(
        &self,
        tier: RollupTier,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SeriesRollup>, StorageError> {
        let step = tier.step_ms();
        let blocks = self.overlapping(Resolution::from(tier), start, end);
        let mut by_labels: BTreeMap<Labels, Vec<RollupPoint>> = BTreeMap::new();
        for b in &blocks {
            for s in b
                .select_rollup(matchers, start, end)
                .map_err(|e| StorageError::new(e.class(), e.to_string()))?
            {
                by_labels.entry(s.labels).or_default().extend(s.points);
            }
        }
        // Buckets no rollup block holds yet (the head, fresh blocks) come from raw data,
        // read only over the gaps between rollup blocks.
        let covered = |t: Timestamp| {
            blocks
                .iter()
                .any(|b| rollup_covers(b.meta(), tier, t - step, t - 1))
        };
        let raw_start = start.div_euclid(step) * step;
        let spans: Vec<(Timestamp, Timestamp)> = blocks
            .iter()
            .map(|b| (b.meta().min_time - step, b.meta().max_time - 1))
            .collect();
        for (lo, hi) in uncovered(raw_start, end, spans) {
            // Whole buckets: from the start of the first bucket to the end of the last.
            let lo = lo.div_euclid(step) * step;
            let hi = (hi.div_euclid(step) + 1) * step - 1;
            for s in self.select(matchers, lo, hi)? {
                let pts: Vec<RollupPoint> = rollup::downsample(&s.samples, tier)
                    .into_iter()
                    .filter(|p| p.t > start && p.t <= end.saturating_add(step) && !covered(p.t))
                    .collect();
                if !pts.is_empty() {
                    by_labels.entry(s.labels).or_default().extend(pts);
                }
            }
        }
        Ok(by_labels
            .into_iter()
            .map(|(labels, mut points)| {
                points.sort_by_key(|p| p.t);
                points.dedup_by_key(|p| p.t);
                SeriesRollup { labels, points }
            })
            .filter(|s| !s.points.is_empty())
            .collect())
    }
}

/// Parts of `[start, end]` outside every span (inclusive bounds), in order.
fn uncovered(
    start: Timestamp,
    end: Timestamp,
    mut spans: Vec<(Timestamp, Timestamp)>,
) -> Vec<(Timestamp, Timestamp)> {
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut cur = start;
    for (lo, hi) in spans {
        if hi < cur {
            continue;
        }
        if lo > end {
            break;
        }
        if lo > cur {
            out.push((cur, lo - 1));
        }
        cur = cur.max(hi.saturating_add(1));
        if cur > end {
            return out;
        }
    }
    if cur <= end {
        out.push((cur, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uncovered;

    #[test]
    fn gaps_between_spans() {
        assert_eq!(uncovered(0, 100, vec![]), vec![(0, 100)]);
        assert_eq!(
            uncovered(0, 100, vec![(10, 20), (15, 30), (50, 60)]),
            vec![(0, 9), (31, 49), (61, 100)]
        );
        assert_eq!(uncovered(0, 100, vec![(-5, 200)]), vec![]);
        assert_eq!(uncovered(0, 100, vec![(0, 49)]), vec![(50, 100)]);
        assert_eq!(uncovered(0, 100, vec![(120, 130)]), vec![(0, 100)]);
    }
}
