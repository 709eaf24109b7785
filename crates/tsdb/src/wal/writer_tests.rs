//! Tests of the WAL writer (`writer.rs`), kept apart to keep that file readable.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;

use super::*;
use crate::wal::reader::tests::{replay_all, sample};
use crate::wal::record::SampleRecord;
use crate::wal::segment::segment_path;
use strix_core::ErrorClass;

/// Failure injection and observation points, compiled into tests only.
#[derive(Default)]
pub(super) struct Hooks {
    fail_write: AtomicBool,
    fail_fsync: AtomicBool,
    /// The next leader blocks on this until the test sends.
    gate: Mutex<Option<mpsc::Receiver<()>>>,
    batches: AtomicU64,
}

impl Hooks {
    pub(super) fn before_write(&self, path: &Path) -> Result<(), WalError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        let gate = lock(&self.gate).take();
        if let Some(rx) = gate {
            rx.recv().expect("gate sender");
        }
        if self.fail_write.swap(false, Ordering::SeqCst) {
            return Err(WalError::io("write", path)(std::io::Error::other(
                "injected write failure",
            )));
        }
        Ok(())
    }

    pub(super) fn before_fsync(&self, path: &Path) -> Result<(), WalError> {
        if self.fail_fsync.swap(false, Ordering::SeqCst) {
            return Err(WalError::io("fsync", path)(std::io::Error::other(
                "injected fsync failure",
            )));
        }
        Ok(())
    }
}

fn opts(fsync: FsyncPolicy) -> WalOptions {
    WalOptions {
        segment_size: 1 << 20,
        fsync,
    }
}

/// Waits for `cond` with a generous deadline; panics on timeout.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
}

#[test]
fn rejects_invalid_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = WalOptions {
        segment_size: 8,
        fsync: FsyncPolicy::Never,
    };
    let err = Wal::open(dir.path(), small, WalMetrics::unregistered()).expect_err("too small");
    assert_eq!(err.class(), ErrorClass::BadInput);
    let zero = opts(FsyncPolicy::Interval(Duration::ZERO));
    assert!(Wal::open(dir.path(), zero, WalMetrics::unregistered()).is_err());
}

#[test]
fn group_commit_batches_waiting_callers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = WalMetrics::unregistered();
    let wal =
        Arc::new(Wal::open(dir.path(), opts(FsyncPolicy::Always), metrics.clone()).expect("open"));
    let fsyncs_at_open = metrics.fsyncs.get();
    let (release, gate) = mpsc::channel();
    *lock(&wal.inner.hooks.gate) = Some(gate);

    let spawn = |i: u64| {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || wal.log(&[sample(i, i as i64)]).expect("log"))
    };
    // The first caller leads and is held inside its write.
    let mut threads = vec![spawn(0)];
    wait_for("leader at the gate", || {
        lock(&wal.inner.hooks.gate).is_none()
    });
    // Seven more callers enqueue behind it.
    threads.extend((1..8).map(spawn));
    wait_for("all callers enqueued", || {
        lock(&wal.inner.state).next_seq == 8
    });
    release.send(()).expect("release");
    for t in threads {
        t.join().expect("thread");
    }
    // One batch for the leader, one for the seven who waited: two writes, two fsyncs.
    assert_eq!(wal.inner.hooks.batches.load(Ordering::SeqCst), 2);
    assert_eq!(metrics.fsyncs.get() - fsyncs_at_open, 2);
    assert_eq!(metrics.records_written.get(), 8);
    wal.close().expect("close");
    let (records, report) = replay_all(dir.path());
    assert_eq!(report.corruption, None);
    let mut refs: Vec<u64> = records
        .iter()
        .flat_map(|r| match r {
            Record::Samples(s) => s.iter().map(|s| s.series_ref).collect::<Vec<_>>(),
            Record::Series(_) => vec![],
        })
        .collect();
    refs.sort_unstable();
    assert_eq!(refs, (0..8).collect::<Vec<_>>());
}

