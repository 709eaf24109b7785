//! The running alerting pipeline: what happens between "a rule fires" (or an external
//! Prometheus posts to `/api/v2/alerts`) and "the receiver got it".
//!
//! ```text
//! ingest ──queue──► dispatcher thread ──── chunks ──► writer thread ► outbox (state store)
//!                   │ fingerprint, persist alert + history            │  durable, keyed
//!                   │ silences (cached) + inhibition                  ▼
//!                   │ routing::Dispatcher (group_wait/interval/repeat) delivery scheduler
//!                   │ rate limits, build notification                 │  N workers, timeout,
//!                   │ escalation timers (advance_escalation)          │  backoff persisted
//!                   └─────────────────────── wake ───────────────────►  in next_attempt_at
//! ```
//!
//! - **Ingest** ([`AlertPipeline::ingest`]) validates labels and queues; it never blocks
//!   on I/O. The dispatcher thread wakes at once (not only every `tick`).
//! - **State**: each firing alert is one [`strix_state::AlertRecord`] (upserted, with
//!   history); an alert whose `ends_at` has passed transitions to resolved. Pending alerts
//!   are not sent by rules at all.
//! - **Silences** are read from the store, cached, and reloaded on
//!   [`AlertPipeline::silences_changed`] and every 10 s; **inhibition** uses the open
//!   alerts. Muted alerts are left out of notifications.
//! - **Rate limits** (`rate_limit: {max, per}` of a receiver) count notifications enqueued
//!   for the receiver in the window (`count_notifications`); refused notifications are
//!   counted in `strix_notifications_rate_limited_total{receiver}` and logged.
//! - **State writes are grouped**: the alert records of one inbox batch are written in
//!   one transaction (`write_alerts`), after one read of the open alerts of the batch's
//!   unknown fingerprints (`active_alerts_by_fingerprints`).
//! - **Outbox**: every decided notification is enqueued, one entry per channel of the
//!   receiver, with a stable idempotency key, *before* any send; a flush hands its
//!   notifications in chunks of `flush_chunk` to the outbox writer thread (`writer.rs`),
//!   which encodes each chunk, writes it in one transaction (`enqueue_batch`) and hands
//!   the committed entries to delivery at once, while the dispatcher decides the next
//!   chunk. At most `write_queue_chunks` chunks wait; a rate limit first waits for all
//!   of them, so it counts every notification decided before. Delivery (`delivery.rs`) runs from an in-memory
//!   queue rebuilt from the outbox at start, `delivery_workers` at once and at most
//!   `per_receiver_concurrency` (or the receiver's `max_concurrency`) per receiver —
//!   `fast_receiver_concurrency` while a receiver without `max_concurrency` answers
//!   within 25 ms on average — and
//!   records outcomes in batches (`record_deliveries`, every `record_interval`):
//!   delivered, failed (next attempt from the retry policy, persisted, so a restart
//!   continues the schedule) or given up. Webhooks carry the key in
//!   `X-Strix-Idempotency-Key`.
//! - **Live events**: alert state changes (new, resolved, acknowledged, resolved by an
//!   operator) are published as `kind::ALERT` events in the shape of
//!   `GET /api/monitoring/alerts` items when [`PipelineOptions::events`] is set.
//! - **Escalation**: when an alert starts firing and a policy exists for its `severity`,
//!   a timer is persisted; a due timer is advanced with `advance_escalation` (check,
//!   enqueue and next timer in one transaction). Level 0 without explicit receivers is the
//!   routed notification itself and adds nothing. Acknowledging or resolving cancels it.
//!
//! # Crash safety and the at-least-once rule
//!
//! Everything decided is in the outbox before being sent; after a restart the workers
//! deliver what is still pending. A crash between a successful send and the commit of
//! its outcome (at most `record_interval` later) sends that entry again, with the same
//! idempotency key. Group state (what each group
//! last notified) is memory only: after a restart it is rebuilt from the open alerts in
//! the store, whose groups flush at once. The notification key covers receiver, group,
//! status and each alert's fingerprint, status and start, so re-deciding the same group
//! notification after a restart finds its key already in the outbox and enqueues nothing;
//! if the group's content changed meanwhile (an alert resolved while Strix was down), the
//! group notification is sent again once — at-least-once.

