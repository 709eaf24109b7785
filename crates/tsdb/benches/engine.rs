//! Engine micro-benchmarks: XOR (head) and dense (block) chunk encode/decode, head append
//! through `Db`, and select over 10k series (from the head and from blocks after a flush).
//!
//! Run with `cargo bench -p strix-tsdb --bench engine`; kept short (10 samples, a few
//! seconds each). Throughput is in samples (criterion's elements). The end-to-end
//! comparison with VictoriaMetrics and Prometheus lives in `bench/run.sh`.
#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use strix_core::storage::{AppendMode, Appendable, Queryable, TimeSeries};
use strix_core::{Labels, MatchOp, Matcher, Sample};
use strix_tsdb::chunk::{
    decode_dense, encode_dense, encode_dense_with, EncodeOptions, XorAppender, XorIter,
};
use strix_tsdb::{Db, DbOptions};

const CHUNK_SAMPLES: usize = 120;
const SERIES: usize = 10_000;
const METRICS: usize = 100;
const INTERVAL_MS: i64 = 10_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 120 scrape-like samples: 10s apart with a few ms of jitter, a counter growing unevenly.
fn chunk_samples() -> Vec<Sample> {
    scrape_samples(CHUNK_SAMPLES)
}

/// `n` scrape-like samples (see [`chunk_samples`]).
fn scrape_samples(n: usize) -> Vec<Sample> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut v = 1_234_567.0;
    (0..n)
        .map(|i| {
            let jitter = (rnd() % 7) as i64 - 3;
            v += (rnd() % 5000) as f64;
            Sample::new(1_700_000_000_000 + i as i64 * INTERVAL_MS + jitter, v)
        })
        .collect()
}

fn xor(c: &mut Criterion) {
    let samples = chunk_samples();
    let mut app = XorAppender::new();
    for s in &samples {
        app.append(s.t, s.v);
    }
    let chunk = app.into_bytes();

    let mut g = c.benchmark_group("xor_chunk");
    g.throughput(Throughput::Elements(CHUNK_SAMPLES as u64));
    g.bench_function("encode_120", |b| {
        b.iter(|| {
            let mut app = XorAppender::new();
            for s in &samples {
                app.append(s.t, s.v);
            }
            black_box(app.bytes().len())
        })
    });
    let mut out = Vec::with_capacity(CHUNK_SAMPLES);
    g.bench_function("decode_120", |b| {
        b.iter(|| {
            out.clear();
            XorIter::decode_all(black_box(&chunk), &mut out).expect("decode");
            black_box(out.len())
        })
    });
    g.finish();
}

