//! The probe scheduler.
//!
//! One task per probed check (heartbeats are not probed). Each check runs on a fixed grid,
//! `start + offset + k × interval`, where the offset is a stable hash of the check's name
//! modulo the interval, so 1,000 checks with the same interval spread over it instead of
//! firing together, and keep their phase across restarts. The grid is computed from the
//! start (`tokio::time::interval_at`), so intervals never drift; if a run is late past a grid
//! point (overload), that point is skipped rather than run twice (`MissedTickBehavior::Skip`).
//!
//! A semaphore bounds the probes in flight ([`SchedulerOptions::concurrency`]); every probe is
//! bounded by its timeout ([`Probe::run`]), so a hanging target holds one permit for at most
//! the timeout and never delays other checks' tasks. Each result is sent on the caller's
//! `mpsc` channel; a slow receiver applies back-pressure (visible as drift).
//!
//! Drift is the time from a grid point to the moment its probe starts (after the permit),
//! recorded in `strix_check_schedule_drift_seconds`.
//!
//! Checks can be added and removed while the scheduler runs ([`SchedulerHandle::add`],
//! [`SchedulerHandle::remove`]): each task is kept under its check's index, so removing one
//! aborts that task alone (a probe in flight is dropped with its permit) and adding one spawns
//! a task whose first run is at once. The caller gives a replaced check a new index, so a
//! result of the old definition is never taken for one of the new.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strix_core::storage::TimeSeries;
use strix_core::{Sample, Timestamp};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::{Check, CheckType};
use crate::error::Error;
use crate::metrics::{labels, CHECKS_TOTAL, CHECK_SCHEDULE_DRIFT_SECONDS};
use crate::probe::{Probe, ProbeContext, ProbeResult};

/// Scheduler settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// Most probes in flight at once (default 64).
    pub concurrency: usize,
    /// Spread first runs over the interval by a hash of the name (default true); when false
    /// every check runs at once, then every interval.
    pub spread: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            concurrency: 64,
            spread: true,
        }
    }
}

/// One probe run, as sent to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// Index of the check: its position in the list given to [`Scheduler::start`], or the
    /// index given to [`SchedulerHandle::add`].
    pub index: usize,
    pub check: Arc<str>,
    pub check_type: CheckType,
    /// Wall-clock time the probe started (ms since the epoch).
    pub at: Timestamp,
    /// How late the probe started relative to its grid point.
    pub drift: Duration,
    pub result: ProbeResult,
}

/// Upper bounds (seconds) of the drift histogram buckets.
pub const DRIFT_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

struct CheckMeta {
    name: Arc<str>,
    check_type: CheckType,
    labels: BTreeMap<String, String>,
    success: AtomicU64,
    failure: AtomicU64,
}

/// The scheduler's counters and drift histogram; read with [`SchedulerMetrics::to_series`].
pub struct SchedulerMetrics {
    /// Per check, by index.
    checks: Mutex<BTreeMap<usize, Arc<CheckMeta>>>,
    /// Cumulative counts per bucket of [`DRIFT_BUCKETS`], plus `+Inf` last.
    drift_buckets: [AtomicU64; DRIFT_BUCKETS.len() + 1],
    drift_count: AtomicU64,
    drift_sum_micros: AtomicU64,
    drift_max_micros: AtomicU64,
}

impl SchedulerMetrics {
    fn new(checks: BTreeMap<usize, Arc<CheckMeta>>) -> Self {
        SchedulerMetrics {
            checks: Mutex::new(checks),
            drift_buckets: Default::default(),
            drift_count: AtomicU64::new(0),
            drift_sum_micros: AtomicU64::new(0),
            drift_max_micros: AtomicU64::new(0),
        }
    }