mod build;
mod delivery;
mod dispatch;
mod escalation_status;
pub mod events;
mod metrics;
mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use strix_core::ErrorClass;
use strix_state::{AlertRecord, AlertState, Enqueued, StateError, StateStore};

use crate::channels::{self, ChannelSet, DeliveryReceipt, RetryPolicy};
use crate::routing::config::{valid_label_name, RoutingConfig};

use dispatch::DispatchState;
pub use escalation_status::{EscalationPhase, EscalationStatus};
use metrics::Metrics;

/// Tuning of the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Base URL of Strix's UI (Alertmanager's `externalURL`) for notifications.
    pub external_url: String,
    /// Concurrent delivery attempts over all receivers (default 256).
    pub delivery_workers: usize,
    /// Concurrent delivery attempts to one receiver (default 128), so a slow receiver
    /// cannot starve the others. HTTP channels reuse keep-alive connections.
    pub per_receiver_concurrency: usize,
    /// Concurrent attempts to a receiver without `max_concurrency` while its attempts take
    /// under 25 ms on average (default 32): enough to keep a fast receiver busy, and
    /// every further connection costs CPU on both ends. A receiver starts here; once its
    /// attempts average 25 ms or more it gets `per_receiver_concurrency`.
    pub fast_receiver_concurrency: usize,
    /// Notifications the dispatcher writes to the outbox in one transaction before it
    /// hands them to delivery (default 256): the first ones go out while later groups
    /// of a large flush are still being decided.
    pub flush_chunk: usize,
    /// Chunks of decided notifications (`flush_chunk` each) that may wait for the outbox
    /// writer thread (default 4); when that many wait, the dispatcher waits too.
    pub write_queue_chunks: usize,
    /// Delivery outcomes are written to the outbox at most once per this interval, all
    /// that arrived meanwhile in one transaction (default 250 ms: during a flood, fewer
    /// and larger bookkeeping transactions leave the store to the writes that decide and
    /// enqueue). A crash loses at most this much bookkeeping: those notifications are sent
    /// again, with the same idempotency key (at-least-once).
    pub record_interval: Duration,
    /// Where alert state changes are published (`kind::ALERT`), for live dashboards.
    pub events: Option<Arc<strix_core::events::EventBus>>,
    /// Alerts the dispatcher takes from its inbox in one pass (default 256). A flood is
    /// decided, written and handed to delivery in slices of at most this size, so the
    /// first notifications leave while later alerts are still being processed; after an
    /// idle moment the first slice is an eighth of it and each next one twice the last.
    pub step_alerts: usize,
    /// The longest the dispatcher and the delivery loop sleep (default 1 s). They wake at
    /// once for ingest and new outbox entries, and at the time of the next group flush,
    /// sweep, escalation check or retry; an idle pipeline wakes about once a second.
    pub tick: Duration,
    /// How often delivery re-reads the pending outbox entries and queues those it does
    /// not know (default 1 min; minimum 10 ms). Failed reads are retried sooner, with
    /// backoff from 0.5 s to 30 s.
    pub reconcile_interval: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            external_url: String::new(),
            delivery_workers: 256,
            per_receiver_concurrency: 128,
            fast_receiver_concurrency: 32,
            flush_chunk: 256,
            write_queue_chunks: 4,
            record_interval: Duration::from_millis(250),
            step_alerts: 256,
            tick: Duration::from_secs(1),
            reconcile_interval: Duration::from_secs(60),
            events: None,
        }
    }
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSource {
    /// Strix' own rule evaluation.
    Rule,
    /// An external sender (`POST /api/v2/alerts`).
    External,
}

/// An alert as sent by rule evaluation or an external Prometheus. Times in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    /// In the past (or now): resolved. In the future: firing, considered resolved then
    /// unless re-sent. `None`: firing, resolved after `global.resolve_timeout` without a
    /// re-send.
    pub ends_at: Option<i64>,
    pub generator_url: String,
    pub value: Option<f64>,
    pub source: AlertSource,
}

