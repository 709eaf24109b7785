//! Evaluates rule groups on their intervals on one background thread.
//!
//! Each group runs at `k * interval + offset`, where the offset is a stable hash of the
//! group's file and name, so groups spread over the interval and keep their phase across
//! restarts (as Prometheus does). Rules of a group run in order, so a rule may use the
//! output of an earlier one in the same evaluation.

use crate::file::{Rule, RuleFile, RuleGroup};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strix_core::storage::{AppendMode, Appendable, Queryable, TimeSeries};
use strix_core::{now_millis, Labels, LabelsBuilder, Sample, Timestamp, METRIC_NAME, STALE_NAN};
use strix_query::{Engine, QueryValue};

/// Evaluation state of one rule, for `/api/v1/rules`.
#[derive(Debug, Clone, Default)]
pub struct RuleStatus {
    pub rule: Option<Rule>,
    /// "ok", "err" or "unknown" (not evaluated yet, or evaluated by another layer).
    pub health: &'static str,
    pub last_error: Option<String>,
    pub last_evaluation: Option<Timestamp>,
    pub evaluation_seconds: f64,
    last_series: HashSet<Labels>,
}

#[derive(Debug, Clone)]
pub struct GroupStatus {
    pub group: RuleGroup,
    pub interval: Duration,
    pub last_evaluation: Option<Timestamp>,
    pub evaluation_seconds: f64,
    pub rules: Vec<RuleStatus>,
}

struct GroupState {
    status: GroupStatus,
    next_eval: Timestamp,
}

#[derive(Clone)]
struct Metrics {
    evaluations: Counter,
    failures: Counter,
    missed: Counter,
    samples: Counter,
}

struct Inner {
    engine: Engine,
    store: Arc<dyn Queryable>,
    sink: Arc<dyn Appendable>,
    default_interval: Duration,
    groups: Mutex<Vec<GroupState>>,
    stop: Mutex<bool>,
    wake: Condvar,
    metrics: Metrics,
}

/// Loads, schedules and evaluates rule groups.
pub struct RuleManager {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn offset_for(group: &RuleGroup, interval_ms: i64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group.file.bytes().chain([0xff]).chain(group.name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % interval_ms.max(1) as u64) as i64
}

fn next_after(now: Timestamp, interval_ms: i64, offset: i64) -> Timestamp {
    let base = (now - offset).div_euclid(interval_ms) * interval_ms + offset;
    if base > now {
        base
    } else {
        base + interval_ms
    }
}

impl RuleManager {
    pub fn new(engine: Engine, store: Arc<dyn Queryable>, sink: Arc<dyn Appendable>, default_interval: Duration, registry: &mut Registry) -> Self {
        let metrics = Metrics {
            evaluations: Counter::default(),
            failures: Counter::default(),
            missed: Counter::default(),
            samples: Counter::default(),
        };
        registry.register("strix_rule_evaluations", "Rule evaluations.", metrics.evaluations.clone());
        registry.register("strix_rule_evaluation_failures", "Rule evaluations that failed.", metrics.failures.clone());
        registry.register("strix_rule_group_iterations_missed", "Group evaluations skipped because the previous one ran late.", metrics.missed.clone());
        registry.register("strix_rule_samples_written", "Samples written by recording rules (stale markers included).", metrics.samples.clone());
        RuleManager {
            inner: Arc::new(Inner {
                engine,
                store,
                sink,
                default_interval: default_interval.max(Duration::from_secs(1)),
                groups: Mutex::new(Vec::new()),
                stop: Mutex::new(false),
                wake: Condvar::new(),
                metrics,
            }),
            thread: Mutex::new(None),
        }
    }

