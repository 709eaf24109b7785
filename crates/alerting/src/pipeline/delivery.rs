//! The delivery scheduler.
//!
//! - **Queue in memory, truth in the store.** Every entry is durable in the outbox before
//!   it reaches the queue: the dispatcher pushes what it enqueued ([`Inner::push_jobs`]),
//!   and at start the queue is rebuilt by paging through the pending entries of the store
//!   (`pending_outbox`), so nothing is re-read or re-decoded per completion. A failed read
//!   (a busy database, an I/O error) is retried with backoff until it succeeds, and every
//!   `reconcile_interval` (default 1 min) the pending entries are read again and those the
//!   queue does not know are queued, so nothing waits for the next start.
//! - **An id is known until its final outcome is recorded.** A job leaves the queue's
//!   `known` set only when its delivered or given-up outcome has been written (or failed to
//!   be written), so a reconciliation never re-sends an entry whose outcome is on its way
//!   to the store; ids finished while a read is in progress are not queued by that read.
//! - **A panicking channel costs one attempt, not a slot.** Each attempt runs in a task
//!   whose guard releases the receiver's slot and schedules a retry when the send panics.
//! - **Concurrency**: at most `delivery_workers` attempts at once, and at most
//!   `per_receiver_concurrency` for one receiver, so a slow receiver cannot starve the
//!   others. Each receiver's queue is FIFO; retries wait in a timer heap until their
//!   `next_attempt_at`.
//! - **Outcomes in batches.** A finished attempt sends its outcome to the recorder task,
//!   which writes everything that arrived meanwhile in one transaction
//!   (`record_deliveries`), at most one commit per `record_interval` (default 250 ms):
//!   while one commit runs or waits, the next batch accumulates. An attempt
//!   whose outcome was not committed before a crash is sent again after restart, with
//!   the same idempotency key (at-least-once).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strix_state::{DeliveryOutcome, OutboxEntry, OutboxItem, StateError, MAX_LIST_LIMIT};
use tokio::sync::mpsc;

use super::build::Payload;
use super::{lock, now_ms, Inner};
use crate::channels::{Attempt, DeliveryError};

/// Upper bound of one attempt, whatever the channel's own timeout says.
const MAX_ATTEMPT: Duration = Duration::from_secs(120);
/// Outcomes written in one transaction at most.
const RECORD_BATCH: usize = 1024;
/// First wait before reading the outbox again after a failed read; doubles per failure.
const READ_RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest wait between reads of the outbox after failures.
const READ_RETRY_MAX: Duration = Duration::from_secs(30);

/// Reads one page of pending outbox entries (`after_id`, `limit`), as
/// [`strix_state::StateStore::pending_outbox`]. A seam so a failing store can be tested.
pub(crate) type OutboxReader =
    Arc<dyn Fn(i64, usize) -> Result<Vec<OutboxEntry>, StateError> + Send + Sync>;

/// The reader over the pipeline's store.
pub(crate) fn store_reader(inner: &Arc<Inner>) -> OutboxReader {
    let store = inner.store.clone();
    Arc::new(move |after, limit| store.pending_outbox(after, limit))
}

/// One outbox entry waiting for (another) attempt.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: i64,
    pub receiver: String,
    pub channel: String,
    pub payload: JobPayload,
    pub attempts: u32,
    pub created_at: i64,
    pub due_at: i64,
    /// When its current attempt started (ms; 0 while not in flight).
    pub started_at: i64,
}

/// What a job sends.
#[derive(Debug, Clone)]
pub(crate) enum JobPayload {
    /// Decoded when the entry was built in this process.
    Decoded(Arc<Payload>),
    /// The stored JSON text of an entry read back from the outbox; decoded by the
    /// delivery task (off the dispatcher thread).
    Stored(Arc<str>),
}

impl Job {
    /// A job for the entry `id` just enqueued from `item`, whose payload is `payload`.
    pub fn from_item(id: i64, item: OutboxItem, payload: Arc<Payload>, now: i64) -> Job {
        Job {
            id,
            receiver: item.receiver,
            channel: item.channel,
            payload: JobPayload::Decoded(payload),
            attempts: 0,
            created_at: now,
            due_at: item.not_before,
            started_at: 0,
        }
    }