/// What the pipeline's operations fail with.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An ingested alert is invalid (the API answers 400).
    #[error("invalid alert: {0}")]
    BadAlert(String),
    /// No receiver of that name.
    #[error("unknown receiver {0:?}")]
    UnknownReceiver(String),
    /// The receiver configuration cannot be turned into channels.
    #[error("invalid receiver configuration: {0}")]
    Config(String),
    /// A test notification could not be delivered.
    #[error("delivery failed: {0}")]
    Delivery(String),
    /// The pipeline was shut down.
    #[error("the alerting pipeline is shut down")]
    ShutDown,
    /// The state store failed or refused (not found, conflict, ...).
    #[error(transparent)]
    State(#[from] StateError),
}

impl PipelineError {
    /// The transport-free class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            PipelineError::BadAlert(_) | PipelineError::Config(_) => ErrorClass::BadInput,
            PipelineError::UnknownReceiver(_) => ErrorClass::NotFound,
            PipelineError::Delivery(_) | PipelineError::ShutDown => ErrorClass::Unavailable,
            PipelineError::State(e) => e.class(),
        }
    }
}

/// The retry policy of outbox deliveries: a receiver may be down for a long time (an
/// hour of retries, backing off to a minute between attempts).
pub fn delivery_retry_policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(500),
        max_delay: Duration::from_secs(60),
        max_attempts: 100,
        max_elapsed: Duration::from_secs(3600),
        max_retry_after: Duration::from_secs(600),
    }
}

/// What the ingest side hands the dispatcher thread.
#[derive(Default)]
struct Inbox {
    alerts: Vec<IncomingAlert>,
    silences_changed: bool,
    shutdown: bool,
}

pub(crate) struct Inner {
    config: RoutingConfig,
    config_yaml: Mutex<String>,
    channels: ChannelSet,
    store: Arc<dyn StateStore>,
    opts: PipelineOptions,
    retry: RetryPolicy,
    metrics: Metrics,
    inbox: Mutex<Inbox>,
    inbox_cv: Condvar,
    dispatch: Mutex<DispatchState>,
    writes: Mutex<writer::WriteQueue>,
    writes_cv: Condvar,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    delivery_wake: tokio::sync::Notify,
    queue: Mutex<delivery::Queue>,
    shutdown: AtomicBool,
    shutdown_notify: tokio::sync::Notify,
    started: AtomicBool,
    dispatcher_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    scheduler: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The alerting pipeline. Cheap to clone.
#[derive(Clone)]
pub struct AlertPipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AlertPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertPipeline")
            .field("receivers", &self.receivers())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    strix_core::now_millis()
}

