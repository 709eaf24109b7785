//! The running side of checks: [`CheckService`] owns every check's state, circuit breaker,
//! heartbeat and a bounded in-memory history of status changes; it consumes the scheduler's
//! [`ProbeOutcome`]s, evaluates heartbeats every second and appends the resulting series
//! through the caller's sink (so they land in the metric store and can drive alert rules).
//!
//! History is kept in memory only (the last [`HISTORY_LIMIT`] changes per check): incidents
//! and uptime restart empty with the process until persistence to the state store exists.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use strix_core::storage::{AppendMode, Appendable, TimeSeries};
use strix_core::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::breaker::{BreakerState, CircuitBreaker};
use crate::config::{Check, CheckKind, CheckType};
use crate::error::Error;
use crate::heartbeat::{Heartbeat, HeartbeatStatus, PingKind};
use crate::metrics::{breaker_series, to_series};
use crate::probe::{ProbeContext, ProbeResult};
use crate::scheduler::{ProbeOutcome, Scheduler, SchedulerHandle, SchedulerOptions};
use crate::state::{
    error_budget, history_from_changes, incidents, overall, CheckState, CheckStatus, ErrorBudget,
    Incident, StateChange, Uptime, UptimeWindow,
};

/// Status changes kept per check.
pub const HISTORY_LIMIT: usize = 10_000;
/// The scheduler's own series are stored every this many heartbeat ticks (seconds).
const SCHEDULER_METRICS_EVERY: u64 = 15;

struct Entry {
    check: Check,
    state: CheckState,
    breaker: CircuitBreaker,
    heartbeat: Option<Heartbeat>,
    last_result: Option<ProbeResult>,
    changes: VecDeque<StateChange>,
    created_at: Timestamp,
}

impl Entry {
    fn push_change(&mut self, c: StateChange) {
        if self.changes.len() >= HISTORY_LIMIT {
            self.changes.pop_front();
        }
        self.changes.push_back(c);
    }

    fn snapshot(&self, now: Timestamp) -> CheckSnapshot {
        CheckSnapshot {
            name: self.check.name.clone(),
            check_type: self.check.check_type(),
            status: self.state.status(),
            since: self.state.since(),
            last_check: self.state.last_check(),
            latency_ms: self.state.last_latency().map(|d| d.as_secs_f64() * 1000.0),
            last_error: self.state.last_error().map(str::to_string),
            consecutive_failures: self.state.consecutive_failures(),
            breaker: BreakerSnapshot {
                state: self.breaker.state(now),
                since: self.breaker.since(),
                consecutive_failures: self.breaker.consecutive_failures(),
                retry_at: self.breaker.retry_at(),
            },
            heartbeat: self.heartbeat.as_ref().map(|h| h.status(now)),
            labels: self.check.labels.clone(),
            public: self.check.public,
            sla_target: self.check.sla_target,
            interval_ms: self.check.interval.as_millis() as u64,
        }
    }
}

/// A circuit breaker as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub since: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub retry_at: Option<Timestamp>,
}

/// One check as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSnapshot {
    pub name: String,
    #[serde(rename = "type")]
    pub check_type: CheckType,
    pub status: CheckStatus,
    pub since: Option<Timestamp>,
    pub last_check: Option<Timestamp>,
    pub latency_ms: Option<f64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    #[serde(rename = "circuitBreaker")]
    pub breaker: BreakerSnapshot,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatStatus>,
    pub labels: BTreeMap<String, String>,
    pub public: bool,
    pub sla_target: f64,
    pub interval_ms: u64,
}

/// Uptime over one window, with the SLA error budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowUptime {
    pub window: UptimeWindow,
    pub uptime: Uptime,
    pub percent: Option<f64>,
    pub error_budget: ErrorBudget,
}

/// The result of a heartbeat ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingError {
    UnknownToken,
}

struct Shared {
    entries: Vec<Mutex<Entry>>,
    by_name: HashMap<String, usize>,
    by_token: HashMap<String, usize>,
    sink: Arc<dyn Appendable>,
}

/// The running checks. Cheap to clone.
#[derive(Clone)]
pub struct CheckService {
    shared: Arc<Shared>,
}

