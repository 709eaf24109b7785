//! `strix-loadgen`: sends a node_exporter-shaped workload to any Prometheus remote_write 1.0
//! receiver (Strix, VictoriaMetrics, Prometheus) and prints one JSON line of results.
//!
//! The workload covers `--duration` of data at `--interval`, ending now, so every receiver
//! accepts it as live data. It is sent in rounds, one per timestamp: a round holds one
//! sample of every series, split into batches of `--batch-size` samples that
//! `--concurrency` senders post in parallel; round k is complete before round k+1 starts,
//! so every series arrives in time order. All request bodies are encoded and
//! snappy-compressed before the clock starts, so the measured time is the receiver's
//! (plus HTTP), not the generator's.
// A benchmark tool: its `expect`s guard invariants (in-memory encoding, joined
// worker threads), never input.
#![allow(clippy::expect_used)]

mod workload;

use clap::Parser;
use prost::Message;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strix_ingest::remote_write::proto::{Sample, TimeSeries, WriteRequest};

#[derive(Parser)]
#[command(
    name = "strix-loadgen",
    about = "Remote-write load generator (node_exporter-shaped workload)."
)]
struct Args {
    /// remote_write endpoint, e.g. http://127.0.0.1:39001/api/v1/write.
    #[arg(long)]
    url: String,
    /// Number of series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Span of data to send, ending now (e.g. 1h, 30m, 90s).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    duration: Duration,
    /// Scrape interval between samples of a series (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    interval: Duration,
    /// Parallel senders within a round.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Samples per request; 0 = series / concurrency rounded up, at most 5000.
    #[arg(long, default_value_t = 0)]
    batch_size: usize,
    /// Attempts per request on 429, 5xx and connection errors before it counts as failed.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// Timestamp of the first sample (ms since the epoch); default now - duration.
    #[arg(long)]
    start_ms: Option<i64>,
    /// Seed of the value generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Series catalog: `node` (the node_exporter-shaped catalog, 751 series per host) or
    /// `cpu` (only `node_cpu_seconds_total`, `--cpus` cpus x 5 modes per host; used by the
    /// query benchmark, bench/query).
    #[arg(long, default_value = "node")]
    profile: String,
    /// CPUs per host in the `cpu` profile.
    #[arg(long, default_value_t = 8)]
    cpus: usize,
}

/// Parses `1h`, `30m`, `10s`, `500ms`, `1h30m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}: expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            u => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {u:?} (ms, s, m, h, d)"
                ))
            }
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// One request body, ready to post.
struct Batch {
    body: Vec<u8>,
    samples: u64,
}

#[derive(Default)]
struct Stats {
    samples_ok: AtomicU64,
    requests: AtomicU64,
    failed_requests: AtomicU64,
    retries: AtomicU64,
    /// The first few failure descriptions, for stderr.
    errors: Mutex<Vec<String>>,
}

impl Stats {
    fn note_error(&self, e: String) {
        let mut v = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < 5 {
            v.push(e);
        }
    }
}

fn post(agent: &ureq::Agent, args: &Args, batch: &Batch, stats: &Stats) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=args.max_attempts {
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let res = agent
            .post(&args.url)
            .set("Content-Type", "application/x-protobuf")
            .set("Content-Encoding", "snappy")
            .set("X-Prometheus-Remote-Write-Version", "0.1.0")
            .set("User-Agent", "strix-loadgen")
            .send_bytes(&batch.body);
        let retryable = match res {
            Ok(resp) => {
                // Drain so the connection goes back to the pool.
                let _ = resp.into_string();
                stats.samples_ok.fetch_add(batch.samples, Ordering::Relaxed);
                return;
            }
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                stats.note_error(format!(
                    "HTTP {code}: {}",
                    body.trim().chars().take(300).collect::<String>()
                ));
                code == 429 || code >= 500
            }
            Err(e) => {
                stats.note_error(format!("transport: {e}"));
                true
            }
        };
        if !retryable || attempt == args.max_attempts {
            break;
        }
        stats.retries.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    stats.failed_requests.fetch_add(1, Ordering::Relaxed);
}

