//! Crash safety end to end: what Strix acknowledged (204) survives `kill -9`, repeated
//! restarts and a graceful stop.
//!
//! With `fsync: interval` an acknowledged batch has been written to the OS but not
//! necessarily to the disk, which survives a process crash (what these tests do) but not
//! a power loss; with `fsync: always` it has been fsynced too.
#![allow(clippy::expect_used)]

mod util;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::*;

const WRITERS: usize = 4;
const SERIES_PER_WRITER: usize = 200;

/// The value writer `w` sends for series `j` in its request number `seq`: unique per
/// sample and exactly representable, so exported values can be compared with `==`.
fn value(w: usize, seq: u64, j: usize) -> f64 {
    (w as u64 * 1_000_000_000 + seq * 1_000 + j as u64) as f64
}

/// One acknowledged request: every series of writer `w` got one sample at `ts`.
#[derive(Debug, Clone, Copy)]
struct Batch {
    w: usize,
    seq: u64,
    ts: i64,
}

fn series_key(w: usize, j: usize) -> BTreeMap<String, String> {
    labels_of(&[
        ("__name__", &format!("crash_w{w}")),
        ("series", &j.to_string()),
    ])
}

fn batch_request(w: usize, seq: u64, ts: i64) -> Vec<u8> {
    let name = format!("crash_w{w}");
    let series: Vec<_> = (0..SERIES_PER_WRITER)
        .map(|j| {
            util::series(
                &[("__name__", &name), ("series", &j.to_string())],
                &[(ts, value(w, seq, j))],
            )
        })
        .collect();
    encode_write_request(&write_request(series))
}

