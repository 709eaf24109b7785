//! Engine-level tests of `Db`: the write path, replay, cutting the head into blocks,
//! compaction, retention, rollups and limits.
#![allow(clippy::unwrap_used)]

use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use strix_core::storage::{
    AppendMode, Appendable, Queryable, RejectReason, RollupTier, TimeSeries,
};
use strix_core::{now_millis, Labels, MatchOp, Matcher, Sample, STALE_NAN};
use strix_tsdb::{Db, DbOptions, FsyncPolicy, Limits, TierRetention};

const H: i64 = 3_600_000;

fn opts() -> DbOptions {
    DbOptions {
        fsync: FsyncPolicy::Never,
        compaction_interval: Duration::from_secs(3600),
        ..DbOptions::default()
    }
}

fn open(dir: &Path, o: DbOptions) -> Db {
    Db::open(dir, o, &mut Registry::default()).unwrap()
}

fn ts(name: &str, extra: &[(&str, &str)], samples: Vec<Sample>) -> TimeSeries {
    let mut pairs = vec![("__name__", name)];
    pairs.extend_from_slice(extra);
    TimeSeries {
        labels: Labels::from_pairs(pairs),
        samples,
    }
}

fn all(db: &Db) -> BTreeMap<Labels, Vec<Sample>> {
    let m = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap();
    db.select(&[m], i64::MIN / 2, i64::MAX / 2)
        .unwrap()
        .into_iter()
        .map(|s| (s.labels, s.samples))
        .collect()
}

/// Compares two data sets and reports the first difference briefly.
#[track_caller]
fn assert_same(
    got: &BTreeMap<Labels, Vec<Sample>>,
    want: &BTreeMap<Labels, Vec<Sample>>,
    what: &str,
) {
    for (l, w) in want {
        let Some(g) = got.get(l) else {
            panic!("{what}: series {l} missing")
        };
        if g != w {
            let i = g
                .iter()
                .zip(w)
                .position(|(a, b)| a != b)
                .unwrap_or(g.len().min(w.len()));
            panic!("{what}: series {l}: {} samples vs {} wanted; first difference at {i}: got {:?} want {:?}", g.len(), w.len(), g.get(i), w.get(i));
        }
    }
    for l in got.keys() {
        assert!(want.contains_key(l), "{what}: unexpected series {l}");
    }
}

fn name_eq(n: &str) -> Vec<Matcher> {
    vec![Matcher::equal("__name__", n)]
}

/// 6 hours of 1-minute samples for `n` series, ending now.
fn history(n: usize) -> (Vec<TimeSeries>, i64) {
    let end = now_millis() / 60_000 * 60_000;
    let start = end - 6 * H;
    let series = (0..n)
        .map(|i| {
            let id = i.to_string();
            let samples = (0..=360)
                .map(|k| Sample::new(start + k * 60_000, (i as f64) * 1000.0 + k as f64))
                .collect();
            ts("hist", &[("id", &id)], samples)
        })
        .collect();
    (series, start)
}

#[test]
fn append_select_and_replay_keep_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_millis();
    let data = vec![
        ts(
            "a",
            &[("x", "1")],
            vec![
                Sample::new(now - 2000, 1.0),
                Sample::new(now - 1000, STALE_NAN),
                Sample::new(now, f64::INFINITY),
            ],
        ),
        ts("b", &[], vec![Sample::new(now, -0.5)]),
    ];
    {
        let db = open(dir.path(), opts());
        let out = db.append(&data, AppendMode::Live).unwrap();
        assert_eq!(out.samples_appended, 4);
        assert_eq!(out.series_created, 2);
        db.close().unwrap();
    }
    let db = open(dir.path(), opts());
    let got = all(&db);
    assert_eq!(got.len(), 2);
    assert_eq!(got[&data[0].labels], data[0].samples);
    assert!(strix_core::is_stale_nan(got[&data[0].labels][1].v));
    assert_eq!(got[&data[1].labels], data[1].samples);
    // Re-sending identical samples (a retried request) is accepted and changes nothing.
    let again = db.append(&data, AppendMode::Live).unwrap();
    assert!(again.first_error.is_none());
    assert_eq!(all(&db), got);
}

