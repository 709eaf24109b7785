//! Leveled compaction planning, after Prometheus' `LeveledCompactor.Plan`.

use ulid::Ulid;

use crate::block::BlockMeta;

/// Chooses the next set of blocks to compact, or `None` when nothing is due.
///
/// `metas` are the blocks of one resolution (the caller plans raw and each rollup tier
/// separately). `ranges` are increasing block ranges in ms, e.g. `[2h, 6h, 24h]`; the first
/// is the size of blocks cut from the head.
///
/// 1. Overlapping blocks (e.g. from backfill) are always merged first: the first group
///    (by min time) of blocks whose `[min_time, max_time]` ranges overlap transitively is
///    returned, newest block included.
/// 2. Otherwise the newest block (largest `min_time`) is left out, as Prometheus does: it
///    may still get same-range siblings, and leaving it gives backups a window. For each
///    range after the first, blocks are grouped by the aligned range `[k·r, (k+1)·r)` that
///    fully contains them (blocks larger than `r` or straddling a boundary are skipped).
///    The first group of two or more blocks that either spans the whole range or ends
///    before the `min_time` of the newest remaining block (so the range is complete: later
///    data already went into later blocks) is returned.
///
/// The result is sorted by min time.
pub fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Option<Vec<Ulid>> {
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by_key(|m| (m.min_time, m.max_time, m.ulid));

    let overlapping = select_overlapping(&sorted);
    if !overlapping.is_empty() {
        return Some(overlapping.iter().map(|m| m.ulid).collect());
    }
    if sorted.len() < 2 || ranges.len() < 2 {
        return None;
    }
    // Leave out the newest block (sorted by min time, so the last one).
    sorted.pop();
    let high_time = sorted.last()?.min_time;

    for &range in &ranges[1..] {
        if range <= 0 {
            continue;
        }
        for group in split_by_range(&sorted, range) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let span = end_exclusive(last).saturating_sub(first.min_time);
            if group.len() > 1 && (span == range || end_exclusive(last) <= high_time) {
                return Some(group.iter().map(|m| m.ulid).collect());
            }
        }
    }
    None
}

fn end_exclusive(m: &BlockMeta) -> i64 {
    m.max_time.saturating_add(1)
}

/// The first group of transitively overlapping blocks (`sorted` by min time), or empty.
fn select_overlapping<'a>(sorted: &[&'a BlockMeta]) -> Vec<&'a BlockMeta> {
    let mut group: Vec<&BlockMeta> = Vec::new();
    let mut group_max = i64::MIN;
    for &m in sorted {
        if !group.is_empty() && m.min_time <= group_max {
            group.push(m);
            group_max = group_max.max(m.max_time);
            continue;
        }
        if group.len() > 1 {
            return group;
        }
        group = vec![m];
        group_max = m.max_time;
    }
    if group.len() > 1 {
        group
    } else {
        Vec::new()
    }
}