impl AlertPipeline {
    /// Builds the pipeline: channels from the receivers, metrics into `registry`, and the
    /// open alerts of `store` loaded into their groups (see the crash-safety notes above).
    /// Nothing runs until [`AlertPipeline::start`].
    pub fn new(
        config: RoutingConfig,
        store: Arc<dyn StateStore>,
        opts: PipelineOptions,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, PipelineError> {
        let channels =
            ChannelSet::from_routing(&config).map_err(|e| PipelineError::Config(e.to_string()))?;
        Self::with_channels(config, channels, store, opts, registry)
    }

    fn with_channels(
        config: RoutingConfig,
        channels: ChannelSet,
        store: Arc<dyn StateStore>,
        opts: PipelineOptions,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, PipelineError> {
        let metrics = Metrics::new(registry);
        let now = now_ms();
        let dispatch = DispatchState::new(&config, store.as_ref(), &metrics, now)?;
        let config_yaml = default_config_yaml(&config);
        let mut opts = opts;
        opts.delivery_workers = opts.delivery_workers.max(1);
        opts.per_receiver_concurrency = opts.per_receiver_concurrency.max(1);
        opts.fast_receiver_concurrency = opts.fast_receiver_concurrency.max(1);
        opts.flush_chunk = opts.flush_chunk.max(1);
        opts.write_queue_chunks = opts.write_queue_chunks.max(1);
        if opts.tick.is_zero() {
            opts.tick = Duration::from_secs(1);
        }
        opts.reconcile_interval = opts.reconcile_interval.max(Duration::from_millis(10));
        Ok(AlertPipeline {
            inner: Arc::new(Inner {
                config,
                config_yaml: Mutex::new(config_yaml),
                channels,
                store,
                opts,
                retry: delivery_retry_policy(),
                metrics,
                inbox: Mutex::new(Inbox::default()),
                inbox_cv: Condvar::new(),
                dispatch: Mutex::new(dispatch),
                writes: Mutex::new(writer::WriteQueue::default()),
                writes_cv: Condvar::new(),
                writer_thread: Mutex::new(None),
                delivery_wake: tokio::sync::Notify::new(),
                queue: Mutex::new(delivery::Queue::default()),
                shutdown: AtomicBool::new(false),
                shutdown_notify: tokio::sync::Notify::new(),
                started: AtomicBool::new(false),
                dispatcher_thread: Mutex::new(None),
                scheduler: Mutex::new(None),
            }),
        })
    }

    /// Starts the dispatcher (a thread: it does blocking store I/O), the delivery
    /// scheduler and its workers (tasks on `rt`). Idempotent.
    pub fn start(&self, rt: &tokio::runtime::Handle) {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        self.inner.writer_starting();
        match std::thread::Builder::new()
            .name("strix-outbox-write".into())
            .spawn(move || writer::run(&inner))
        {
            Ok(h) => *lock(&self.inner.writer_thread) = Some(h),
            Err(e) => {
                // The dispatcher writes the outbox itself.
                self.inner.writer_stop();
                self.inner.writer_ended();
                tracing::error!(error = %e, "Cannot start the outbox writer thread.");
            }
        }
        let inner = self.inner.clone();
        match std::thread::Builder::new()
            .name("strix-alert-dispatch".into())
            .spawn(move || dispatch::run(&inner))
        {
            Ok(h) => *lock(&self.inner.dispatcher_thread) = Some(h),
            Err(e) => tracing::error!(error = %e, "Cannot start the alert dispatcher thread."),
        }
        let inner = self.inner.clone();
        *lock(&self.inner.scheduler) = Some(rt.spawn(delivery::run(inner)));
    }

    /// Starts only the delivery scheduler, reading the outbox through `read`.
    #[cfg(test)]
    fn start_delivery_with(&self, read: delivery::OutboxReader, rt: &tokio::runtime::Handle) {
        self.inner.started.store(true, Ordering::Release);
        let inner = self.inner.clone();
        *lock(&self.inner.scheduler) = Some(rt.spawn(delivery::run_with(inner, read)));
    }

    /// Stops the loops and waits (bounded) for deliveries in flight. Pending outbox entries
    /// stay pending and are delivered after the next start.
    pub async fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        {
            let mut inbox = lock(&self.inner.inbox);
            inbox.shutdown = true;
        }
        self.inner.inbox_cv.notify_all();
        self.inner.shutdown_notify.notify_waiters();
        self.inner.delivery_wake.notify_one();
        let thread = lock(&self.inner.dispatcher_thread).take();
        if let Some(t) = thread {
            let joined = tokio::task::spawn_blocking(move || t.join().is_ok()).await;
            if !matches!(joined, Ok(true)) {
                tracing::error!("The alert dispatcher thread panicked.");
            }
        }
        // Decided notifications still queued are written before the writer ends.
        self.inner.writer_stop();
        let thread = lock(&self.inner.writer_thread).take();
        if let Some(t) = thread {
            let joined = tokio::task::spawn_blocking(move || t.join().is_ok()).await;
            if !matches!(joined, Ok(true)) {
                tracing::error!("The outbox writer thread panicked.");
            }
        }
        let sched = lock(&self.inner.scheduler).take();
        if let Some(s) = sched {
            if tokio::time::timeout(Duration::from_secs(15), s)
                .await
                .is_err()
            {
                tracing::warn!(
                    "Notification deliveries still in flight at shutdown; they stay pending."
                );
            }
        }
    }

    /// Queues alerts from rule evaluation or `POST /api/v2/alerts`. Validates every alert
    /// first (labels present and named like Prometheus labels); on an error nothing is
    /// queued. Never blocks on I/O.
    pub fn ingest(&self, alerts: Vec<IncomingAlert>) -> Result<(), PipelineError> {
        for (i, a) in alerts.iter().enumerate() {
            validate(a).map_err(|m| PipelineError::BadAlert(format!("alert {i}: {m}")))?;
        }
        if alerts.is_empty() {
            return Ok(());
        }
        let mut inbox = lock(&self.inner.inbox);
        if inbox.shutdown {
            return Err(PipelineError::ShutDown);
        }
        inbox.alerts.extend(alerts);
        drop(inbox);
        self.inner.inbox_cv.notify_one();
        Ok(())
    }

    /// An operator acknowledges an alert: its escalation stops (in the same transaction),
    /// and PagerDuty integrations of its receivers get an `acknowledge` event.
    pub fn acknowledge(
        &self,
        alert_id: &str,
        operator: &str,
        notes: &str,
    ) -> Result<AlertRecord, PipelineError> {
        let now = now_ms();
        let rec = self.inner.store.transition(
            alert_id,
            AlertState::Acknowledged,
            operator,
            notes,
            now,
        )?;
        events::publish_alert(self.inner.opts.events.as_deref(), rec.clone());
        let created = lock(&self.inner.dispatch).acknowledged(&self.inner, &rec, now);
        if created > 0 {
            self.inner.delivery_wake.notify_one();
        }
        Ok(rec)
    }

    /// An operator resolves an alert: its escalation ends, and its groups send resolved
    /// notifications at once. Later re-sends of the same firing episode are
    /// ignored; if the condition fires again after clearing, that is a new alert.
    pub fn resolve(
        &self,
        alert_id: &str,
        operator: &str,
        notes: &str,
    ) -> Result<AlertRecord, PipelineError> {
        let now = now_ms();
        let rec =
            self.inner
                .store
                .transition(alert_id, AlertState::Resolved, operator, notes, now)?;
        events::publish_alert(self.inner.opts.events.as_deref(), rec.clone());
        lock(&self.inner.dispatch).resolved_by_operator(&rec, now);
        self.inner.inbox_cv.notify_one();
        Ok(rec)
    }

    /// The state store (alerts, silences, outbox, delivery log).
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }

