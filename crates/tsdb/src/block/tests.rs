use super::*;
use proptest::prelude::*;
use std::fs;
use std::path::Path;
use strix_core::storage::SeriesSamples;
use strix_core::{Labels, MatchOp, Matcher, Sample, STALE_NAN};

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("matcher")
}

fn samples_for(i: usize) -> Vec<Sample> {
    (0..300)
        .map(|k| Sample::new(k * 15_000, (i * 1000 + k as usize) as f64))
        .collect()
}

/// 60 series: job ∈ {api, api-server, db}, instance 0..20, `env` only on even instances.
fn fixture(parent: &Path) -> (Block, Vec<SeriesSamples>) {
    let mut series: Vec<SeriesSamples> = Vec::new();
    for (j, job) in ["api", "api-server", "db"].iter().enumerate() {
        for inst in 0..20 {
            let mut pairs = vec![
                ("__name__", "http_requests_total".to_string()),
                ("job", job.to_string()),
                ("instance", format!("i{inst:02}")),
            ];
            if inst % 2 == 0 {
                pairs.push(("env", "prod".into()));
            }
            series.push(SeriesSamples {
                labels: Labels::from_pairs(pairs),
                samples: samples_for(j * 100 + inst),
            });
        }
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut w = BlockWriter::new(parent, Resolution::Raw, 0, 299 * 15_000).expect("writer");
    for s in &series {
        w.add_series_samples(&s.labels, &s.samples).expect("add");
    }
    let meta = w.finish(CompactionMeta::default()).expect("finish");
    assert_eq!(meta.stats.num_series, 60);
    assert_eq!(meta.stats.num_samples, 60 * 300);
    // 300 samples per series split into chunks of at most MAX_BLOCK_CHUNK_SAMPLES.
    assert_eq!(
        meta.stats.num_chunks,
        60 * 300_u64.div_ceil(crate::block::MAX_BLOCK_CHUNK_SAMPLES as u64)
    );
    let block = Block::open(&parent.join(meta.ulid.to_string())).expect("open");
    assert_eq!(block.meta(), &meta);
    assert!(block.size_bytes() > 0);
    (block, series)
}

fn count(b: &Block, ms: &[Matcher]) -> usize {
    b.select(ms, i64::MIN, i64::MAX).expect("select").len()
}

#[test]
fn write_open_select_round_trip_and_matchers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, series) = fixture(dir.path());

    // Full read back equals input.
    let all = b
        .read_samples(
            &[m(MatchOp::RegexMatch, "__name__", ".+")],
            i64::MIN,
            i64::MAX,
        )
        .expect("read");
    assert_eq!(all, series);

    assert_eq!(count(&b, &[m(MatchOp::Equal, "job", "api")]), 20);
    assert_eq!(count(&b, &[m(MatchOp::Equal, "job", "nope")]), 0);
    assert_eq!(count(&b, &[m(MatchOp::NotEqual, "job", "api")]), 40);
    // Anchored: "api" does not match "api-server".
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "job", "api")]), 20);
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "job", "api.*")]), 40);
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "job", "pi")]), 0);
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "job", "api|db")]), 40);
    assert_eq!(count(&b, &[m(MatchOp::RegexNoMatch, "job", "api.*")]), 20);
    // `!=` on a label some series lack: those series match (missing = "").
    assert_eq!(count(&b, &[m(MatchOp::NotEqual, "env", "prod")]), 30);
    assert_eq!(count(&b, &[m(MatchOp::NotEqual, "missing", "x")]), 60);
    assert_eq!(count(&b, &[m(MatchOp::Equal, "env", "")]), 30);
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "env", ".+")]), 30);
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "env", "prod|")]), 60);
    assert_eq!(count(&b, &[m(MatchOp::RegexNoMatch, "env", "")]), 30);
    assert_eq!(count(&b, &[m(MatchOp::Equal, "missing", "")]), 60);
    assert_eq!(count(&b, &[m(MatchOp::RegexMatch, "missing", ".+")]), 0);
    // Combinations.
    let sel = b
        .select(
            &[
                m(MatchOp::Equal, "job", "db"),
                m(MatchOp::RegexMatch, "instance", "i0[0-4]"),
                m(MatchOp::NotEqual, "env", "prod"),
            ],
            i64::MIN,
            i64::MAX,
        )
        .expect("select");
    let insts: Vec<&str> = sel
        .iter()
        .filter_map(|s| s.labels.get("instance"))
        .collect();
    assert_eq!(insts, vec!["i01", "i03"]);
    assert!(sel.iter().all(|s| s.labels.get("job") == Some("db")));
    assert_eq!(count(&b, &[]), 60);

    // Time filtering: only overlapping chunks, samples cut to the range.
    let sel = b
        .select(&[m(MatchOp::Equal, "job", "api")], 0, 1000)
        .expect("select");
    assert!(sel.iter().all(|s| s.chunks.len() == 1));
    let r = b
        .read_samples(
            &[
                m(MatchOp::Equal, "job", "api"),
                m(MatchOp::Equal, "instance", "i05"),
            ],
            30_000,
            60_000,
        )
        .expect("read");
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        vec![30_000, 45_000, 60_000]
    );
    assert!(b
        .select(&[], 299 * 15_000 + 1, i64::MAX)
        .expect("select")
        .is_empty());
    assert!(
        b.select_rollup(&[], 0, 10).is_err(),
        "raw block has no rollups"
    );
}

