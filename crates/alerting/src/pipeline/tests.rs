use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strix_state::{SqliteStore, StateStore};

use super::*;
use crate::channels::test_support::{MockServer, Recorded, Reply};
use crate::channels::webhook::{verify_signature, IDEMPOTENCY_HEADER};

fn config(yaml: &str) -> RoutingConfig {
    crate::routing::AlertmanagerConfig::load(yaml).unwrap()
}

fn pipeline(cfg: &str, store: Arc<dyn StateStore>) -> AlertPipeline {
    pipeline_and_metrics(cfg, store).0
}

fn pipeline_and_metrics(
    cfg: &str,
    store: Arc<dyn StateStore>,
) -> (AlertPipeline, prometheus_client::registry::Registry) {
    let mut reg = prometheus_client::registry::Registry::default();
    let p = AlertPipeline::new(
        config(cfg),
        store,
        PipelineOptions {
            external_url: "http://strix.test".into(),
            ..PipelineOptions::default()
        },
        &mut reg,
    )
    .unwrap();
    p.start(&tokio::runtime::Handle::current());
    (p, reg)
}

fn alert(name: &str, sev: &str, ends_at: Option<i64>) -> IncomingAlert {
    IncomingAlert {
        labels: BTreeMap::from([
            ("alertname".to_string(), name.to_string()),
            ("severity".to_string(), sev.to_string()),
        ]),
        annotations: BTreeMap::from([("summary".to_string(), format!("{name} fired"))]),
        starts_at: 1_700_000_000_000,
        ends_at,
        generator_url: "http://strix.test/graph".into(),
        value: Some(42.0),
        source: AlertSource::Rule,
    }
}