    /// Replaces the loaded groups. Groups with the same file, name and content keep
    /// their schedule and the series they produced (so no spurious stale markers).
    pub fn apply(&self, files: Vec<RuleFile>) {
        let now = now_millis();
        let mut groups = self.inner.groups.lock().unwrap_or_else(|p| p.into_inner());
        let mut old: Vec<GroupState> = std::mem::take(&mut *groups);
        for f in files {
            for g in f.groups {
                if let Some(i) = old.iter().position(|o| o.status.group == g) {
                    groups.push(old.remove(i));
                    continue;
                }
                let interval = g.interval.unwrap_or(self.inner.default_interval);
                let ims = interval.as_millis().max(1) as i64;
                let rules = g
                    .rules
                    .iter()
                    .map(|r| RuleStatus {
                        rule: Some(r.clone()),
                        health: "unknown",
                        ..RuleStatus::default()
                    })
                    .collect();
                groups.push(GroupState {
                    next_eval: next_after(now, ims, offset_for(&g, ims)),
                    status: GroupStatus {
                        group: g,
                        interval,
                        last_evaluation: None,
                        evaluation_seconds: 0.0,
                        rules,
                    },
                });
            }
        }
        drop(groups);
        // Series of removed groups go stale now, as Prometheus does on reload.
        for g in old {
            let stale: Vec<Labels> = g.status.rules.iter().flat_map(|r| r.last_series.iter().cloned()).collect();
            self.inner.write_stale(stale, now);
        }
        self.inner.wake.notify_all();
    }

    /// Starts the evaluation thread.
    pub fn start(&self) -> std::io::Result<()> {
        let inner = self.inner.clone();
        let h = std::thread::Builder::new().name("strix-rules".into()).spawn(move || inner.run())?;
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        Ok(())
    }

    /// Stops the evaluation thread and waits for it.
    pub fn stop(&self) {
        *self.inner.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.inner.wake.notify_all();
        if let Some(h) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if h.join().is_err() {
                tracing::error!("Rule evaluation thread panicked.");
            }
        }
    }

    /// Evaluates every group once at `t` (tests and tooling).
    pub fn evaluate_all_at(&self, t: Timestamp) {
        let n = self.inner.groups.lock().unwrap_or_else(|p| p.into_inner()).len();
        for i in 0..n {
            self.inner.eval_group(i, t);
        }
    }

    pub fn groups(&self) -> Vec<GroupStatus> {
        self.inner.groups.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|g| g.status.clone()).collect()
    }
}

impl Drop for RuleManager {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn run(self: Arc<Self>) {
        loop {
            let now = now_millis();
            let due: Vec<(usize, Timestamp)>;
            let wait_ms;
            {
                let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
                let mut d = Vec::new();
                for (i, g) in groups.iter_mut().enumerate() {
                    if g.next_eval <= now {
                        let ims = g.status.interval.as_millis().max(1) as i64;
                        let t = g.next_eval;
                        let missed = (now - t) / ims;
                        if missed > 0 {
                            self.metrics.missed.inc_by(missed as u64);
                        }
                        d.push((i, t + missed * ims));
                        g.next_eval = t + (missed + 1) * ims;
                    }
                }
                due = d;
                wait_ms = groups.iter().map(|g| g.next_eval - now).min().unwrap_or(60_000).clamp(1, 60_000);
            }
            for (i, t) in due {
                self.eval_group(i, t);
            }
            let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            let (stop, _) = self.wake.wait_timeout(stop, Duration::from_millis(wait_ms as u64)).unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
        }
    }

    fn write_stale(&self, series: Vec<Labels>, t: Timestamp) {
        if series.is_empty() {
            return;
        }
        let batch: Vec<TimeSeries> = series
            .into_iter()
            .map(|labels| TimeSeries {
                labels,
                samples: vec![Sample::new(t, STALE_NAN)],
            })
            .collect();
        self.metrics.samples.inc_by(batch.len() as u64);
        if let Err(e) = self.sink.append(&batch, AppendMode::Live) {
            tracing::warn!(error = %e, "Writing stale markers for rule output failed.");
        }
    }