#[test]
fn label_names_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, _) = fixture(dir.path());
    assert_eq!(
        b.label_names(&[]).expect("names"),
        vec!["__name__", "env", "instance", "job"]
    );
    assert_eq!(
        b.label_names(&[m(MatchOp::Equal, "instance", "i01")])
            .expect("names"),
        vec!["__name__", "instance", "job"]
    );
    assert_eq!(
        b.label_values("job", &[]).expect("values"),
        vec!["api", "api-server", "db"]
    );
    assert_eq!(
        b.label_values("job", &[m(MatchOp::RegexMatch, "job", "a.*")])
            .expect("values"),
        vec!["api", "api-server"]
    );
    assert_eq!(
        b.label_values("env", &[m(MatchOp::Equal, "instance", "i03")])
            .expect("values"),
        Vec::<String>::new()
    );
    assert!(b.label_values("nope", &[]).expect("values").is_empty());
}

/// Blocks written before dense chunks hold XOR chunks: they stay readable, may be mixed
/// with dense chunks in one series, and compaction rewrites them as dense chunks.
#[test]
fn xor_chunks_stay_readable_and_compact_to_dense() {
    use crate::chunk::{encode_dense, Encoding, XorAppender};
    let dir = tempfile::tempdir().expect("tempdir");
    let labels = Labels::from_pairs([("__name__", "old_xor")]);
    let samples: Vec<Sample> = (0..500)
        .map(|k| {
            let v = match k {
                100 => STALE_NAN,
                200 => f64::NAN,
                300 => -0.0,
                _ => k as f64 * 0.1,
            };
            Sample::new(k * 1000, v)
        })
        .collect();
    let mut xor = XorAppender::new();
    for s in &samples[..250] {
        xor.append(s.t, s.v);
    }
    let xor = xor.into_bytes();
    let dense = encode_dense(&samples[250..]);
    let mut w = BlockWriter::new(dir.path(), Resolution::Raw, 0, 499_999).expect("writer");
    w.add_series(
        &labels,
        &[
            ChunkData {
                min_time: 0,
                max_time: 249_000,
                bytes: &xor,
            },
            ChunkData {
                min_time: 250_000,
                max_time: 499_000,
                bytes: &dense,
            },
        ],
    )
    .expect("add");
    let meta = w.finish(CompactionMeta::default()).expect("finish");
    assert_eq!(meta.stats.num_samples, 500);
    let b = Block::open(&dir.path().join(meta.ulid.to_string())).expect("open");
    let got = b.read_samples(&[], i64::MIN, i64::MAX).expect("read");
    assert_eq!(got[0].samples, samples);
    // A range inside both chunks is cut exactly.
    let got = b.read_samples(&[], 240_000, 260_000).expect("read");
    assert_eq!(got[0].samples, samples[240..=260].to_vec());

    let out = dir.path().join("out");
    let b = std::sync::Arc::new(b);
    let meta = crate::compact::compact(&[b], &out).expect("compact");
    let c = Block::open(&out.join(meta.ulid.to_string())).expect("open");
    let sel = c.select(&[], i64::MIN, i64::MAX).expect("select");
    assert_eq!(
        sel[0].chunks.len(),
        samples
            .len()
            .div_ceil(crate::block::MAX_BLOCK_CHUNK_SAMPLES)
    );
    for r in &sel[0].chunks {
        assert_eq!(
            Encoding::of(c.chunk(r).expect("chunk")),
            Ok(Encoding::Dense)
        );
    }
    let got = c.read_samples(&[], i64::MIN, i64::MAX).expect("read");
    assert_eq!(got[0].samples, samples);

    // Rollup chunks are refused in raw blocks, dense/XOR chunks in rollup blocks.
    let mut w = BlockWriter::new(dir.path(), Resolution::FiveMinutes, 0, 10).expect("writer");
    let bad = [ChunkData {
        min_time: 0,
        max_time: 249_000,
        bytes: &xor,
    }];
    assert!(matches!(
        w.add_series(&labels, &bad),
        Err(BlockError::InvalidInput(_))
    ));
}