    fn observe_drift(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        for (i, le) in DRIFT_BUCKETS.iter().enumerate() {
            if secs <= *le {
                if let Some(b) = self.drift_buckets.get(i) {
                    b.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Some(inf) = self.drift_buckets.last() {
            inf.fetch_add(1, Ordering::Relaxed);
        }
        self.drift_count.fetch_add(1, Ordering::Relaxed);
        self.drift_sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.drift_max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    fn checks(&self) -> MutexGuard<'_, BTreeMap<usize, Arc<CheckMeta>>> {
        // Every update is one insert or remove: a poisoned map is still consistent.
        self.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The largest drift seen.
    pub fn drift_max(&self) -> Duration {
        Duration::from_micros(self.drift_max_micros.load(Ordering::Relaxed))
    }

    /// Probes started.
    pub fn drift_count(&self) -> u64 {
        self.drift_count.load(Ordering::Relaxed)
    }

    /// The upper bound of the bucket holding quantile `q` (`None` without observations,
    /// `+Inf` past the last bucket).
    pub fn drift_quantile(&self, q: f64) -> Option<f64> {
        let total = self.drift_count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil() as u64;
        for (i, le) in DRIFT_BUCKETS.iter().enumerate() {
            if self
                .drift_buckets
                .get(i)
                .map_or(0, |b| b.load(Ordering::Relaxed))
                >= rank
            {
                return Some(*le);
            }
        }
        Some(f64::INFINITY)
    }

    /// Probes run by a check: (successes, failures).
    pub fn totals(&self, index: usize) -> Option<(u64, u64)> {
        self.checks().get(&index).map(|c| {
            (
                c.success.load(Ordering::Relaxed),
                c.failure.load(Ordering::Relaxed),
            )
        })
    }

    /// `strix_checks_total{check,type,result}` and the drift histogram, stamped `now`.
    pub fn to_series(&self, now: Timestamp) -> Vec<TimeSeries> {
        let checks: Vec<Arc<CheckMeta>> = self.checks().values().cloned().collect();
        let mut out = Vec::with_capacity(checks.len() * 2 + DRIFT_BUCKETS.len() + 3);
        for c in &checks {
            for (result, ctr) in [("success", &c.success), ("failure", &c.failure)] {
                out.push(TimeSeries {
                    labels: labels(
                        CHECKS_TOTAL,
                        &[
                            ("check", &c.name),
                            ("type", c.check_type.as_str()),
                            ("result", result),
                        ],
                        &c.labels,
                    ),
                    samples: vec![Sample::new(now, ctr.load(Ordering::Relaxed) as f64)],
                });
            }
        }
        let empty = BTreeMap::new();
        let bucket_name = format!("{CHECK_SCHEDULE_DRIFT_SECONDS}_bucket");
        for (i, b) in self.drift_buckets.iter().enumerate() {
            let le = DRIFT_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |v| v.to_string());
            out.push(TimeSeries {
                labels: labels(&bucket_name, &[("le", &le)], &empty),
                samples: vec![Sample::new(now, b.load(Ordering::Relaxed) as f64)],
            });
        }
        let sum = self.drift_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        for (suffix, v) in [("_sum", sum), ("_count", self.drift_count() as f64)] {
            out.push(TimeSeries {
                labels: labels(
                    &format!("{CHECK_SCHEDULE_DRIFT_SECONDS}{suffix}"),
                    &[],
                    &empty,
                ),
                samples: vec![Sample::new(now, v)],
            });
        }
        out
    }
}

/// Starts probe tasks.
pub struct Scheduler;

/// The running scheduler; dropping it stops every task.
pub struct SchedulerHandle {
    /// Probe tasks by check index.
    tasks: Mutex<BTreeMap<usize, JoinHandle<()>>>,
    metrics: Arc<SchedulerMetrics>,
    ctx: ProbeContext,
    opts: SchedulerOptions,
    sem: Arc<Semaphore>,
    tx: mpsc::Sender<ProbeOutcome>,
    runtime: tokio::runtime::Handle,
}

impl SchedulerHandle {
    pub fn metrics(&self) -> Arc<SchedulerMetrics> {
        self.metrics.clone()
    }

    fn tasks(&self) -> MutexGuard<'_, BTreeMap<usize, JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts probing `check` under `index`, first at once, then every interval; a task
    /// already under `index` is stopped first. Heartbeats are not probed (nothing is
    /// spawned for them). Callable from any thread.
    pub fn add(&self, index: usize, check: &Check) -> Result<(), Error> {
        let probe = Probe::build(check, &self.ctx)?;
        self.remove(index);
        let Some(probe) = probe else { return Ok(()) };
        let meta = Arc::new(CheckMeta::of(check));
        self.metrics.checks().insert(index, meta.clone());
        let task = self.task(index, check, probe, Instant::now(), meta);
        let handle = self.runtime.spawn(task.run());
        self.tasks().insert(index, handle);
        tracing::debug!(check = %check.name, index, "Check added to the scheduler.");
        Ok(())
    }

    /// Stops probing the check under `index` (a probe in flight is abandoned) and drops its
    /// counters. Returns whether a task was running.
    pub fn remove(&self, index: usize) -> bool {
        self.metrics.checks().remove(&index);
        match self.tasks().remove(&index) {
            Some(t) => {
                t.abort();
                true
            }
            None => false,
        }
    }

    /// Checks being probed.
    pub fn len(&self) -> usize {
        self.tasks().len()
    }

    /// Whether no check is being probed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn task(
        &self,
        index: usize,
        check: &Check,
        probe: Probe,
        first: Instant,
        meta: Arc<CheckMeta>,
    ) -> CheckTask {
        CheckTask {
            index,
            name: Arc::from(check.name.as_str()),
            check_type: check.check_type(),
            probe,
            first,
            interval: check.interval,
            sem: self.sem.clone(),
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
            meta,
        }
    }

    /// Aborts every task without waiting.
    pub fn abort(&self) {
        for t in std::mem::take(&mut *self.tasks()).values() {
            t.abort();
        }
    }

    /// Stops every task and waits for them to end.
    pub async fn stop(&self) {
        let tasks = std::mem::take(&mut *self.tasks());
        for t in tasks.values() {
            t.abort();
        }
        for t in tasks.into_values() {
            // A task ends either cancelled (expected here) or finished; neither is an error.
            if let Err(e) = t.await {
                if !e.is_cancelled() {
                    tracing::warn!(error = %e, "Check task ended abnormally.");
                }
            }
        }
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        for t in self.tasks().values() {
            t.abort();
        }
    }
}

impl CheckMeta {
    fn of(c: &Check) -> Self {
        CheckMeta {
            name: Arc::from(c.name.as_str()),
            check_type: c.check_type(),
            labels: c.labels.clone(),
            success: AtomicU64::new(0),
            failure: AtomicU64::new(0),
        }
    }
}

/// A stable 64-bit FNV-1a hash, for start offsets.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The start offset of a check inside its interval.
pub fn start_offset(name: &str, interval: Duration) -> Duration {
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(fnv1a(name) % ms)
}

impl Scheduler {
    /// Builds every probe and spawns one task per probed check on the current tokio runtime.
    /// Results go to `tx`; the tasks end when the handle is stopped or dropped, or when the
    /// receiver is closed.
    pub fn start(
        checks: &[Check],
        ctx: &ProbeContext,
        opts: SchedulerOptions,
        tx: mpsc::Sender<ProbeOutcome>,
    ) -> Result<SchedulerHandle, Error> {
        Self::start_indexed(checks.iter().enumerate(), ctx, opts, tx)
    }

    /// [`Scheduler::start`] with the index of each check given, rather than its position.
    pub fn start_indexed<'a>(
        checks: impl IntoIterator<Item = (usize, &'a Check)>,
        ctx: &ProbeContext,
        opts: SchedulerOptions,
        tx: mpsc::Sender<ProbeOutcome>,
    ) -> Result<SchedulerHandle, Error> {
        let mut probes = Vec::new();
        let mut meta = BTreeMap::new();
        for (index, c) in checks {
            if let Some(p) = Probe::build(c, ctx)? {
                let m = Arc::new(CheckMeta::of(c));
                meta.insert(index, m.clone());
                probes.push((index, c, p, m));
            }
        }
        let handle = SchedulerHandle {
            tasks: Mutex::new(BTreeMap::new()),
            metrics: Arc::new(SchedulerMetrics::new(meta)),
            ctx: ctx.clone(),
            opts,
            sem: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            tx,
            runtime: tokio::runtime::Handle::try_current().map_err(|e| Error::Build {
                check: String::new(),
                message: format!("the scheduler needs a tokio runtime: {e}"),
            })?,
        };
        let now = Instant::now();
        let mut tasks = BTreeMap::new();
        for (index, check, probe, meta) in probes {
            let offset = if handle.opts.spread {
                start_offset(&check.name, check.interval)
            } else {
                Duration::ZERO
            };
            let task = handle.task(index, check, probe, now + offset, meta);
            tasks.insert(index, handle.runtime.spawn(task.run()));
        }
        tracing::info!(
            checks = tasks.len(),
            concurrency = opts.concurrency,
            "Check scheduler started."
        );
        *handle.tasks() = tasks;
        Ok(handle)
    }
}

struct CheckTask {
    index: usize,
    name: Arc<str>,
    check_type: CheckType,
    probe: Probe,
    first: Instant,
    interval: Duration,
    sem: Arc<Semaphore>,
    tx: mpsc::Sender<ProbeOutcome>,
    metrics: Arc<SchedulerMetrics>,
    meta: Arc<CheckMeta>,
}

impl CheckTask {
    async fn run(self) {
        let mut ticker = tokio::time::interval_at(self.first, self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let scheduled = ticker.tick().await;
            let Ok(permit) = self.sem.clone().acquire_owned().await else {
                return;
            };
            let drift = Instant::now().saturating_duration_since(scheduled);
            self.metrics.observe_drift(drift);
            let at = strix_core::now_millis();
            let result = self.probe.run().await;
            drop(permit);
            let ctr = if result.ok {
                &self.meta.success
            } else {
                &self.meta.failure
            };
            ctr.fetch_add(1, Ordering::Relaxed);
            let outcome = ProbeOutcome {
                index: self.index,
                check: self.name.clone(),
                check_type: self.check_type,
                at,
                drift,
                result,
            };
            if self.tx.send(outcome).await.is_err() {
                tracing::debug!(check = %self.name, "Result channel closed; check task ends.");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_inside_the_interval() {
        let i = Duration::from_secs(10);
        assert_eq!(start_offset("api", i), start_offset("api", i));
        for n in 0..1000 {
            assert!(start_offset(&format!("check-{n}"), i) < i);
        }
        assert_eq!(start_offset("x", Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn drift_histogram() {
        let m = SchedulerMetrics::new(BTreeMap::new());
        assert_eq!(m.drift_quantile(0.99), None);
        for ms in [0, 1, 2, 3, 40] {
            m.observe_drift(Duration::from_millis(ms));
        }
        assert_eq!(m.drift_count(), 5);
        assert_eq!(m.drift_max(), Duration::from_millis(40));
        assert_eq!(m.drift_quantile(0.5), Some(0.0025));
        assert_eq!(m.drift_quantile(0.99), Some(0.05));
        let s = m.to_series(7);
        assert!(s.iter().any(|t| t.labels.metric_name()
            == Some("strix_check_schedule_drift_seconds_count")
            && t.samples[0].v == 5.0));
    }
}
