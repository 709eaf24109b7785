//! The running side of checks: [`CheckService`] owns every check's state, circuit breaker,
//! heartbeat and a bounded in-memory history of status changes; it consumes the scheduler's
//! [`ProbeOutcome`]s, evaluates heartbeats every second and appends the resulting series
//! through the caller's sink (so they land in the metric store and can drive alert rules).
//!
//! History: every status change is appended to the state store (when one is given, see
//! [`ServiceHooks`]) and the last [`HISTORY_LIMIT`] changes per check are kept in memory.
//! On start the service loads the changes of the longest uptime window (90 days) from the
//! store and continues from each check's last status, so incidents, uptime and the error
//! budget survive restarts exactly (time while Strix was stopped counts as the last status).
//! Rows older than `check_settings.history_retention` are pruned hourly.
//!
//! Every status change is also published on the live event bus (`kind::CHECK`) and drives
//! the check alerts of [`crate::alerts`].
//!
//! Checks come from `checks:` (read-only here) or from the admin API ([`CheckService::create`],
//! [`CheckService::replace`], [`CheckService::remove`], see [`admin`]); the latter are stored
//! in the state store and loaded by [`CheckService::open`]. Each entry has an index (its
//! position in a registry that only grows); the scheduler keys its tasks by it, and a replaced
//! check gets a new one, so a late result of the old definition is ignored.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use serde::Serialize;
use strix_core::storage::{AppendMode, Appendable, TimeSeries};
use strix_core::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::alerts::{CheckAlert, CheckAlertSink, CERTIFICATE_EXPIRY, CHECK_DOWN, SLA_BUDGET_BURN};
use crate::breaker::{BreakerState, CircuitBreaker};
use crate::config::{Check, CheckKind, CheckType};
use crate::error::Error;
use crate::heartbeat::{Heartbeat, HeartbeatStatus, PingKind};
use crate::metrics::{breaker_series, to_series};
use crate::probe::{ProbeContext, ProbeResult};
use crate::scheduler::{ProbeOutcome, Scheduler, SchedulerHandle, SchedulerOptions};
use crate::settings::CheckSettings;
use crate::state::{
    error_budget, history_from_changes, incidents, overall, CheckState, CheckStatus, ErrorBudget,
    Incident, StateChange, Uptime, UptimeWindow,
};

mod admin;
pub use admin::{validate_definition, CheckDefinition, CheckSource};

/// Status changes kept per check.
pub const HISTORY_LIMIT: usize = 10_000;
/// The scheduler's own series are stored every this many heartbeat ticks (seconds).
const SCHEDULER_METRICS_EVERY: u64 = 15;
/// TLS and SLA alert conditions are evaluated (and firing alerts considered for re-sending)
/// every this many heartbeat ticks (seconds).
const ALERT_EVAL_EVERY: u64 = 5;
/// Old history rows are pruned every this many ticks (seconds).
const PRUNE_EVERY: u64 = 3600;
/// Status changes waiting for the state store, at most; beyond, the oldest are dropped
/// (and logged) while the store is failing.
const PENDING_LIMIT: usize = 100_000;

/// What the service reports to besides its series sink. Every part is optional.
#[derive(Clone, Default)]
pub struct ServiceHooks {
    /// Durable history of status changes.
    pub store: Option<Arc<dyn strix_state::StateStore>>,
    /// Live events (`kind::CHECK`) on every status change.
    pub events: Option<Arc<strix_core::events::EventBus>>,
    /// Check alerts (see [`crate::alerts`]).
    pub alerts: Option<Arc<dyn CheckAlertSink>>,
    pub settings: CheckSettings,
}

/// What one locked update produced, dispatched after the lock is released.
#[derive(Default)]
struct Effects {
    events: Vec<String>,
    alerts: Vec<CheckAlert>,
}

struct Entry {
    check: Check,
    /// Where the check is defined.
    source: CheckSource,
    /// The definition as written, for checks made through the API.
    definition: Option<admin::Stored>,
    state: CheckState,
    breaker: CircuitBreaker,
    heartbeat: Option<Heartbeat>,
    last_result: Option<ProbeResult>,
    changes: VecDeque<StateChange>,
    created_at: Timestamp,
    /// Check alerts currently firing, by alert name.
    firing: BTreeMap<String, CheckAlert>,
    last_resend: Timestamp,
}