    /// Silences in the store changed (created, updated, expired): reload them now.
    pub fn silences_changed(&self) {
        lock(&self.inner.inbox).silences_changed = true;
        self.inner.inbox_cv.notify_one();
    }

    /// Sends a test notification through every channel of `receiver` at once (not through
    /// the outbox, no retries) and returns one receipt per channel. Fails with the first
    /// channel's error.
    pub async fn send_test(&self, receiver: &str) -> Result<Vec<DeliveryReceipt>, PipelineError> {
        let chans = self
            .inner
            .channels
            .get(receiver)
            .ok_or_else(|| PipelineError::UnknownReceiver(receiver.to_string()))?;
        let n = build::test_notification(receiver, &self.inner.opts.external_url, now_ms());
        let mut out = Vec::with_capacity(chans.len());
        let mut errors = Vec::new();
        for ch in chans {
            match ch.send(&n).await {
                Ok(r) => out.push(r),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(PipelineError::Delivery(errors.join("; ")));
        }
        Ok(out)
    }

    /// Receiver names, in configuration order.
    pub fn receivers(&self) -> Vec<String> {
        self.inner
            .config
            .receivers
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    /// The routing configuration as YAML with secrets masked (for `/api/v2/status`).
    pub fn config_yaml(&self) -> String {
        lock(&self.inner.config_yaml).clone()
    }

    /// Sets the text [`AlertPipeline::config_yaml`] shows: the `alertmanager:` section as
    /// written; secrets are masked here.
    pub fn set_config_yaml(&self, raw_yaml: &str) {
        let masked = match serde_yaml::from_str::<serde_yaml::Value>(raw_yaml) {
            Ok(mut v) => {
                mask_config_secrets(&mut v);
                serde_yaml::to_string(&v).unwrap_or_default()
            }
            Err(_) => default_config_yaml(&self.inner.config),
        };
        *lock(&self.inner.config_yaml) = masked;
    }

    /// The routing configuration the pipeline runs with.
    pub fn routing_config(&self) -> &RoutingConfig {
        &self.inner.config
    }
}

/// Keys whose values are secrets in an Alertmanager configuration.
const SECRET_KEYS: &[&str] = &[
    "url",
    "api_url",
    "webhook_url",
    "slack_api_url",
    "routing_key",
    "service_key",
    "auth_password",
    "auth_secret",
    "auth_token",
    "smtp_auth_password",
    "smtp_auth_secret",
    "signing_secret",
    "password",
    "bearer_token",
    "credentials",
    "key",
    "opsgenie_api_key",
    "victorops_api_key",
    "wechat_api_secret",
    "rocketchat_token",
    "rocketchat_token_id",
];

/// Replaces secret values (URLs that embed tokens, keys, passwords) by `<secret>`.
pub fn mask_config_secrets(v: &mut serde_yaml::Value) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                let secret = k.as_str().is_some_and(|k| SECRET_KEYS.contains(&k));
                if secret && !val.is_null() && !val.is_mapping() && !val.is_sequence() {
                    *val = serde_yaml::Value::String("<secret>".into());
                } else {
                    mask_config_secrets(val);
                }
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter_mut().for_each(mask_config_secrets),
        _ => {}
    }
}