#[test]
fn eight_threads_all_records_replayed_in_per_thread_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = WalOptions {
        segment_size: 16 * 1024,
        fsync: FsyncPolicy::Interval(Duration::from_millis(2)),
    };
    let wal = Arc::new(Wal::open(dir.path(), options, WalMetrics::unregistered()).expect("open"));
    const CALLS: u64 = 300;
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    let batch = [
                        sample(thread, 2 * i as i64),
                        sample(thread, 2 * i as i64 + 1),
                    ];
                    wal.log(&batch).expect("log");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    wal.close().expect("close");
    assert!(wal.segments().expect("segments").len() > 3, "rolled over");
    let (records, report) = replay_all(dir.path());
    assert_eq!(report.corruption, None);
    let mut per_thread: HashMap<u64, Vec<i64>> = HashMap::new();
    for r in records {
        let Record::Samples(s) = r else {
            panic!("unexpected record")
        };
        for s in s {
            per_thread.entry(s.series_ref).or_default().push(s.t);
        }
    }
    assert_eq!(per_thread.len(), 8);
    for ts in per_thread.values() {
        assert_eq!(*ts, (0..2 * CALLS as i64).collect::<Vec<_>>());
    }
}

#[test]
fn segments_roll_over_at_segment_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = WalOptions {
        segment_size: 100,
        fsync: FsyncPolicy::Never,
    };
    let metrics = WalMetrics::unregistered();
    let wal = Wal::open(dir.path(), options, metrics.clone()).expect("open");
    // Each frame is 8 + 1 + 1 + (1..3) + (1..2) + 8 = ~20 bytes: four per segment.
    let records: Vec<Record> = (0..40).map(|i| sample(i, i as i64)).collect();
    for chunk in records.chunks(3) {
        wal.log(chunk).expect("log");
    }
    // A record larger than a segment gets one of its own.
    let big = Record::Samples(
        (0..20)
            .map(|i| SampleRecord {
                series_ref: i,
                t: i as i64,
                v: 0.5,
            })
            .collect(),
    );
    wal.log(std::slice::from_ref(&big)).expect("log big");
    wal.log(&[sample(1000, 1000)]).expect("log after big");
    wal.close().expect("close");

    let segments = wal.segments().expect("segments");
    assert!(segments.len() >= 10, "{segments:?}");
    assert_eq!(metrics.segment_creations.get(), segments.len() as u64);
    let mut oversized = 0;
    for s in &segments {
        let len = std::fs::metadata(segment_path(dir.path(), *s))
            .expect("stat")
            .len();
        if len > 100 {
            oversized += 1;
            let (frames, _) =
                crate::wal::reader::tests::frame_offsets(&segment_path(dir.path(), *s));
            assert_eq!(
                frames.len(),
                1,
                "an oversized segment holds exactly one record"
            );
        }
    }
    assert_eq!(oversized, 1);
    let (got, report) = replay_all(dir.path());
    assert_eq!(report.corruption, None);
    let mut want = records;
    want.push(big);
    want.push(sample(1000, 1000));
    assert_eq!(got, want);
}

#[test]
fn cut_segment_and_reopen_continue_numbering() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let wal = Wal::open(
            dir.path(),
            opts(FsyncPolicy::Never),
            WalMetrics::unregistered(),
        )
        .expect("open");
        assert_eq!(wal.current_segment(), 0);
        wal.log(&[sample(1, 1)]).expect("log");
        assert_eq!(wal.cut_segment().expect("cut"), 1);
        wal.log(&[sample(2, 2)]).expect("log");
        assert_eq!(wal.current_segment(), 1);
    } // dropped: closed
    let (got, _) = replay_all(dir.path());
    assert_eq!(got, vec![sample(1, 1), sample(2, 2)]);
    let wal = Wal::open(
        dir.path(),
        opts(FsyncPolicy::Never),
        WalMetrics::unregistered(),
    )
    .expect("reopen");
    assert_eq!(
        wal.current_segment(),
        2,
        "never appends to an existing segment"
    );
    assert_eq!(wal.segments().expect("segments"), vec![0, 1, 2]);
}