/// Dense block chunks of the same kind of data: a head-sized chunk (120), a 2h block at
/// 10s (720) and the largest block chunk (4096), with and without the zstd pass.
fn dense(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense_chunk");
    for n in [120usize, 720, 4096] {
        let samples = scrape_samples(n);
        let chunk = encode_dense(&samples);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("encode_{n}"), |b| {
            b.iter(|| black_box(encode_dense(black_box(&samples)).len()))
        });
        let no_zstd = EncodeOptions {
            zstd_level: None,
            ..EncodeOptions::default()
        };
        g.bench_function(format!("encode_{n}_no_zstd"), |b| {
            b.iter(|| black_box(encode_dense_with(black_box(&samples), no_zstd).len()))
        });
        let mut out = Vec::with_capacity(n);
        g.bench_function(format!("decode_{n}"), |b| {
            b.iter(|| {
                out.clear();
                decode_dense(black_box(&chunk), &mut out).expect("decode");
                black_box(out.len())
            })
        });
        let mut xor = XorAppender::new();
        for s in &samples {
            xor.append(s.t, s.v);
        }
        let xor = xor.into_bytes();
        println!(
            "dense_chunk/{n}: {} bytes dense, {} bytes XOR",
            chunk.len(),
            xor.len()
        );
        g.bench_function(format!("xor_decode_{n}"), |b| {
            b.iter(|| {
                out.clear();
                XorIter::decode_all(black_box(&xor), &mut out).expect("decode");
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// Label sets of the 10k benchmark series: 100 metric names x 100 (instance, cpu) pairs.
fn series_labels() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            let m = i % METRICS;
            let k = i / METRICS;
            Labels::from_pairs([
                ("__name__", format!("bench_metric_{m:03}_total")),
                ("instance", format!("host-{:02}:9100", k / 10)),
                ("job", "node".to_string()),
                ("cpu", (k % 10).to_string()),
            ])
        })
        .collect()
}

fn batch(labels: &[Labels], t: i64, v: f64) -> Vec<TimeSeries> {
    labels
        .iter()
        .map(|l| TimeSeries {
            labels: l.clone(),
            samples: vec![Sample::new(t, v)],
        })
        .collect()
}

fn open_db(dir: &std::path::Path) -> Db {
    let mut registry = prometheus_client::registry::Registry::default();
    Db::open(dir, DbOptions::default(), &mut registry).expect("open db")
}

fn append(c: &mut Criterion) {
    const BATCH: usize = 1000;
    let labels = series_labels();
    let mut g = c.benchmark_group("head_append");
    g.throughput(Throughput::Elements(BATCH as u64));

    // Series already exist: the steady state of ingest. Timestamps advance by 1ms per
    // batch from an hour ago, so even millions of iterations stay inside the live window.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_db(dir.path());
    let t0 = now_ms() - 3_600_000;
    let mut round = 0usize;
    let chunks: Vec<&[Labels]> = labels.chunks(BATCH).collect();
    for c in &chunks {
        db.append(&batch(c, t0, 0.0), AppendMode::Live)
            .expect("append");
    }
    g.bench_function("existing_series_batch_1000", |b| {
        b.iter_batched(
            || {
                let c = chunks[round % chunks.len()];
                let t = t0 + 1 + (round / chunks.len()) as i64;
                round += 1;
                batch(c, t, round as f64)
            },
            |ts| {
                let out = db.append(&ts, AppendMode::Live).expect("append");
                assert_eq!(out.rejected_total(), 0, "{:?}", out.first_error);
            },
            BatchSize::SmallInput,
        )
    });
    db.close().expect("close");

    // New series every batch: series creation cost (index, postings, WAL series records).
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_db(dir.path());
    let t0 = now_ms() - 60_000;
    let mut n = 0u64;
    g.bench_function("new_series_batch_1000", |b| {
        b.iter_batched(
            || {
                n += 1;
                (0..BATCH)
                    .map(|i| TimeSeries {
                        labels: Labels::from_pairs([
                            // A metric name per batch: max_series_per_metric (500k)
                            // would otherwise refuse series after 500 batches.
                            ("__name__", format!("bench_new_series_{n}")),
                            ("i", i.to_string()),
                        ]),
                        samples: vec![Sample::new(t0, 1.0)],
                    })
                    .collect::<Vec<_>>()
            },
            |ts| {
                let out = db.append(&ts, AppendMode::Live).expect("append");
                assert_eq!(out.rejected_total(), 0, "{:?}", out.first_error);
            },
            BatchSize::SmallInput,
        )
    });
    db.close().expect("close");
    g.finish();
}

fn select(c: &mut Criterion) {
    let labels = series_labels();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_db(dir.path());
    // 10k series x 120 samples (20 minutes at 10s), ending a minute ago.
    let start =
        (now_ms() - 60_000 - CHUNK_SAMPLES as i64 * INTERVAL_MS) / INTERVAL_MS * INTERVAL_MS;
    for i in 0..CHUNK_SAMPLES {
        let t = start + i as i64 * INTERVAL_MS;
        for c in labels.chunks(5000) {
            db.append(&batch(c, t, i as f64), AppendMode::Live)
                .expect("append");
        }
    }
    let end = start + CHUNK_SAMPLES as i64 * INTERVAL_MS;
    let all = vec![Matcher::equal("job", "node")];
    let one_metric = vec![Matcher::equal("__name__", "bench_metric_042_total")];
    let one_series = vec![
        Matcher::equal("__name__", "bench_metric_042_total"),
        Matcher::equal("instance", "host-03:9100"),
        Matcher::equal("cpu", "7"),
    ];
    let regex = vec![
        Matcher::new(MatchOp::RegexMatch, "__name__", "bench_metric_04.*").expect("regex"),
        Matcher::equal("cpu", "3"),
    ];
    let cases: [(&str, &Vec<Matcher>, usize); 4] = [
        ("all_10k_series", &all, SERIES),
        ("one_metric_100_series", &one_metric, SERIES / METRICS),
        ("one_series", &one_series, 1),
        ("regex_100_series", &regex, 100),
    ];

    for phase in ["head", "blocks"] {
        if phase == "blocks" {
            db.flush().expect("flush");
        }
        let mut g = c.benchmark_group(format!("select_{phase}"));
        for (name, matchers, n) in &cases {
            let got = db.select(matchers, start, end).expect("select");
            assert_eq!(got.len(), *n, "{name}: series");
            assert!(
                got.iter().all(|s| s.samples.len() == CHUNK_SAMPLES),
                "{name}: samples"
            );
            g.throughput(Throughput::Elements((n * CHUNK_SAMPLES) as u64));
            g.bench_function(*name, |b| {
                b.iter(|| black_box(db.select(matchers, start, end).expect("select").len()))
            });
        }
        g.finish();
    }
    db.close().expect("close");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = xor, dense, append, select
}
criterion_main!(benches);