#[test]
fn borrowed_appends_match_owned_appends() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let now = now_millis();
    let mut batch = strix_core::storage::BorrowedBatch::default();
    batch.push(
        &[("__name__", "b"), ("job", "x")],
        &[Sample::new(now - 1, 1.0), Sample::new(now, 2.0)],
    );
    batch.push(&[("__name__", "a")], &[Sample::new(now, 3.0)]);
    let out = db.append_borrowed(&batch, AppendMode::Live).unwrap();
    assert_eq!((out.samples_appended, out.series_created), (3, 2));
    // The same series sent owned resolve to the series created from borrowed labels.
    let owned = batch.to_owned_series();
    let again = db.append(&owned, AppendMode::Live).unwrap();
    assert_eq!((again.samples_appended, again.series_created), (3, 0));
    let mut next = strix_core::storage::BorrowedBatch::default();
    next.push(
        &[("__name__", "b"), ("job", "x")],
        &[Sample::new(now + 1, 4.0)],
    );
    assert_eq!(
        db.append_borrowed(&next, AppendMode::Live)
            .unwrap()
            .series_created,
        0
    );
    let got = all(&db);
    assert_eq!(got.len(), 2);
    assert_eq!(got[&owned[0].labels].len(), 3);
    // Invalid labels are still refused when the series is new.
    let mut bad = strix_core::storage::BorrowedBatch::default();
    bad.push(&[("job", "x")], &[Sample::new(now, 1.0)]);
    let out = db.append_borrowed(&bad, AppendMode::Live).unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::MissingMetricName, 1)]);
}

#[test]
fn out_of_order_window_and_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let now = now_millis();
    db.append(
        &[ts("m", &[], vec![Sample::new(now, 1.0)])],
        AppendMode::Live,
    )
    .unwrap();
    // Within the 10 minute window: accepted out of order.
    let out = db
        .append(
            &[ts("m", &[], vec![Sample::new(now - 5 * 60_000, 0.5)])],
            AppendMode::Live,
        )
        .unwrap();
    assert!(out.first_error.is_none(), "{out:?}");
    // Older: refused with the reason, other series in the batch still stored.
    let out = db
        .append(
            &[
                ts("m", &[], vec![Sample::new(now - 20 * 60_000, 0.1)]),
                ts("other", &[], vec![Sample::new(now, 2.0)]),
            ],
            AppendMode::Live,
        )
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::OutOfWindow, 1)]);
    assert!(out.first_error.unwrap().contains("out-of-order window"));
    assert_eq!(out.samples_appended, 1);
    // A sender catching up (in order for its series) is accepted up to half a block
    // range (1h) behind the newest sample, as Prometheus' head does; older is out of bounds.
    let out = db
        .append(
            &[ts(
                "late",
                &[],
                vec![
                    Sample::new(now - 30 * 60_000, 1.0),
                    Sample::new(now - 29 * 60_000, 2.0),
                ],
            )],
            AppendMode::Live,
        )
        .unwrap();
    assert!(out.first_error.is_none(), "{out:?}");
    let out = db
        .append(
            &[ts("later", &[], vec![Sample::new(now - 2 * H, 1.0)])],
            AppendMode::Live,
        )
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::OutOfWindow, 1)]);
    assert!(out.first_error.unwrap().contains("out of bounds"));
    // The import path takes any timestamp.
    let out = db
        .append(
            &[ts("m", &[], vec![Sample::new(now - 30 * 86_400_000, 7.0)])],
            AppendMode::Backfill,
        )
        .unwrap();
    assert!(out.first_error.is_none());
    let got = &all(&db)[&Labels::from_pairs([("__name__", "m")])];
    assert_eq!(
        got.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![now - 30 * 86_400_000, now - 5 * 60_000, now]
    );
    // A different value at a stored timestamp is refused on the live path.
    let out = db
        .append(
            &[ts("m", &[], vec![Sample::new(now, 9.0)])],
            AppendMode::Live,
        )
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::DuplicateTimestamp, 1)]);
    // Far future refused.
    let out = db
        .append(
            &[ts("m", &[], vec![Sample::new(now + 86_400_000, 1.0)])],
            AppendMode::Live,
        )
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::TooFarInFuture, 1)]);
}

