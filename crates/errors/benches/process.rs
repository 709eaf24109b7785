//! Per-event CPU cost of the error pipeline on a ≈5 KB Python-SDK-shaped event: JSON
//! parsing into a tree (with the depth check), scrubbing, parsing into a simd-json tape and
//! the read-only scrubbing walk over it, normalisation + grouping +
//! categorisation, serialising and compressing the stored payload, and the whole path as
//! the server runs it (the event taken as text and read from a simd-json tape, since
//! nothing in it needs scrubbing or normalising).
//!
//! Run with `cargo bench -p strix-errors --bench process -- --warm-up-time 1
//! --measurement-time 3`. The event has the shape of the end-to-end load generator's
//! (`bench/loadgen/src/errorbench.rs`): 8 frames with context lines, 8 breadcrumbs,
//! request, user, tags, contexts and an `extra.log` filler of words and numbers.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strix_errors::limits::{parse_event_json, parse_json};
use strix_errors::{
    group, normalize, process, CategorizeConfig, Categorizer, NormalizeOptions, ScrubConfig,
    Scrubber,
};
use strix_state::ErrorPayload;

/// The binary's allocator, so allocation costs are the ones the server pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENT_BYTES: usize = 5_000;
const RECEIVED_MS: i64 = 1_700_000_100_000;

#[path = "../../../bench/loadgen/src/sentry_event.rs"]
mod sentry_event;

/// The load generator's event of about `size` bytes for issue `k`, with a fixed id and
/// timestamp.
fn event(k: usize, size: usize) -> String {
    sentry_event::template(k, size)
        .replacen(
            "EVENT_ID_PLACEHOLDER",
            "9f2c4be1d8a34f0e8c3b5a7d6e1f2a3b",
            1,
        )
        .replacen("TIMESTAMP_PLACEHOLDER", "2023-11-14T22:13:20.123456Z", 1)
}

fn options() -> NormalizeOptions {
    NormalizeOptions {
        received_ms: RECEIVED_MS,
        client_ip: Some("10.9.8.7".into()),
        limits: Default::default(),
    }
}

fn stages(c: &mut Criterion) {
    let body = event(17, EVENT_BYTES);
    assert!((4_500..5_500).contains(&body.len()), "{}", body.len());
    let scrubber = Scrubber::new(&ScrubConfig::default()).unwrap();
    let categorizer = Categorizer::new(&CategorizeConfig::default()).unwrap();
    let opts = options();
    let parsed = parse_json(body.as_bytes(), "bench", 100).unwrap();
    let mut scrubbed = parsed.clone();
    scrubber.scrub_event(&mut scrubbed);
    let processed = process(parsed.clone(), &scrubber, &categorizer, &opts).unwrap();
    let kept = process(
        parse_event_json(body.as_bytes(), "bench", 100).unwrap(),
        &scrubber,
        &categorizer,
        &opts,
    )
    .unwrap();
    assert!(
        kept.event.raw_text.is_some() && kept.event.raw.is_none(),
        "the benchmark event is read where it is parsed and stored as sent"
    );

    // Stages after parsing run on a fresh copy of their input, timed one at a time, so
    // the tree is in cache as it is after the previous stage in the server.
    let mut g = c.benchmark_group("errors_event");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| parse_json(black_box(body.as_bytes()), "bench", 100).unwrap())
    });
    // What framing an envelope item does now: the depth check and a copy of the text
    // (the text is parsed where it is processed).
    g.bench_function("event_text", |b| {
        b.iter(|| parse_event_json(black_box(body.as_bytes()), "bench", 100).unwrap())
    });
    g.bench_function("drop", |b| {
        b.iter_batched(|| parsed.clone(), drop, BatchSize::PerIteration)
    });
    g.bench_function("scrub", |b| {
        b.iter_batched(
            || parsed.clone(),
            |mut v| {
                let s = scrubber.scrub_event(&mut v);
                (v, s)
            },
            BatchSize::PerIteration,
        )
    });
    // Parsing into a tape, and that plus the read-only scrubbing walk over it (what
    // scrubbing costs an event in which it finds nothing).
    g.bench_function("scrub_check", |b| {
        b.iter(|| {
            strix_errors::json::with_tape(black_box(body.as_bytes()), |t| {
                scrubber.scrub_event_stats(t)
            })
        })
    });
    g.bench_function("tape", |b| {
        b.iter(|| strix_errors::json::with_tape(black_box(body.as_bytes()), |_| ()))
    });
    g.bench_function("normalize_group_categorize", |b| {
        b.iter_batched(
            || scrubbed.clone(),
            |v| {
                let e = normalize(v, &opts);
                let g = group(&e);
                let c = categorizer.categorize(&e);
                (e, g, c)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("serialise_compress", |b| {
        b.iter(|| ErrorPayload::from_value(black_box(&processed.event.raw())))
    });
    g.bench_function("compress_text", |b| {
        b.iter(|| ErrorPayload::encode_bytes(black_box(body.as_bytes())))
    });
    // As the server runs it: the event taken as text, read from a tape, stored as sent
    // (nothing in it is scrubbed or normalised).
    g.bench_function("whole", |b| {
        b.iter(|| {
            let raw = parse_event_json(black_box(body.as_bytes()), "bench", 100).unwrap();
            let p = process(raw, &scrubber, &categorizer, &opts).unwrap();
            let payload = match &p.event.raw_text {
                Some(text) => ErrorPayload::encode_bytes(text),
                None => ErrorPayload::from_value(&p.event.raw()),
            };
            (p.grouping.hash, payload)
        })
    });
    // The same event given as a tree: scrubbed and normalised in place, serialised again.
    g.bench_function("whole_reserialised", |b| {
        b.iter(|| {
            let raw = parse_json(black_box(body.as_bytes()), "bench", 100).unwrap();
            let p = process(raw, &scrubber, &categorizer, &opts).unwrap();
            let payload = ErrorPayload::from_value(&p.event.raw());
            (p.grouping.hash, payload)
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