impl Entry {
    fn new(
        check: Check,
        source: CheckSource,
        definition: Option<admin::Stored>,
        now: Timestamp,
    ) -> Self {
        let heartbeat = match &check.kind {
            CheckKind::Heartbeat(hb) => Some(Heartbeat::new(hb, now)),
            _ => None,
        };
        Entry {
            state: CheckState::new(check.retries),
            breaker: CircuitBreaker::new(check.breaker),
            heartbeat,
            last_result: None,
            changes: VecDeque::new(),
            created_at: now,
            firing: BTreeMap::new(),
            last_resend: now,
            check,
            source,
            definition,
        }
    }

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
            source: self.source,
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
    /// `config` (`checks:` in `strix.yaml`, read-only) or `api`.
    pub source: CheckSource,
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

/// The checks by index, name and heartbeat token.
#[derive(Default)]
struct Registry {
    entries: BTreeMap<usize, Arc<Mutex<Entry>>>,
    by_name: HashMap<String, usize>,
    by_token: HashMap<String, usize>,
    next: usize,
}

impl Registry {
    fn insert(&mut self, entry: Entry) -> usize {
        self.insert_shared(Arc::new(Mutex::new(entry)))
    }

    /// Inserts an entry under a new index.
    fn insert_shared(&mut self, m: Arc<Mutex<Entry>>) -> usize {
        let i = self.next;
        self.next += 1;
        {
            let e = lock(&m);
            self.by_name.insert(e.check.name.clone(), i);
            if let CheckKind::Heartbeat(hb) = &e.check.kind {
                self.by_token.insert(hb.token.clone(), i);
            }
        }
        self.entries.insert(i, m);
        i
    }

