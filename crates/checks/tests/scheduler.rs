//! The scheduler under load: 200 checks at a 1 s interval against a loopback server for about
//! 5 s, plus checks against a server that never answers. No check may start late by more
//! than a generous bound (the benchmark, not this test, measures drift precisely), each
//! keeps its 1 s grid, and the hanging targets do not hold the others up.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{checks, HttpServer, Mode};
use strix_checks::{ProbeContext, Scheduler, SchedulerOptions};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_checks_keep_their_interval() {
    let srv = HttpServer::start().await;
    let mut hang = HttpServer::start().await;
    hang.set(Mode::Hang);
    let mut yaml = String::new();
    for i in 0..200 {
        yaml.push_str(&format!(
            "- {{name: c{i}, type: http, url: '{}', interval: 1s, timeout: 500ms}}\n",
            srv.url("/")
        ));
    }
    for i in 0..10 {
        yaml.push_str(&format!(
            "- {{name: h{i}, type: http, url: '{}', interval: 1s, timeout: 500ms}}\n",
            hang.url("/")
        ));
    }
    yaml.push_str("- {name: hb, type: heartbeat, token: tok, period: 1m}\n");
    let list = checks(&yaml);
    let (tx, mut rx) = mpsc::channel(1024);
    let ctx = ProbeContext::new().unwrap();
    let handle = Scheduler::start(
        &list,
        &ctx,
        SchedulerOptions {
            concurrency: 64,
            spread: true,
        },
        tx,
    )
    .unwrap();
    let metrics = handle.metrics();

    let mut by_check: HashMap<usize, Vec<(i64, bool, Duration)>> = HashMap::new();
    let end = tokio::time::Instant::now() + Duration::from_millis(5500);
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep_until(end) => None,
        };
        let Some(o) = msg else { break };
        by_check
            .entry(o.index)
            .or_default()
            .push((o.at, o.result.ok, o.drift));
    }
    handle.stop().await;

    // The heartbeat (index 210) is not probed.
    assert!(!by_check.contains_key(&210));
    let mut worst = Duration::ZERO;
    for i in 0..210 {
        let runs = by_check
            .get(&i)
            .unwrap_or_else(|| panic!("check {i} never ran"));
        // Spread offsets < 1 s, then every second. Drift is measured by the benchmark,
        // not asserted here: a loaded CI machine may skip a tick, but every check keeps
        // running and hanging probes never hold up the others.
        assert!(runs.len() >= 2, "check {i}: {} runs", runs.len());
        let healthy = i < 200;
        assert!(runs.iter().all(|r| r.1 == healthy), "check {i}: {runs:?}");
        for w in runs.windows(2) {
            let gap = w[1].0 - w[0].0;
            assert!(
                gap >= 700,
                "check {i}: runs {gap} ms apart, interval is 1 s"
            );
        }
        worst = worst.max(runs.iter().map(|r| r.2).max().unwrap_or_default());
    }
    eprintln!("scheduler: worst drift {worst:?}");
    let p99 = metrics.drift_quantile(0.99).unwrap();
    eprintln!(
        "scheduler: {} probes, drift max {:?}, p99 bucket <= {p99} s",
        metrics.drift_count(),
        metrics.drift_max()
    );
    assert_eq!(
        metrics.totals(0).map(|(s, f)| s + f),
        Some(by_check[&0].len() as u64)
    );
}

/// Checks added while the scheduler runs are probed at once; a removed one stops (even with
/// a probe hanging in flight) while the others keep running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_added_and_removed_while_running() {
    let srv = HttpServer::start().await;
    let mut hang = HttpServer::start().await;
    hang.set(Mode::Hang);
    let list = checks(&format!(
        "- {{name: a, type: http, url: '{}', interval: 1s, timeout: 500ms}}\n\
         - {{name: b, type: http, url: '{}', interval: 1s, timeout: 900ms}}\n\
         - {{name: c, type: http, url: '{}', interval: 10m, timeout: 1s}}\n",
        srv.url("/a"),
        hang.url("/b"),
        srv.url("/c"),
    ));
    let (tx, mut rx) = mpsc::channel(64);
    let ctx = ProbeContext::new().unwrap();
    let handle = Scheduler::start(&list[..1], &ctx, SchedulerOptions::default(), tx).unwrap();
    handle.add(7, &list[1]).unwrap();
    // A 10-minute interval: only an immediate first run can be seen within the test.
    handle.add(9, &list[2]).unwrap();
    assert_eq!(handle.len(), 3);
    let mut seen: HashMap<usize, u32> = HashMap::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while let Ok(Some(o)) = tokio::time::timeout_at(until, rx.recv()).await {
        *seen.entry(o.index).or_default() += 1;
    }
    assert!(seen.get(&0).copied().unwrap_or(0) >= 2, "{seen:?}");
    assert!(seen.get(&7).copied().unwrap_or(0) >= 1, "{seen:?}");
    assert_eq!(seen.get(&9).copied(), Some(1), "{seen:?}");
    assert!(handle.metrics().totals(9).is_some());

    // Remove the hanging check mid-probe: no result of it arrives afterwards.
    assert!(handle.remove(7));
    assert!(!handle.remove(7));
    assert!(handle.metrics().totals(7).is_none());
    while rx.try_recv().is_ok() {}
    let mut after: HashMap<usize, u32> = HashMap::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while let Ok(Some(o)) = tokio::time::timeout_at(until, rx.recv()).await {
        *after.entry(o.index).or_default() += 1;
    }
    assert!(!after.contains_key(&7), "{after:?}");
    assert!(after.get(&0).copied().unwrap_or(0) >= 2, "{after:?}");
    handle.stop().await;
    assert!(handle.is_empty());
}
