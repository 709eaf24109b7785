//! Evaluates rule groups on their intervals on one background thread.
//!
//! Each group runs at `k * interval + offset`, where the offset is a stable hash of the
//! group's file and name, so groups spread over the interval and keep their phase across
//! restarts (as Prometheus does). Rules of a group run in order, so a rule may use the
//! output of an earlier one in the same evaluation.

use crate::alerting::{self, AlertNotifier, AlertRuleDef, AlertRuleState, OUTAGE_TOLERANCE_MS};
use crate::file::{Rule, RuleFile, RuleGroup};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strix_core::storage::{AppendMode, Appendable, Queryable, TimeSeries};
use strix_core::{now_millis, Labels, LabelsBuilder, Sample, Timestamp, METRIC_NAME, STALE_NAN};
use strix_query::{Engine, QueryValue};

/// Evaluation state of one rule, for `/api/v1/rules`.
#[derive(Debug, Clone, Default)]
pub struct RuleStatus {
    /// Shared with the evaluator: cloning a status for an evaluation copies no rule text.
    pub rule: Option<Arc<Rule>>,
    /// "ok", "err" or "unknown" (not evaluated yet, or evaluated by another layer).
    pub health: &'static str,
    pub last_error: Option<String>,
    pub last_evaluation: Option<Timestamp>,
    pub evaluation_seconds: f64,
    /// Alert instances of an alerting rule.
    pub alerts: AlertRuleState,
    last_series: HashSet<Labels>,
    restore_done: bool,
}

#[derive(Debug, Clone)]
pub struct GroupStatus {
    pub group: RuleGroup,
    pub interval: Duration,
    pub last_evaluation: Option<Timestamp>,
    pub evaluation_seconds: f64,
    pub rules: Vec<RuleStatus>,
}

/// Settings of a [`RuleManager`].
pub struct RuleManagerOptions {
    /// Interval of groups that set none.
    pub default_interval: Duration,
    /// `global.external_labels`, visible to templates as `$externalLabels`.
    pub external_labels: BTreeMap<String, String>,
    /// Base URL of this server, for templates and generator URLs.
    pub external_url: String,
    /// Minimum time between re-sending an unchanged firing alert (Prometheus: 1m).
    pub resend_delay: Duration,
    /// A group whose inputs receive samples is re-evaluated at once, but at most this
    /// often; its interval stays the upper bound.
    pub min_reevaluation: Duration,
    /// Where firing and resolved alerts go.
    pub notifier: Option<Arc<dyn AlertNotifier>>,
    /// Where alerts entering `pending` (`kind::ALERT`) and KPI status changes
    /// (`kind::KPI`) are published for live dashboards.
    pub events: Option<Arc<strix_core::events::EventBus>>,
    /// The KPIs whose status changes are published (evaluated after each evaluation of
    /// the KPI rule group, [`crate::kpi::GROUP_FILE`]).
    pub kpis: Vec<crate::kpi::Kpi>,
}

impl Default for RuleManagerOptions {
    fn default() -> Self {
        RuleManagerOptions {
            default_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            min_reevaluation: Duration::from_millis(50),
            notifier: None,
            events: None,
            kpis: Vec::new(),
        }
    }
}

/// A group as the evaluator uses it: parsed once at load, shared (not copied) by every
/// evaluation.
struct Compiled {
    group: RuleGroup,
    /// Each rule's expression, parsed; the parse error as text for a rule that does not
    /// parse (it then fails at every evaluation, as before).
    exprs: Vec<Result<promql_parser::parser::Expr, String>>,
    /// Metric names each rule reads (`None`: any name). Results are appended once per
    /// group, except that a rule reading what an earlier rule of the evaluation wrote
    /// gets those results written first (rules of a group see their predecessors).
    reads: Vec<Option<HashSet<String>>>,
}