    fn from_entry(e: OutboxEntry) -> Job {
        Job {
            id: e.id,
            receiver: e.receiver,
            channel: e.channel,
            payload: JobPayload::Stored(e.payload.into()),
            attempts: e.attempts,
            created_at: e.created_at,
            due_at: e.next_attempt_at,
            started_at: 0,
        }
    }
}

/// Entries waiting, by receiver, plus retries waiting for their time.
#[derive(Default)]
pub(crate) struct Queue {
    ready: HashMap<String, VecDeque<Job>>,
    delayed: BinaryHeap<Reverse<(i64, i64)>>,
    delayed_jobs: HashMap<i64, Job>,
    /// Ids queued, delayed or in flight: a job is pushed once until its final outcome.
    known: HashSet<i64>,
    in_flight: HashMap<String, usize>,
    in_flight_total: usize,
    /// Reads of the outbox in progress; while any runs, forgotten ids are remembered in
    /// `forgotten` so the read does not queue an entry it saw before it was finished.
    scans: usize,
    forgotten: HashSet<i64>,
    /// Moving average of each receiver's attempt time (ms).
    latency_ms: HashMap<String, f64>,
}

/// A receiver whose attempts take this long on average (ms) gets its full concurrency;
/// a faster one [`PipelineOptions::fast_receiver_concurrency`](super::PipelineOptions).
pub(crate) const SLOW_RECEIVER_MS: f64 = 25.0;

impl Queue {
    /// Adds a job unless its id is already known. Returns whether it was added.
    pub fn push(&mut self, job: Job, now: i64) -> bool {
        if !self.known.insert(job.id) {
            return false;
        }
        self.place(job, now);
        true
    }

    fn place(&mut self, job: Job, now: i64) {
        if job.due_at <= now {
            self.ready
                .entry(job.receiver.clone())
                .or_default()
                .push_back(job);
        } else {
            self.delayed.push(Reverse((job.due_at, job.id)));
            self.delayed_jobs.insert(job.id, job);
        }
    }

    /// An entry read from the outbox: added unless it is known or was finished while the
    /// read ran. Returns whether it was added.
    fn push_scanned(&mut self, job: Job, now: i64) -> bool {
        if self.forgotten.contains(&job.id) {
            return false;
        }
        self.push(job, now)
    }

    fn begin_scan(&mut self) {
        self.scans += 1;
    }

    fn end_scan(&mut self) {
        self.scans = self.scans.saturating_sub(1);
        if self.scans == 0 {
            self.forgotten.clear();
        }
    }

    /// The final outcome of `id` has been written (or its write failed): the id may be
    /// queued again by a later read of the outbox if it is still pending there.
    fn forget(&mut self, id: i64) {
        self.known.remove(&id);
        if self.scans > 0 {
            self.forgotten.insert(id);
        }
    }

    /// Moves retries whose time has come to their receiver's queue.
    fn promote(&mut self, now: i64) {
        while let Some(Reverse((at, id))) = self.delayed.peek().copied() {
            if at > now {
                break;
            }
            self.delayed.pop();
            if let Some(job) = self.delayed_jobs.remove(&id) {
                self.ready
                    .entry(job.receiver.clone())
                    .or_default()
                    .push_back(job);
            }
        }
    }