#[test]
fn head_cut_moves_data_to_blocks_and_truncates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = history(50);
    let expected: BTreeMap<Labels, Vec<Sample>> = data
        .iter()
        .map(|s| (s.labels.clone(), s.samples.clone()))
        .collect();
    {
        let db = open(
            dir.path(),
            DbOptions {
                rollups: false,
                ..opts()
            },
        );
        // Live ingest in time order: every series gets sample k before any gets k+1.
        for k in 0..data[0].samples.len() {
            let round: Vec<TimeSeries> = data
                .iter()
                .map(|s| TimeSeries {
                    labels: s.labels.clone(),
                    samples: vec![s.samples[k]],
                })
                .collect();
            let out = db.append(&round, AppendMode::Live).unwrap();
            assert!(out.first_error.is_none(), "{out:?}");
        }
        let wal_before = db.status().wal_bytes;
        db.run_maintenance().unwrap();
        let st = db.status();
        assert!(st.blocks >= 2, "{st:?}");
        assert!(
            st.wal_bytes < wal_before,
            "WAL not truncated: {} -> {}",
            wal_before,
            st.wal_bytes
        );
        assert!(st.head_min_time.unwrap() >= now_millis() - 3 * H, "{st:?}");
        assert_same(&all(&db), &expected, "data across blocks and head");
        db.close().unwrap();
    }
    // Reopen: blocks are loaded and the checkpointed WAL replays the rest.
    let db = open(dir.path(), opts());
    assert_same(&all(&db), &expected, "after reopen");
    // Flushing everything leaves an empty head; still all there.
    db.flush().unwrap();
    assert_eq!(db.status().head_series, 0);
    assert_same(&all(&db), &expected, "after reopen");
    db.close().unwrap();
    let db = open(dir.path(), opts());
    assert_same(&all(&db), &expected, "after reopen");
}

#[test]
fn backfill_into_covered_range_is_merged_by_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let (data, start) = history(5);
    db.append(&data, AppendMode::Live).unwrap();
    db.flush().unwrap();
    let blocks_before = db.status().blocks;
    // New samples between existing ones, and a replacement value, in an already-flushed range.
    let extra = ts(
        "hist",
        &[("id", "0")],
        vec![
            Sample::new(start + 30_000, -1.0),
            Sample::new(start + 90_000, -2.0),
        ],
    );
    let out = db
        .append(std::slice::from_ref(&extra), AppendMode::Backfill)
        .unwrap();
    assert!(out.first_error.is_none());
    db.flush().unwrap();
    let st = db.status();
    assert!(
        st.blocks <= blocks_before,
        "overlapping blocks were not merged: {} -> {}",
        blocks_before,
        st.blocks
    );
    let got = all(&db);
    let s0 = &got[&extra.labels];
    assert_eq!(s0.len(), 361 + 2);
    assert_eq!(s0[1], Sample::new(start + 30_000, -1.0));
    assert_eq!(s0[3], Sample::new(start + 90_000, -2.0));
}

/// Options that build rollup blocks as soon as raw blocks exist.
fn no_rollup_delay() -> DbOptions {
    DbOptions {
        rollup_delay_5m: Duration::ZERO,
        rollup_delay_1h: Duration::ZERO,
        ..opts()
    }
}