/// The background tasks of a [`CheckService`]; dropping it stops them.
pub struct CheckServiceTasks {
    scheduler: Option<SchedulerHandle>,
    tasks: Vec<JoinHandle<()>>,
}

impl CheckServiceTasks {
    /// Stops the scheduler and the service's tasks.
    pub async fn stop(mut self) {
        if let Some(s) = self.scheduler.take() {
            s.stop().await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for CheckServiceTasks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(m: &Mutex<Entry>) -> MutexGuard<'_, Entry> {
    // A panic while holding the lock leaves the entry usable: every update is one step.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CheckService {
    /// Builds the service for validated `checks`, created at `now`.
    pub fn new(checks: Vec<Check>, sink: Arc<dyn Appendable>, now: Timestamp) -> Self {
        let mut by_name = HashMap::new();
        let mut by_token = HashMap::new();
        let mut entries = Vec::with_capacity(checks.len());
        for (i, check) in checks.into_iter().enumerate() {
            by_name.insert(check.name.clone(), i);
            let heartbeat = match &check.kind {
                CheckKind::Heartbeat(hb) => {
                    by_token.insert(hb.token.clone(), i);
                    Some(Heartbeat::new(hb, now))
                }
                _ => None,
            };
            entries.push(Mutex::new(Entry {
                state: CheckState::new(check.retries),
                breaker: CircuitBreaker::new(check.breaker),
                heartbeat,
                last_result: None,
                changes: VecDeque::new(),
                created_at: now,
                check,
            }));
        }
        CheckService {
            shared: Arc::new(Shared {
                entries,
                by_name,
                by_token,
                sink,
            }),
        }
    }

    /// Starts the probe scheduler, the outcome consumer and the heartbeat evaluation on the
    /// current tokio runtime.
    pub fn start(&self, opts: SchedulerOptions) -> Result<CheckServiceTasks, Error> {
        let checks: Vec<Check> = self
            .shared
            .entries
            .iter()
            .map(|e| lock(e).check.clone())
            .collect();
        let ctx = ProbeContext::new()?;
        let (tx, mut rx) = mpsc::channel::<ProbeOutcome>(1024);
        let scheduler = Scheduler::start(&checks, &ctx, opts, tx)?;
        let sched_metrics = scheduler.metrics();
        let me = self.clone();
        let consumer = tokio::spawn(async move {
            while let Some(o) = rx.recv().await {
                let series = me.observe(o.index, &o.result, o.at);
                me.append_blocking(series).await;
            }
        });
        let me = self.clone();
        let heartbeats = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                let now = strix_core::now_millis();
                let mut series = me.evaluate_heartbeats(now);
                if n.is_multiple_of(SCHEDULER_METRICS_EVERY) {
                    series.extend(sched_metrics.to_series(now));
                }
                n = n.wrapping_add(1);
                me.append_blocking(series).await;
            }
        });
        Ok(CheckServiceTasks {
            scheduler: Some(scheduler),
            tasks: vec![consumer, heartbeats],
        })
    }

    /// Appends on the blocking pool (the sink writes the WAL and may wake rules).
    async fn append_blocking(&self, series: Vec<TimeSeries>) {
        if series.is_empty() {
            return;
        }
        let me = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || me.append(&series)).await {
            tracing::warn!(error = %e, "Storing check series failed.");
        }
    }

    fn append(&self, series: &[TimeSeries]) {
        if series.is_empty() {
            return;
        }
        match self.shared.sink.append(series, AppendMode::Live) {
            Ok(out) => {
                if let Some(e) = out.first_error {
                    tracing::warn!(error = %e, "Check series partly refused.");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Storing check series failed."),
        }
    }

    /// Applies one probe result of check `index`; returns the series to store.
    pub fn observe(&self, index: usize, result: &ProbeResult, at: Timestamp) -> Vec<TimeSeries> {
        let Some(m) = self.shared.entries.get(index) else {
            return Vec::new();
        };
        let mut e = lock(m);
        let name = e.check.name.clone();
        if let Some(c) = e.state.observe(&name, result, at) {
            tracing::info!(check = %name, from = c.from.as_str(), to = c.to.as_str(), "Check status changed.");
            e.push_change(c);
        }
        e.breaker.record(result.ok, at);
        e.last_result = Some(result.clone());
        let mut out = to_series(
            &name,
            e.check.check_type(),
            result,
            e.state.status(),
            &e.check.labels,
            at,
        );
        out.push(breaker_series(
            &name,
            e.breaker.state(at),
            &e.check.labels,
            at,
        ));
        out
    }

    /// Evaluates every heartbeat at `now`; returns the series to store.
    pub fn evaluate_heartbeats(&self, now: Timestamp) -> Vec<TimeSeries> {
        let mut out = Vec::new();
        for m in &self.shared.entries {
            let mut e = lock(m);
            let Some(hb) = &e.heartbeat else { continue };
            let r = hb.to_result(now);
            let name = e.check.name.clone();
            if let Some(c) = e
                .state
                .set(&name, r.status.status, now, r.status.reason.clone())
            {
                tracing::info!(check = %name, from = c.from.as_str(), to = c.to.as_str(), "Heartbeat status changed.");
                e.push_change(c);
            }
            if r.status.status != CheckStatus::Unknown {
                out.extend(to_series(
                    &name,
                    CheckType::Heartbeat,
                    &r.result,
                    e.state.status(),
                    &e.check.labels,
                    now,
                ));
            }
            e.last_result = Some(r.result);
        }
        out
    }

    /// Records a heartbeat ping for `token`; returns the check's name.
    pub fn ping_heartbeat(
        &self,
        token: &str,
        kind: PingKind,
        at: Timestamp,
    ) -> Result<String, PingError> {
        let i = *self
            .shared
            .by_token
            .get(token)
            .ok_or(PingError::UnknownToken)?;
        let m = self.shared.entries.get(i).ok_or(PingError::UnknownToken)?;
        let name = {
            let mut e = lock(m);
            let Some(hb) = e.heartbeat.as_mut() else {
                return Err(PingError::UnknownToken);
            };
            hb.ping(kind, at);
            e.check.name.clone()
        };
        let series = self.evaluate_heartbeats(at);
        self.append(&series);
        Ok(name)
    }

    fn entry(&self, name: &str) -> Option<&Mutex<Entry>> {
        self.shared
            .by_name
            .get(name)
            .and_then(|i| self.shared.entries.get(*i))
    }

    /// One check's state, or `None` for an unknown name.
    pub fn status(&self, name: &str) -> Option<CheckSnapshot> {
        let now = strix_core::now_millis();
        self.entry(name).map(|m| lock(m).snapshot(now))
    }

    /// Every check, in configuration order.
    pub fn list(&self) -> Vec<CheckSnapshot> {
        let now = strix_core::now_millis();
        self.shared
            .entries
            .iter()
            .map(|m| lock(m).snapshot(now))
            .collect()
    }

    /// The worst status of all checks (`unknown` without checks).
    pub fn overall(&self) -> CheckStatus {
        overall(self.shared.entries.iter().map(|m| lock(m).state.status()))
    }

    /// Closes the breaker of `name`, or of every check; returns the names reset, or `None`
    /// for an unknown name.
    pub fn reset_breakers(&self, name: Option<&str>) -> Option<Vec<String>> {
        let now = strix_core::now_millis();
        let targets: Vec<&Mutex<Entry>> = match name {
            Some(n) => vec![self.entry(n)?],
            None => self.shared.entries.iter().collect(),
        };
        let mut names = Vec::with_capacity(targets.len());
        let mut series = Vec::with_capacity(targets.len());
        for m in targets {
            let mut e = lock(m);
            e.breaker.reset(now);
            series.push(breaker_series(
                &e.check.name,
                e.breaker.state(now),
                &e.check.labels,
                now,
            ));
            names.push(e.check.name.clone());
        }
        self.append(&series);
        Some(names)
    }

    /// The incidents of `name` in the kept history, oldest first.
    pub fn incidents(&self, name: &str) -> Option<Vec<Incident>> {
        let m = self.entry(name)?;
        let e = lock(m);
        let changes: Vec<StateChange> = e.changes.iter().cloned().collect();
        Some(incidents(&changes))
    }

    /// Uptime of `name` over `window` ending now, with the error budget against its SLA
    /// target. Time before the check existed counts as unknown.
    pub fn uptime(&self, name: &str, window: UptimeWindow) -> Option<WindowUptime> {
        let now = strix_core::now_millis();
        let m = self.entry(name)?;
        let e = lock(m);
        let changes: Vec<StateChange> = e.changes.iter().cloned().collect();
        let history = history_from_changes(&changes);
        let u = window.uptime(&history, now.max(e.created_at));
        Some(WindowUptime {
            window,
            percent: u.percent(),
            error_budget: error_budget(&u, e.check.sla_target),
            uptime: u,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate_checks, CheckConfig};
    use crate::probe::ProbeDetail;
    use strix_core::storage::{AppendOutcome, StorageError};

    struct NullSink;
    impl Appendable for NullSink {
        fn append(
            &self,
            _series: &[TimeSeries],
            _mode: AppendMode,
        ) -> Result<AppendOutcome, StorageError> {
            Ok(AppendOutcome::default())
        }
    }

    fn service() -> CheckService {
        let list: Vec<CheckConfig> = serde_yaml::from_str(
            "- {name: web, type: http, url: 'http://127.0.0.1:1/', retries: 2}\n\
             - {name: job, type: heartbeat, token: tok, period: 2s, grace: 1s}\n",
        )
        .unwrap_or_default();
        let checks = validate_checks(&list).unwrap_or_default();
        assert_eq!(checks.len(), 2);
        CheckService::new(checks, Arc::new(NullSink), 0)
    }

    fn fail() -> ProbeResult {
        ProbeResult::failure(Duration::from_millis(3), "boom", ProbeDetail::default())
    }

    #[test]
    fn retries_breaker_and_reset() {
        // Real times: the breaker's cool-down is judged against the wall clock.
        let t = strix_core::now_millis();
        let s = service();
        let ok = ProbeResult::success(Duration::from_millis(3), ProbeDetail::default());
        let series = s.observe(0, &ok, t);
        assert!(series.len() >= 4);
        assert_eq!(
            s.status("web").map(|c| c.status),
            Some(CheckStatus::Healthy)
        );
        s.observe(0, &fail(), t + 1);
        assert_eq!(
            s.status("web").map(|c| c.status),
            Some(CheckStatus::Healthy)
        );
        s.observe(0, &fail(), t + 2);
        s.observe(0, &fail(), t + 3);
        let st = s.status("web").map(|c| (c.status, c.breaker.state));
        assert_eq!(st, Some((CheckStatus::Unhealthy, BreakerState::Open)));
        assert_eq!(s.reset_breakers(Some("web")), Some(vec!["web".to_string()]));
        assert_eq!(
            s.status("web").map(|c| c.breaker.state),
            Some(BreakerState::Closed)
        );
        assert_eq!(s.reset_breakers(Some("nope")), None);
        s.observe(0, &ok, t + 4);
        let inc = s.incidents("web").unwrap_or_default();
        assert_eq!(inc.len(), 1);
        assert_eq!((inc[0].start, inc[0].end), (t + 2, Some(t + 4)));
        let u = s.uptime("web", UptimeWindow::Day);
        assert!(u.is_some_and(|u| u.error_budget.target > 99.0));
    }

    #[test]
    fn heartbeat_down_and_up() {
        let s = service();
        s.evaluate_heartbeats(1000);
        assert_eq!(
            s.status("job").map(|c| c.status),
            Some(CheckStatus::Unknown)
        );
        s.evaluate_heartbeats(3_500);
        assert_eq!(
            s.status("job").map(|c| c.status),
            Some(CheckStatus::Unhealthy)
        );
        assert_eq!(
            s.ping_heartbeat("nope", PingKind::Success, 4000),
            Err(PingError::UnknownToken)
        );
        assert_eq!(
            s.ping_heartbeat("tok", PingKind::Success, 4000),
            Ok("job".to_string())
        );
        assert_eq!(
            s.status("job").map(|c| c.status),
            Some(CheckStatus::Healthy)
        );
        assert_eq!(s.overall(), CheckStatus::Healthy);
    }
}