async fn wait_requests(srv: &MockServer, n: usize, within: Duration) -> Vec<Recorded> {
    let start = Instant::now();
    loop {
        let r = srv.requests();
        if r.len() >= n || start.elapsed() > within {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn store() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn StateStore> = Arc::new(SqliteStore::open(dir.path().join("state.db")).unwrap());
    (dir, s)
}

fn cfg_for(url: &str, extra_receiver: &str, extra: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}\n        signing_secret: s3cret\n{extra_receiver}{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_and_resolved_reach_the_webhook_signed() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let (_d, st) = store();
    let p = pipeline(&cfg_for(&srv.url("/hook"), "", ""), st.clone());
    let t0 = Instant::now();
    p.ingest(vec![alert("HighLatency", "warning", None)])
        .unwrap();
    let reqs = wait_requests(&srv, 1, Duration::from_secs(5)).await;
    assert_eq!(reqs.len(), 1, "no webhook call");
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t0.elapsed()
    );
    let body = reqs[0].json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "HighLatency");
    let ts = reqs[0].header("x-strix-timestamp").unwrap();
    let sig = reqs[0].header("x-strix-signature").unwrap();
    verify_signature(b"s3cret", ts, &reqs[0].body, sig, Duration::from_secs(300)).unwrap();
    assert!(reqs[0].header(IDEMPOTENCY_HEADER).is_some());
    // The alert is recorded as firing.
    let rec = st
        .active_alert_by_fingerprint(body["alerts"][0]["fingerprint"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(rec.state, AlertState::Firing);
    // Resolution.
    p.ingest(vec![alert(
        "HighLatency",
        "warning",
        Some(strix_core::now_millis() - 1),
    )])
    .unwrap();
    let reqs = wait_requests(&srv, 2, Duration::from_secs(5)).await;
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].json()["status"], "resolved");
    assert_eq!(
        st.get_alert(&rec.id).unwrap().unwrap().state,
        AlertState::Resolved
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_until_delivered_and_restart_does_not_resend() {
    let srv = MockServer::start(vec![
        Reply::status(500, "down"),
        Reply::status(503, "down"),
        Reply::status(200, "ok"),
    ])
    .await;
    let (_d, st) = store();
    let cfg = cfg_for(&srv.url("/hook"), "", "");
    let p = pipeline(&cfg, st.clone());
    p.ingest(vec![alert("Disk", "warning", None)]).unwrap();
    let reqs = wait_requests(&srv, 3, Duration::from_secs(10)).await;
    assert_eq!(reqs.len(), 3);
    let keys: Vec<_> = reqs
        .iter()
        .map(|r| r.header(IDEMPOTENCY_HEADER).unwrap().to_string())
        .collect();
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    // Delivered: nothing pending.
    let start = Instant::now();
    while !st.due(i64::MAX, 10).unwrap().is_empty() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(st.due(i64::MAX, 10).unwrap().is_empty());
    p.shutdown().await;
    // A restart rebuilds the group from the store and decides the same notification:
    // its key is already in the outbox, so nothing is sent again.
    let p = pipeline(&cfg, st.clone());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(srv.requests().len(), 3);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_silence_and_escalation() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let lead = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let (_d, st) = store();
    let extra_recv = format!(
        "    rate_limit: {{max: 2, per: 1h}}\n  - name: lead\n    webhook_configs:\n      - url: {}\n",
        lead.url("/lead")
    );
    let esc = "escalation_policies:\n  critical:\n    levels:\n      - delay: 0s\n      - delay: 1s\n        receivers: [lead]\n";
    let p = pipeline(&cfg_for(&srv.url("/hook"), &extra_recv, esc), st.clone());
    // Silence one alert.
    st.upsert_silence(
        &strix_state::SilenceInput {
            id: None,
            matchers: vec![strix_state::SilenceMatcher {
                name: "alertname".into(),
                value: "Muted".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: strix_core::now_millis(),
            ends_at: strix_core::now_millis() + 3_600_000,
            created_by: "t".into(),
            comment: "".into(),
        },
        strix_core::now_millis(),
    )
    .unwrap();
    p.silences_changed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.ingest(vec![alert("Muted", "warning", None)]).unwrap();
    p.ingest(vec![alert("Page", "critical", None)]).unwrap();
    let reqs = wait_requests(&srv, 1, Duration::from_secs(5)).await;
    // Escalation: the lead is paged after 1s.
    let paged = wait_requests(&lead, 1, Duration::from_secs(5)).await;
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0].json()["alerts"][0]["labels"]["alertname"], "Page");
    assert_eq!(reqs[0].json()["alerts"][0]["labels"]["alertname"], "Page");
    // Acknowledging a second critical alert stops its escalation.
    let mut a2 = alert("Page2", "critical", None);
    a2.starts_at = strix_core::now_millis();
    p.ingest(vec![a2]).unwrap();
    let reqs = wait_requests(&srv, 2, Duration::from_secs(5)).await;
    assert_eq!(reqs.len(), 2);
    let fp = reqs[1].json()["alerts"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let rec = st.active_alert_by_fingerprint(&fp).unwrap().unwrap();
    p.acknowledge(&rec.id, "alice", "on it").unwrap();
    // Rate limit: a third group is refused (max 2 per hour).
    p.ingest(vec![alert("Third", "warning", None)]).unwrap();
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(lead.requests().len(), 1, "acknowledged alert escalated");
    let names: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| {
            r.json()["alerts"][0]["labels"]["alertname"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(!names.contains(&"Muted".to_string()), "{names:?}");
    assert!(!names.contains(&"Third".to_string()), "{names:?}");
    assert_eq!(
        st.get_alert(&rec.id).unwrap().unwrap().state,
        AlertState::Acknowledged
    );
    p.shutdown().await;
}

#[test]
fn bad_alerts_are_refused_and_secrets_masked() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _g = rt.enter();
    let (_d, st) = store();
    let mut reg = prometheus_client::registry::Registry::default();
    let cfg = cfg_for("http://127.0.0.1:9/x", "", "");
    let p = AlertPipeline::new(config(&cfg), st, PipelineOptions::default(), &mut reg).unwrap();
    let mut a = alert("X", "info", None);
    a.labels.insert("bad-name".into(), "v".into());
    let e = p.ingest(vec![a]).unwrap_err();
    assert_eq!(e.class(), strix_core::ErrorClass::BadInput);
    let mut a = alert("X", "info", None);
    a.labels.clear();
    assert!(p.ingest(vec![a]).is_err());
    p.set_config_yaml(&cfg);
    let y = p.config_yaml();
    assert!(!y.contains("s3cret") && !y.contains("127.0.0.1:9"), "{y}");
    assert_eq!(p.receivers(), vec!["hook".to_string()]);
    assert!(default_routing_config().is_ok());
}

fn pipeline_with_bus(
    cfg: &str,
    store: Arc<dyn StateStore>,
    bus: Arc<strix_core::events::EventBus>,
) -> AlertPipeline {
    let mut reg = prometheus_client::registry::Registry::default();
    let p = AlertPipeline::new(
        config(cfg),
        store,
        PipelineOptions {
            external_url: "http://strix.test".into(),
            events: Some(bus),
            ..PipelineOptions::default()
        },
        &mut reg,
    )
    .unwrap();
    p.start(&tokio::runtime::Handle::current());
    p
}

fn alert_events(bus: &strix_core::events::EventBus) -> Vec<serde_json::Value> {
    bus.since(0, 10_000)
        .events
        .into_iter()
        .filter(|e| e.kind == strix_core::events::kind::ALERT)
        .map(|e| serde_json::from_str(e.data.as_str()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_are_published_and_operator_resolve_notifies_at_once() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let (_d, st) = store();
    let bus = Arc::new(strix_core::events::EventBus::default());
    // A long group_interval: the resolved notice must not wait for it.
    let cfg = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1h\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
        srv.url("/hook")
    );
    let p = pipeline_with_bus(&cfg, st.clone(), bus.clone());
    p.ingest(vec![alert("DiskFull", "warning", None)]).unwrap();
    let reqs = wait_requests(&srv, 1, Duration::from_secs(5)).await;
    assert_eq!(
        reqs.len(),
        1,
        "{:?}",
        reqs.iter().map(|r| r.json()).collect::<Vec<_>>()
    );
    let ev = alert_events(&bus);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["state"], "firing");
    assert_eq!(ev[0]["labels"]["alertname"], "DiskFull");
    assert_eq!(ev[0]["severity"], "warning");
    assert_eq!(ev[0]["value"], 42.0);
    let id = ev[0]["id"].as_str().unwrap().to_string();
    assert_eq!(ev[0]["startsAt"], "2023-11-14T22:13:20.000Z");

    // A re-send of the same firing alert is no state change: no event.
    p.ingest(vec![alert("DiskFull", "warning", None)]).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(alert_events(&bus).len(), 1, "{:?}", alert_events(&bus));

    p.acknowledge(&id, "alice", "looking").unwrap();
    let ev = alert_events(&bus);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["state"], "acknowledged");
    assert_eq!(ev[1]["acknowledgedBy"], "alice");

    let t0 = Instant::now();
    p.resolve(&id, "bob", "fixed").unwrap();
    let ev = alert_events(&bus);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[2]["state"], "resolved");
    assert_eq!(ev[2]["id"], id.as_str());
    let reqs = wait_requests(&srv, 2, Duration::from_secs(5)).await;
    assert_eq!(reqs.len(), 2, "no resolved notice");
    assert_eq!(reqs[1].json()["status"], "resolved");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "resolved notice took {:?}",
        t0.elapsed()
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_groups_are_delivered_once_and_recorded() {
    let srv = MockServer::start_bounded(vec![Reply::status(200, "ok")], 2_000).await;
    let (_d, st) = store();
    let cfg = format!(
        "route:\n  receiver: hook\n  group_by: [alertname, i]\n  group_wait: 0s\n  group_interval: 1h\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n",
        srv.url("/hook")
    );
    let (p, reg) = pipeline_and_metrics(&cfg, st.clone());
    const N: usize = 600;
    let batch: Vec<IncomingAlert> = (0..N)
        .map(|i| {
            let mut a = alert("Flood", "warning", None);
            a.labels.insert("i".into(), i.to_string());
            a
        })
        .collect();
    // The same alert twice in one batch is one alert.
    let mut twice = batch.clone();
    twice.push(batch[0].clone());
    p.ingest(twice).unwrap();
    let reqs = wait_requests(&srv, N, Duration::from_secs(30)).await;
    assert_eq!(reqs.len(), N);
    let mut seen: Vec<String> = reqs
        .iter()
        .map(|r| r.json()["groupLabels"]["i"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), N, "every group notified exactly once");
    // The flood was decided in slices that start small (32, 64, 128, 256, 121 alerts),
    // so the first notifications left before most of it was processed.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    let small_batches: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("strix_notifications_enqueue_batch_size_bucket{le=\"64.0\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(small_batches >= 2, "{text}");
    // Every outcome reaches the store (in batches); nothing stays pending.
    let start = Instant::now();
    loop {
        let pending = st.pending_outbox(0, strix_state::MAX_LIST_LIMIT).unwrap();
        if pending.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} entries still pending",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (log, total) = st
        .delivery_log(&strix_state::DeliveryLogQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total, N as u64);
    assert!(log
        .iter()
        .all(|l| l.status == strix_state::DeliveryStatus::Delivered));
    let (alerts, total) = st
        .list_alerts(&strix_state::AlertQuery {
            states: vec![AlertState::Firing],
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total, N as u64, "{alerts:?}");
    p.shutdown().await;
    // After a restart nothing is sent again.
    let before = srv.requests().len();
    let p = pipeline(&cfg, st.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(srv.requests().len(), before);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_config_proxy_url_is_used_and_unsupported_tls_keys_are_refused() {
    // The mock server plays an HTTP proxy: it gets the request in absolute form.
    let proxy = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let (_d, st) = store();
    let cfg = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: http://receiver.strix-test.invalid/hook\n\
         \x20       http_config:\n          proxy_url: {}\n          tls_config:\n            insecure_skip_verify: true\n",
        proxy.url("")
    );
    let p = pipeline(&cfg, st);
    p.ingest(vec![alert("ViaProxy", "warning", None)]).unwrap();
    let reqs = wait_requests(&proxy, 1, Duration::from_secs(5)).await;
    assert_eq!(reqs.len(), 1, "nothing reached the proxy");
    assert_eq!(reqs[0].path, "http://receiver.strix-test.invalid/hook");
    assert_eq!(
        reqs[0].json()["alerts"][0]["labels"]["alertname"],
        "ViaProxy"
    );
    p.shutdown().await;

    // Keys Strix cannot honour fail at load, naming the key.
    let bad = "route:\n  receiver: hook\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: https://x.test/\n\
               \x20       http_config:\n          tls_config:\n            cert_file: /etc/client.pem\n          proxy_url: socks5://127.0.0.1:1080\n";
    let e = crate::routing::AlertmanagerConfig::load(bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("receivers[0].webhook_configs[0].http_config.tls_config.cert_file"),
        "{e}"
    );
    assert!(e.contains("http_config.proxy_url"), "{e}");

    // A CA file that is missing or not PEM is a configuration error naming the key.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("ca.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    for (file, what) in [
        (dir.path().join("missing.pem"), "cannot read"),
        (junk, "no certificate"),
    ] {
        let cfg = format!(
            "route:\n  receiver: hook\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: https://x.test/\n\
             \x20       http_config:\n          tls_config:\n            ca_file: {}\n",
            file.display()
        );
        let mut reg = prometheus_client::registry::Registry::default();
        let (_d2, st2) = store();
        let e = AlertPipeline::new(config(&cfg), st2, PipelineOptions::default(), &mut reg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tls_config.ca_file"), "{e}");
        assert!(e.contains(what), "{e}");
    }
}

fn numbered(i: usize) -> IncomingAlert {
    let mut a = alert("Many", "none", None);
    a.labels.insert("i".to_string(), i.to_string());
    a
}

/// Flushes hand small chunks to the outbox writer thread through a one-chunk queue:
/// every notification is written once and delivered, and a rate-limited receiver
/// counts what is still queued for the writer, so its limit holds exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_thread_writes_every_chunk_once_and_rate_limits_count_queued_chunks() {
    // One request per connection: room for all of them.
    let srv = MockServer::start_bounded(vec![Reply::status(200, "ok")], 400).await;
    let (_d, st) = store();
    let yaml = format!(
        "route:\n  receiver: hook\n  group_by: [alertname, i]\n  group_wait: 0s\n  group_interval: 1s\n  \
         routes:\n    - receiver: hook\n      continue: true\n    - receiver: limited\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n  \
         - name: limited\n    webhook_configs:\n      - url: {}\n    rate_limit: {{max: 7, per: 1h}}\n",
        srv.url("/hook"),
        srv.url("/limited"),
    );
    let mut reg = prometheus_client::registry::Registry::default();
    let p = AlertPipeline::new(
        config(&yaml),
        st.clone(),
        PipelineOptions {
            external_url: "http://strix.test".into(),
            flush_chunk: 3,
            write_queue_chunks: 1,
            per_receiver_concurrency: 4,
            ..PipelineOptions::default()
        },
        &mut reg,
    )
    .unwrap();
    p.start(&tokio::runtime::Handle::current());
    let n = 120;
    p.ingest((0..n).map(numbered).collect()).unwrap();
    let reqs = wait_requests(&srv, n + 7, Duration::from_secs(20)).await;
    // Nothing more arrives for the limited receiver.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs_after = srv.requests();
    assert_eq!(reqs_after.len(), reqs.len(), "late deliveries");
    let to_hook = reqs.iter().filter(|r| r.path == "/hook").count();
    let to_limited = reqs.iter().filter(|r| r.path == "/limited").count();
    assert_eq!(to_hook, n, "every group notified once");
    assert_eq!(to_limited, 7, "the rate limit counts queued chunks");
    let keys: std::collections::HashSet<&str> = reqs
        .iter()
        .filter_map(|r| r.header(IDEMPOTENCY_HEADER))
        .collect();
    assert_eq!(keys.len(), n + 7, "one outbox entry per notification");
    assert_eq!(st.count_notifications("hook", 0).unwrap(), n as u64);
    assert_eq!(st.count_notifications("limited", 0).unwrap(), 7);
    p.shutdown().await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    assert!(
        text.contains("strix_notifications_write_queue_chunks 0"),
        "{text}"
    );
}