#[test]
fn chunk_corruption_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, _) = fixture(dir.path());
    let bdir = b.dir().to_path_buf();
    drop(b);
    let path = bdir.join("chunks");
    let mut bytes = fs::read(&path).expect("read");
    // Flip a byte inside the first chunk's data (past the 8-byte file header and the
    // 8-byte record header).
    bytes[8 + 8 + 2] ^= 0x40;
    fs::write(&path, &bytes).expect("write");
    let b = Block::open(&bdir).expect("open still works: chunks are checked when read");
    let err = b
        .read_samples(&[], i64::MIN, i64::MAX)
        .expect_err("corruption must be detected");
    match &err {
        BlockError::Corrupt { path, reason } => {
            assert!(path.ends_with("chunks"), "{path:?}");
            assert!(
                reason.contains("offset 8") && reason.contains("checksum"),
                "{reason}"
            );
        }
        e => panic!("unexpected error {e:?}"),
    }
    assert_eq!(err.class(), strix_core::ErrorClass::Internal);
}

#[test]
fn index_corruption_is_detected_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (b, _) = fixture(dir.path());
    let bdir = b.dir().to_path_buf();
    drop(b);
    let path = bdir.join("index");
    let good = fs::read(&path).expect("read");
    // Symbol table byte, TOC byte, magic, truncation.
    for (what, mutate) in [
        (
            "symbols",
            Box::new(|b: &mut Vec<u8>| b[14] ^= 1) as Box<dyn Fn(&mut Vec<u8>)>,
        ),
        (
            "toc",
            Box::new(|b: &mut Vec<u8>| {
                let n = b.len();
                b[n - 10] ^= 1;
            }),
        ),
        ("magic", Box::new(|b: &mut Vec<u8>| b[0] = b'X')),
        (
            "truncated",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 3)),
        ),
        (
            "postings table",
            Box::new(|b: &mut Vec<u8>| {
                let n = b.len();
                b[n - 44 - 8] ^= 1;
            }),
        ),
    ] {
        let mut bytes = good.clone();
        mutate(&mut bytes);
        fs::write(&path, &bytes).expect("write");
        match Block::open(&bdir) {
            Err(BlockError::Corrupt { path, reason }) => {
                assert!(path.ends_with("index"), "{what}: {path:?}");
                assert!(reason.contains("offset"), "{what}: {reason}");
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    }
    // A flipped byte in a series entry is caught when the series is read.
    let mut bytes = good.clone();
    let sym_count = u32::from_be_bytes([good[8], good[9], good[10], good[11]]) as usize;
    let ends = 12;
    let sym_len = u32::from_be_bytes(
        good[ends + 4 * sym_count - 4..ends + 4 * sym_count]
            .try_into()
            .expect("4"),
    ) as usize;
    let series_start = ends + 4 * sym_count + sym_len + 4;
    bytes[series_start + 2] ^= 0x10;
    fs::write(&path, &bytes).expect("write");
    let b = Block::open(&bdir).expect("tables intact");
    assert!(matches!(
        b.select(&[], i64::MIN, i64::MAX),
        Err(BlockError::Corrupt { .. })
    ));
}

#[test]
fn tmp_dir_never_visible_and_cleaned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = || -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let mut w = BlockWriter::new(dir.path(), Resolution::Raw, 0, 100).expect("writer");
    w.add_series_samples(
        &Labels::from_pairs([("__name__", "a")]),
        &[Sample::new(1, 1.0)],
    )
    .expect("add");
    let names = list();
    assert_eq!(names, vec![format!("{}.tmp", w.ulid())]);
    // Dropped without finish (error path): removed.
    drop(w);
    assert!(list().is_empty());

    // A crash mid-write leaves a .tmp dir; cleanup removes it, keeps finished blocks.
    let mut w = BlockWriter::new(dir.path(), Resolution::Raw, 0, 100).expect("writer");
    w.add_series_samples(
        &Labels::from_pairs([("__name__", "a")]),
        &[Sample::new(1, 1.0)],
    )
    .expect("add");
    let meta = w.finish(CompactionMeta::default()).expect("finish");
    fs::create_dir(dir.path().join("01J0000000000000000000000.tmp")).expect("mkdir");
    fs::write(
        dir.path()
            .join("01J0000000000000000000000.tmp")
            .join("index"),
        b"half",
    )
    .expect("write");
    assert_eq!(cleanup_tmp(dir.path()).expect("cleanup"), 1);
    assert_eq!(list(), vec![meta.ulid.to_string()]);
    assert_eq!(
        cleanup_tmp(&dir.path().join("missing")).expect("cleanup"),
        0
    );

    delete_block_dir(&dir.path().join(meta.ulid.to_string())).expect("delete");
    assert!(list().is_empty());
}

