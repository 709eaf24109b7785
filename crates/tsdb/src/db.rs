//! [`Db`]: the engine's front door. Owns the WAL, the head, the blocks of every
//! resolution, and the background thread that cuts, compacts, rolls up and retains.
//!
//! Write path: validate → find/create series → classify samples → WAL (group commit,
//! fsync policy) → apply to the head → answer. Replay on open applies the same records.

use crate::block::{Block, Resolution};
use crate::error::DbError;
use crate::head::{validate, GetOrCreate, Head, MemSeries, Placement};
use crate::layout;
use crate::metrics::{DbMetrics, ReasonLabel};
use crate::options::DbOptions;
use crate::wal::{self, Record, SampleRecord, SeriesRecord, Wal, WalMetrics, WalOptions};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;
use strix_core::storage::{
    AppendMode, AppendOutcome, Appendable, BorrowedBatch, RejectReason, StorageError, TimeSeries,
};
use strix_core::{hash_pairs, now_millis, ErrorClass, Label, Labels, Sample, Timestamp};

/// A snapshot of the engine's state for health and status endpoints.
#[derive(Debug, Clone)]
pub struct DbStatus {
    pub head_series: usize,
    pub head_chunks: usize,
    pub head_min_time: Option<Timestamp>,
    pub head_max_time: Option<Timestamp>,
    pub blocks: usize,
    pub rollup_blocks: usize,
    pub blocks_bytes: u64,
    pub wal_bytes: u64,
    pub wal_poisoned: bool,
    pub last_compaction_error: Option<String>,
}

pub(crate) struct Blocks {
    pub raw: Vec<Arc<Block>>,
    pub five_minutes: Vec<Arc<Block>>,
    pub one_hour: Vec<Arc<Block>>,
}

impl Blocks {
    pub fn tier_mut(&mut self, r: Resolution) -> &mut Vec<Arc<Block>> {
        match r {
            Resolution::Raw => &mut self.raw,
            Resolution::FiveMinutes => &mut self.five_minutes,
            Resolution::OneHour => &mut self.one_hour,
        }
    }
    pub fn tier(&self, r: Resolution) -> &Vec<Arc<Block>> {
        match r {
            Resolution::Raw => &self.raw,
            Resolution::FiveMinutes => &self.five_minutes,
            Resolution::OneHour => &self.one_hour,
        }
    }
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub opts: DbOptions,
    pub head: Head,
    pub wal: Wal,
    pub blocks: RwLock<Blocks>,
    /// Appends hold it shared; head truncation holds it exclusively, so no sample can
    /// land in a range that is being moved to a block.
    pub append_lock: RwLock<()>,
    pub metrics: DbMetrics,
    pub closed: AtomicBool,
    pub wake: (Mutex<bool>, Condvar),
    pub last_compaction_error: Mutex<Option<String>>,
}