    /// The next time a delayed job becomes due.
    fn next_due(&self) -> Option<i64> {
        self.delayed.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes as many jobs as the limits allow, in receiver-fair order.
    fn take_startable(
        &mut self,
        total_cap: usize,
        per_receiver_cap: impl Fn(&str) -> usize,
    ) -> Vec<Job> {
        let mut out = Vec::new();
        let mut receivers: Vec<String> = self.ready.keys().cloned().collect();
        receivers.sort_unstable();
        // Round-robin over receivers so one long queue does not delay the others.
        loop {
            let mut progressed = false;
            for r in &receivers {
                if self.in_flight_total >= total_cap {
                    return out;
                }
                let busy = self.in_flight.get(r).copied().unwrap_or(0);
                if busy >= per_receiver_cap(r) {
                    continue;
                }
                let Some(q) = self.ready.get_mut(r) else {
                    continue;
                };
                let Some(job) = q.pop_front() else {
                    continue;
                };
                if q.is_empty() {
                    self.ready.remove(r);
                }
                *self.in_flight.entry(r.clone()).or_default() += 1;
                self.in_flight_total += 1;
                out.push(job);
                progressed = true;
            }
            if !progressed {
                return out;
            }
        }
    }

    /// An attempt of `job` ended: with `retry_at`, it waits for its next attempt,
    /// otherwise it is finished; its id stays known until [`Queue::forget`].
    fn finished(&mut self, job: Job, retry_at: Option<i64>, now: i64) {
        if job.started_at > 0 {
            let took = (now - job.started_at).max(0) as f64;
            self.latency_ms
                .entry(job.receiver.clone())
                .and_modify(|l| *l = 0.8 * *l + 0.2 * took)
                .or_insert(took);
        }
        if let Some(n) = self.in_flight.get_mut(&job.receiver) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&job.receiver);
            }
        }
        self.in_flight_total = self.in_flight_total.saturating_sub(1);
        if let Some(at) = retry_at {
            let mut job = job;
            job.attempts = job.attempts.saturating_add(1);
            job.due_at = at;
            self.place(job, now);
        }
    }

    /// The receivers whose attempts take [`SLOW_RECEIVER_MS`] or more on average.
    fn slow_receivers(&self) -> HashSet<String> {
        self.latency_ms
            .iter()
            .filter(|(_, l)| **l >= SLOW_RECEIVER_MS)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Jobs not finished (queued, waiting for a retry, or in flight).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.known.len()
    }
}

/// Pages through the store's pending entries and queues those the queue does not know.
/// Returns how many were queued.
async fn load_pending(inner: &Arc<Inner>, read: &OutboxReader) -> Result<usize, String> {
    lock(&inner.queue).begin_scan();
    let result = load_pages(inner, read).await;
    lock(&inner.queue).end_scan();
    let added = result?;
    if added > 0 {
        inner
            .metrics
            .outbox_pending
            .inc_by(i64::try_from(added).unwrap_or(i64::MAX));
        inner.delivery_wake.notify_one();
    }
    Ok(added)
}