/// Rollup blocks are built only once raw blocks are older than the tier's delay; until
/// then select_rollup computes the buckets from raw data, and the answers are the same bit
/// for bit before and after the rollup blocks exist.
#[test]
fn rollups_are_built_late_and_select_rollup_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // 30 hours of 1-minute samples ending 2 hours ago: a gauge with NaN and stale markers,
    // a counter with a reset.
    let end = now_millis() / H * H - 2 * H;
    let start = end - 30 * H;
    let gauge: Vec<Sample> = (0..30 * 60)
        .map(|k| {
            let v = match k % 97 {
                13 => f64::NAN,
                50 => STALE_NAN,
                _ => ((k * 37) % 1000) as f64 / 100.0,
            };
            Sample::new(start + k * 60_000, v)
        })
        .collect();
    let counter: Vec<Sample> = (0..30 * 60)
        .map(|k| Sample::new(start + k * 60_000 + 7, ((k % 700) * 3) as f64))
        .collect();
    let data = vec![
        ts("temp", &[("id", "a")], gauge),
        ts("reqs_total", &[("id", "b")], counter),
    ];
    let m = vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let read = |db: &Db| {
        RollupTier::ALL
            .iter()
            .map(|&tier| {
                // Bucket-unaligned bounds on purpose.
                let got = db
                    .select_rollup(tier, &m, start - 123_456, end + H + 7)
                    .unwrap();
                got.into_iter()
                    .map(|s| {
                        let bits = |p: &strix_core::storage::RollupPoint| {
                            [p.min, p.max, p.sum, p.first, p.last, p.increase]
                                .map(f64::to_bits)
                                .into_iter()
                                .chain([p.t as u64, p.count])
                                .collect::<Vec<u64>>()
                        };
                        (s.labels, s.points.iter().map(bits).collect::<Vec<_>>())
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };

    // Default delays (40h / 10d): the blocks are too young, no rollup block is built.
    let db = open(dir.path(), opts());
    db.append(&data, AppendMode::Backfill).unwrap();
    let from_head = read(&db);
    db.flush().unwrap();
    let st = db.status();
    assert!(st.blocks > 0 && st.rollup_blocks == 0, "{st:?}");
    let from_raw = read(&db);
    assert_eq!(from_raw, from_head);
    assert!(from_raw
        .iter()
        .all(|tier| tier.len() == 2 && !tier[0].1.is_empty()));
    db.close().unwrap();

    // A 5m delay an hour longer than the newest block's age: the older blocks get 5m
    // rollups, the newest (and the whole 1h tier) still comes from raw data. (A fixed
    // delay would depend on the hour the test runs: how the 30 hours fall into compacted
    // blocks of up to 18 hours follows the wall clock.)
    let newest_age = u64::try_from(now_millis() - end).unwrap();
    let o = DbOptions {
        rollup_delay_5m: Duration::from_millis(newest_age + 3_600_000),
        ..opts()
    };
    let db = open(dir.path(), o);
    db.run_maintenance().unwrap();
    let st = db.status();
    assert!(
        st.rollup_blocks > 0 && st.rollup_blocks < st.blocks,
        "{st:?}"
    );
    assert_eq!(read(&db), from_raw, "with some 5m rollup blocks");
    db.close().unwrap();

    // No delay: every tier is built; same answers.
    let db = open(dir.path(), no_rollup_delay());
    db.run_maintenance().unwrap();
    let more = db.status().rollup_blocks;
    assert!(more > st.rollup_blocks, "{more} rollup blocks");
    assert_eq!(read(&db), from_raw, "with all rollup blocks");
    db.close().unwrap();

    // Raw retention shorter than the delays: rollups are built before raw blocks go.
    let dir = tempfile::tempdir().unwrap();
    let o = DbOptions {
        retention: TierRetention {
            raw: Some(Duration::from_secs(10 * 3600)),
            ..TierRetention::default()
        },
        ..opts()
    };
    let db = open(dir.path(), o);
    db.append(&data, AppendMode::Backfill).unwrap();
    db.flush().unwrap();
    let st = db.status();
    assert!(st.rollup_blocks > 0, "{st:?}");
    let got = db
        .select_rollup(RollupTier::OneHour, &m, start - H, end + H)
        .unwrap();
    let count: u64 = got.iter().flat_map(|s| &s.points).map(|p| p.count).sum();
    // Stale markers are not counted.
    assert_eq!(count, 2 * 30 * 60 - (30 * 60 / 97 + 1));
    db.close().unwrap();
}

#[test]
fn rollups_match_raw_downsampling_and_outlive_raw_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), no_rollup_delay());
    // A counter with a reset, over 6 hours.
    let end = now_millis() / H * H - 4 * H;
    let start = end - 6 * H;
    let mut v = 0.0;
    let samples: Vec<Sample> = (0..360)
        .map(|k| {
            v = if k == 200 { 3.0 } else { v + 10.0 };
            Sample::new(start + k * 60_000, v)
        })
        .collect();
    let series = ts("requests_total", &[("job", "api")], samples.clone());
    db.append(std::slice::from_ref(&series), AppendMode::Backfill)
        .unwrap();
    db.flush().unwrap();
    let st = db.status();
    assert!(st.rollup_blocks > 0, "{st:?}");
    for tier in RollupTier::ALL {
        let got = db
            .select_rollup(tier, &name_eq("requests_total"), start, end + H)
            .unwrap();
        assert_eq!(got.len(), 1);
        let want = strix_tsdb::rollup::downsample(&samples, tier);
        assert_eq!(got[0].points, want, "tier {tier:?}");
        // Increase inside buckets plus the deltas between buckets (counter-aware).
        let pts = &got[0].points;
        let between: f64 = pts
            .windows(2)
            .map(|w| {
                if w[1].first >= w[0].last {
                    w[1].first - w[0].last
                } else {
                    w[1].first
                }
            })
            .sum();
        let total_increase: f64 = pts.iter().map(|p| p.increase).sum::<f64>() + between;
        // 359 steps of +10, except the reset step which adds 3 (counter restarted at 3).
        assert_eq!(total_increase, 358.0 * 10.0 + 3.0, "tier {tier:?}");
        let count: u64 = got[0].points.iter().map(|p| p.count).sum();
        assert_eq!(count, 360);
    }
    db.close().unwrap();
    // Raw retention of 1 hour: raw blocks go, rollups stay and are still readable.
    let short = DbOptions {
        retention: TierRetention {
            raw: Some(Duration::from_secs(3600)),
            ..TierRetention::default()
        },
        ..opts()
    };
    let db = open(dir.path(), short);
    db.run_maintenance().unwrap();
    assert_eq!(db.status().blocks, 0);
    assert!(all(&db).is_empty());
    let got = db
        .select_rollup(
            RollupTier::OneHour,
            &name_eq("requests_total"),
            start,
            end + H,
        )
        .unwrap();
    assert_eq!(got[0].points.iter().map(|p| p.count).sum::<u64>(), 360);
}