/// Groups blocks (sorted, non-overlapping) by the aligned range of width `range` that
/// contains them entirely; blocks that fit no aligned range are skipped.
fn split_by_range<'a>(sorted: &[&'a BlockMeta], range: i64) -> Vec<Vec<&'a BlockMeta>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let t0 = sorted[i].min_time.div_euclid(range).saturating_mul(range);
        let t1 = t0.saturating_add(range);
        if end_exclusive(sorted[i]) > t1 {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < sorted.len() && end_exclusive(sorted[i]) <= t1 {
            group.push(sorted[i]);
            i += 1;
        }
        groups.push(group);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockStats, CompactionMeta, Resolution};
    use crate::compact::DEFAULT_RANGES;

    const H: i64 = 3_600_000;

    fn meta(id: u128, min_h: i64, max_h: i64) -> BlockMeta {
        BlockMeta {
            ulid: Ulid(id),
            min_time: min_h * H,
            max_time: max_h * H - 1,
            stats: BlockStats::default(),
            compaction: CompactionMeta::default(),
            resolution: Resolution::Raw,
            version: 1,
        }
    }

    fn ids(v: &[u128]) -> Option<Vec<Ulid>> {
        Some(v.iter().map(|&i| Ulid(i)).collect())
    }

    type Case = (&'static str, Vec<BlockMeta>, Option<Vec<Ulid>>);

    #[test]
    fn table() {
        let cases: Vec<Case> = vec![
            ("empty", vec![], None),
            ("single", vec![meta(1, 0, 2)], None),
            (
                "two 2h: newest excluded",
                vec![meta(1, 0, 2), meta(2, 2, 4)],
                None,
            ),
            (
                "three 2h: range not complete, newest excluded",
                vec![meta(1, 0, 2), meta(2, 2, 4), meta(3, 4, 6)],
                None,
            ),
            (
                "four 2h fill the first 6h range",
                vec![meta(1, 0, 2), meta(2, 2, 4), meta(3, 4, 6), meta(4, 6, 8)],
                ids(&[1, 2, 3]),
            ),
            (
                "input order does not matter",
                vec![meta(4, 6, 8), meta(2, 2, 4), meta(3, 4, 6), meta(1, 0, 2)],
                ids(&[1, 2, 3]),
            ),
            (
                "gap: newest remaining block starts later",
                vec![
                    meta(1, 0, 2),
                    meta(2, 2, 4),
                    meta(3, 10, 12),
                    meta(4, 12, 14),
                ],
                ids(&[1, 2]),
            ),
            (
                "gap: wait while the range could still fill",
                vec![meta(1, 0, 2), meta(2, 2, 4), meta(3, 10, 12)],
                None,
            ),
            (
                "lone block in its range is not compacted",
                vec![meta(1, 0, 2), meta(3, 10, 12)],
                None,
            ),
            (
                "6h blocks fill 24h",
                vec![
                    meta(1, 0, 6),
                    meta(2, 6, 12),
                    meta(3, 12, 18),
                    meta(4, 18, 24),
                    meta(5, 24, 26),
                ],
                ids(&[1, 2, 3, 4]),
            ),
            (
                "24h block is never picked again",
                vec![meta(1, 0, 24), meta(2, 24, 26), meta(3, 26, 28)],
                None,
            ),
            (
                "overlapping blocks are merged",
                vec![meta(1, 0, 2), meta(2, 1, 3)],
                ids(&[1, 2]),
            ),
            (
                "overlap beats ranges and includes the newest",
                vec![
                    meta(1, 0, 2),
                    meta(2, 2, 4),
                    meta(3, 4, 6),
                    meta(4, 6, 8),
                    meta(5, 7, 8),
                ],
                ids(&[4, 5]),
            ),
            (
                "transitive overlap",
                vec![meta(1, 0, 4), meta(2, 3, 6), meta(3, 5, 8), meta(4, 10, 12)],
                ids(&[1, 2, 3]),
            ),
            (
                "a block straddling 6h is left for the 24h level",
                vec![
                    meta(1, 5, 7),
                    meta(2, 7, 8),
                    meta(3, 12, 14),
                    meta(4, 14, 16),
                ],
                None,
            ),
            (
                "... which takes it once the day is over",
                vec![
                    meta(1, 5, 7),
                    meta(2, 7, 8),
                    meta(3, 12, 14),
                    meta(4, 24, 26),
                    meta(5, 26, 28),
                ],
                ids(&[1, 2, 3]),
            ),
        ];
        for (name, metas, want) in cases {
            assert_eq!(plan(&metas, &DEFAULT_RANGES), want, "{name}");
        }
    }

    #[test]
    fn inclusive_max_time_touching_is_not_overlap() {
        // [0, 2h-1] and [2h, 4h-1] touch but do not overlap.
        let metas = vec![meta(1, 0, 2), meta(2, 2, 4)];
        assert_eq!(plan(&metas, &[2 * H]), None);
        let mut a = meta(1, 0, 2);
        a.max_time = 2 * H; // now shares the instant 2h with the next block
        assert_eq!(plan(&[a, meta(2, 2, 4)], &[2 * H]), ids(&[1, 2]));
    }
}