struct GroupState {
    status: GroupStatus,
    compiled: Arc<Compiled>,
    next_eval: Timestamp,
    /// Metric names the group's expressions select; `None` when a selector has no
    /// fixed name (then any append triggers it).
    inputs: Option<HashSet<String>>,
    last_eval_started: Timestamp,
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
    opts: RuleManagerOptions,
    default_interval: Duration,
    /// Names any group listens to (fast pre-check for `on_append`); `None` = any name.
    watched: std::sync::RwLock<Option<HashSet<String>>>,
    groups: Mutex<Vec<GroupState>>,
    kpi_status: Mutex<crate::kpi::KpiStatusTracker>,
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

/// Metric names `e` selects, added to `out`; `out` becomes `None` if some selector has
/// no fixed metric name (e.g. `{job="x"}` or a regex on `__name__`).
fn expr_names(e: &promql_parser::parser::Expr, out: &mut Option<HashSet<String>>) {
    use promql_parser::parser::{self, Expr};
    fn walk(e: &Expr, out: &mut Option<HashSet<String>>) {
        let mut vs_name = |vs: &parser::VectorSelector| {
            let name = vs.name.clone().or_else(|| {
                vs.matchers
                    .matchers
                    .iter()
                    .find(|m| {
                        m.name == METRIC_NAME
                            && matches!(m.op, promql_parser::label::MatchOp::Equal)
                    })
                    .map(|m| m.value.clone())
            });
            match (out.as_mut(), name) {
                (Some(set), Some(n)) => {
                    set.insert(n);
                }
                _ => *out = None,
            }
        };
        match e {
            Expr::VectorSelector(vs) => vs_name(vs),
            Expr::MatrixSelector(ms) => vs_name(&ms.vs),
            Expr::Aggregate(a) => {
                walk(&a.expr, out);
                if let Some(p) = &a.param {
                    walk(p, out);
                }
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    walk(e, out)
}

/// Metric names selected by the group's expressions; `None` if some selector has no
/// fixed metric name or an expression does not parse.
fn input_names(compiled: &Compiled) -> Option<HashSet<String>> {
    let mut out = Some(HashSet::new());
    for e in &compiled.exprs {
        match e {
            Ok(e) => expr_names(e, &mut out),
            Err(_) => return None,
        }
    }
    out
}

/// Publishes the alerts of rule `name` that became pending at `t`, in the shape of
/// `GET /api/monitoring/alerts` items (their id is the one the alert keeps when it fires).
fn publish_new_pending(
    bus: &strix_core::events::EventBus,
    name: &str,
    state: &AlertRuleState,
    t: Timestamp,
) {
    for a in state.active.values() {
        if a.state != crate::alerting::AlertInstanceState::Pending || a.active_at != t {
            continue;
        }
        let fp = format!("{:016x}", strix_state::alert::fingerprint(&a.labels));
        let mut rec =
            strix_state::AlertRecord::new(fp, name, strix_state::AlertState::Pending, a.active_at);
        rec.labels = a
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        rec.annotations = a.annotations.clone();
        rec.severity = a.labels.get("severity").unwrap_or("").to_string();
        rec.value = a.value;
        rec.updated_at = t;
        bus.publish(
            strix_core::events::kind::ALERT,
            strix_state::alert::alert_json(&rec).to_string(),
        );
    }
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
    pub fn new(
        engine: Engine,
        store: Arc<dyn Queryable>,
        sink: Arc<dyn Appendable>,
        opts: RuleManagerOptions,
        registry: &mut Registry,
    ) -> Self {
        let default_interval = opts.default_interval;
        let metrics = Metrics {
            evaluations: Counter::default(),
            failures: Counter::default(),
            missed: Counter::default(),
            samples: Counter::default(),
        };
        registry.register(
            "strix_rule_evaluations",
            "Rule evaluations.",
            metrics.evaluations.clone(),
        );
        registry.register(
            "strix_rule_evaluation_failures",
            "Rule evaluations that failed.",
            metrics.failures.clone(),
        );
        registry.register(
            "strix_rule_group_iterations_missed",
            "Group evaluations skipped because the previous one ran late.",
            metrics.missed.clone(),
        );
        registry.register(
            "strix_rule_samples_written",
            "Samples written by recording rules (stale markers included).",
            metrics.samples.clone(),
        );
        RuleManager {
            inner: Arc::new(Inner {
                engine,
                store,
                sink,
                opts,
                watched: std::sync::RwLock::new(Some(HashSet::new())),
                default_interval: default_interval.max(Duration::from_secs(1)),
                groups: Mutex::new(Vec::new()),
                kpi_status: Mutex::new(crate::kpi::KpiStatusTracker::default()),
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
                        rule: Some(Arc::new(r.clone())),
                        health: "unknown",
                        ..RuleStatus::default()
                    })
                    .collect();
                let exprs: Vec<_> = g
                    .rules
                    .iter()
                    .map(|r| self.inner.engine.parse(r.expr()).map_err(|e| e.to_string()))
                    .collect();
                let reads = exprs
                    .iter()
                    .map(|e| match e {
                        Ok(e) => {
                            let mut names = Some(HashSet::new());
                            expr_names(e, &mut names);
                            names
                        }
                        Err(_) => Some(HashSet::new()),
                    })
                    .collect();
                let compiled = Arc::new(Compiled {
                    group: g.clone(),
                    exprs,
                    reads,
                });
                groups.push(GroupState {
                    compiled: compiled.clone(),
                    // Only alerting rules gain from early evaluation (the alert latency).
                    inputs: if g.rules.iter().any(|r| matches!(r, Rule::Alerting { .. })) {
                        input_names(&compiled)
                    } else {
                        Some(HashSet::new())
                    },
                    last_eval_started: i64::MIN,
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
        let mut watched = Some(HashSet::new());
        for g in groups.iter() {
            match (&mut watched, &g.inputs) {
                (Some(w), Some(names)) => w.extend(names.iter().cloned()),
                _ => watched = None,
            }
        }
        *self
            .inner
            .watched
            .write()
            .unwrap_or_else(|p| p.into_inner()) = watched;
        drop(groups);
        // Series of removed groups go stale now, as Prometheus does on reload.
        for g in old {
            let stale: Vec<Labels> = g
                .status
                .rules
                .iter()
                .flat_map(|r| r.last_series.iter().cloned())
                .collect();
            self.inner.write_stale(stale, now);
        }
        self.inner.wake.notify_all();
    }

    /// Starts the evaluation thread.
    pub fn start(&self) -> std::io::Result<()> {
        let inner = self.inner.clone();
        let h = std::thread::Builder::new()
            .name("strix-rules".into())
            .spawn(move || inner.run())?;
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
        let n = self
            .inner
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        for i in 0..n {
            self.inner.eval_group(i, t);
        }
    }

    /// Tells the manager that samples of these metric names were stored: groups reading
    /// them are evaluated now (at most every `min_reevaluation`), so an alert fires
    /// within milliseconds of its input crossing the threshold.
    pub fn on_append<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let names: Vec<&str> = {
            let watched = self.inner.watched.read().unwrap_or_else(|p| p.into_inner());
            match watched.as_ref() {
                Some(w) if w.is_empty() => return,
                Some(w) => names.into_iter().filter(|n| w.contains(*n)).collect(),
                None => names.into_iter().collect(),
            }
        };
        if names.is_empty() {
            return;
        }
        let now = now_millis();
        let min_gap = self.inner.opts.min_reevaluation.as_millis() as i64;
        let mut woke = false;
        {
            let mut groups = self.inner.groups.lock().unwrap_or_else(|p| p.into_inner());
            for g in groups.iter_mut() {
                let hit = match &g.inputs {
                    None => true,
                    Some(set) => names.iter().any(|n| set.contains(*n)),
                };
                if hit {
                    let at = now.max(g.last_eval_started.saturating_add(min_gap));
                    if at < g.next_eval {
                        g.next_eval = at;
                        woke = true;
                    }
                }
            }
        }
        if woke {
            self.inner.wake.notify_all();
        }
    }

    pub fn groups(&self) -> Vec<GroupStatus> {
        self.inner
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|g| g.status.clone())
            .collect()
    }
}

/// An [`Appendable`] that stores through `inner` and then wakes the rule groups reading
/// the metrics just stored. Ingest paths write through it; the rule manager itself writes
/// to the store directly, so rule outputs never re-trigger their own group.
pub struct TriggeringAppender {
    inner: Arc<dyn Appendable>,
    rules: Arc<RuleManager>,
}

impl TriggeringAppender {
    pub fn new(inner: Arc<dyn Appendable>, rules: Arc<RuleManager>) -> Self {
        TriggeringAppender { inner, rules }
    }
}

impl Appendable for TriggeringAppender {
    fn append(
        &self,
        series: &[TimeSeries],
        mode: AppendMode,
    ) -> Result<strix_core::storage::AppendOutcome, strix_core::storage::StorageError> {
        let out = self.inner.append(series, mode)?;
        if out.samples_appended > 0 {
            let mut names: Vec<&str> = series
                .iter()
                .filter_map(|s| s.labels.metric_name())
                .collect();
            names.sort_unstable();
            names.dedup();
            self.rules.on_append(names);
        }
        Ok(out)
    }

    fn append_borrowed(
        &self,
        batch: &strix_core::storage::BorrowedBatch<'_>,
        mode: AppendMode,
    ) -> Result<strix_core::storage::AppendOutcome, strix_core::storage::StorageError> {
        let out = self.inner.append_borrowed(batch, mode)?;
        if out.samples_appended > 0 {
            let mut names: Vec<&str> = batch
                .iter()
                .filter_map(|(l, _)| l.iter().find(|(n, _)| *n == METRIC_NAME).map(|(_, v)| *v))
                .collect();
            names.sort_unstable();
            names.dedup();
            self.rules.on_append(names);
        }
        Ok(out)
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
                        let offset = offset_for(&g.status.group, ims);
                        let t = g.next_eval;
                        let aligned = (t - offset).rem_euclid(ims) == 0;
                        let eval_at = if aligned {
                            // A scheduled slot: evaluate at the latest slot not in the future.
                            let missed = (now - t) / ims;
                            if missed > 0 {
                                self.metrics.missed.inc_by(missed as u64);
                            }
                            t + missed * ims
                        } else {
                            // Woken by new samples: evaluate now.
                            now
                        };
                        d.push((i, eval_at));
                        g.last_eval_started = now;
                        g.next_eval = next_after(eval_at, ims, offset);
                    }
                }
                due = d;
                wait_ms = groups
                    .iter()
                    .map(|g| g.next_eval - now)
                    .min()
                    .unwrap_or(60_000)
                    .clamp(1, 60_000);
            }
            for (i, t) in due {
                self.eval_group(i, t);
            }
            let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            let (stop, _) = self
                .wake
                .wait_timeout(stop, Duration::from_millis(wait_ms as u64))
                .unwrap_or_else(|p| p.into_inner());
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
        // Share the parsed group and copy the per-rule state (cheap: rules are shared);
        // put the state back at the end.
        let (compiled, mut prior): (Arc<Compiled>, Vec<RuleStatus>) = {
            let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
            let Some(g) = groups.get(idx) else { return };
            (g.compiled.clone(), g.status.rules.clone())
        };
        let group = &compiled.group;
        let interval = group.interval.unwrap_or(self.default_interval);
        let started = Instant::now();
        let mut notify = Vec::new();
        // Results of every rule, appended in one write; `owners[i]` is the rule whose
        // series start at `batch[starts[i]]`.
        let mut batch: Vec<TimeSeries> = Vec::new();
        let mut owners: Vec<(usize, usize)> = Vec::new();
        let mut errors: Vec<Option<String>> = Vec::with_capacity(prior.len());
        let mut pending_names: HashSet<String> = HashSet::new();
        for (i, ((rule, expr), st)) in group
            .rules
            .iter()
            .zip(compiled.exprs.iter())
            .zip(prior.iter_mut())
            .enumerate()
        {
            if !batch.is_empty() {
                let reads_pending = match compiled.reads.get(i) {
                    Some(Some(names)) => names.iter().any(|n| pending_names.contains(n)),
                    _ => true,
                };
                if reads_pending {
                    self.append_results(&mut batch, &mut owners, &mut errors);
                    pending_names.clear();
                }
            }
            let rs = Instant::now();
            self.metrics.evaluations.inc();
            let outcome = match (rule, expr) {
                (_, Err(e)) => Err(e.clone()),
                (Rule::Recording { record, labels, .. }, Ok(expr)) => {
                    self.eval_recording(group, record, expr, labels, t)
                }
                (
                    Rule::Alerting {
                        alert,
                        for_,
                        keep_firing_for,
                        labels,
                        annotations,
                        ..
                    },
                    Ok(expr),
                ) => {
                    if !st.restore_done {
                        st.alerts.restored = Some(self.restore_for_state(alert, t));
                        st.restore_done = true;
                    }
                    let def = AlertRuleDef {
                        name: alert,
                        for_: *for_,
                        keep_firing_for: *keep_firing_for,
                        labels,
                        annotations,
                        group_labels: &group.labels,
                        external_labels: &self.opts.external_labels,
                        external_url: &self.opts.external_url,
                        resend_delay: self.opts.resend_delay,
                        interval,
                    };
                    self.query_vector(group, expr, t).and_then(|results| {
                        let out = alerting::evaluate(&def, &mut st.alerts, results, t)?;
                        if let Some(bus) = &self.opts.events {
                            publish_new_pending(bus, alert, &st.alerts, t);
                        }
                        for w in &out.warnings {
                            tracing::warn!(group = %group.name, rule = %alert, warning = %w, "Alert template failed; raw text kept.");
                        }
                        notify.extend(out.notify);
                        Ok(out.series)
                    })
                }
            };
            let (series, err) = match outcome {
                Ok(series) => (series, None),
                Err(e) => {
                    self.metrics.failures.inc();
                    tracing::warn!(group = %group.name, rule = %rule.name(), error = %e, "Rule evaluation failed.");
                    (Vec::new(), Some(e))
                }
            };
            let from = batch.len();
            if series.is_empty() && st.last_series.is_empty() {
                // Nothing produced now or before: no label sets to compare.
            } else {
                let current: HashSet<Labels> = series.iter().map(|s| s.labels.clone()).collect();
                batch.extend(series);
                batch.extend(st.last_series.difference(&current).map(|l| TimeSeries {
                    labels: l.clone(),
                    samples: vec![Sample::new(t, STALE_NAN)],
                }));
                st.last_series = current;
            }
            if batch.len() > from {
                owners.push((from, i));
                for ts in &batch[from..] {
                    if let Some(n) = ts.labels.get(METRIC_NAME) {
                        if !pending_names.contains(n) {
                            pending_names.insert(n.to_string());
                        }
                    }
                }
            }
            errors.push(err);
            st.last_evaluation = Some(t);
            st.evaluation_seconds = rs.elapsed().as_secs_f64();
        }
        self.append_results(&mut batch, &mut owners, &mut errors);
        for (st, err) in prior.iter_mut().zip(errors) {
            st.health = if err.is_some() { "err" } else { "ok" };
            st.last_error = err;
        }
        if !notify.is_empty() {
            if let Some(n) = &self.opts.notifier {
                n.send(notify);
            }
        }
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let Some(g) = groups.get_mut(idx) else { return };
        if !Arc::ptr_eq(&g.compiled, &compiled) {
            return; // reloaded meanwhile
        }
        g.status.last_evaluation = Some(t);
        g.status.evaluation_seconds = started.elapsed().as_secs_f64();
        g.status.rules = prior;
        drop(groups);
        if group.file == crate::kpi::GROUP_FILE {
            self.publish_kpi_changes(t);
        }
    }

    /// Evaluates the KPIs and publishes those whose status changed.
    fn publish_kpi_changes(&self, t: Timestamp) {
        let Some(bus) = &self.opts.events else { return };
        if self.opts.kpis.is_empty() {
            return;
        }
        let mut tracker = self.kpi_status.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.opts.kpis {
            let reading = k.reading(&self.engine, self.store.as_ref(), t);
            if let Some(doc) = tracker.observe(k, &reading) {
                bus.publish(strix_core::events::kind::KPI, doc);
            }
        }
    }

    /// Writes the collected results of a group's rules in one append; a failure is the
    /// error of every rule that contributed.
    fn append_results(
        &self,
        batch: &mut Vec<TimeSeries>,
        owners: &mut Vec<(usize, usize)>,
        errors: &mut [Option<String>],
    ) {
        if batch.is_empty() {
            return;
        }
        self.metrics.samples.inc_by(batch.len() as u64);
        let failed = match self.sink.append(batch, AppendMode::Live) {
            Ok(out) => out.first_error.map(|e| format!("writing results: {e}")),
            Err(e) => Some(format!("writing results: {e}")),
        };
        if let Some(msg) = failed {
            for (_, i) in owners.iter() {
                if let Some(slot) = errors.get_mut(*i) {
                    slot.get_or_insert_with(|| msg.clone());
                }
            }
        }
        batch.clear();
        owners.clear();
    }

    /// `activeAt` of this rule's alerts from `ALERTS_FOR_STATE` within the outage
    /// tolerance, keyed by alert labels.
    fn restore_for_state(&self, alert: &str, t: Timestamp) -> HashMap<Labels, Timestamp> {
        let m = vec![
            strix_core::Matcher::equal(METRIC_NAME, "ALERTS_FOR_STATE"),
            strix_core::Matcher::equal("alertname", alert),
        ];
        let mut out = HashMap::new();
        match self.store.select(&m, t - OUTAGE_TOLERANCE_MS, t) {
            Ok(series) => {
                for s in series {
                    let Some(last) = s
                        .samples
                        .iter()
                        .rev()
                        .find(|x| !strix_core::is_stale_nan(x.v))
                    else {
                        continue;
                    };
                    // A stale marker after the last value means the alert had ended.
                    if s.samples
                        .last()
                        .is_some_and(|x| strix_core::is_stale_nan(x.v))
                    {
                        continue;
                    }
                    let labels = Labels::from_sorted(
                        s.labels
                            .iter()
                            .filter(|l| l.name != METRIC_NAME)
                            .cloned()
                            .collect(),
                    );
                    out.insert(labels, (last.v * 1000.0) as i64);
                }
            }
            Err(e) => {
                tracing::warn!(alert, error = %e, "Restoring alert state failed; `for` restarts.")
            }
        }
        out
    }

    fn query_vector(
        &self,
        group: &RuleGroup,
        expr: &promql_parser::parser::Expr,
        t: Timestamp,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let qt = t - group.query_offset.as_millis() as i64;
        match self
            .engine
            .instant_query_expr(self.store.as_ref(), expr, qt)
            .map_err(|e| e.to_string())?
        {
            QueryValue::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
            QueryValue::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
            QueryValue::String { .. } | QueryValue::Matrix(_) => {
                Err("rule result is not a vector or scalar".into())
            }
        }
    }

    fn eval_recording(
        &self,
        group: &RuleGroup,
        record: &str,
        expr: &promql_parser::parser::Expr,
        labels: &BTreeMap<String, String>,
        t: Timestamp,
    ) -> Result<Vec<TimeSeries>, String> {
        let points = self.query_vector(group, expr, t)?;
        if group.limit > 0 && points.len() > group.limit {
            return Err(format!(
                "exceeded limit of {} with {} series",
                group.limit,
                points.len()
            ));
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
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
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