fn default_config_yaml(config: &RoutingConfig) -> String {
    let mut s = format!(
        "route:\n  receiver: {:?}\nreceivers:\n",
        config.tree.root().receiver
    );
    for r in &config.receivers {
        s.push_str(&format!("  - name: {:?}\n", r.name));
    }
    s
}

/// A default configuration: one receiver `default` without channels (alerts are still
/// recorded and listed), grouping by `alertname`.
pub fn default_routing_config() -> Result<RoutingConfig, crate::routing::ConfigErrors> {
    crate::routing::AlertmanagerConfig::load(DEFAULT_CONFIG_YAML)
}

/// The text of [`default_routing_config`].
pub const DEFAULT_CONFIG_YAML: &str =
    "route:\n  receiver: default\n  group_by: [alertname]\nreceivers:\n  - name: default\n";

fn validate(a: &IncomingAlert) -> Result<(), String> {
    if a.labels.is_empty() {
        return Err("at least one label is required".into());
    }
    for k in a.labels.keys() {
        if !valid_label_name(k) {
            return Err(format!("invalid label name {k:?}"));
        }
    }
    for k in a.annotations.keys() {
        if !valid_label_name(k) {
            return Err(format!("invalid annotation name {k:?}"));
        }
    }
    if let Some(e) = a.ends_at {
        if e < a.starts_at {
            return Err("endsAt is before startsAt".into());
        }
    }
    Ok(())
}

impl Inner {
    pub(crate) fn channels(&self) -> &ChannelSet {
        &self.channels
    }

    /// Hands entries just written to the outbox to the delivery scheduler and wakes it.
    /// `enqueued` is the store's answer for each of `written`'s items; only new entries
    /// are queued.
    pub(crate) fn push_jobs(
        &self,
        written: build::Prepared,
        enqueued: Vec<Enqueued>,
        now: i64,
    ) -> usize {
        let mut added = 0;
        {
            let mut q = lock(&self.queue);
            let items = written.items.into_iter().zip(written.payloads);
            for ((item, payload), e) in items.zip(enqueued) {
                if e.created && q.push(delivery::Job::from_item(e.id, item, payload, now), now) {
                    added += 1;
                }
            }
        }
        if added > 0 {
            self.metrics
                .outbox_pending
                .inc_by(i64::try_from(added).unwrap_or(0));
            self.delivery_wake.notify_one();
        }
        added
    }
}

/// Re-exported for callers building test fixtures.
pub use channels::Notification as ChannelNotification;

#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod tests;