#[test]
fn retention_by_size_deletes_oldest_blocks_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        DbOptions {
            rollups: false,
            ..opts()
        },
    );
    let (data, _) = history(200);
    db.append(&data, AppendMode::Live).unwrap();
    db.flush().unwrap();
    let st = db.status();
    assert!(st.blocks >= 1);
    db.close().unwrap();
    let limit = st.blocks_bytes / 2;
    let db = open(
        dir.path(),
        DbOptions {
            retention_size: limit,
            rollups: false,
            ..opts()
        },
    );
    db.run_maintenance().unwrap();
    let after = db.status();
    assert!(
        after.blocks_bytes + after.wal_bytes <= limit,
        "{after:?} limit {limit}"
    );
    // What remains is the newest data.
    let got = all(&db);
    if let Some(s) = got.values().next() {
        assert_eq!(s.last().unwrap().t, data[0].samples.last().unwrap().t);
    }
}

#[test]
fn series_and_label_limits_refuse_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let o = DbOptions {
        limits: Limits {
            max_series: 3,
            max_series_per_metric: 2,
            max_labels_per_series: 4,
            max_label_name_length: 16,
            max_label_value_length: 32,
        },
        ..opts()
    };
    let db = open(dir.path(), o);
    let now = now_millis();
    let s = |n: &str, id: &str| ts(n, &[("id", id)], vec![Sample::new(now, 1.0)]);
    let out = db
        .append(&[s("a", "1"), s("a", "2"), s("a", "3")], AppendMode::Live)
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::MaxSeriesPerMetric, 1)]);
    let out = db
        .append(&[s("b", "1"), s("c", "1")], AppendMode::Live)
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::MaxSeries, 1)]);
    let long = "v".repeat(33);
    let out = db
        .append(
            &[ts(
                "a",
                &[("id", "1"), ("x", &long)],
                vec![Sample::new(now, 1.0)],
            )],
            AppendMode::Live,
        )
        .unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::LabelValueTooLong, 1)]);
    assert!(out.first_error.unwrap().contains("limit is 32 bytes"));
    // Existing series keep accepting samples at the limit.
    let out = db
        .append(
            &[ts("a", &[("id", "1")], vec![Sample::new(now + 1, 2.0)])],
            AppendMode::Live,
        )
        .unwrap();
    assert!(out.first_error.is_none());
}