/// The storage engine. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<Inner>,
    bg: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Db {
    /// Opens (or creates) the database in `dir`: removes leftovers of interrupted writes,
    /// loads blocks, replays the WAL into the head (repairing a torn tail), and starts
    /// the background maintenance thread.
    pub fn open(dir: &Path, opts: DbOptions, registry: &mut Registry) -> Result<Db, DbError> {
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| DbError::Io { op, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let metrics = DbMetrics::new(registry);
        let wal_metrics = WalMetrics::new(registry);
        let mut blocks = Blocks {
            raw: Vec::new(),
            five_minutes: Vec::new(),
            one_hour: Vec::new(),
        };
        for res in [
            Resolution::Raw,
            Resolution::FiveMinutes,
            Resolution::OneHour,
        ] {
            let parent = crate::maintenance::tier_dir(dir, res);
            std::fs::create_dir_all(&parent).map_err(io("create", &parent))?;
            *blocks.tier_mut(res) = crate::maintenance::load_blocks(&parent)?;
        }
        let head = Head::new(opts.samples_per_chunk, opts.block_range_ms);
        let wal_dir = dir.join(layout::WAL_DIR);
        std::fs::create_dir_all(&wal_dir).map_err(io("create", &wal_dir))?;
        let started = Instant::now();
        let report = replay_into(&head, &wal_dir)?;
        metrics
            .wal_replay_duration
            .set(started.elapsed().as_secs_f64());
        if let Some(c) = &report.corruption {
            tracing::warn!(segment = c.segment, offset = c.offset, reason = %c.reason, "WAL tail was damaged; truncated to the last good record.");
        }
        tracing::info!(
            records = report.records,
            series = head.num_series(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "WAL replayed."
        );
        let wal = Wal::open(
            &wal_dir,
            WalOptions {
                segment_size: opts.wal_segment_size,
                fsync: opts.fsync,
            },
            wal_metrics,
        )?;
        metrics.head_series.set(head.num_series() as i64);
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal,
            blocks: RwLock::new(blocks),
            append_lock: RwLock::new(()),
            metrics,
            closed: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
            last_compaction_error: Mutex::new(None),
        });
        inner.update_block_gauges();
        let bg_inner = inner.clone();
        let handle = std::thread::Builder::new()
            .name("strix-tsdb-maintenance".into())
            .spawn(move || bg_inner.maintenance_loop())
            .map_err(io("spawn maintenance thread", dir))?;
        Ok(Db {
            inner,
            bg: Arc::new(Mutex::new(Some(handle))),
        })
    }

    /// Stops background work and syncs the WAL. Appends after close fail.
    pub fn close(&self) -> Result<(), DbError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.wake();
        if let Some(h) = self.bg.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if h.join().is_err() {
                tracing::error!("Maintenance thread panicked.");
            }
        }
        self.inner.wal.close()?;
        Ok(())
    }

    /// Runs one maintenance cycle now (cut, compact, roll up, retain).
    pub fn run_maintenance(&self) -> Result<(), DbError> {
        self.inner.maintenance(false)
    }

    /// Moves everything in the head into blocks, including the newest partial range,
    /// then compacts. Used before measuring on-disk size and by the flush admin API.
    pub fn flush(&self) -> Result<(), DbError> {
        self.inner.maintenance(true)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn options(&self) -> &DbOptions {
        &self.inner.opts
    }

    /// Whether appends can succeed (WAL healthy, not closed).
    pub fn is_writable(&self) -> bool {
        !self.inner.closed.load(Ordering::Acquire) && !self.inner.wal.is_poisoned()
    }

    /// Series in the head, without the scans [`Db::status`] does.
    pub fn head_series(&self) -> usize {
        self.inner.head.num_series()
    }

    pub fn status(&self) -> DbStatus {
        let (head_series, head_chunks, head_min_time) = self.inner.head.stats();
        let max = self.inner.head.max_time();
        let b = self.inner.blocks.read().unwrap_or_else(|p| p.into_inner());
        let size = |v: &Vec<Arc<Block>>| v.iter().map(|b| b.size_bytes()).sum::<u64>();
        DbStatus {
            head_series,
            head_chunks,
            head_min_time,
            head_max_time: (max != i64::MIN).then_some(max),
            blocks: b.raw.len(),
            rollup_blocks: b.five_minutes.len() + b.one_hour.len(),
            blocks_bytes: size(&b.raw) + size(&b.five_minutes) + size(&b.one_hour),
            wal_bytes: crate::fsutil::dir_size(&self.inner.dir.join(layout::WAL_DIR)).unwrap_or(0),
            wal_poisoned: self.inner.wal.is_poisoned(),
            last_compaction_error: self
                .inner
                .last_compaction_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl Inner {
    pub fn wake(&self) {
        let (m, c) = &self.wake;
        *m.lock().unwrap_or_else(|p| p.into_inner()) = true;
        c.notify_all();
    }

    fn maintenance_loop(self: Arc<Self>) {
        loop {
            {
                let (m, c) = &self.wake;
                let g = m.lock().unwrap_or_else(|p| p.into_inner());
                let (mut g, _) = c
                    .wait_timeout_while(g, self.opts.compaction_interval, |woken| !*woken)
                    .unwrap_or_else(|p| p.into_inner());
                *g = false;
            }
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            if let Err(e) = self.maintenance(false) {
                tracing::error!(error = %e, "Storage maintenance failed; will retry.");
            }
        }
    }

    fn append_batch<'a, I: SeriesInput + 'a>(
        &self,
        batch: impl Iterator<Item = I>,
        mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::new(
                ErrorClass::Unavailable,
                "storage is shutting down",
            ));
        }
        let _guard = self.append_lock.read().unwrap_or_else(|p| p.into_inner());
        let mut out = AppendOutcome::default();
        let now = now_millis();
        let future_limit = now.saturating_add(self.opts.max_future.as_millis() as i64);
        let head_max = self.head.max_time();
        let window = self.opts.out_of_order_window.as_millis() as i64;
        // Live ingest, as Prometheus' head: a sample newer than its series' last one is
        // in order and accepted back to half a block range before the newest sample
        // (senders catching up after an outage); an older one is out of order and
        // accepted within the out-of-order window.
        let (oldest_ooo, oldest_in_order) = if head_max == i64::MIN {
            (i64::MIN, i64::MIN)
        } else {
            (
                head_max.saturating_sub(window),
                head_max.saturating_sub(window.max(self.opts.block_range_ms / 2)),
            )
        };

        let mut new_series: Vec<SeriesRecord> = Vec::new();
        let mut records: Vec<SampleRecord> = Vec::new();
        // Accepted samples of each series: (series, start, end) into `records`.
        let mut apply: Vec<(Arc<MemSeries>, usize, usize)> = Vec::new();
        for input in batch {
            let samples = input.samples();
            if samples.is_empty() {
                continue;
            }
            let n = samples.len() as u64;
            let hash = input.hash();
            let series = match self.head.lookup(hash, |l| input.eq(l)) {
                Some(s) => s,
                None => {
                    // Only a new series is validated: stored ones passed on creation.
                    let labels = input.to_labels();
                    if let Err((reason, msg)) = validate(&labels, &self.opts.limits) {
                        out.reject(reason, n, || msg);
                        continue;
                    }
                    match self.head.create(labels, hash, &self.opts.limits) {
                        GetOrCreate::Existing(s) => s,
                        GetOrCreate::Created(s) => {
                            out.series_created += 1;
                            self.metrics.head_series_created.inc();
                            new_series.push(SeriesRecord {
                                series_ref: s.sref,
                                labels: s.labels.clone(),
                            });
                            s
                        }
                        GetOrCreate::Refused(reason, msg) => {
                            out.reject(reason, n, || msg);
                            continue;
                        }
                    }
                }
            };
            let first = records.len();
            {
                let data = series.data.lock().unwrap_or_else(|p| p.into_inner());
                for s in samples {
                    if s.t > future_limit {
                        out.reject(RejectReason::TooFarInFuture, 1, || {
                            format!(
                                "sample of {} at {} is more than {}s in the future",
                                series.labels,
                                s.t,
                                self.opts.max_future.as_secs()
                            )
                        });
                        continue;
                    }
                    if mode == AppendMode::Live {
                        let in_order = s.t > data.last_t;
                        if (in_order && s.t < oldest_in_order) || (!in_order && s.t < oldest_ooo) {
                            out.reject(RejectReason::OutOfWindow, 1, || {
                                let limit = if in_order { oldest_in_order } else { oldest_ooo };
                                let what = if in_order {
                                    "out of bounds: older than half a block range before the newest sample"
                                } else {
                                    "out of order beyond the out-of-order window"
                                };
                                format!(
                                    "sample of {} at {} is {what} (oldest accepted {limit}); use the import API to backfill",
                                    series.labels, s.t
                                )
                            });
                            continue;
                        }
                    }
                    match data.classify(s.t, s.v) {
                        Placement::Conflict if mode == AppendMode::Live => {
                            out.reject(RejectReason::DuplicateTimestamp, 1, || {
                                format!(
                                    "sample of {} at {} has a different value than the stored one",
                                    series.labels, s.t
                                )
                            });
                        }
                        Placement::Duplicate => out.samples_appended += 1,
                        _ => records.push(SampleRecord {
                            series_ref: series.sref,
                            t: s.t,
                            v: s.v,
                        }),
                    }
                }
            }
            if records.len() > first {
                apply.push((series, first, records.len()));
            }
        }
        let mut recs = Vec::with_capacity(2);
        if !new_series.is_empty() {
            recs.push(Record::Series(new_series));
        }
        if !records.is_empty() {
            recs.push(Record::Samples(records));
        }
        if !recs.is_empty() {
            self.wal
                .log(&recs)
                .map_err(|e| StorageError::new(e.class(), format!("write-ahead log: {e}")))?;
        }
        let records: &[SampleRecord] = match recs.last() {
            Some(Record::Samples(r)) => r,
            _ => &[],
        };
        let mut buf: Vec<Sample> = Vec::new();
        for (series, a, b) in &apply {
            buf.clear();
            buf.extend(records[*a..*b].iter().map(|r| Sample::new(r.t, r.v)));
            let (in_order, ooo) = self.head.apply(series, &buf);
            out.samples_appended += in_order + ooo;
            self.metrics.out_of_order_samples.inc_by(ooo);
        }
        self.metrics.samples_appended.inc_by(out.samples_appended);
        for (reason, n) in &out.rejected {
            self.metrics
                .samples_rejected
                .get_or_create(&ReasonLabel {
                    reason: reason.as_str(),
                })
                .inc_by(*n);
        }
        if out.series_created > 0 {
            self.metrics.head_series.set(self.head.num_series() as i64);
        }
        Ok(out)
    }
}

/// A series offered to [`Inner::append_batch`], owned or borrowed.
trait SeriesInput {
    fn hash(&self) -> u64;
    fn eq(&self, labels: &Labels) -> bool;
    fn to_labels(&self) -> Labels;
    fn samples(&self) -> &[Sample];
}

impl SeriesInput for &TimeSeries {
    fn hash(&self) -> u64 {
        self.labels.stable_hash()
    }
    fn eq(&self, labels: &Labels) -> bool {
        *labels == self.labels
    }
    fn to_labels(&self) -> Labels {
        self.labels.clone()
    }
    fn samples(&self) -> &[Sample] {
        &self.samples
    }
}

impl SeriesInput for (&[(&str, &str)], &[Sample]) {
    fn hash(&self) -> u64 {
        hash_pairs(self.0.iter().copied())
    }
    fn eq(&self, labels: &Labels) -> bool {
        labels.eq_pairs(self.0)
    }
    fn to_labels(&self) -> Labels {
        Labels::from_sorted(self.0.iter().map(|(n, v)| Label::new(*n, *v)).collect())
    }
    fn samples(&self) -> &[Sample] {
        self.1
    }
}

impl Appendable for Db {
    fn append(
        &self,
        series: &[TimeSeries],
        mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        self.inner.append_batch(series.iter(), mode)
    }

    fn append_borrowed(
        &self,
        batch: &BorrowedBatch<'_>,
        mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        self.inner.append_batch(batch.iter(), mode)
    }
}

/// Replays the WAL into the head. Samples whose series record comes later in the log
/// (concurrent appenders may log in either order) wait until it arrives.
fn replay_into(head: &Head, wal_dir: &Path) -> Result<wal::ReplayReport, DbError> {
    let mut pending: HashMap<u64, Vec<Sample>> = HashMap::new();
    let report = wal::replay(wal_dir, |rec| {
        match rec {
            Record::Series(list) => {
                for r in list {
                    let s = head.restore_series(r.series_ref, r.labels);
                    if let Some(samples) = pending.remove(&r.series_ref) {
                        head.apply(&s, &samples);
                    }
                }
            }
            Record::Samples(list) => {
                let mut i = 0;
                while i < list.len() {
                    let sref = list[i].series_ref;
                    let j = list[i..]
                        .iter()
                        .position(|r| r.series_ref != sref)
                        .map_or(list.len(), |p| i + p);
                    let samples: Vec<Sample> =
                        list[i..j].iter().map(|r| Sample::new(r.t, r.v)).collect();
                    match head.by_ref(sref) {
                        Some(s) => {
                            head.apply(&s, &samples);
                        }
                        None => pending.entry(sref).or_default().extend(samples),
                    }
                    i = j;
                }
            }
        }
        Ok(())
    })?;
    if !pending.is_empty() {
        let n: usize = pending.values().map(Vec::len).sum();
        tracing::warn!(
            series = pending.len(),
            samples = n,
            "WAL held samples of series without a series record; they were dropped."
        );
    }
    Ok(report)
}