async fn load_pages(inner: &Arc<Inner>, read: &OutboxReader) -> Result<usize, String> {
    let mut after = 0i64;
    let mut added = 0usize;
    loop {
        let read = read.clone();
        let page = tokio::task::spawn_blocking(move || read(after, MAX_LIST_LIMIT))
            .await
            .map_err(|e| format!("outbox read task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let n = page.len();
        let now = now_ms();
        {
            let mut q = lock(&inner.queue);
            for e in page {
                after = after.max(e.id);
                if q.push_scanned(Job::from_entry(e), now) {
                    added += 1;
                }
            }
        }
        if n < MAX_LIST_LIMIT {
            return Ok(added);
        }
    }
}

/// When the outbox is read next: at start, after failures (with backoff), and every
/// `reconcile_interval` once a read succeeded.
struct OutboxReads {
    next: Instant,
    backoff: Duration,
    restored: bool,
}

impl OutboxReads {
    fn new() -> Self {
        OutboxReads {
            next: Instant::now(),
            backoff: READ_RETRY_MIN,
            restored: false,
        }
    }

    /// Reads the outbox if it is time to.
    async fn run_if_due(&mut self, inner: &Arc<Inner>, read: &OutboxReader) {
        if Instant::now() < self.next {
            return;
        }
        match load_pending(inner, read).await {
            Ok(added) => {
                if !self.restored {
                    if added > 0 {
                        tracing::info!(
                            restored = added,
                            "Pending notifications from the outbox queued for delivery."
                        );
                    }
                } else if added > 0 {
                    tracing::warn!(
                        added,
                        "Pending outbox entries that were not queued found; queued for delivery."
                    );
                }
                self.restored = true;
                self.backoff = READ_RETRY_MIN;
                self.next = Instant::now() + inner.opts.reconcile_interval;
            }
            Err(e) => {
                inner.metrics.outbox_read_failures.inc();
                let retry_in = self.backoff;
                tracing::error!(error = %e, retry_in_ms = retry_in.as_millis() as u64, "Cannot read the notification outbox; will retry.");
                self.next = Instant::now() + retry_in;
                self.backoff = (self.backoff * 2).min(READ_RETRY_MAX);
            }
        }
    }
}

/// Writes delivery outcomes in batches until every sender is gone.
async fn recorder(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<DeliveryOutcome>) {
    let mut batch: Vec<DeliveryOutcome> = Vec::new();
    let pace = inner.opts.record_interval;
    let mut last_commit: Option<Instant> = None;
    while let Some(first) = rx.recv().await {
        batch.push(first);
        // At most one commit per `record_interval`: each commit is an fsync, and the
        // store's connection is shared with the dispatcher.
        if let Some(at) = last_commit {
            let wait = pace.saturating_sub(at.elapsed());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        last_commit = Some(Instant::now());
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let items = std::mem::take(&mut batch);
        let finals: Vec<i64> = items
            .iter()
            .filter(|o| !matches!(o, DeliveryOutcome::Failed { .. }))
            .map(DeliveryOutcome::id)
            .collect();
        let store = inner.store.clone();
        let n = items.len();
        inner.metrics.record_batch.observe(n as f64);
        match tokio::task::spawn_blocking(move || {
            let r = store.record_deliveries(&items);
            (items, r)
        })
        .await
        {
            Ok((items, Ok(results))) => {
                for (o, r) in items.iter().zip(results) {
                    if let Err(e) = r {
                        tracing::warn!(id = o.id(), error = %e, "Cannot record a delivery outcome.");
                    }
                }
            }
            Ok((_, Err(e))) => {
                // Nothing of the batch was written: the entries stay pending and are sent
                // again by the next reconciliation or after a restart (at-least-once).
                tracing::error!(outcomes = n, error = %e, "Cannot record delivery outcomes.");
            }
            Err(e) => tracing::error!(error = %e, "Delivery bookkeeping task failed."),
        }
        let mut q = lock(&inner.queue);
        for id in finals {
            q.forget(id);
        }
    }
}

/// Releases an attempt's delivery slot when dropped, also when the send panicked: then
/// the attempt counts as failed and the job is retried (or given up once the retry policy
/// says so), so a panicking channel neither loses the notification nor its slot.
struct AttemptGuard {
    inner: Arc<Inner>,
    job: Option<Job>,
    record: mpsc::UnboundedSender<DeliveryOutcome>,
    /// Set when the attempt returned: `Some(retry_at)`.
    outcome: Option<Option<i64>>,
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        let Some(job) = self.job.take() else {
            return;
        };
        let now = now_ms();
        let retry_at = match self.outcome {
            Some(r) => r,
            None if std::thread::panicking() => panicked(&self.inner, &job, &self.record, now),
            // Cancelled (shutdown): the entry stays pending in the store.
            None => Some(now),
        };
        lock(&self.inner.queue).finished(job, retry_at, now);
        self.inner.delivery_wake.notify_one();
    }
}

/// The attempt of `job` panicked (or was cancelled): records a failed attempt and
/// returns its retry time, or gives up when the retry policy is exhausted.
fn panicked(
    inner: &Arc<Inner>,
    job: &Job,
    record: &mpsc::UnboundedSender<DeliveryOutcome>,
    now: i64,
) -> Option<i64> {
    inner.metrics.attempt_panics.inc();
    inner.metrics.failed(&job.receiver, &job.channel);
    let attempt = job.attempts.saturating_add(1);
    let error = "delivery attempt panicked".to_string();
    let elapsed = Duration::from_millis(u64::try_from(now - job.created_at).unwrap_or(0));
    let delay = inner.retry.next_delay(
        &Attempt {
            number: attempt,
            elapsed,
            retry_after: None,
        },
        &mut rand::rng(),
    );
    match delay {
        Some(d) => {
            inner.metrics.retries.inc();
            let next = now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            tracing::error!(id = job.id, receiver = %job.receiver, channel = %job.channel, attempt, retry_in_ms = d.as_millis() as u64, "Notification delivery attempt panicked; will retry.");
            let _ = record.send(DeliveryOutcome::Failed {
                id: job.id,
                attempt,
                next_attempt_at: next,
                error,
                at: now,
            });
            Some(next)
        }
        None => {
            tracing::error!(id = job.id, receiver = %job.receiver, channel = %job.channel, attempt, "Notification delivery attempt panicked; retries exhausted, given up.");
            give_up(inner, record, job.id, "retries_exhausted", error, now);
            None
        }
    }
}

/// Logs how an attempt task ended if it did not end normally.
fn log_join(res: Result<(), tokio::task::JoinError>) {
    if let Err(e) = res {
        if e.is_panic() {
            tracing::error!(error = %e, "A notification delivery task panicked; its job is retried.");
        } else if !e.is_cancelled() {
            tracing::error!(error = %e, "A notification delivery task failed.");
        }
    }
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let read = store_reader(&inner);
    run_with(inner, read).await;
}

/// [`run`] reading the outbox through `read`.
pub(crate) async fn run_with(inner: Arc<Inner>, read: OutboxReader) {
    let workers = inner.opts.delivery_workers.max(1);
    let default_cap = inner.opts.per_receiver_concurrency.clamp(1, workers);
    let fast_cap = inner.opts.fast_receiver_concurrency.clamp(1, default_cap);
    // A configured `max_concurrency` is the receiver's limit. Otherwise a receiver that
    // answers within SLOW_RECEIVER_MS gets `fast_cap` attempts at once (enough to keep
    // it busy; more connections only cost CPU on both ends), a slower one `default_cap`.
    let per_receiver_cap = |r: &str, slow: &HashSet<String>| match inner.config.concurrency.get(r) {
        Some(&n) => n.max(1),
        None if slow.contains(r) => default_cap,
        None => fast_cap,
    };
    let (tx, rx) = mpsc::unbounded_channel::<DeliveryOutcome>();
    let recorder_task = tokio::spawn(recorder(inner.clone(), rx));
    let mut reads = OutboxReads::new();
    let mut tasks = tokio::task::JoinSet::new();
    while !inner.shutdown.load(Ordering::Acquire) {
        reads.run_if_due(&inner, &read).await;
        let now = now_ms();
        let (start, next_due) = {
            let mut q = lock(&inner.queue);
            q.promote(now);
            let slow = q.slow_receivers();
            (
                q.take_startable(workers, |r| per_receiver_cap(r, &slow)),
                q.next_due(),
            )
        };
        for mut job in start {
            job.started_at = now;
            let inner2 = inner.clone();
            let tx2 = tx.clone();
            tasks.spawn(async move {
                let mut guard = AttemptGuard {
                    inner: inner2.clone(),
                    job: Some(job),
                    record: tx2.clone(),
                    outcome: None,
                };
                if let Some(job) = guard.job.as_ref() {
                    guard.outcome = Some(deliver(&inner2, job, &tx2).await);
                }
            });
        }
        while let Some(res) = tasks.try_join_next() {
            log_join(res);
        }
        let until_read = reads.next.saturating_duration_since(Instant::now());
        let wait = match next_due {
            Some(at) => inner
                .opts
                .tick
                .min(Duration::from_millis(u64::try_from(at - now).unwrap_or(0))),
            None => inner.opts.tick,
        }
        .min(until_read);
        tokio::select! {
            _ = inner.delivery_wake.notified() => {}
            _ = inner.shutdown_notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // Let deliveries in flight finish (bounded by their timeouts) so their outcome is
    // recorded; anything unrecorded is sent again after restart (at-least-once).
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(res) = tasks.join_next().await {
            log_join(res);
        }
    });
    if wait.await.is_err() {
        tasks.abort_all();
    }
    drop(tx);
    if tokio::time::timeout(Duration::from_secs(10), recorder_task)
        .await
        .is_err()
    {
        tracing::warn!("Delivery outcomes still being recorded at shutdown.");
    }
}

/// Ends entry `id` without another attempt: counted as dropped for `reason`, no longer
/// pending, and recorded as given up with `error`.
fn give_up(
    inner: &Inner,
    record: &mpsc::UnboundedSender<DeliveryOutcome>,
    id: i64,
    reason: &'static str,
    error: String,
    at: i64,
) {
    inner.metrics.dropped(reason);
    inner.metrics.outbox_pending.dec();
    // The recorder may have stopped (shutdown): the entry stays pending in the store.
    let _ = record.send(DeliveryOutcome::GaveUp { id, error, at });
}

/// One attempt; returns the time of the next attempt if it is to be retried.
async fn deliver(
    inner: &Arc<Inner>,
    job: &Job,
    record: &mpsc::UnboundedSender<DeliveryOutcome>,
) -> Option<i64> {
    let id = job.id;
    let decoded = match &job.payload {
        JobPayload::Decoded(p) => Ok(p.clone()),
        JobPayload::Stored(text) => serde_json::from_str::<Payload>(text).map(Arc::new),
    };
    let payload = match decoded {
        Ok(p) => p,
        Err(err) => {
            let msg = format!("undecodable outbox payload: {err}");
            tracing::error!(id, receiver = %job.receiver, "{msg}");
            give_up(inner, record, id, "invalid_payload", msg, now_ms());
            return None;
        }
    };
    let channel = inner
        .channels()
        .get(&job.receiver)
        .and_then(|c| c.get(payload.channel_index))
        .filter(|c| c.kind().as_str() == job.channel);
    let Some(channel) = channel else {
        let msg = format!(
            "receiver {:?} has no {} channel #{} any more",
            job.receiver, job.channel, payload.channel_index
        );
        tracing::warn!(id, "{msg}; notification dropped");
        give_up(inner, record, id, "unknown_receiver", msg, now_ms());
        return None;
    };
    let kind = channel.kind();
    let started = Instant::now();
    let result = match tokio::time::timeout(MAX_ATTEMPT, channel.send(&payload.notification)).await
    {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::retryable(kind, "attempt timed out")),
    };
    inner
        .metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    let receiver = &job.receiver;
    let now = now_ms();
    match result {
        Ok(receipt) => {
            if !receipt.skipped {
                inner.metrics.sent(receiver, kind.as_str());
            }
            inner.metrics.outbox_pending.dec();
            let mut summary = if receipt.skipped {
                "skipped (send_resolved: false)".to_string()
            } else {
                match receipt.status {
                    Some(s) => format!("status {s}"),
                    None => "ok".to_string(),
                }
            };
            if !receipt.ids.is_empty() {
                summary.push_str(&format!(" ids {}", receipt.ids.join(",")));
            }
            tracing::debug!(id, receiver = %receiver, channel = %kind, "Notification delivered.");
            let _ = record.send(DeliveryOutcome::Delivered {
                id,
                at: now,
                response: summary,
            });
            None
        }
        Err(err) => {
            inner.metrics.failed(receiver, kind.as_str());
            let attempt = job.attempts.saturating_add(1);
            let msg = err.to_string();
            let delay = if err.is_retryable() {
                let elapsed =
                    Duration::from_millis(u64::try_from(now - job.created_at).unwrap_or(0));
                inner.retry.next_delay(
                    &Attempt {
                        number: attempt,
                        elapsed,
                        retry_after: err.retry_after,
                    },
                    &mut rand::rng(),
                )
            } else {
                None
            };
            match delay {
                Some(d) => {
                    inner.metrics.retries.inc();
                    let next = now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    tracing::info!(id, receiver = %receiver, channel = %kind, attempt, retry_in_ms = d.as_millis() as u64, error = %msg, "Notification delivery failed; will retry.");
                    let _ = record.send(DeliveryOutcome::Failed {
                        id,
                        attempt,
                        next_attempt_at: next,
                        error: msg,
                        at: now,
                    });
                    Some(next)
                }
                None => {
                    let reason = if err.is_retryable() {
                        "retries_exhausted"
                    } else {
                        "permanent_error"
                    };
                    tracing::warn!(id, receiver = %receiver, channel = %kind, attempt, error = %msg, "Notification delivery given up.");
                    give_up(inner, record, id, reason, msg, now);
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, receiver: &str, due_at: i64) -> Job {
        Job {
            id,
            receiver: receiver.into(),
            channel: "webhook".into(),
            payload: JobPayload::Decoded(Arc::new(Payload {
                channel_index: 0,
                notification: super::super::build::test_notification(receiver, "", 0),
            })),
            attempts: 0,
            created_at: 0,
            due_at,
            started_at: 0,
        }
    }

    #[test]
    fn queue_limits_per_receiver_and_total_and_dedups() {
        let mut q = Queue::default();
        for i in 0..10 {
            assert!(q.push(job(i, "a", 0), 0));
        }
        for i in 10..13 {
            assert!(q.push(job(i, "b", 0), 0));
        }
        assert!(!q.push(job(3, "a", 0), 0), "a known id is not queued twice");
        let started = q.take_startable(6, |_| 4);
        assert_eq!(started.len(), 6);
        assert_eq!(started.iter().filter(|j| j.receiver == "a").count(), 3);
        assert_eq!(started.iter().filter(|j| j.receiver == "b").count(), 3);
        // a has 3 in flight; cap 4 lets one more through once the total allows it.
        let more = q.take_startable(8, |_| 4);
        assert_eq!(
            more.iter().map(|j| j.receiver.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(q.take_startable(100, |_| 4).is_empty(), "a is at its cap");
        let ids: Vec<i64> = started.iter().chain(&more).map(|j| j.id).collect();
        for j in started.into_iter().chain(more) {
            q.finished(j, None, 0);
        }
        assert!(
            !q.push(job(ids[0], "a", 0), 0),
            "a finished id stays known until its outcome is recorded"
        );
        for id in ids {
            q.forget(id);
        }
        assert_eq!(q.len(), 6);
        assert_eq!(q.take_startable(100, |_| 4).len(), 4);
    }

    #[test]
    fn receivers_answering_slowly_are_told_apart() {
        let mut q = Queue::default();
        for i in 0..4 {
            q.push(job(i, if i < 2 { "fast" } else { "slow" }, 0), 0);
        }
        let mut started = q.take_startable(8, |_| 8);
        assert_eq!(started.len(), 4);
        assert!(q.slow_receivers().is_empty(), "not heard from: fast");
        for j in &mut started {
            j.started_at = 1_000;
        }
        for j in started {
            let took = if j.receiver == "fast" { 3 } else { 400 };
            q.finished(j, None, 1_000 + took);
        }
        assert_eq!(q.slow_receivers(), HashSet::from(["slow".to_string()]));
        // Fast answers bring the average back under the threshold.
        for i in 10..30 {
            q.push(job(i, "slow", 0), 0);
            let mut j = q.take_startable(8, |_| 8).remove(0);
            j.started_at = 2_000;
            q.finished(j, None, 2_001);
        }
        assert!(q.slow_receivers().is_empty());
    }

    #[test]
    fn retries_wait_for_their_time() {
        let mut q = Queue::default();
        q.push(job(1, "a", 0), 0);
        let j = q.take_startable(4, |_| 4).remove(0);
        q.finished(j, Some(500), 10);
        assert!(q.take_startable(4, |_| 4).is_empty());
        assert_eq!(q.next_due(), Some(500));
        q.promote(499);
        assert!(q.take_startable(4, |_| 4).is_empty());
        q.promote(500);
        let again = q.take_startable(4, |_| 4);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);
        assert_eq!(q.len(), 1);
    }
}