#[test]
fn writer_rejects_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = BlockWriter::new(dir.path(), Resolution::Raw, 0, 100).expect("writer");
    let b = Labels::from_pairs([("__name__", "b")]);
    let a = Labels::from_pairs([("__name__", "a")]);
    w.add_series_samples(&b, &[Sample::new(1, 1.0)])
        .expect("add");
    assert!(matches!(
        w.add_series_samples(&a, &[Sample::new(1, 1.0)]),
        Err(BlockError::InvalidInput(_))
    ));
    assert!(matches!(
        w.add_series_samples(&b, &[Sample::new(1, 1.0)]),
        Err(BlockError::InvalidInput(_))
    ));
    let c = Labels::from_pairs([("__name__", "c")]);
    let mut rollup = crate::chunk::RollupAppender::new();
    rollup.append(&strix_core::storage::RollupPoint {
        t: 1,
        min: 0.0,
        max: 0.0,
        sum: 0.0,
        count: 1,
        first: 0.0,
        last: 0.0,
        increase: 0.0,
    });
    let wrong = [ChunkData {
        min_time: 1,
        max_time: 1,
        bytes: rollup.bytes(),
    }];
    assert!(matches!(
        w.add_series(&c, &wrong),
        Err(BlockError::InvalidInput(_))
    ));
    assert!(BlockWriter::new(dir.path(), Resolution::Raw, 5, 1).is_err());
}

#[test]
fn empty_block_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = BlockWriter::new(dir.path(), Resolution::Raw, 0, 100).expect("writer");
    let meta = w.finish(CompactionMeta::default()).expect("finish");
    let b = Block::open(&dir.path().join(meta.ulid.to_string())).expect("open");
    assert!(b.select(&[], 0, 100).expect("select").is_empty());
    assert!(b.label_names(&[]).expect("names").is_empty());
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(STALE_NAN),
        Just(f64::NAN),
        (-1e6..1e6f64)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn random_series_round_trip(
        series in prop::collection::btree_map(
            prop::collection::btree_map("[a-c]{1,2}", "[a-z0-9]{0,3}", 1..4),
            (0i64..1_000_000, prop::collection::vec((1i64..100_000, value()), 1..400)),
            1..25,
        )
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut input: Vec<SeriesSamples> = series
            .into_iter()
            .map(|(pairs, (start, steps))| {
                let mut t = start;
                let samples = steps.into_iter().map(|(dt, v)| { t += dt; Sample::new(t, v) }).collect();
                SeriesSamples { labels: Labels::from_pairs(pairs.into_iter().chain([("__name__".to_string(), "m".to_string())])), samples }
            })
            .collect();
        input.sort_by(|a, b| a.labels.cmp(&b.labels));
        input.dedup_by(|a, b| a.labels == b.labels);
        let mut w = BlockWriter::new(dir.path(), Resolution::Raw, 0, i64::MAX / 2).expect("writer");
        for s in &input {
            w.add_series_samples(&s.labels, &s.samples).expect("add");
        }
        let meta = w.finish(CompactionMeta::default()).expect("finish");
        let b = Block::open(&dir.path().join(meta.ulid.to_string())).expect("open");
        let back = b.read_samples(&[], i64::MIN, i64::MAX).expect("read");
        prop_assert_eq!(&back, &input);
        // Every series is found by an equality matcher on each of its labels.
        for s in &input {
            let ms: Vec<Matcher> = s.labels.iter().map(|l| Matcher::equal(l.name.clone(), l.value.clone())).collect();
            let got = b.read_samples(&ms, i64::MIN, i64::MAX).expect("read");
            prop_assert!(got.iter().any(|g| g == s));
        }
    }
}