    fn eval_group(&self, idx: usize, t: Timestamp) {
        let Some(group) = self.groups.lock().unwrap_or_else(|p| p.into_inner()).get(idx).map(|g| g.status.group.clone()) else { return };
        let started = Instant::now();
        let mut results = Vec::with_capacity(group.rules.len());
        for (ri, rule) in group.rules.iter().enumerate() {
            let Rule::Recording { record, expr, labels } = rule else {
                results.push(None);
                continue;
            };
            let rs = Instant::now();
            self.metrics.evaluations.inc();
            let prev = self.groups.lock().unwrap_or_else(|p| p.into_inner()).get(idx).and_then(|g| g.status.rules.get(ri)).map(|r| r.last_series.clone()).unwrap_or_default();
            let outcome = self.eval_recording(&group, record, expr, labels, t);
            let (series, err) = match outcome {
                Ok(series) => (series, None),
                Err(e) => {
                    self.metrics.failures.inc();
                    tracing::warn!(group = %group.name, rule = %record, error = %e, "Recording rule evaluation failed.");
                    (Vec::new(), Some(e))
                }
            };
            let current: HashSet<Labels> = series.iter().map(|s| s.labels.clone()).collect();
            let mut batch = series;
            batch.extend(prev.difference(&current).map(|l| TimeSeries {
                labels: l.clone(),
                samples: vec![Sample::new(t, STALE_NAN)],
            }));
            let mut err = err;
            if !batch.is_empty() {
                self.metrics.samples.inc_by(batch.len() as u64);
                match self.sink.append(&batch, AppendMode::Live) {
                    Ok(out) => {
                        if let Some(e) = out.first_error {
                            err.get_or_insert(format!("writing results: {e}"));
                        }
                    }
                    Err(e) => {
                        err.get_or_insert(format!("writing results: {e}"));
                    }
                }
            }
            results.push(Some((current, err, rs.elapsed().as_secs_f64())));
        }
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let Some(g) = groups.get_mut(idx) else { return };
        if g.status.group != group {
            return; // reloaded meanwhile
        }
        g.status.last_evaluation = Some(t);
        g.status.evaluation_seconds = started.elapsed().as_secs_f64();
        for (rs, r) in g.status.rules.iter_mut().zip(results) {
            let Some((current, err, secs)) = r else { continue };
            rs.health = if err.is_some() { "err" } else { "ok" };
            rs.last_error = err;
            rs.last_evaluation = Some(t);
            rs.evaluation_seconds = secs;
            rs.last_series = current;
        }
    }

    fn eval_recording(&self, group: &RuleGroup, record: &str, expr: &str, labels: &BTreeMap<String, String>, t: Timestamp) -> Result<Vec<TimeSeries>, String> {
        let qt = t - group.query_offset.as_millis() as i64;
        let value = self.engine.instant_query(self.store.as_ref(), expr, qt).map_err(|e| e.to_string())?;
        let points: Vec<(Labels, f64)> = match value {
            QueryValue::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            QueryValue::Scalar { v, .. } => vec![(Labels::default(), v)],
            QueryValue::String { .. } | QueryValue::Matrix(_) => return Err("rule result is not a vector or scalar".into()),
        };
        if group.limit > 0 && points.len() > group.limit {
            return Err(format!("exceeded limit of {} with {} series", group.limit, points.len()));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(points.len());
        for (l, v) in points {
            let mut b = LabelsBuilder::new();
            for x in l.iter() {
                b.set(x.name.clone(), x.value.clone());
            }
            for (k, val) in group.labels.iter().chain(labels.iter()) {
                b.set(k.clone(), val.clone());
            }
            b.set(METRIC_NAME, record);
            let labels = b.build();
            if !seen.insert(labels.clone()) {
                return Err("vector contains metrics with the same labelset after applying rule labels".into());
            }
            out.push(TimeSeries {
                labels,
                samples: vec![Sample::new(t, v)],
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_aligned_and_stable() {
        let g = RuleGroup {
            name: "g".into(),
            file: "f".into(),
            interval: None,
            limit: 0,
            query_offset: Duration::ZERO,
            labels: BTreeMap::new(),
            rules: vec![],
        };
        let off = offset_for(&g, 60_000);
        assert!((0..60_000).contains(&off));
        assert_eq!(off, offset_for(&g, 60_000));
        let n = next_after(1_000_000, 60_000, off);
        assert!(n > 1_000_000 && n <= 1_060_000);
        assert_eq!((n - off) % 60_000, 0);
    }
}
