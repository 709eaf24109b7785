//! Delivery under faults: a failing outbox read, entries the queue does not know, and a
//! channel that panics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use strix_state::{OutboxItem, OutboxStatus, SqliteStore, StateError, StateStore};

use super::build::{test_notification, Payload};
use super::delivery::OutboxReader;
use super::*;
use crate::channels::test_support::{MockServer, Reply};
use crate::channels::{Channel, ChannelKind, DeliveryError, DeliveryReceipt, Notification};

fn store() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn StateStore> = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    (dir, s)
}

fn config(url: &str) -> RoutingConfig {
    crate::routing::AlertmanagerConfig::load(&format!(
        "route:\n  receiver: hook\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}\n"
    ))
    .unwrap()
}

fn opts(reconcile: Duration, per_receiver: usize) -> PipelineOptions {
    PipelineOptions {
        external_url: "http://strix.test".into(),
        reconcile_interval: reconcile,
        per_receiver_concurrency: per_receiver,
        record_interval: Duration::from_millis(10),
        ..PipelineOptions::default()
    }
}

/// Writes a webhook notification for `hook` straight into the outbox, as a previous
/// process would have left it.
fn enqueue(st: &dyn StateStore, key: &str) -> i64 {
    let payload = serde_json::to_string(&Payload {
        channel_index: 0,
        notification: test_notification("hook", "http://strix.test", now_ms()),
    })
    .unwrap();
    st.enqueue(
        &OutboxItem {
            idempotency_key: key.into(),
            receiver: "hook".into(),
            channel: "webhook".into(),
            payload,
            not_before: 0,
        },
        now_ms(),
    )
    .unwrap()
    .id
}

/// Reads through the store, failing the first `fail` reads as a busy database would.
fn failing_reader(st: Arc<dyn StateStore>, fail: usize, calls: Arc<AtomicUsize>) -> OutboxReader {
    Arc::new(move |after, limit| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n < fail {
            return Err(StateError::Unavailable {
                message: "reading the outbox".into(),
                source: "database is locked".into(),
            });
        }
        st.pending_outbox(after, limit)
    })
}

async fn wait_delivered(st: &dyn StateStore, ids: &[i64], within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let done = ids.iter().all(|id| {
            st.get_outbox_entry(*id)
                .unwrap()
                .is_some_and(|e| e.status == OutboxStatus::Delivered)
        });
        if done {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_outbox_read_at_start_is_retried() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let (_d, st) = store();
    let id = enqueue(st.as_ref(), "left-by-previous-run");
    let mut reg = prometheus_client::registry::Registry::default();
    let p = AlertPipeline::new(
        config(&srv.url("/hook")),
        st.clone(),
        opts(Duration::from_secs(3600), 4),
        &mut reg,
    )
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    p.start_delivery_with(
        failing_reader(st.clone(), 1, calls.clone()),
        &tokio::runtime::Handle::current(),
    );
    assert!(
        wait_delivered(st.as_ref(), &[id], Duration::from_secs(10)).await,
        "the pending entry was not delivered after the first read failed"
    );
    assert_eq!(srv.requests().len(), 1);
    assert!(calls.load(Ordering::SeqCst) >= 2);
    assert_eq!(p.inner.metrics.outbox_read_failures.get(), 1);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_queues_pending_entries_the_queue_does_not_know() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let (_d, st) = store();
    let mut reg = prometheus_client::registry::Registry::default();
    let p = AlertPipeline::new(
        config(&srv.url("/hook")),
        st.clone(),
        opts(Duration::from_millis(50), 4),
        &mut reg,
    )
    .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    p.start_delivery_with(
        failing_reader(st.clone(), 0, calls.clone()),
        &tokio::runtime::Handle::current(),
    );
    // Wait for the first read, then write entries behind the queue's back.
    let start = Instant::now();
    while calls.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ids = [
        enqueue(st.as_ref(), "unknown-1"),
        enqueue(st.as_ref(), "unknown-2"),
    ];
    assert!(wait_delivered(st.as_ref(), &ids, Duration::from_secs(10)).await);
    // Several more reconciliations run meanwhile: nothing is sent twice.
    let seen = calls.load(Ordering::SeqCst);
    let start = Instant::now();
    while calls.load(Ordering::SeqCst) < seen + 3 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(calls.load(Ordering::SeqCst) >= seen + 3);
    assert_eq!(srv.requests().len(), 2);
    p.shutdown().await;
}

/// A webhook-kind channel whose first send panics.
#[derive(Debug, Default)]
struct PanicsOnce {
    calls: AtomicUsize,
}

#[async_trait]
impl Channel for PanicsOnce {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    async fn send(&self, _n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("channel bug");
        }
        Ok(DeliveryReceipt {
            channel: ChannelKind::Webhook,
            status: Some(200),
            skipped: false,
            ids: Vec::new(),
            attempts: 1,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_send_is_retried_and_frees_its_slot() {
    let (_d, st) = store();
    let ids = [
        enqueue(st.as_ref(), "first"),
        enqueue(st.as_ref(), "second"),
    ];
    let cfg = config("http://127.0.0.1:9/unused");
    let mut channels = ChannelSet::default();
    let chan = Arc::new(PanicsOnce::default());
    channels.insert("hook", vec![Box::new(SharedChannel(chan.clone()))]);
    let mut reg = prometheus_client::registry::Registry::default();
    // One slot for the receiver: a leaked slot would stop it for good.
    let p = AlertPipeline::with_channels(
        cfg,
        channels,
        st.clone(),
        opts(Duration::from_secs(3600), 1),
        &mut reg,
    )
    .unwrap();
    p.start_delivery_with(
        delivery::store_reader(&p.inner),
        &tokio::runtime::Handle::current(),
    );
    assert!(
        wait_delivered(st.as_ref(), &ids, Duration::from_secs(10)).await,
        "after a panicking attempt the receiver stopped or the job was lost"
    );
    assert_eq!(chan.calls.load(Ordering::SeqCst), 3);
    assert_eq!(p.inner.metrics.attempt_panics.get(), 1);
    let panicked = ids
        .iter()
        .map(|id| st.get_outbox_entry(*id).unwrap().unwrap())
        .find(|e| e.attempts > 0)
        .expect("the panicked attempt is recorded as failed");
    assert_eq!(panicked.status, OutboxStatus::Delivered);
    p.shutdown().await;
}

/// Lets the test keep a handle on the channel the pipeline owns.
#[derive(Debug)]
struct SharedChannel(Arc<PanicsOnce>);

#[async_trait]
impl Channel for SharedChannel {
    fn kind(&self) -> ChannelKind {
        self.0.kind()
    }

    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        self.0.send(n).await
    }
}