fn main() {
    let args = Args::parse();
    if args.series == 0
        || args.interval.is_zero()
        || args.duration < args.interval
        || args.concurrency == 0
    {
        eprintln!("strix-loadgen: need series > 0, concurrency > 0 and duration >= interval > 0");
        std::process::exit(2);
    }
    let interval_ms = args.interval.as_millis() as i64;
    let rounds = (args.duration.as_millis() as i64 / interval_ms) as usize;
    let start_ms = args.start_ms.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        // Aligned like scrapes are, and the last sample one interval before now.
        (now - args.duration.as_millis() as i64) / interval_ms * interval_ms
    });
    let batch_size = match args.batch_size {
        0 => args.series.div_ceil(args.concurrency).min(5000),
        n => n,
    };

    let gen_start = Instant::now();
    let mut wl = match args.profile.as_str() {
        "node" => workload::Workload::new(args.series, args.seed),
        "cpu" => workload::Workload::cpu(
            args.series,
            args.seed,
            args.cpus,
            "node_cpu_seconds_total",
            "node",
            workload::CpuKind::Counter,
        ),
        p => {
            eprintln!("strix-loadgen: unknown --profile {p:?} (node, cpu)");
            std::process::exit(2);
        }
    };
    let probe = workload::selector(&wl.series[0].labels);
    let batches_per_round = args.series.div_ceil(batch_size);
    // Encode every round up front: chunks of series are independent, so the chunks are
    // spread over threads, each walking all rounds in time order for its own series.
    let mut payload: Vec<Vec<Batch>> = (0..rounds)
        .map(|_| Vec::with_capacity(batches_per_round))
        .collect();
    {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let chunks: Vec<&mut [workload::Series]> = wl.series.chunks_mut(batch_size).collect();
        let mut per_thread: Vec<Vec<(usize, &mut [workload::Series])>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (i, c) in chunks.into_iter().enumerate() {
            per_thread[i % threads].push((i, c));
        }
        let interval_s = args.interval.as_secs_f64();
        let encoded: Vec<Vec<(usize, Vec<Batch>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = per_thread
                .into_iter()
                .map(|work| {
                    s.spawn(move || {
                        let mut out = Vec::new();
                        let mut raw = Vec::new();
                        for (idx, chunk) in work {
                            let mut by_round = Vec::with_capacity(rounds);
                            for r in 0..rounds {
                                let t = start_ms + r as i64 * interval_ms;
                                let req = WriteRequest {
                                    timeseries: chunk
                                        .iter_mut()
                                        .map(|s| TimeSeries {
                                            labels: s.labels.clone(),
                                            samples: vec![Sample {
                                                value: s.next_value(interval_s),
                                                timestamp: t,
                                            }],
                                            exemplars: vec![],
                                            histograms: vec![],
                                        })
                                        .collect(),
                                    metadata: vec![],
                                };
                                raw.clear();
                                req.encode(&mut raw)
                                    .expect("BUG: encoding into a Vec cannot fail");
                                let body = snap::raw::Encoder::new().compress_vec(&raw).expect(
                                    "BUG: snappy block compression of an in-memory buffer failed",
                                );
                                by_round.push(Batch {
                                    body,
                                    samples: chunk.len() as u64,
                                });
                            }
                            out.push((idx, by_round));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("BUG: encoder thread panicked"))
                .collect()
        });
        let mut all: Vec<(usize, Vec<Batch>)> = encoded.into_iter().flatten().collect();
        all.sort_by_key(|(i, _)| *i);
        for (_, by_round) in all {
            for (r, b) in by_round.into_iter().enumerate() {
                payload[r].push(b);
            }
        }
    }
    let payload_bytes: usize = payload.iter().flatten().map(|b| b.body.len()).sum();
    let gen_seconds = gen_start.elapsed().as_secs_f64();
    eprintln!(
        "strix-loadgen: {} series ({} per host, {} metric names), {} rounds x {} batches of <= {} samples, {:.1} MB compressed, encoded in {:.1}s",
        args.series,
        wl.series_per_host,
        wl.metric_names,
        rounds,
        batches_per_round,
        batch_size,
        payload_bytes as f64 / 1e6,
        gen_seconds
    );

    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .max_idle_connections_per_host(args.concurrency * 2)
        .build();
    let stats = Stats::default();
    let next: Vec<AtomicUsize> = (0..rounds).map(|_| AtomicUsize::new(0)).collect();
    let barrier = Barrier::new(args.concurrency);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.concurrency {
            s.spawn(|| {
                for (r, batches) in payload.iter().enumerate() {
                    loop {
                        let b = next[r].fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = batches.get(b) else { break };
                        post(&agent, &args, batch, &stats);
                    }
                    barrier.wait();
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();

    for e in stats
        .errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        eprintln!("strix-loadgen: error: {e}");
    }
    let samples = stats.samples_ok.load(Ordering::Relaxed);
    println!(
        "{{\"samples\":{samples},\"seconds\":{seconds:.3},\"samples_per_sec\":{:.0},\"failed_requests\":{},\"requests\":{},\"retries\":{},\"series\":{},\"rounds\":{rounds},\"batch_size\":{batch_size},\"payload_bytes\":{payload_bytes},\"start_ms\":{start_ms},\"end_ms\":{},\"probe_series\":{:?}}}",
        samples as f64 / seconds,
        stats.failed_requests.load(Ordering::Relaxed),
        stats.requests.load(Ordering::Relaxed),
        stats.retries.load(Ordering::Relaxed),
        args.series,
        start_ms + (rounds as i64 - 1) * interval_ms,
        probe,
    );
    if stats.failed_requests.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
}