/// Runs the writers against `strix` until it is killed, then returns every acknowledged
/// batch and every batch that was sent (acknowledged or not).
fn write_until_killed(strix: &mut StrixProcess) -> (Vec<Batch>, Vec<Batch>) {
    let url = strix.url("/api/v1/write");
    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(Vec::<Batch>::new()));
    let sent = Arc::new(Mutex::new(Vec::<Batch>::new()));
    let started = Instant::now();
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, stop, acked, sent, acked_count) = (
                url.clone(),
                stop.clone(),
                acked.clone(),
                sent.clone(),
                acked_count.clone(),
            );
            std::thread::spawn(move || {
                let mut last_ts = 0i64;
                let deadline = Instant::now() + Duration::from_secs(60);
                for seq in 0u64.. {
                    if stop.load(Ordering::Acquire) || Instant::now() > deadline {
                        break;
                    }
                    // Increasing per writer, close to now (inside the out-of-order window).
                    let ts = now_ms().max(last_ts + 1);
                    last_ts = ts;
                    let body = batch_request(w, seq, ts);
                    let b = Batch { w, seq, ts };
                    sent.lock().expect("sent lock").push(b);
                    match try_post_url(&url, &REMOTE_WRITE_HEADERS, &body, Duration::from_secs(10))
                    {
                        Ok((204, _)) => {
                            acked.lock().expect("acked lock").push(b);
                            acked_count.fetch_add(1, Ordering::Release);
                        }
                        Ok((code, body)) => {
                            // Overload answers are legitimate; anything else is a bug.
                            assert!(
                                code == 429 || code == 503,
                                "writer {w} seq {seq}: unexpected {code}: {body}"
                            );
                        }
                        // Connection refused/reset: the server is gone.
                        Err(_) => {
                            if stop.load(Ordering::Acquire) {
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    // Let the writers run for ~2 s and until a fair number of batches are in, then crash
    // the server mid-stream.
    wait_for(
        Duration::from_secs(60),
        "writers to get batches acknowledged",
        || {
            (started.elapsed() >= Duration::from_secs(2)
                && acked_count.load(Ordering::Acquire) >= 20)
                .then_some(())
        },
    );
    strix.kill9();
    stop.store(true, Ordering::Release);
    for h in handles {
        h.join().expect("writer thread panicked");
    }
    let acked = acked.lock().expect("acked lock").clone();
    let sent = sent.lock().expect("sent lock").clone();
    (acked, sent)
}

/// Every acknowledged sample is exported exactly (timestamp and value), and nothing
/// exported was never sent.
fn verify(strix: &StrixProcess, acked: &[Batch], sent: &[Batch]) {
    let exported = strix.export(r#"{__name__=~"crash_.*"}"#);
    let mut by_labels: HashMap<BTreeMap<String, String>, HashMap<i64, f64>> = HashMap::new();
    for s in &exported {
        let m = by_labels.entry(s.labels.clone()).or_default();
        for (t, v) in s.samples() {
            assert!(
                m.insert(t, v).is_none(),
                "series {:?} exported timestamp {t} twice",
                s.labels
            );
        }
    }
    let mut missing = Vec::new();
    for b in acked {
        for j in 0..SERIES_PER_WRITER {
            let key = series_key(b.w, j);
            let want = value(b.w, b.seq, j);
            match by_labels.get(&key).and_then(|m| m.get(&b.ts)) {
                Some(v) if *v == want => {}
                got => missing.push(format!("{key:?} @ {} want {want} got {got:?}", b.ts)),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged samples lost or changed after restart; first: {:?}",
        missing.len(),
        acked.len() * SERIES_PER_WRITER,
        &missing[..missing.len().min(5)]
    );
    // Unacknowledged batches may or may not be there, but nothing may be invented.
    let sent_values: HashMap<(usize, i64), u64> =
        sent.iter().map(|b| ((b.w, b.ts), b.seq)).collect();
    for s in &exported {
        let name = &s.labels["__name__"];
        let w: usize = name
            .trim_start_matches("crash_w")
            .parse()
            .expect("writer number");
        let j: usize = s.labels["series"].parse().expect("series number");
        for (t, v) in s.samples() {
            let seq = sent_values.get(&(w, t)).unwrap_or_else(|| {
                panic!("{name}{{series={j}}} has sample at {t} that was never sent")
            });
            assert_eq!(
                v,
                value(w, *seq, j),
                "{name}{{series={j}}} @ {t}: value was never sent"
            );
        }
    }
}

fn crash_mid_stream(config: Option<&str>) {
    let mut strix = StrixProcess::start(&[], config);
    let (acked, sent) = write_until_killed(&mut strix);
    assert!(
        !acked.is_empty(),
        "no batch was acknowledged before the crash"
    );
    eprintln!(
        "acknowledged {} of {} batches before kill -9",
        acked.len(),
        sent.len()
    );
    strix.restart();
    verify(&strix, &acked, &sent);
}

#[test]
fn kill9_mid_stream_keeps_acknowledged_writes_fsync_interval() {
    crash_mid_stream(None);
}

#[test]
fn kill9_mid_stream_keeps_acknowledged_writes_fsync_always() {
    crash_mid_stream(Some("storage:\n  fsync: always\n"));
}

/// A label set and its samples.
type SeriesData = (BTreeMap<String, String>, Vec<(i64, f64)>);

/// Writes `n` samples for each of `series` series of metric `name`, starting at `t0`.
fn write_block(
    strix: &StrixProcess,
    name: &str,
    series: usize,
    n: usize,
    t0: i64,
) -> Vec<SeriesData> {
    let mut out = Vec::new();
    let mut req = Vec::new();
    for j in 0..series {
        let samples: Vec<(i64, f64)> = (0..n)
            .map(|i| (t0 + i as i64 * 1000, (j * 1000 + i) as f64 + 0.5))
            .collect();
        let js = j.to_string();
        req.push(util::series(
            &[("__name__", name), ("series", &js)],
            &samples,
        ));
        out.push((labels_of(&[("__name__", name), ("series", &js)]), samples));
    }
    let (code, body) = strix.remote_write(&write_request(req));
    assert_eq!(code, 204, "{body}");
    out
}

fn assert_exported(strix: &StrixProcess, selector: &str, want: &[SeriesData]) {
    let got = strix.export(selector);
    let got: BTreeMap<_, _> = got
        .into_iter()
        .map(|s| (s.labels.clone(), s.samples()))
        .collect();
    let want: BTreeMap<_, _> = want.iter().cloned().collect();
    assert_eq!(got.len(), want.len(), "series count differs for {selector}");
    for (labels, samples) in &want {
        assert_eq!(got.get(labels), Some(samples), "samples of {labels:?}");
    }
}

#[test]
fn repeated_restarts_replay_idempotently() {
    let mut strix = StrixProcess::start(&[], None);
    let t0 = now_ms() - 120_000;
    let mut want = write_block(&strix, "crash_replay", 50, 20, t0);
    strix.kill9();
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_replay"}"#, &want);

    // More data on top of the replayed head, then two crashes in a row.
    let more = write_block(&strix, "crash_replay", 50, 20, t0 + 20_000);
    for (w, m) in want.iter_mut().zip(more) {
        assert_eq!(w.0, m.0);
        w.1.extend(m.1);
    }
    strix.kill9();
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_replay"}"#, &want);
    strix.kill9();
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_replay"}"#, &want);
    // A graceful restart after a crash replay as well.
    let st = strix.stop();
    assert!(
        st.success(),
        "SIGTERM exit status {st}; log:\n{}",
        strix.log()
    );
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_replay"}"#, &want);
}

#[test]
fn graceful_stop_keeps_data() {
    let mut strix = StrixProcess::start(&[], None);
    let want = write_block(&strix, "crash_graceful", 30, 30, now_ms() - 60_000);
    let st = strix.stop();
    assert!(
        st.success(),
        "SIGTERM exit status {st}; log:\n{}",
        strix.log()
    );
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_graceful"}"#, &want);
    // And it still takes writes after the restart.
    let later = write_block(&strix, "crash_graceful_after", 3, 3, now_ms() - 5_000);
    assert_exported(&strix, r#"{__name__="crash_graceful_after"}"#, &later);
}

/// Data moved into blocks by a flush, plus newer data only in the WAL, survives two
/// crashes without duplicates (replay must not re-add what the blocks already hold).
#[test]
fn crash_after_flush_keeps_blocks_and_wal_without_duplicates() {
    let mut strix = StrixProcess::start(&[], None);
    let t0 = now_ms() - 300_000;
    let mut want = write_block(&strix, "crash_flush", 20, 30, t0);
    let (code, body) = strix.post("/api/v1/admin/tsdb/flush", &[], b"");
    assert_eq!(code, 200, "flush: {body}");
    let blocks = || {
        let (code, body) = strix.get("/api/monitoring/health");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("health JSON");
        v["data"]["checks"][0]["details"]["blocks"]
            .as_u64()
            .expect("blocks count")
    };
    assert!(blocks() >= 1, "the flush cut no block");
    let more = write_block(&strix, "crash_flush", 20, 30, t0 + 30_000);
    for (w, m) in want.iter_mut().zip(more) {
        w.1.extend(m.1);
    }
    assert_exported(&strix, r#"{__name__="crash_flush"}"#, &want);
    strix.kill9();
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_flush"}"#, &want);
    strix.kill9();
    strix.restart();
    assert_exported(&strix, r#"{__name__="crash_flush"}"#, &want);
}