    /// Removes the entry of `name`; returns its index and the entry.
    fn remove(&mut self, name: &str) -> Option<(usize, Arc<Mutex<Entry>>)> {
        let i = self.by_name.remove(name)?;
        self.by_token.retain(|_, v| *v != i);
        self.entries.remove(&i).map(|e| (i, e))
    }
}

struct Shared {
    registry: RwLock<Registry>,
    sink: Arc<dyn Appendable>,
    /// The running scheduler, once [`CheckService::start`] ran.
    scheduler: Mutex<Option<Arc<SchedulerHandle>>>,
    /// Serialises admin changes (check, store, apply).
    admin: Mutex<()>,
    /// Creates refused by `max_api_checks`.
    refused: std::sync::atomic::AtomicU64,
    hooks: ServiceHooks,
    /// Status changes not yet written to the store.
    pending: Mutex<Vec<strix_state::CheckChangeRecord>>,
}

/// The running checks. Cheap to clone.
#[derive(Clone)]
pub struct CheckService {
    shared: Arc<Shared>,
}

/// The background tasks of a [`CheckService`]; dropping it stops them.
pub struct CheckServiceTasks {
    scheduler: Option<Arc<SchedulerHandle>>,
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
        if let Some(s) = &self.scheduler {
            s.abort();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the entry usable: every update is one step.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CheckService {
    /// Builds the service for validated `checks`, created at `now`.
    pub fn new(checks: Vec<Check>, sink: Arc<dyn Appendable>, now: Timestamp) -> Self {
        Self::with_hooks(checks, sink, ServiceHooks::default(), now)
    }

    /// [`CheckService::new`] reporting to `hooks`; with a store, the history of the last
    /// 90 days is loaded from it and each check continues from its last stored status.
    pub fn with_hooks(
        checks: Vec<Check>,
        sink: Arc<dyn Appendable>,
        hooks: ServiceHooks,
        now: Timestamp,
    ) -> Self {
        Self::build(checks, Vec::new(), sink, hooks, now)
    }

    /// The service for configured `checks` and API-defined `api` checks.
    fn build(
        checks: Vec<Check>,
        api: Vec<(Check, admin::Stored)>,
        sink: Arc<dyn Appendable>,
        hooks: ServiceHooks,
        now: Timestamp,
    ) -> Self {
        let mut registry = Registry::default();
        for check in checks {
            registry.insert(Entry::new(check, CheckSource::Config, None, now));
        }
        for (check, stored) in api {
            registry.insert(Entry::new(check, CheckSource::Api, Some(stored), now));
        }
        let svc = CheckService {
            shared: Arc::new(Shared {
                registry: RwLock::new(registry),
                sink,
                scheduler: Mutex::new(None),
                admin: Mutex::new(()),
                refused: std::sync::atomic::AtomicU64::new(0),
                hooks,
                pending: Mutex::new(Vec::new()),
            }),
        };
        svc.restore_history(None, now);
        svc
    }

    /// Loads the last 90 days of history from the store into the entries (of `only`, or of
    /// every check) and continues each from its last stored status.
    fn restore_history(&self, only: Option<&str>, now: Timestamp) {
        let Some(store) = &self.shared.hooks.store else {
            return;
        };
        let since = now.saturating_sub(UptimeWindow::Quarter.millis());
        match store.load_check_changes(since) {
            Ok(mut rows) => {
                if let Some(name) = only {
                    rows.retain(|r| r.check == name);
                }
                let reg = self.registry();
                let entries: Vec<Arc<Mutex<Entry>>> = match only {
                    Some(n) => reg
                        .by_name
                        .get(n)
                        .and_then(|i| reg.entries.get(i))
                        .cloned()
                        .into_iter()
                        .collect(),
                    None => reg.entries.values().cloned().collect(),
                };
                let by_name: HashMap<String, Arc<Mutex<Entry>>> = entries
                    .iter()
                    .map(|e| (lock(e).check.name.clone(), e.clone()))
                    .collect();
                drop(reg);
                restore(&entries, &by_name, rows);
            }
            Err(e) => {
                tracing::error!(error = %e, "Loading check history failed; uptime starts empty.")
            }
        }
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        // Every registry update is a few inserts or removes: a poisoned one is consistent.
        self.shared
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.shared
            .registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Every entry, in index order (configured checks first, in their order).
    fn entries(&self) -> Vec<Arc<Mutex<Entry>>> {
        self.registry().entries.values().cloned().collect()
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &CheckSettings {
        &self.shared.hooks.settings
    }

    /// Records a status change of `e`: history, store queue, live event, `CheckDown`.
    fn changed(&self, e: &mut Entry, c: StateChange, now: Timestamp, fx: &mut Effects) {
        let latency_ms = e.state.last_latency().map(|d| d.as_secs_f64() * 1000.0);
        fx.events.push(
            serde_json::json!({
                "name": c.check,
                "status": c.to.as_str(),
                "previous": c.from.as_str(),
                "at": c.at,
                "latencyMs": latency_ms,
                "message": c.cause,
            })
            .to_string(),
        );
        if self.shared.hooks.store.is_some() {
            let mut p = lock(&self.shared.pending);
            if p.len() >= PENDING_LIMIT {
                p.remove(0);
                tracing::warn!(check = %c.check, "Check history queue full; dropped the oldest change.");
            }
            p.push(strix_state::CheckChangeRecord {
                check: c.check.clone(),
                at: c.at,
                from: c.from.as_str().to_string(),
                to: c.to.as_str().to_string(),
                cause: c.cause.clone(),
            });
        }
        e.push_change(c);
        self.reconcile_alerts(e, now, false, fx);
    }

    /// Publishes events and sends alerts collected under an entry lock.
    fn dispatch(&self, fx: Effects) {
        if let Some(bus) = &self.shared.hooks.events {
            for ev in fx.events {
                bus.publish(strix_core::events::kind::CHECK, ev);
            }
        }
        if !fx.alerts.is_empty() {
            if let Some(sink) = &self.shared.hooks.alerts {
                sink.send(fx.alerts);
            }
        }
    }

    /// The check alerts `e` should have firing at `now`, by name.
    fn desired_alerts(&self, e: &Entry, now: Timestamp) -> BTreeMap<String, CheckAlert> {
        let mut out = BTreeMap::new();
        let settings = &self.shared.hooks.settings;
        if !settings.alerts {
            return out;
        }
        let name = &e.check.name;
        let mk = |alertname: &str,
                  severity: &str,
                  starts_at: Timestamp,
                  summary: String,
                  description: String| {
            let mut labels = e.check.labels.clone();
            labels.insert("alertname".into(), alertname.into());
            labels.insert("check".into(), name.clone());
            labels.insert("type".into(), e.check.check_type().as_str().into());
            labels.insert("severity".into(), severity.into());
            let mut annotations = BTreeMap::new();
            annotations.insert("summary".into(), summary);
            if !description.is_empty() {
                annotations.insert("description".into(), description);
            }
            CheckAlert {
                labels,
                annotations,
                starts_at,
                ends_at: None,
                resolved: false,
            }
        };
        if e.state.status() == CheckStatus::Unhealthy {
            let severity = e
                .check
                .labels
                .get("severity")
                .map_or("critical", String::as_str);
            let since = e.state.since().unwrap_or(now);
            let cause = e
                .changes
                .back()
                .and_then(|c| c.cause.clone())
                .unwrap_or_default();
            out.insert(
                CHECK_DOWN.to_string(),
                mk(
                    CHECK_DOWN,
                    severity,
                    since,
                    format!("Check {name} is unhealthy."),
                    cause,
                ),
            );
        }
        if let CheckKind::Tls(tls) = &e.check.kind {
            let days = e.last_result.as_ref().and_then(|r| r.detail.days_left);
            if let Some(days) = days {
                let severity = if days < f64::from(tls.critical_days) {
                    Some("critical")
                } else if days < f64::from(tls.warn_days) {
                    Some("warning")
                } else {
                    None
                };
                if let Some(sev) = severity {
                    let starts = e
                        .firing
                        .get(CERTIFICATE_EXPIRY)
                        .filter(|a| a.labels.get("severity").map(String::as_str) == Some(sev))
                        .map_or(now, |a| a.starts_at);
                    out.insert(
                        CERTIFICATE_EXPIRY.to_string(),
                        mk(
                            CERTIFICATE_EXPIRY,
                            sev,
                            starts,
                            format!("The certificate of {name} expires in {days:.1} days."),
                            String::new(),
                        ),
                    );
                }
            }
        }
        let changes: Vec<StateChange> = e.changes.iter().cloned().collect();
        let history = history_from_changes(&changes);
        // The budget of the whole 30-day window (not only of the known part of it), so a
        // check added an hour ago does not page for a minute of down time.
        let window = UptimeWindow::Month.millis();
        let u = crate::state::uptime(&history, now - window, now);
        let allowed = (window as f64 * (100.0 - e.check.sla_target) / 100.0).max(0.0);
        let remaining_ratio = if allowed > 0.0 {
            (allowed - u.down_ms as f64) / allowed
        } else if u.down_ms == 0 {
            1.0
        } else {
            f64::NEG_INFINITY
        };
        if remaining_ratio < settings.sla_alert_below {
            let starts = e.firing.get(SLA_BUDGET_BURN).map_or(now, |a| a.starts_at);
            out.insert(
                SLA_BUDGET_BURN.to_string(),
                mk(
                    SLA_BUDGET_BURN,
                    "warning",
                    starts,
                    format!(
                        "Check {name} has used its 30-day error budget for the {}% SLA.",
                        e.check.sla_target
                    ),
                    format!(
                        "{:.0} s down of {:.0} s allowed.",
                        u.down_ms as f64 / 1000.0,
                        allowed / 1000.0
                    ),
                ),
            );
        }
        out
    }

    /// Brings `e`'s firing alerts in line with its conditions: new ones fire, ended ones are
    /// sent resolved, and (with `full`) the TLS/SLA conditions are re-evaluated and firing
    /// alerts re-sent once `alert_resend` has passed.
    fn reconcile_alerts(&self, e: &mut Entry, now: Timestamp, full: bool, fx: &mut Effects) {
        if self.shared.hooks.alerts.is_none() {
            return;
        }
        let mut desired = self.desired_alerts(e, now);
        if !full {
            // Between full evaluations only CheckDown follows the state at once.
            for name in [CERTIFICATE_EXPIRY, SLA_BUDGET_BURN] {
                desired.remove(name);
                if let Some(a) = e.firing.get(name) {
                    desired.insert(name.to_string(), a.clone());
                }
            }
        }
        let resend_ms =
            i64::try_from(self.shared.hooks.settings.alert_resend.as_millis()).unwrap_or(i64::MAX);
        let resend = full && now.saturating_sub(e.last_resend) >= resend_ms;
        if resend {
            e.last_resend = now;
        }
        let lapse = now.saturating_add(resend_ms.saturating_mul(4));
        let old = std::mem::take(&mut e.firing);
        for (name, prev) in &old {
            let same = desired.get(name).is_some_and(|d| d.labels == prev.labels);
            if !same {
                fx.alerts.push(CheckAlert {
                    ends_at: Some(now),
                    resolved: true,
                    ..prev.clone()
                });
            }
        }
        for (name, mut a) in desired {
            let known = old.get(&name).is_some_and(|p| p.labels == a.labels);
            a.ends_at = Some(lapse);
            if !known || resend {
                fx.alerts.push(a.clone());
            }
            e.firing.insert(name, a);
        }
    }

    /// Re-evaluates every check's alert conditions at `now` (and re-sends firing alerts
    /// when due).
    pub fn evaluate_alerts(&self, now: Timestamp) {
        let mut fx = Effects::default();
        for m in &self.entries() {
            let mut e = lock(m);
            self.reconcile_alerts(&mut e, now, true, &mut fx);
        }
        self.dispatch(fx);
    }

    /// Writes queued status changes to the store (blocking). On failure they stay queued
    /// for the next call.
    pub fn flush_history(&self) {
        let Some(store) = &self.shared.hooks.store else {
            return;
        };
        let batch = std::mem::take(&mut *lock(&self.shared.pending));
        if batch.is_empty() {
            return;
        }
        if let Err(e) = store.record_check_changes(&batch) {
            tracing::warn!(error = %e, changes = batch.len(), "Storing check history failed; will retry.");
            let mut p = lock(&self.shared.pending);
            let newer = std::mem::take(&mut *p);
            *p = batch;
            p.extend(newer);
            let over = p.len().saturating_sub(PENDING_LIMIT);
            if over > 0 {
                p.drain(..over);
            }
        }
    }

    /// Deletes history older than the retention (blocking); returns rows deleted.
    pub fn prune_history(&self, now: Timestamp) -> u64 {
        let Some(store) = &self.shared.hooks.store else {
            return 0;
        };
        let keep = i64::try_from(self.shared.hooks.settings.history_retention.as_millis())
            .unwrap_or(i64::MAX);
        match store.prune_check_changes(now.saturating_sub(keep)) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "Pruning check history failed.");
                0
            }
        }
    }

    /// Starts the probe scheduler, the outcome consumer and the heartbeat evaluation on the
    /// current tokio runtime.
    pub fn start(&self, opts: SchedulerOptions) -> Result<CheckServiceTasks, Error> {
        let ctx = ProbeContext::new()?;
        let (tx, mut rx) = mpsc::channel::<ProbeOutcome>(1024);
        let scheduler = {
            // Held while starting, so an admin change waits for the scheduler to exist.
            let _admin = lock(&self.shared.admin);
            let checks: Vec<(usize, Check)> = self
                .registry()
                .entries
                .iter()
                .map(|(i, e)| (*i, lock(e).check.clone()))
                .collect();
            let scheduler = Arc::new(Scheduler::start_indexed(
                checks.iter().map(|(i, c)| (*i, c)),
                &ctx,
                opts,
                tx,
            )?);
            *lock(&self.shared.scheduler) = Some(scheduler.clone());
            scheduler
        };
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
                // Scheduler figures only once there is something to schedule: a Strix
                // without checks writes no check series.
                if n.is_multiple_of(SCHEDULER_METRICS_EVERY) && !me.list().is_empty() {
                    series.extend(sched_metrics.to_series(now));
                    series.extend(me.definition_series(now));
                }
                if n.is_multiple_of(ALERT_EVAL_EVERY) {
                    me.evaluate_alerts(now);
                }
                if n.is_multiple_of(PRUNE_EVERY) {
                    let p = me.clone();
                    if let Err(e) = tokio::task::spawn_blocking(move || p.prune_history(now)).await
                    {
                        tracing::warn!(error = %e, "Pruning check history failed.");
                    }
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
        if series.is_empty() && lock(&self.shared.pending).is_empty() {
            return;
        }
        let me = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || me.append(&series)).await {
            tracing::warn!(error = %e, "Storing check series failed.");
        }
    }

    /// Writes queued history, then appends `series` (blocking).
    fn append(&self, series: &[TimeSeries]) {
        self.flush_history();
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
        let Some(m) = self.registry().entries.get(&index).cloned() else {
            return Vec::new();
        };
        let mut fx = Effects::default();
        let mut e = lock(&m);
        let name = e.check.name.clone();
        e.last_result = Some(result.clone());
        if let Some(c) = e.state.observe(&name, result, at) {
            tracing::info!(check = %name, from = c.from.as_str(), to = c.to.as_str(), "Check status changed.");
            self.changed(&mut e, c, at, &mut fx);
        }
        e.breaker.record(result.ok, at);
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
        drop(e);
        self.dispatch(fx);
        out
    }

    /// Evaluates every heartbeat at `now`; returns the series to store.
    pub fn evaluate_heartbeats(&self, now: Timestamp) -> Vec<TimeSeries> {
        let mut out = Vec::new();
        let mut fx = Effects::default();
        for m in &self.entries() {
            let mut e = lock(m);
            let Some(hb) = &e.heartbeat else { continue };
            let r = hb.to_result(now);
            let name = e.check.name.clone();
            // A heartbeat without a ping since start says "no verdict yet"; a status
            // restored from the history stands until the heartbeat has one.
            let change = if r.status.status == CheckStatus::Unknown {
                None
            } else {
                e.state
                    .set(&name, r.status.status, now, r.status.reason.clone())
            };
            if let Some(c) = change {
                tracing::info!(check = %name, from = c.from.as_str(), to = c.to.as_str(), "Heartbeat status changed.");
                self.changed(&mut e, c, now, &mut fx);
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
        self.dispatch(fx);
        out
    }

    /// Records a heartbeat ping for `token`; returns the check's name.
    pub fn ping_heartbeat(
        &self,
        token: &str,
        kind: PingKind,
        at: Timestamp,
    ) -> Result<String, PingError> {
        let m = {
            let reg = self.registry();
            let i = *reg.by_token.get(token).ok_or(PingError::UnknownToken)?;
            reg.entries
                .get(&i)
                .cloned()
                .ok_or(PingError::UnknownToken)?
        };
        let name = {
            let mut e = lock(&m);
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

    fn entry(&self, name: &str) -> Option<Arc<Mutex<Entry>>> {
        let reg = self.registry();
        reg.by_name
            .get(name)
            .and_then(|i| reg.entries.get(i))
            .cloned()
    }

    /// One check's state, or `None` for an unknown name.
    pub fn status(&self, name: &str) -> Option<CheckSnapshot> {
        let now = strix_core::now_millis();
        self.entry(name).map(|m| lock(&m).snapshot(now))
    }

    /// Every check: configured ones in configuration order, then API ones in the order they
    /// were created or last replaced.
    pub fn list(&self) -> Vec<CheckSnapshot> {
        let now = strix_core::now_millis();
        self.entries()
            .iter()
            .map(|m| lock(m).snapshot(now))
            .collect()
    }

    /// The worst status of all checks (`unknown` without checks).
    pub fn overall(&self) -> CheckStatus {
        overall(self.entries().iter().map(|m| lock(m).state.status()))
    }

    /// Closes the breaker of `name`, or of every check; returns the names reset, or `None`
    /// for an unknown name.
    pub fn reset_breakers(&self, name: Option<&str>) -> Option<Vec<String>> {
        let now = strix_core::now_millis();
        let targets: Vec<Arc<Mutex<Entry>>> = match name {
            Some(n) => vec![self.entry(n)?],
            None => self.entries(),
        };
        let mut names = Vec::with_capacity(targets.len());
        let mut series = Vec::with_capacity(targets.len());
        for m in targets {
            let mut e = lock(&m);
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
        let e = lock(&m);
        let changes: Vec<StateChange> = e.changes.iter().cloned().collect();
        Some(incidents(&changes))
    }

    /// Uptime of `name` per UTC day for the last `days` days (today last, up to `now`):
    /// the status page's bars.
    pub fn daily_uptime(&self, name: &str, days: usize, now: Timestamp) -> Option<Vec<Uptime>> {
        const DAY: i64 = 86_400_000;
        let m = self.entry(name)?;
        let e = lock(&m);
        let changes: Vec<StateChange> = e.changes.iter().cloned().collect();
        let history = history_from_changes(&changes);
        let today = now - now.rem_euclid(DAY);
        let first = today - DAY * (days as i64).saturating_sub(1);
        let mut out =
            crate::state::uptime_buckets(&history, first, Duration::from_millis(DAY as u64), days);
        // Today ends now: the rest of it is not known yet.
        if let Some(last) = out.last_mut() {
            *last = crate::state::uptime(&history, today, now.max(today));
        }
        Some(out)
    }

    /// Uptime of `name` over `window` ending now, with the error budget against its SLA
    /// target. Time before the check existed counts as unknown.
    pub fn uptime(&self, name: &str, window: UptimeWindow) -> Option<WindowUptime> {
        let now = strix_core::now_millis();
        let m = self.entry(name)?;
        let e = lock(&m);
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

/// Puts stored changes (sorted by check and time) into the entries of configured checks
/// and sets each check's status to its last stored one.
fn restore(
    entries: &[Arc<Mutex<Entry>>],
    by_name: &HashMap<String, Arc<Mutex<Entry>>>,
    rows: Vec<strix_state::CheckChangeRecord>,
) {
    let mut loaded = 0usize;
    for r in rows {
        let Some(m) = by_name.get(&r.check) else {
            continue;
        };
        let (Some(from), Some(to)) = (parse_status(&r.from), parse_status(&r.to)) else {
            continue;
        };
        let mut e = lock(m);
        e.push_change(StateChange {
            check: r.check,
            from,
            to,
            at: r.at,
            cause: r.cause,
        });
        loaded += 1;
    }
    for m in entries {
        let mut e = lock(m);
        if let Some(last) = e.changes.back() {
            let (to, at) = (last.to, last.at);
            e.state = CheckState::restore(e.check.retries, to, Some(at));
            e.created_at = e
                .changes
                .front()
                .map_or(e.created_at, |c| c.at.min(e.created_at));
        }
    }
    if loaded > 0 {
        tracing::info!(changes = loaded, "Loaded check history.");
    }
}

fn parse_status(s: &str) -> Option<CheckStatus> {
    Some(match s {
        "healthy" => CheckStatus::Healthy,
        "degraded" => CheckStatus::Degraded,
        "unhealthy" => CheckStatus::Unhealthy,
        "unknown" => CheckStatus::Unknown,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate_checks, CheckConfig};
    use crate::probe::ProbeDetail;
    use crate::settings::CheckSettings;
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

    struct Alerts(Mutex<Vec<CheckAlert>>);
    impl CheckAlertSink for Alerts {
        fn send(&self, alerts: Vec<CheckAlert>) {
            lock(&self.0).extend(alerts);
        }
    }

    fn hooked(
        store: Arc<dyn strix_state::StateStore>,
        now: Timestamp,
    ) -> (CheckService, Arc<Alerts>, Arc<strix_core::events::EventBus>) {
        hooked_with(store, now, "")
    }

    fn hooked_with(
        store: Arc<dyn strix_state::StateStore>,
        now: Timestamp,
        extra: &str,
    ) -> (CheckService, Arc<Alerts>, Arc<strix_core::events::EventBus>) {
        let list: Vec<CheckConfig> = serde_yaml::from_str(&format!(
            "- {{name: web, type: http, url: 'http://127.0.0.1:1/', retries: 2, labels: {{team: ops}}{extra}}}\n",
        ))
        .unwrap();
        let checks = validate_checks(&list).unwrap();
        let alerts = Arc::new(Alerts(Mutex::new(Vec::new())));
        let events = Arc::new(strix_core::events::EventBus::default());
        let hooks = ServiceHooks {
            store: Some(store),
            events: Some(events.clone()),
            alerts: Some(alerts.clone()),
            settings: CheckSettings::default(),
        };
        (
            CheckService::with_hooks(checks, Arc::new(NullSink), hooks, now),
            alerts,
            events,
        )
    }

    #[test]
    fn history_survives_restart_and_alerts_fire_and_resolve() {
        const S: i64 = 1000;
        let t0 = strix_core::now_millis() - 3600 * S;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let ok = ProbeResult::success(Duration::from_millis(7), ProbeDetail::default());
        {
            let store: Arc<dyn strix_state::StateStore> =
                Arc::new(strix_state::SqliteStore::open(&path).unwrap());
            let (s, alerts, events) = hooked(store, t0);
            s.observe(0, &ok, t0);
            s.observe(0, &fail(), t0 + 10 * S);
            assert!(lock(&alerts.0).is_empty(), "one failure of two is no alert");
            s.observe(0, &fail(), t0 + 20 * S);
            {
                let a = lock(&alerts.0);
                assert_eq!(a.len(), 1);
                assert_eq!(a[0].name(), "CheckDown");
                assert!(!a[0].resolved);
                assert_eq!(a[0].starts_at, t0 + 20 * S);
                let l = &a[0].labels;
                assert_eq!(
                    (
                        l["check"].as_str(),
                        l["type"].as_str(),
                        l["severity"].as_str(),
                        l["team"].as_str()
                    ),
                    ("web", "http", "critical", "ops")
                );
            }
            s.observe(0, &ok, t0 + 95 * S);
            {
                let a = lock(&alerts.0);
                assert_eq!(a.len(), 2);
                assert!(a[1].resolved);
                assert_eq!(a[1].ends_at, Some(t0 + 95 * S));
            }
            // Live events: unknown→healthy, healthy→unhealthy, unhealthy→healthy.
            let ev = events.since(0, 10).events;
            assert_eq!(ev.len(), 3);
            let v: serde_json::Value = serde_json::from_str(&ev[1].data).unwrap();
            assert_eq!(v["name"], "web");
            assert_eq!(v["status"], "unhealthy");
            assert_eq!(v["previous"], "healthy");
            assert_eq!(v["at"], t0 + 20 * S);
            assert_eq!(v["message"], "boom");
            assert!(v["latencyMs"].as_f64().is_some());
            s.flush_history();
            // Down again, then "restart".
            s.observe(0, &fail(), t0 + 100 * S);
            s.observe(0, &fail(), t0 + 110 * S);
            s.flush_history();
        }
        let store: Arc<dyn strix_state::StateStore> =
            Arc::new(strix_state::SqliteStore::open(&path).unwrap());
        let (s, alerts, _) = hooked(store, t0 + 200 * S);
        assert_eq!(
            s.status("web").map(|c| c.status),
            Some(CheckStatus::Unhealthy)
        );
        assert_eq!(s.status("web").and_then(|c| c.since), Some(t0 + 110 * S));
        let inc = s.incidents("web").unwrap();
        assert_eq!(inc.len(), 2);
        assert_eq!((inc[0].start, inc[0].end), (t0 + 20 * S, Some(t0 + 95 * S)));
        assert_eq!(inc[0].cause.as_deref(), Some("boom"));
        assert!(inc[1].is_open());
        // The first evaluation after start fires the open incident's alert again.
        s.evaluate_alerts(t0 + 200 * S);
        s.observe(0, &ok, t0 + 300 * S);
        // Reloaded: CheckDown fired again for the open incident (same start), then resolved.
        let a = lock(&alerts.0).clone();
        assert_eq!(a.len(), 2, "{a:?}");
        assert_eq!((a[0].starts_at, a[0].resolved), (t0 + 110 * S, false));
        assert!(a[1].resolved);
        // Up 0–20 s, down 20–95 s, up 95–110 s, down 110–300 s, up since: exact to the ms.
        let u = s.uptime("web", UptimeWindow::Day).unwrap();
        assert_eq!(u.uptime.down_ms, (75 + 190) * S);
        assert_eq!(
            u.uptime.up_ms + u.uptime.down_ms,
            u.uptime.to - t0,
            "known time ends at the query"
        );
        let now = strix_core::now_millis();
        let days = s.daily_uptime("web", 90, now).unwrap();
        assert_eq!(days.len(), 90);
        let down: i64 = days.iter().map(|d| d.down_ms).sum();
        assert_eq!(down, (75 + 190) * S);
    }

    #[test]
    fn sla_budget_alert_fires_on_full_evaluation() {
        const S: i64 = 1000;
        let now = strix_core::now_millis();
        let t0 = now - 1000 * S;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn strix_state::StateStore> =
            Arc::new(strix_state::SqliteStore::open(dir.path().join("s.db")).unwrap());
        // 99.9999 % of 30 days allows 2.6 s down.
        let (s, alerts, _) = hooked_with(store, t0, ", sla_target: 99.9999");
        let ok = ProbeResult::success(Duration::from_millis(7), ProbeDetail::default());
        s.observe(0, &ok, t0);
        s.observe(0, &fail(), t0 + 100 * S);
        s.observe(0, &fail(), t0 + 101 * S);
        s.observe(0, &ok, t0 + 200 * S);
        // 99 s down: far beyond the budget.
        lock(&alerts.0).clear();
        s.evaluate_alerts(now);
        let a = lock(&alerts.0).clone();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].name(), "CheckSlaBudgetBurn");
        assert_eq!(a[0].labels["severity"], "warning");
        // Not re-sent before alert_resend has passed.
        s.evaluate_alerts(now + 1);
        assert_eq!(lock(&alerts.0).len(), 1);
    }

    #[test]
    fn certificate_expiry_alert_follows_days_left() {
        let list: Vec<CheckConfig> = serde_yaml::from_str(
            "- {name: cert, type: tls, host: 127.0.0.1, port: 1, warn_days: 30, critical_days: 7}\n",
        )
        .unwrap();
        let alerts = Arc::new(Alerts(Mutex::new(Vec::new())));
        let hooks = ServiceHooks {
            alerts: Some(alerts.clone()),
            ..ServiceHooks::default()
        };
        let now = strix_core::now_millis();
        let s = CheckService::with_hooks(
            validate_checks(&list).unwrap(),
            Arc::new(NullSink),
            hooks,
            now,
        );
        let with_days = |d: f64| {
            ProbeResult::success(
                Duration::from_millis(2),
                ProbeDetail {
                    days_left: Some(d),
                    ..ProbeDetail::default()
                },
            )
        };
        s.observe(0, &with_days(60.0), now);
        s.evaluate_alerts(now);
        assert!(lock(&alerts.0).is_empty());
        s.observe(0, &with_days(20.0), now + 1);
        s.evaluate_alerts(now + 1);
        s.observe(0, &with_days(3.0), now + 2);
        s.evaluate_alerts(now + 2);
        s.observe(0, &with_days(90.0), now + 3);
        s.evaluate_alerts(now + 3);
        let got: Vec<(String, String, bool)> = lock(&alerts.0)
            .iter()
            .map(|a| {
                (
                    a.name().to_string(),
                    a.labels["severity"].clone(),
                    a.resolved,
                )
            })
            .collect();
        let exp = |sev: &str, resolved| {
            (
                "CheckCertificateExpiry".to_string(),
                sev.to_string(),
                resolved,
            )
        };
        // warning fires; at 3 days it resolves and critical fires; renewed: critical resolves.
        assert_eq!(
            got,
            vec![
                exp("warning", false),
                exp("warning", true),
                exp("critical", false),
                exp("critical", true)
            ]
        );
    }
}
