//! The error-tracking service behind the Sentry and `/api/monitoring/errors` handlers:
//! per-project rate limits, the group-commit writer, spike detection feeding the alerting
//! pipeline, live events and retention.
//!
//! **Writes.** Handlers process events (scrub, normalise, group, categorise) on blocking
//! threads, then hand them to one writer thread through a bounded queue and await its
//! acknowledgement. The writer drains whatever has queued up (up to
//! `errors.limits.max_batch_events`) and commits it in one SQLite transaction — one
//! fsync for many requests. Invalid requests are refused in their slot before anything is
//! written; if the transaction fails as a whole, the requests are written one by one, so
//! one bad request never fails the others. A request is answered only after its
//! transaction committed. A full queue answers 503 with `Retry-After` (overload), never a
//! silent drop.
//!
//! **After the commit.** Live issue events, spike detection, the `strix_errors_*` counters
//! and the `strix_error_events_total` series are updated by the writer thread for the
//! whole batch (one detection lock, one metric-store append with the summed increments)
//! before it answers the requests: a client that disconnects, or a request timeout, while
//! the writer works never leaves stored events uncounted or unseen by detection, and the
//! request itself only queues its job and awaits the answer.
//!
//! **Cardinality.** The `component` label of `strix_error_events_total` comes from the
//! event (a tag any holder of the public DSN key can set): each project counts at most
//! `errors.limits.max_components_per_project` distinct values, later ones as `other`
//! (counted in `strix_errors_component_overflow_events_total`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::json;
use strix_core::events::{kind, EventBus};
use strix_core::storage::{AppendMode, Appendable, TimeSeries};
use strix_core::{Labels, Sample};
use strix_errors::{
    Categorizer, Detection, Detector, NormalizeOptions, PayloadLimits, Processed, RateLimits,
    RawEvent, Retention, Scrubber, Severity, Spike, SpikeInfo,
};
use strix_state::{
    BatchOutcome, ErrorEventBatch, EventRetention, NewErrorEvent, PayloadEncoder, RecordedEvent,
    StateError, StateStore,
};

use super::compression::Compression;

pub use super::projects::{Project, ProjectSource};
use super::projects::{ProjectTable, Projects};