#[test]
fn label_queries_span_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), opts());
    let (data, start) = history(3);
    db.append(&data, AppendMode::Live).unwrap();
    db.flush().unwrap();
    let now = now_millis();
    db.append(
        &[ts("fresh", &[("env", "prod")], vec![Sample::new(now, 1.0)])],
        AppendMode::Live,
    )
    .unwrap();
    let names = db.label_names(&[], i64::MIN / 2, i64::MAX / 2).unwrap();
    assert_eq!(names, vec!["__name__", "env", "id"]);
    let vals = db
        .label_values("__name__", &[], i64::MIN / 2, i64::MAX / 2)
        .unwrap();
    assert_eq!(vals, vec!["fresh", "hist"]);
    let ids = db
        .label_values("id", &name_eq("hist"), start, start + 1000)
        .unwrap();
    assert_eq!(ids, vec!["0", "1", "2"]);
    let series = db
        .series(
            &[Matcher::new(MatchOp::RegexMatch, "id", "1|2").unwrap()],
            i64::MIN / 2,
            i64::MAX / 2,
        )
        .unwrap();
    assert_eq!(series.len(), 2);
    // A range with no data for the flushed series selects nothing from them.
    assert!(db
        .series(&name_eq("hist"), now + 60_000, now + 120_000)
        .unwrap()
        .is_empty());
}

/// Found by the model test: once a sample is persisted (flush), the head no longer holds
/// it, so a later live sample at the same timestamp is not refused as a duplicate. The
/// rule is that an acknowledged write is what reads return: the newer value wins, in the
/// head, across a restart (WAL replay) and after the next flush (block merge).
#[test]
fn acknowledged_write_after_flush_wins_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_millis() - H;
    let s = |v: f64| ts("model", &[("s", "5")], vec![Sample::new(t, v)]);
    let read = |db: &Db| all(db).values().next().unwrap().clone();
    let db = open(dir.path(), opts());
    db.append(&[s(0.0)], AppendMode::Live).unwrap();
    // While the sample is in the head, a different value is a duplicate and refused.
    let out = db.append(&[s(1.0)], AppendMode::Live).unwrap();
    assert_eq!(out.rejected, vec![(RejectReason::DuplicateTimestamp, 1)]);
    db.flush().unwrap();
    let out = db.append(&[s(25_745_575.0)], AppendMode::Live).unwrap();
    assert!(out.first_error.is_none(), "{out:?}");
    assert_eq!(read(&db), vec![Sample::new(t, 25_745_575.0)]);
    db.close().unwrap();
    reopen_and_flush(
        dir.path(),
        read,
        &[Sample::new(t, 25_745_575.0)],
        "after merging blocks",
    );
}

