//! The delivery scheduler: reads due outbox entries, runs up to `delivery_workers`
//! deliveries at once (at most half of them for one receiver), and records each outcome
//! in the store. Woken on enqueue; otherwise polls every `tick` (retries are due by
//! their persisted `next_attempt_at`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strix_state::OutboxEntry;
use tokio::sync::Semaphore;

use super::build::Payload;
use super::{lock, now_ms, Inner};
use crate::channels::{Attempt, DeliveryError};

/// Upper bound of one attempt, whatever the channel's own timeout says.
const MAX_ATTEMPT: Duration = Duration::from_secs(120);
const BATCH: usize = 256;

#[derive(Default)]
struct InFlight {
    ids: HashSet<i64>,
    per_receiver: HashMap<String, usize>,
}

/// Removes an entry from the in-flight set when its delivery task ends (even by panic).
struct Guard {
    inflight: Arc<Mutex<InFlight>>,
    id: i64,
    receiver: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut f = lock(&self.inflight);
        f.ids.remove(&self.id);
        if let Some(n) = f.per_receiver.get_mut(&self.receiver) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                f.per_receiver.remove(&self.receiver);
            }
        }
    }
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let workers = inner.opts.delivery_workers.max(1);
    let per_receiver_cap = workers.div_ceil(2).max(1);
    let sem = Arc::new(Semaphore::new(workers));
    let inflight = Arc::new(Mutex::new(InFlight::default()));
    let mut tasks = tokio::task::JoinSet::new();
    while !inner.shutdown.load(Ordering::Acquire) {
        let store = inner.store.clone();
        let now = now_ms();
        let due = match tokio::task::spawn_blocking(move || store.due(now, BATCH)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Cannot read the notification outbox.");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "Outbox read task failed.");
                Vec::new()
            }
        };
        for e in due {
            {
                let f = lock(&inflight);
                if f.ids.contains(&e.id)
                    || f.per_receiver.get(&e.receiver).copied().unwrap_or(0) >= per_receiver_cap
                {
                    continue;
                }
            }
            let Ok(permit) = sem.clone().try_acquire_owned() else {
                break;
            };
            {
                let mut f = lock(&inflight);
                f.ids.insert(e.id);
                *f.per_receiver.entry(e.receiver.clone()).or_default() += 1;
            }
            let guard = Guard {
                inflight: inflight.clone(),
                id: e.id,
                receiver: e.receiver.clone(),
            };
            let inner2 = inner.clone();
            tasks.spawn(async move {
                deliver(&inner2, e).await;
                drop(guard);
                drop(permit);
                inner2.delivery_wake.notify_one();
            });
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = inner.delivery_wake.notified() => {}
            _ = inner.shutdown_notify.notified() => {}
            _ = tokio::time::sleep(inner.opts.tick) => {}
        }
    }
    // Let deliveries in flight finish (bounded by their timeouts) so their outcome is
    // recorded; anything unrecorded is sent again after restart (at-least-once).
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    });
    if wait.await.is_err() {
        tasks.abort_all();
    }
}

async fn blocking<F>(inner: &Arc<Inner>, f: F)
where
    F: FnOnce(&dyn strix_state::StateStore) -> Result<(), strix_state::StateError> + Send + 'static,
{
    let store = inner.store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "Cannot record a delivery outcome."),
        Err(e) => tracing::error!(error = %e, "Delivery bookkeeping task failed."),
    }
}

async fn deliver(inner: &Arc<Inner>, e: OutboxEntry) {
    let id = e.id;
    let payload: Payload = match serde_json::from_value(e.payload.clone()) {
        Ok(p) => p,
        Err(err) => {
            let msg = format!("undecodable outbox payload: {err}");
            tracing::error!(id, receiver = %e.receiver, "{msg}");
            inner.metrics.dropped("invalid_payload");
            inner.metrics.outbox_pending.dec();
            blocking(inner, move |s| s.give_up(id, &msg, now_ms())).await;
            return;
        }
    };
    let channel = inner
        .channels()
        .get(&e.receiver)
        .and_then(|c| c.get(payload.channel_index))
        .filter(|c| c.kind().as_str() == e.channel);
    let Some(channel) = channel else {
        let msg = format!(
            "receiver {:?} has no {} channel #{} any more",
            e.receiver, e.channel, payload.channel_index
        );
        tracing::warn!(id, "{msg}; notification dropped");
        inner.metrics.dropped("unknown_receiver");
        inner.metrics.outbox_pending.dec();
        blocking(inner, move |s| s.give_up(id, &msg, now_ms())).await;
        return;
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
    let receiver = e.receiver.clone();
    let now = now_ms();
    match result {
        Ok(receipt) => {
            if !receipt.skipped {
                inner.metrics.sent(&receiver, kind.as_str());
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
            blocking(inner, move |s| s.mark_delivered(id, now, &summary)).await;
        }
        Err(err) => {
            inner.metrics.failed(&receiver, kind.as_str());
            let attempt = e.attempts.saturating_add(1);
            let msg = err.to_string();
            let delay = if err.is_retryable() {
                let elapsed = Duration::from_millis(u64::try_from(now - e.created_at).unwrap_or(0));
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
                    blocking(inner, move |s| s.mark_failed(id, attempt, next, &msg, now)).await;
                }
                None => {
                    let reason = if err.is_retryable() {
                        "retries_exhausted"
                    } else {
                        "permanent_error"
                    };
                    inner.metrics.dropped(reason);
                    inner.metrics.outbox_pending.dec();
                    tracing::warn!(id, receiver = %receiver, channel = %kind, attempt, error = %msg, "Notification delivery given up.");
                    blocking(inner, move |s| s.give_up(id, &msg, now)).await;
                }
            }
        }
    }
}