#[test]
fn block_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Block>();
    assert_send_sync::<std::sync::Arc<Block>>();
}

/// Size experiment on a real block: `STRIX_CORPUS=<block dir> cargo test -p strix-tsdb
/// --release --lib corpus_sizes -- --ignored --nocapture`. Re-encodes every series of the
/// block with several encoder settings and prints total chunk bytes and timings.
#[test]
#[ignore]
fn corpus_sizes() {
    use crate::chunk::{decode_samples, encode_dense_with, EncodeOptions, XorAppender};
    let Ok(dir) = std::env::var("STRIX_CORPUS") else {
        return;
    };
    let b = Block::open(Path::new(&dir)).expect("open");
    let mut series = Vec::new();
    for s in b.all_series() {
        let s = s.expect("series");
        let mut samples = Vec::new();
        for c in &s.chunks {
            b.decode_samples(c, i64::MIN, i64::MAX, &mut samples)
                .expect("decode");
        }
        series.push(samples);
    }
    let n: usize = series.iter().map(Vec::len).sum();
    let report = |name: &str, enc: &dyn Fn(&[Sample]) -> Vec<u8>| {
        let t = std::time::Instant::now();
        let chunks: Vec<Vec<u8>> = series.iter().map(|s| enc(s)).collect();
        let et = t.elapsed();
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        let t = std::time::Instant::now();
        let mut out = Vec::new();
        for c in &chunks {
            out.clear();
            decode_samples(c, &mut out).expect("decode");
        }
        let dt = t.elapsed();
        println!(
            "{name:<28} {bytes:>9} B {:.3} B/sample  encode {:>6.1} ns/sample  decode {:>5.1} ns/sample",
            bytes as f64 / n as f64,
            et.as_nanos() as f64 / n as f64,
            dt.as_nanos() as f64 / n as f64
        );
    };
    println!("{} series, {n} samples", series.len());
    crate::chunk::profile_parts(&series);
    if std::env::var("STRIX_CORPUS_BY_METRIC").is_ok() {
        let mut by: std::collections::BTreeMap<String, (usize, usize, usize)> = Default::default();
        for (s, samples) in b.all_series().zip(&series) {
            let s = s.expect("series");
            let name = s.labels.get("__name__").unwrap_or("").to_string();
            let c = crate::chunk::encode_dense(samples);
            let e = by.entry(name).or_default();
            e.0 += 1;
            e.1 += samples.len();
            e.2 += c.len();
        }
        let mut v: Vec<_> = by.into_iter().collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1 .2));
        for (name, (ns, nsamp, bytes)) in v.iter().take(40) {
            println!(
                "{name:<50} {ns:>5} series {bytes:>8} B {:.3} B/sample",
                *bytes as f64 / *nsamp as f64
            );
        }
    }
    report("xor", &|s| {
        let mut a = XorAppender::new();
        for x in s {
            a.append(x.t, x.v);
        }
        a.into_bytes()
    });
    for (name, o) in [
        (
            "dense xor-values varint",
            EncodeOptions {
                zstd_level: None,
                decimal: false,
                packed: false,
            },
        ),
        (
            "dense decimal varint",
            EncodeOptions {
                zstd_level: None,
                decimal: true,
                packed: false,
            },
        ),
        (
            "dense decimal packed",
            EncodeOptions {
                zstd_level: None,
                decimal: true,
                packed: true,
            },
        ),
        (
            "dense decimal varint zstd3",
            EncodeOptions {
                zstd_level: Some(3),
                decimal: true,
                packed: false,
            },
        ),
        (
            "dense decimal packed zstd1",
            EncodeOptions {
                zstd_level: Some(1),
                decimal: true,
                packed: true,
            },
        ),
        (
            "dense decimal packed zstd3",
            EncodeOptions {
                zstd_level: Some(3),
                decimal: true,
                packed: true,
            },
        ),
        (
            "dense decimal packed zstd9",
            EncodeOptions {
                zstd_level: Some(9),
                decimal: true,
                packed: true,
            },
        ),
        (
            "dense decimal packed zstd19",
            EncodeOptions {
                zstd_level: Some(19),
                decimal: true,
                packed: true,
            },
        ),
    ] {
        report(name, &|s| encode_dense_with(s, o));
    }
}