/// Reopens the database in `dir` (replaying its WAL), then flushes and compacts it;
/// `read` gives `want` after each (`flushed` names the second check).
fn reopen_and_flush(dir: &Path, read: impl Fn(&Db) -> Vec<Sample>, want: &[Sample], flushed: &str) {
    let db = open(dir, opts());
    assert_eq!(read(&db), want, "after WAL replay");
    db.flush().unwrap();
    db.run_maintenance().unwrap();
    assert_eq!(read(&db), want, "{flushed}");
}

/// Found by the model test: an import of a new value for a series' newest sample was
/// acknowledged and dropped (the first value stayed). An import replaces the value, in
/// the head, across a restart and after a flush; the same value again is a duplicate.
#[test]
fn import_replaces_the_newest_sample() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_millis() - 16 * H;
    let s = |v: f64| ts("model", &[("s", "0")], vec![Sample::new(t, v)]);
    let read = |db: &Db| all(db).values().next().unwrap().clone();
    let db = open(dir.path(), opts());
    for v in [0.0, 13_198_397.0, 13_198_397.0] {
        let out = db.append(&[s(v)], AppendMode::Backfill).unwrap();
        assert!(out.first_error.is_none(), "{out:?}");
        assert_eq!(read(&db), vec![Sample::new(t, v)]);
    }
    db.close().unwrap();
    reopen_and_flush(
        dir.path(),
        read,
        &[Sample::new(t, 13_198_397.0)],
        "after the flush",
    );
}

mod model {
    //! Model-based test: random appends, imports, flushes and restarts against a
    //! `BTreeMap` model of what was acknowledged.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Append {
            series: u8,
            dt_secs: u16,
            value: i32,
        },
        Import {
            series: u8,
            age_mins: u16,
            value: i32,
        },
        Maintenance,
        Flush,
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..6, 0u16..600, any::<i32>()).prop_map(|(series, dt_secs, value)| Op::Append { series, dt_secs, value }),
            2 => (0u8..6, 0u16..2000, any::<i32>()).prop_map(|(series, age_mins, value)| Op::Import { series, age_mins, value }),
            1 => Just(Op::Maintenance),
            1 => Just(Op::Flush),
            1 => Just(Op::Restart),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn engine_matches_model(ops in prop::collection::vec(op(), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let mut db = open(dir.path(), opts());
            let mut model: BTreeMap<Labels, BTreeMap<i64, u64>> = BTreeMap::new();
            let base = now_millis() - 2 * H;
            let mut clock = base;
            for op in ops {
                match op {
                    Op::Append { series, dt_secs, value } => {
                        clock += i64::from(dt_secs) * 1000;
                        let s = ts("model", &[("s", &series.to_string())], vec![Sample::new(clock, f64::from(value))]);
                        let out = db.append(std::slice::from_ref(&s), AppendMode::Live).unwrap();
                        // An acknowledged write is what reads return (a refused one changes nothing).
                        if out.first_error.is_none() {
                            model.entry(s.labels).or_default().insert(clock, f64::from(value).to_bits());
                        }
                    }
                    Op::Import { series, age_mins, value } => {
                        let t = base - i64::from(age_mins) * 60_000;
                        let s = ts("model", &[("s", &series.to_string())], vec![Sample::new(t, f64::from(value))]);
                        let out = db.append(std::slice::from_ref(&s), AppendMode::Backfill).unwrap();
                        prop_assert!(out.first_error.is_none());
                        model.entry(s.labels).or_default().insert(t, f64::from(value).to_bits());
                    }
                    Op::Maintenance => db.run_maintenance().unwrap(),
                    Op::Flush => db.flush().unwrap(),
                    Op::Restart => {
                        db.close().unwrap();
                        db = open(dir.path(), opts());
                    }
                }
            }
            let got: BTreeMap<Labels, BTreeMap<i64, u64>> = all(&db)
                .into_iter()
                .map(|(l, s)| (l, s.into_iter().map(|s| (s.t, s.v.to_bits())).collect()))
                .collect();
            prop_assert_eq!(got, model);
        }
    }
}