/// Limits, retention, detection and writer tuning.
#[derive(Debug, Clone, Default)]
pub struct TrackingOptions {
    pub rate: RateLimits,
    pub retention: Retention,
    pub detection: Detection,
    /// Per-project dictionaries for stored payloads.
    pub compression: strix_errors::Compression,
    /// Base URL for links in alerts.
    pub external_url: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectOutcome {
    project: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitName {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabel {
    project: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessedOn {
    thread: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertState {
    state: &'static str,
}

/// Self-metrics, all `strix_errors_*`.
struct Metrics {
    events: Family<ProjectOutcome, Counter>,
    rejected: Family<Reason, Counter>,
    batches: Counter,
    batch_events: Histogram,
    pruned_events: Counter,
    pruned_issues: Counter,
    alerts: Family<AlertState, Counter>,
    firing: Gauge,
    queue: Gauge,
    evicted: Counter,
    component_overflow: Family<ProjectLabel, Counter>,
    processed: Family<ProcessedOn, Counter>,
}

impl Metrics {
    fn new(registry: &mut Registry, o: &TrackingOptions) -> Metrics {
        let m = Metrics {
            events: Family::default(),
            rejected: Family::default(),
            batches: Counter::default(),
            batch_events: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            pruned_events: Counter::default(),
            pruned_issues: Counter::default(),
            alerts: Family::default(),
            firing: Gauge::default(),
            queue: Gauge::default(),
            evicted: Counter::default(),
            component_overflow: Family::default(),
            processed: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("strix_errors");
        r.register(
            "events",
            "Error events by project and outcome (stored, duplicate, rate_limited, failed)",
            m.events.clone(),
        );
        r.register(
            "rejected_requests",
            "Sentry ingest requests refused, by reason",
            m.rejected.clone(),
        );
        r.register(
            "write_batches",
            "Transactions committed by the error-event writer",
            m.batches.clone(),
        );
        r.register(
            "write_batch_events",
            "Events per writer transaction",
            m.batch_events.clone(),
        );
        r.register(
            "pruned_events",
            "Events deleted by retention",
            m.pruned_events.clone(),
        );
        r.register(
            "pruned_issues",
            "Issues deleted by retention",
            m.pruned_issues.clone(),
        );
        r.register(
            "alerts",
            "Spike alerts sent to the alerting pipeline, by state",
            m.alerts.clone(),
        );
        r.register(
            "detection_firing",
            "Issues over their detection threshold",
            m.firing.clone(),
        );
        r.register(
            "write_queue_requests",
            "Requests waiting for the error-event writer",
            m.queue.clone(),
        );
        r.register(
            "detection_evicted_issues",
            "Quiet issues forgotten by spike detection to stay within max_tracked_issues",
            m.evicted.clone(),
        );
        r.register(
            "component_overflow_events",
            "Events counted under component=\"other\" because their project reached \
             max_components_per_project",
            m.component_overflow.clone(),
        );
        r.register(
            "processed_events",
            "Events scrubbed and normalised, by where (inline on the request task for small \
             single events, else on the blocking pool)",
            m.processed.clone(),
        );
        let limits: Family<LimitName, Gauge> = Family::default();
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (name, v) in [
            ("events_per_second", i64::from(o.rate.events_per_second)),
            ("burst", i64::from(o.rate.burst)),
            ("max_event_bytes", n(o.rate.payload.max_event_bytes as u64)),
            (
                "dictionary_samples",
                n(o.compression.dictionary_samples as u64),
            ),
            ("dictionary_bytes", n(o.compression.dictionary_bytes as u64)),
            ("max_envelope_bytes", n(o.rate.max_envelope_bytes as u64)),
            ("max_item_bytes", n(o.rate.payload.max_item_bytes as u64)),
            ("max_items", n(o.rate.payload.max_items as u64)),
            ("max_depth", n(o.rate.payload.max_depth as u64)),
            ("retention_seconds", secs(o.retention.events)),
            ("keep_first_events", n(o.retention.keep_first_events)),
            ("max_events_per_issue", n(o.retention.max_events_per_issue)),
            (
                "max_pending_requests",
                n(o.rate.max_pending_requests as u64),
            ),
            ("max_batch_events", n(o.rate.max_batch_events as u64)),
            ("max_event_age_seconds", secs(o.rate.max_event_age)),
            (
                "max_components_per_project",
                n(o.rate.max_components_per_project as u64),
            ),
            (
                "inline_process_max_bytes",
                n(o.rate.inline_process_max_bytes as u64),
            ),
            (
                "max_tracked_issues",
                n(o.detection.max_tracked_issues as u64),
            ),
        ] {
            limits.get_or_create(&LimitName { limit: name }).set(v);
        }
        r.register(
            "limit",
            "Configured error-tracking limits (0 = off)",
            limits,
        );
        m
    }
}

/// One request waiting for the writer: its events, and what the writer needs to do the
/// post-commit work and answer.
struct Job {
    batch: ErrorEventBatch,
    after: AfterCommit,
}

/// The part of a [`Job`] used after the commit.
struct AfterCommit {
    reply: tokio::sync::oneshot::Sender<BatchOutcome>,
    project: Arc<Project>,
    /// Per event, for detection thresholds.
    severities: Vec<Severity>,
    /// The envelope's other item types, counted in `strix_errors_items_total{type}`.
    items: Vec<&'static str>,
    /// Where `strix_error_events_total` and `strix_errors_items_total` are written.
    sink: Option<Arc<dyn Appendable>>,
}

/// Why a write was not acknowledged.
#[derive(Debug)]
pub enum WriteError {
    /// The writer queue is full: answer 503 with `Retry-After`.
    Overloaded,
    /// The state store refused or failed.
    State(StateError),
}

/// A rate-limit refusal: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after_secs: u64,
}

/// What the service and its writer thread share: self-metrics, detection, the live bus,
/// the alerting pipeline and the counter state of the metric-store series. The writer
/// holds it, not the service, so dropping the service still ends the writer.
struct Shared {
    options: TrackingOptions,
    metrics: Metrics,
    detector: Mutex<Detector>,
    alerts: Option<strix_alerting::pipeline::AlertPipeline>,
    events: Arc<EventBus>,
    /// Cumulative counter values written to the metric store, by label set.
    counters: Mutex<HashMap<Vec<(String, String)>, f64>>,
    /// The `component` label values counted so far, per project id.
    components: Mutex<HashMap<u64, HashSet<String>>>,
}

/// Counter increments gathered over a batch before they go to the metric store once.
#[derive(Default)]
struct Increments<'a> {
    /// `strix_error_events_total` by (project, category, component, level).
    events: HashMap<(&'a str, &'a str, String, &'a str), u64>,
    /// `strix_errors_items_total` by type.
    items: HashMap<&'static str, u64>,
}

impl Increments<'_> {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.items.is_empty()
    }
}

/// Error tracking: projects, the compiled scrubbing and categorisation rules, limits, the
/// writer, detection, and the state store the issues live in.
pub struct ErrorTracking {
    pub store: Arc<dyn StateStore>,
    /// Configured and API-created projects; swapped whole on every change, so a lookup
    /// per event is a read lock and a map probe.
    projects: RwLock<Arc<ProjectTable>>,
    /// Serialises project changes through the API.
    project_admin: Mutex<()>,
    pub scrubber: Scrubber,
    pub categorizer: Categorizer,
    pub payload_limits: PayloadLimits,
    pub options: TrackingOptions,
    writer: SyncSender<Job>,
    shared: Arc<Shared>,
    compression: Arc<Compression>,
    last_prune: AtomicI64,
}

impl ErrorTracking {
    /// Builds the service and starts its writer thread (which ends when the service is
    /// dropped).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn StateStore>,
        projects: Vec<Project>,
        scrubber: Scrubber,
        categorizer: Categorizer,
        options: TrackingOptions,
        alerts: Option<strix_alerting::pipeline::AlertPipeline>,
        events: Arc<EventBus>,
        registry: &mut Registry,
    ) -> std::io::Result<Self> {
        let table = ProjectTable::new(projects, &options.rate);
        let (tx, rx) = sync_channel(options.rate.max_pending_requests.max(1));
        let shared = Arc::new(Shared {
            metrics: Metrics::new(registry, &options),
            detector: Mutex::new(Detector::new(options.detection.clone())),
            alerts,
            events,
            counters: Mutex::new(HashMap::new()),
            components: Mutex::new(HashMap::new()),
            options: options.clone(),
        });
        let writer = Writer {
            store: store.clone(),
            retention: EventRetention {
                keep_first: options.retention.keep_first_events,
                max_per_issue: options.retention.max_events_per_issue,
            },
            max_batch: options.rate.max_batch_events.max(1),
            shared: shared.clone(),
        };
        std::thread::Builder::new()
            .name("strix-error-writer".into())
            .spawn(move || writer.run(rx))?;
        let compression = Arc::new(Compression::new(
            options.compression.clone(),
            store.clone(),
            registry,
        ));
        Ok(ErrorTracking {
            store,
            projects: RwLock::new(Arc::new(table)),
            project_admin: Mutex::new(()),
            scrubber,
            categorizer,
            payload_limits: options.rate.payload,
            options,
            writer: tx,
            shared,
            compression,
            last_prune: AtomicI64::new(0),
        })
    }

    /// The enabled project with this id.
    pub fn project(&self, id: u64) -> Option<Arc<Project>> {
        self.project_table().get(id).cloned()
    }

    /// Every enabled project: configured ones in configuration order, then those created
    /// through the API by id.
    pub fn projects(&self) -> Vec<Arc<Project>> {
        self.project_table().list().to_vec()
    }

    pub(crate) fn project_table(&self) -> Arc<ProjectTable> {
        self.projects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Project changes through the API (see [`Projects`]).
    pub fn project_admin(&self) -> Projects<'_> {
        Projects {
            store: self.store.as_ref(),
            table: &self.projects,
            guard: &self.project_admin,
            rate: &self.options.rate,
        }
    }

    /// Counts a refused request.
    pub fn rejected(&self, reason: &'static str) {
        self.shared
            .metrics
            .rejected
            .get_or_create(&Reason { reason })
            .inc();
    }

    /// Takes `n` events from the project's token bucket, or says how long to wait.
    pub fn admit(&self, project: &Project, n: usize) -> Result<(), RateLimited> {
        let table = self.project_table();
        let Some(limiter) = table.limiter(project.id) else {
            return Ok(());
        };
        let Some(n32) = u32::try_from(n).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        let refused = |secs: u64| {
            self.shared
                .metrics
                .events
                .get_or_create(&ProjectOutcome {
                    project: project.slug.clone(),
                    outcome: "rate_limited",
                })
                .inc_by(n as u64);
            self.rejected("rate_limited");
            Err(RateLimited {
                retry_after_secs: secs.max(1),
            })
        };
        match limiter.check_n(n32) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                refused(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
            // More events in one request than the bucket holds: it can never pass at once.
            Err(_) => {
                let rate = self.options.rate.for_project(&project.slug).0.max(1);
                refused((n as u64).div_ceil(u64::from(rate)))
            }
        }
    }

    /// Scrubs, normalises, groups and categorises raw events (CPU work, call from a
    /// blocking thread); an error for the first event whose text is not JSON.
    pub fn process(
        &self,
        raws: Vec<RawEvent>,
        received: i64,
        client_ip: Option<String>,
    ) -> Result<Vec<Processed>, strix_errors::Error> {
        let mut opts = NormalizeOptions {
            received_ms: received,
            client_ip,
            ..NormalizeOptions::default()
        };
        opts.limits.max_event_age = self.options.rate.max_event_age;
        raws.into_iter()
            .map(|raw| strix_errors::process(raw, &self.scrubber, &self.categorizer, &opts))
            .collect()
    }

    /// Processes raw events where it is cheap enough: one event of at most
    /// `errors.limits.inline_process_max_bytes` on the calling task, anything bigger or
    /// more on the blocking pool, so the async workers never spend long on scrubbing and
    /// compression.
    pub async fn process_sized(
        self: &Arc<Self>,
        raws: Vec<RawEvent>,
        size_bytes: usize,
        received: i64,
        client_ip: Option<String>,
    ) -> Result<Result<Vec<Processed>, strix_errors::Error>, tokio::task::JoinError> {
        if raws.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let n = raws.len() as u64;
        if raws.len() == 1 && size_bytes <= self.options.rate.inline_process_max_bytes {
            self.shared
                .metrics
                .processed
                .get_or_create(&ProcessedOn { thread: "inline" })
                .inc_by(n);
            return Ok(self.process(raws, received, client_ip));
        }
        self.shared
            .metrics
            .processed
            .get_or_create(&ProcessedOn { thread: "blocking" })
            .inc_by(n);
        let t = self.clone();
        tokio::task::spawn_blocking(move || t.process(raws, received, client_ip)).await
    }

    /// Hands processed events to the writer and waits until they are committed.
    ///
    /// The work that follows the commit (live issue events, detection, counters and the
    /// `strix_error_events_total` / `strix_errors_items_total{type}` series written to
    /// `sink`) is done by the writer thread for its whole batch before it answers, so it
    /// happens even if this future is dropped (client gone, request timeout) while the
    /// writer works. `items` are the envelope's other item types, counted once the events
    /// are stored.
    pub async fn store(
        self: &Arc<Self>,
        project: Arc<Project>,
        processed: Vec<Processed>,
        items: Vec<&'static str>,
        received: i64,
        sink: Option<Arc<dyn Appendable>>,
    ) -> Result<Vec<RecordedEvent>, WriteError> {
        if processed.is_empty() {
            if let Some(sink) = &sink {
                self.shared.count(sink.as_ref(), &project, &[], &items);
            }
            return Ok(Vec::new());
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let encoder = self.compression.encoder(project.id);
        let sampling = encoder.is_none() && self.compression.sampling(project.id);
        let mut samples = Vec::new();
        let events = processed
            .iter()
            .map(|p| {
                let text = payload_text(p);
                let event = new_event(p, &text, encoder.as_deref());
                if sampling {
                    samples.push(text.into_owned());
                }
                event
            })
            .collect();
        if sampling {
            self.compression.sample(project.id, samples);
        }
        let job = Job {
            batch: ErrorEventBatch {
                project_id: project.id,
                received,
                events,
            },
            after: AfterCommit {
                reply,
                severities: processed
                    .iter()
                    .map(|p| p.categorization.severity)
                    .collect(),
                project,
                items,
                sink,
            },
        };
        drop(processed);
        match self.writer.try_send(job) {
            Ok(()) => {
                self.shared.metrics.queue.inc();
            }
            Err(TrySendError::Full(_)) => {
                self.rejected("overloaded");
                return Err(WriteError::Overloaded);
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(WriteError::State(StateError::Unavailable {
                    message: "the error-event writer stopped".into(),
                    source: "writer".into(),
                }))
            }
        }
        match rx.await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(WriteError::State(e)),
            Err(_) => Err(WriteError::State(StateError::Unavailable {
                message: "the error-event writer stopped before answering".into(),
                source: "writer".into(),
            })),
        }
    }

    /// An operator resolved the issue: its spike alert (if firing) resolves now.
    pub fn issue_resolved(&self, issue_id: i64) {
        let spike = self
            .shared
            .detector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear(issue_id);
        if let Some(s) = spike {
            self.shared.send_alerts(&[], &[s], strix_core::now_millis());
        }
    }

    /// One detection round: re-sends firing spikes, resolves cleared ones; runs retention
    /// when its interval has passed. Call periodically (see [`run_maintenance`]).
    pub fn tick(&self, now: i64) {
        let (firing, resolved) = self
            .shared
            .detector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .evaluate(now);
        self.shared
            .metrics
            .firing
            .set(i64::try_from(firing.len()).unwrap_or(i64::MAX));
        self.shared.send_alerts(&firing, &resolved, now);
        let every =
            i64::try_from(self.options.retention.prune_interval.as_millis()).unwrap_or(i64::MAX);
        if now - self.last_prune.load(Ordering::Acquire) >= every {
            self.last_prune.store(now, Ordering::Release);
            self.prune(now);
        }
    }

    /// Deletes events and issues older than the retention period.
    pub fn prune(&self, now: i64) {
        let keep = i64::try_from(self.options.retention.events.as_millis()).unwrap_or(i64::MAX);
        match self.store.prune_error_events(now.saturating_sub(keep)) {
            Ok(s) => {
                self.shared.metrics.pruned_events.inc_by(s.events);
                self.shared.metrics.pruned_issues.inc_by(s.issues);
                if s.events > 0 || s.issues > 0 {
                    tracing::info!(
                        events = s.events,
                        issues = s.issues,
                        "Pruned old error events and issues."
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "Error-tracking retention failed."),
        }
    }
}

impl Shared {
    /// The `component` label for an event of this project: the value itself while the
    /// project has counted fewer than `max_components_per_project` distinct ones (or it
    /// is one of them), else `other` (counted in `overflow`).
    fn component_label(
        &self,
        seen: &mut HashMap<u64, HashSet<String>>,
        project: &Project,
        component: &str,
        overflow: &mut u64,
    ) -> String {
        if component.is_empty() {
            return String::new();
        }
        let set = seen.entry(project.id).or_default();
        if set.contains(component) {
            return component.to_string();
        }
        if set.len() < self.options.rate.max_components_per_project {
            set.insert(component.to_string());
            return component.to_string();
        }
        *overflow += 1;
        "other".to_string()
    }

    /// Adds one request's events and items to `inc`.
    fn add<'a>(
        &self,
        inc: &mut Increments<'a>,
        seen: &mut HashMap<u64, HashSet<String>>,
        project: &'a Project,
        events: &'a [NewErrorEvent],
        items: &[&'static str],
    ) {
        let mut overflow = 0;
        for ev in events {
            let component = self.component_label(seen, project, &ev.component, &mut overflow);
            *inc.events
                .entry((
                    project.slug.as_str(),
                    ev.category.as_str(),
                    component,
                    ev.level.as_str(),
                ))
                .or_insert(0) += 1;
        }
        for ty in items {
            *inc.items.entry(ty).or_insert(0) += 1;
        }
        if overflow > 0 {
            self.metrics
                .component_overflow
                .get_or_create(&ProjectLabel {
                    project: project.slug.clone(),
                })
                .inc_by(overflow);
        }
    }

    /// Writes the increments to the metric store as new cumulative values, one append.
    /// Failures are logged: the events are already committed.
    fn write_counters(&self, sink: &dyn Appendable, inc: Increments<'_>) {
        if inc.is_empty() {
            return;
        }
        let name = |n: &str| ("__name__".to_string(), n.to_string());
        let mut labelled: Vec<(Vec<(String, String)>, f64)> = inc
            .events
            .into_iter()
            .map(|((project, category, component, level), n)| {
                (
                    vec![
                        name("strix_error_events_total"),
                        ("category".to_string(), category.to_string()),
                        ("component".to_string(), component),
                        ("level".to_string(), level.to_string()),
                        ("project".to_string(), project.to_string()),
                    ],
                    n as f64,
                )
            })
            .collect();
        labelled.extend(inc.items.into_iter().map(|(ty, n)| {
            (
                vec![
                    name("strix_errors_items_total"),
                    ("type".to_string(), ty.to_string()),
                ],
                n as f64,
            )
        }));
        let series = self.bump(labelled, strix_core::now_millis());
        if let Err(e) = sink.append(&series, AppendMode::Live) {
            tracing::warn!(error = %e, "Error-tracking counters not written to the metric store.");
        }
    }

    /// Writes the error and item counters of one request to the metric store.
    fn count(
        &self,
        sink: &dyn Appendable,
        project: &Project,
        events: &[NewErrorEvent],
        items: &[&'static str],
    ) {
        let mut inc = Increments::default();
        {
            let mut seen = self
                .components
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.add(&mut inc, &mut seen, project, events, items);
        }
        self.write_counters(sink, inc);
    }

    /// The work after a commit, for a whole batch (on the writer thread, before anyone is
    /// answered): outcome counters, live issue events, spike detection (one lock for the
    /// batch) and the counter series (one append per sink). Requests whose events were
    /// not stored are counted as failed and nothing else.
    fn committed(
        &self,
        batch: &[ErrorEventBatch],
        after: &[AfterCommit],
        outcomes: &[BatchOutcome],
    ) {
        let mut outcome_counts: HashMap<(&str, &'static str), u64> = HashMap::new();
        let mut spikes = Vec::new();
        let mut latest = 0i64;
        let mut detector = None;
        let mut evicted = 0;
        // Counter increments per sink (in practice one: the server's ingest sink).
        let mut sinks: Vec<(&Arc<dyn Appendable>, Increments<'_>)> = Vec::new();
        let mut seen = None;
        for ((req, a), outcome) in batch.iter().zip(after).zip(outcomes) {
            let slug = a.project.slug.as_str();
            let recorded = match outcome {
                Ok(r) => r,
                Err(_) => {
                    *outcome_counts.entry((slug, "failed")).or_insert(0) += req.events.len() as u64;
                    continue;
                }
            };
            latest = latest.max(req.received);
            for ((ev, severity), r) in req.events.iter().zip(&a.severities).zip(recorded) {
                if r.duplicate {
                    *outcome_counts.entry((slug, "duplicate")).or_insert(0) += 1;
                    continue;
                }
                *outcome_counts.entry((slug, "stored")).or_insert(0) += 1;
                if r.created || r.regressed {
                    let doc = json!({
                        "id": r.issue_id,
                        "project": slug,
                        "title": ev.title,
                        "level": ev.level,
                        "status": if r.regressed { "regressed" } else { "unresolved" },
                        "category": ev.category,
                        "severity": severity.as_str(),
                        "count": r.count,
                        "event": if r.regressed { "regressed" } else { "new" },
                    });
                    self.events.publish(kind::ERROR_ISSUE, doc.to_string());
                }
                if r.ignored {
                    continue;
                }
                let info = SpikeInfo {
                    issue_id: r.issue_id,
                    project: slug.to_string(),
                    title: ev.title.clone(),
                    culprit: ev.culprit.clone(),
                    category: ev.category.clone(),
                    component: ev.component.clone(),
                    severity: *severity,
                };
                let d = detector.get_or_insert_with(|| {
                    self.detector.lock().unwrap_or_else(PoisonError::into_inner)
                });
                let before = d.evicted();
                spikes.extend(d.observe(info, req.received));
                evicted += d.evicted().saturating_sub(before);
            }
            if let Some(sink) = &a.sink {
                let seen = seen.get_or_insert_with(|| {
                    self.components
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                });
                let slot = match sinks
                    .iter()
                    .position(|(s, _)| std::ptr::addr_eq(Arc::as_ptr(s), Arc::as_ptr(sink)))
                {
                    Some(i) => i,
                    None => {
                        sinks.push((sink, Increments::default()));
                        sinks.len() - 1
                    }
                };
                if let Some((_, inc)) = sinks.get_mut(slot) {
                    self.add(inc, seen, &a.project, &req.events, &a.items);
                }
            }
        }
        drop(detector);
        drop(seen);
        if evicted > 0 {
            self.metrics.evicted.inc_by(evicted);
        }
        for ((project, outcome), n) in outcome_counts {
            self.metrics
                .events
                .get_or_create(&ProjectOutcome {
                    project: project.to_string(),
                    outcome,
                })
                .inc_by(n);
        }
        for (sink, inc) in sinks {
            self.write_counters(sink.as_ref(), inc);
        }
        if !spikes.is_empty() {
            self.send_alerts(&spikes, &[], latest);
        }
    }

    /// Adds `by` to each counter and returns the series with the new cumulative values at
    /// `now`.
    pub(crate) fn bump(
        &self,
        incs: Vec<(Vec<(String, String)>, f64)>,
        now: i64,
    ) -> Vec<TimeSeries> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        incs.into_iter()
            .map(|(labels, by)| {
                let v = counters.entry(labels.clone()).or_insert(0.0);
                *v += by;
                TimeSeries {
                    labels: Labels::from_pairs(labels),
                    samples: vec![Sample { t: now, v: *v }],
                }
            })
            .collect()
    }

    fn alert(
        &self,
        s: &Spike,
        resolved_at: Option<i64>,
        now: i64,
    ) -> strix_alerting::pipeline::IncomingAlert {
        let i = &s.info;
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("alertname".to_string(), "ErrorSpike".to_string());
        labels.insert("project".to_string(), i.project.clone());
        labels.insert("severity".to_string(), i.severity.as_str().to_string());
        labels.insert("category".to_string(), i.category.clone());
        labels.insert("issue".to_string(), i.issue_id.to_string());
        if !i.component.is_empty() {
            labels.insert("component".to_string(), i.component.clone());
        }
        let link = format!(
            "{}/api/monitoring/errors/issues/{}",
            self.options.external_url.trim_end_matches('/'),
            i.issue_id
        );
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert("summary".to_string(), i.title.clone());
        annotations.insert(
            "description".to_string(),
            format!(
                "{} {} events of issue {} ({}) within {}s (threshold {})",
                s.count,
                i.severity.as_str(),
                i.issue_id,
                i.culprit,
                s.window_ms / 1000,
                s.threshold
            ),
        );
        annotations.insert("link".to_string(), link.clone());
        // Re-sent every evaluation while firing; lapses on its own if Strix stops.
        let keep = i64::try_from(self.options.detection.evaluation_interval.as_millis())
            .unwrap_or(60_000)
            .saturating_mul(4)
            .max(60_000);
        strix_alerting::pipeline::IncomingAlert {
            labels,
            annotations,
            starts_at: s.since,
            ends_at: Some(resolved_at.unwrap_or(now + keep)),
            generator_url: link,
            value: Some(s.count as f64),
            source: strix_alerting::pipeline::AlertSource::Rule,
        }
    }

    fn send_alerts(&self, firing: &[Spike], resolved: &[Spike], now: i64) {
        let Some(pipeline) = &self.alerts else {
            return;
        };
        let mut out: Vec<_> = firing.iter().map(|s| self.alert(s, None, now)).collect();
        out.extend(resolved.iter().map(|s| self.alert(s, Some(now), now)));
        if out.is_empty() {
            return;
        }
        for (state, n) in [("firing", firing.len()), ("resolved", resolved.len())] {
            if n > 0 {
                self.metrics
                    .alerts
                    .get_or_create(&AlertState { state })
                    .inc_by(n as u64);
            }
        }
        if let Err(e) = pipeline.ingest(out) {
            tracing::warn!(error = %e, "Error-spike alerts refused by the alerting pipeline.");
        }
    }
}

/// Detection and retention rounds every `detection.evaluation_interval`, until the runtime
/// stops.
pub async fn run_maintenance(t: Arc<ErrorTracking>) {
    let every = t
        .options
        .detection
        .evaluation_interval
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let t = t.clone();
        if tokio::task::spawn_blocking(move || t.tick(strix_core::now_millis()))
            .await
            .is_err()
        {
            tracing::error!("Error-tracking maintenance round panicked.");
        }
    }
}

/// The writer thread: drains the queue into group commits and does the post-commit work.
struct Writer {
    store: Arc<dyn StateStore>,
    retention: EventRetention,
    max_batch: usize,
    shared: Arc<Shared>,
}

impl Writer {
    /// Runs until every sender (the service) is gone.
    fn run(self, rx: Receiver<Job>) {
        let metrics = &self.shared.metrics;
        while let Ok(first) = rx.recv() {
            let mut events = first.batch.events.len();
            let mut jobs = vec![first];
            while events < self.max_batch {
                match rx.try_recv() {
                    Ok(j) => {
                        events += j.batch.events.len();
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
            metrics
                .queue
                .dec_by(i64::try_from(jobs.len()).unwrap_or(i64::MAX));
            let (batch, after): (Vec<_>, Vec<_>) =
                jobs.into_iter().map(|j| (j.batch, j.after)).unzip();
            metrics.batches.inc();
            metrics.batch_events.observe(events as f64);
            let outcomes = self.write(&batch);
            self.shared.committed(&batch, &after, &outcomes);
            for (a, outcome) in after.into_iter().zip(outcomes) {
                // The requester may have gone away (client disconnected): fine.
                let _ = a.reply.send(outcome);
            }
        }
    }

    /// Commits the batch, one outcome per request. When the transaction fails as a whole
    /// one request may be the cause: each is then written on its own so the others land.
    fn write(&self, batch: &[ErrorEventBatch]) -> Vec<BatchOutcome> {
        let e = match self.store.record_error_batch(batch, &self.retention) {
            Ok(outcomes) if outcomes.len() == batch.len() => return outcomes,
            Ok(outcomes) => StateError::BadInput(format!(
                "BUG: {} outcomes for {} requests",
                outcomes.len(),
                batch.len()
            )),
            Err(e) => e,
        };
        if batch.len() == 1 {
            tracing::warn!(error = %e, "Error-event write failed.");
            return vec![Err(e)];
        }
        tracing::warn!(error = %e, requests = batch.len(), "Error-event batch failed; writing its requests one by one.");
        batch
            .iter()
            .map(|req| {
                match self
                    .store
                    .record_error_batch(std::slice::from_ref(req), &self.retention)
                {
                    Ok(mut o) => o
                        .pop()
                        .unwrap_or_else(|| Err(StateError::BadInput("no outcome".into()))),
                    Err(e) => Err(e),
                }
            })
            .collect()
    }
}

/// The text an event is stored as: the text the SDK sent when scrubbing and normalising
/// left it as it was, else the edited tree serialised.
pub(crate) fn payload_text(p: &Processed) -> Cow<'_, [u8]> {
    match &p.event.raw_text {
        Some(text) => Cow::Borrowed(text),
        // Serialising a `Value` cannot fail (its keys are strings).
        None => Cow::Owned(serde_json::to_vec(&p.event.raw()).unwrap_or_default()),
    }
}

/// What the state store keeps of a processed event, whose stored text is `text`
/// ([`payload_text`]), compressed with the project's dictionary if it has one.
pub(crate) fn new_event(
    p: &Processed,
    text: &[u8],
    encoder: Option<&PayloadEncoder>,
) -> NewErrorEvent {
    let e = &p.event;
    let c = &p.categorization;
    NewErrorEvent {
        event_id: e.event_id.clone(),
        hash: p.grouping.hash.clone(),
        title: p.grouping.title.clone(),
        culprit: p.grouping.culprit.clone().unwrap_or_default(),
        level: e.level.as_str().to_string(),
        timestamp: e.timestamp,
        filed_at_arrival: e.filed_at_arrival,
        category: c.category.as_str().to_string(),
        severity: c.severity.as_str().to_string(),
        priority: c.priority.as_str().to_string(),
        assignee: c.team.clone(),
        payload: super::compression::encode(text, encoder),
        user_key: e.user.as_ref().and_then(|u| u.key()).map(str::to_string),
        component: c.component.clone().unwrap_or_default(),
        environment: e.environment.clone(),
        release: e.release.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "tracking_tests.rs"]
mod tests;