#[test]
fn failed_write_poisons_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = WalMetrics::unregistered();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Always), metrics.clone()).expect("open");
    wal.log(&[sample(1, 1)]).expect("log");
    assert!(!wal.is_poisoned());
    wal.inner.hooks.fail_write.store(true, Ordering::SeqCst);
    let err = wal.log(&[sample(2, 2)]).expect_err("write fails");
    assert!(matches!(err, WalError::Io { op: "write", .. }), "{err}");
    assert!(wal.is_poisoned());
    let err = wal.log(&[sample(3, 3)]).expect_err("poisoned");
    assert!(matches!(err, WalError::Poisoned));
    assert_eq!(err.class(), ErrorClass::Unavailable);
    assert!(matches!(wal.cut_segment(), Err(WalError::Poisoned)));
    assert!(matches!(wal.sync(), Err(WalError::Poisoned)));
    assert_eq!(metrics.poisoned.get(), 1);
    assert_eq!(metrics.write_failures.get(), 1);
    drop(wal);
    let (got, _) = replay_all(dir.path());
    assert_eq!(got, vec![sample(1, 1)]);
}

#[test]
fn failed_fsync_poisons_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = WalMetrics::unregistered();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Always), metrics.clone()).expect("open");
    wal.inner.hooks.fail_fsync.store(true, Ordering::SeqCst);
    let err = wal.log(&[sample(1, 1)]).expect_err("fsync fails");
    assert!(matches!(err, WalError::Io { op: "fsync", .. }), "{err}");
    assert!(matches!(wal.log(&[sample(2, 2)]), Err(WalError::Poisoned)));
    assert_eq!(metrics.poisoned.get(), 1);
}

#[test]
fn failed_background_fsync_poisons_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = opts(FsyncPolicy::Interval(Duration::from_millis(1)));
    let wal = Wal::open(dir.path(), options, WalMetrics::unregistered()).expect("open");
    wal.inner.hooks.fail_fsync.store(true, Ordering::SeqCst);
    wal.log(&[sample(1, 1)])
        .expect("write succeeds; fsync is later");
    wait_for("background fsync failure", || wal.is_poisoned());
    assert!(matches!(wal.log(&[sample(2, 2)]), Err(WalError::Poisoned)));
}

#[test]
fn interval_policy_fsyncs_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = WalMetrics::unregistered();
    let options = opts(FsyncPolicy::Interval(Duration::from_millis(5)));
    let wal = Wal::open(dir.path(), options, metrics.clone()).expect("open");
    let base = metrics.fsyncs.get();
    wal.log(&[sample(1, 1)]).expect("log");
    wait_for("background fsync", || metrics.fsyncs.get() > base);
    // Nothing written since: no further fsyncs.
    let after = metrics.fsyncs.get();
    assert_eq!(after, base + 1);
    wal.close().expect("close");
    assert_eq!(
        metrics.fsyncs.get(),
        after,
        "close has nothing dirty to fsync"
    );
    assert!(lock(&wal.syncer).is_none(), "thread stopped");
}

#[test]
fn never_policy_fsyncs_only_on_sync_and_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = WalMetrics::unregistered();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never), metrics.clone()).expect("open");
    let base = metrics.fsyncs.get();
    wal.log(&[sample(1, 1)]).expect("log");
    assert_eq!(metrics.fsyncs.get(), base);
    wal.sync().expect("sync");
    assert_eq!(metrics.fsyncs.get(), base + 1);
    wal.log(&[sample(2, 2)]).expect("log");
    wal.close().expect("close");
    assert_eq!(metrics.fsyncs.get(), base + 2);
    assert!(metrics.bytes_written.get() > 0);
}

#[test]
fn closed_wal_refuses_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(
        dir.path(),
        WalOptions::default(),
        WalMetrics::unregistered(),
    )
    .expect("open");
    wal.log(&[sample(1, 1)]).expect("log");
    wal.close().expect("close");
    wal.close().expect("close is idempotent");
    assert!(matches!(wal.log(&[sample(2, 2)]), Err(WalError::Closed)));
    assert!(matches!(wal.cut_segment(), Err(WalError::Closed)));
}

#[test]
fn empty_log_call_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = WalMetrics::unregistered();
    let wal = Wal::open(dir.path(), opts(FsyncPolicy::Never), metrics.clone()).expect("open");
    wal.log(&[]).expect("log");
    assert_eq!(metrics.bytes_written.get(), 0);
}
