use super::*;
use strix_core::storage::{AppendOutcome, StorageError};
use strix_errors::{CategorizeConfig, ScrubConfig};
use strix_state::SqliteStore;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// A metric store that keeps what it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<TimeSeries>>);

impl Appendable for Recorder {
    fn append(
        &self,
        series: &[TimeSeries],
        _mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        self.0.lock().unwrap().extend_from_slice(series);
        Ok(AppendOutcome::default())
    }
}

impl Recorder {
    /// The latest value of `name` by its `component` label.
    fn by_component(&self, name: &str) -> HashMap<String, f64> {
        let mut out = HashMap::new();
        for s in self.0.lock().unwrap().iter() {
            if s.labels.get("__name__") == Some(name) {
                let c = s.labels.get("component").unwrap_or("").to_string();
                out.insert(c, s.samples[0].v);
            }
        }
        out
    }
}

fn tracking(
    dir: &std::path::Path,
    options: TrackingOptions,
) -> (Arc<ErrorTracking>, Arc<EventBus>) {
    let store = Arc::new(SqliteStore::open(dir.join("state.db")).unwrap());
    let bus = Arc::new(EventBus::new(64));
    let t = ErrorTracking::new(
        store,
        vec![Project::configured(1, "web", KEY)],
        Scrubber::new(&ScrubConfig::default()).unwrap(),
        Categorizer::new(&CategorizeConfig::default()).unwrap(),
        options,
        None,
        bus.clone(),
        &mut Registry::default(),
    )
    .unwrap();
    (Arc::new(t), bus)
}

fn event(n: u32, component: &str) -> serde_json::Value {
    json!({
        "event_id": format!("{n:032x}"),
        "message": format!("failure number {n} in {component}"),
        "fingerprint": [format!("f{n}")],
        "tags": {"component": component},
    })
}

#[tokio::test(flavor = "current_thread")]
async fn post_commit_work_survives_a_dropped_request() {
    let dir = tempfile::tempdir().unwrap();
    let (t, bus) = tracking(dir.path(), TrackingOptions::default());
    let project = t.project(1).unwrap();
    let sink = Arc::new(Recorder::default());
    let processed = t
        .process(vec![event(1, "api").into()], strix_core::now_millis(), None)
        .unwrap();
    let before = bus.last_id();
    let mut fut = Box::pin(t.store(
        project,
        processed,
        vec!["session"],
        strix_core::now_millis(),
        Some(sink.clone()),
    ));
    // Polled once (the job is queued for the writer), then dropped as a request is when
    // its client disconnects or its timeout fires.
    tokio::select! {
        biased;
        _ = &mut fut => panic!("answered before the writer could commit"),
        _ = std::future::ready(()) => {}
    }
    drop(fut);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stored = |t: &ErrorTracking| {
        t.shared
            .metrics
            .events
            .get_or_create(&ProjectOutcome {
                project: "web".into(),
                outcome: "stored",
            })
            .get()
    };
    while stored(&t) == 0 || sink.by_component("strix_errors_items_total").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "post-commit work never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored(&t), 1);
    assert_eq!(
        sink.by_component("strix_error_events_total").get("api"),
        Some(&1.0)
    );
    let live = bus.since(before, 10).events;
    assert!(
        live.iter().any(|e| e.kind == kind::ERROR_ISSUE),
        "the new issue was published"
    );
    let tracked = t.shared.detector.lock().unwrap().tracked();
    assert_eq!(tracked, 1, "detection saw the event");
    let (issues, _) = t
        .store
        .list_error_issues(&strix_state::ErrorIssueQuery::default())
        .unwrap();
    assert_eq!(issues.len(), 1);
}

#[test]
fn the_stored_payload_is_the_sent_text_unless_something_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _bus) = tracking(dir.path(), TrackingOptions::default());
    let stored = |text: &str| {
        let raw = strix_errors::limits::parse_event_json(text.as_bytes(), "event", 100).unwrap();
        let p = t
            .process(vec![raw], strix_core::now_millis(), None)
            .unwrap();
        let bytes = new_event(&p[0], &payload_text(&p[0]), None)
            .payload
            .as_bytes()
            .to_vec();
        zstd::bulk::decompress(&bytes, 1 << 20).unwrap()
    };
    // Members in the SDK's order (serialising the tree would sort them).
    let clean = r#"{"message": "it broke", "event_id": "0000000000000000000000000000000a"}"#;
    assert_eq!(stored(clean), clean.as_bytes());
    let secret = r#"{"message": "it broke", "event_id": "0000000000000000000000000000000b", "extra": {"password": "hunter2"}}"#;
    let got = String::from_utf8(stored(secret)).unwrap();
    assert!(!got.contains("hunter2"), "{got}");
    assert!(
        got.starts_with(r#"{"event_id":"#),
        "the scrubbed tree, serialised: {got}"
    );
}

#[tokio::test]
async fn component_label_is_capped_per_project() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = TrackingOptions::default();
    options.rate.max_components_per_project = 2;
    let (t, _bus) = tracking(dir.path(), options);
    let project = t.project(1).unwrap();
    let sink = Recorder::default();
    let now = strix_core::now_millis();
    let raws = ["a", "b", "c", "d", "a", "e"]
        .iter()
        .enumerate()
        .map(|(i, c)| event(i as u32 + 1, c).into())
        .collect();
    let events: Vec<_> = t
        .process(raws, now, None)
        .unwrap()
        .iter()
        .map(|p| new_event(p, &payload_text(p), None))
        .collect();
    t.shared.count(&sink, &project, &events, &[]);
    let counts = sink.by_component("strix_error_events_total");
    let mut labels: Vec<_> = counts.keys().cloned().collect();
    labels.sort();
    assert_eq!(labels, ["a", "b", "other"]);
    assert_eq!((counts["a"], counts["b"], counts["other"]), (2.0, 1.0, 3.0));
    let overflow = t
        .shared
        .metrics
        .component_overflow
        .get_or_create(&ProjectLabel {
            project: "web".into(),
        })
        .get();
    assert_eq!(overflow, 3);
    // The counters map stays bounded too.
    assert_eq!(t.shared.counters.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn big_events_are_processed_off_the_async_workers() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _bus) = tracking(dir.path(), TrackingOptions::default());
    let on = |thread: &'static str| {
        t.shared
            .metrics
            .processed
            .get_or_create(&ProcessedOn { thread })
            .get()
    };
    let now = strix_core::now_millis();
    let small = t
        .process_sized(vec![event(1, "api").into()], 300, now, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(small.len(), 1);
    assert_eq!((on("inline"), on("blocking")), (1, 0));
    // Over errors.limits.inline_process_max_bytes (16 KiB): the blocking pool.
    let mut big = event(2, "api");
    big["extra"] = json!({"blob": "x".repeat(40 << 10)});
    let size = big.to_string().len();
    let p = t
        .process_sized(vec![big.into()], size, now, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!((on("inline"), on("blocking")), (1, 1));
    // Several events, however small: the blocking pool.
    t.process_sized(
        vec![event(3, "a").into(), event(4, "b").into()],
        600,
        now,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((on("inline"), on("blocking")), (1, 3));
}

#[tokio::test(flavor = "current_thread")]
async fn retries_arriving_later_are_duplicates_whatever_the_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _bus) = tracking(dir.path(), TrackingOptions::default());
    let project = t.project(1).unwrap();
    let now = strix_core::now_millis();
    let seconds = |ms: i64| json!(ms as f64 / 1000.0);
    // Filed under the SDK's timestamp; filed at arrival because it has none; filed at
    // arrival because it is ten minutes ahead.
    let events = [
        json!({"event_id": format!("{:032x}", 1), "message": "a", "timestamp": seconds(now - 2_000)}),
        json!({"event_id": format!("{:032x}", 2), "message": "b"}),
        json!({"event_id": format!("{:032x}", 3), "message": "c", "timestamp": seconds(now + 600_000)}),
    ];
    for (sent, retried) in [(now, false), (now + 7_000, true)] {
        for raw in &events {
            let processed = t.process(vec![raw.clone().into()], sent, None).unwrap();
            let at_arrival = processed[0].event.filed_at_arrival;
            let recorded = t
                .store(project.clone(), processed, vec![], sent, None)
                .await
                .unwrap();
            assert_eq!(
                recorded[0].duplicate, retried,
                "{raw} (filed at arrival: {at_arrival})"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_counted_exactly_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (t, bus) = tracking(dir.path(), TrackingOptions::default());
    let project = t.project(1).unwrap();
    let sink = Arc::new(Recorder::default());
    let before = bus.last_id();
    let now = strix_core::now_millis();
    // 64 requests at once (the writer commits them in few batches), 8 issues; then the
    // first 16 again: SDK retries.
    let store = |n: u32| {
        let t = t.clone();
        let project = project.clone();
        let sink = sink.clone();
        async move {
            let mut raw = event(n, "api");
            raw["fingerprint"] = json!([format!("f{}", n % 8)]);
            let processed = t.process(vec![raw.into()], now, None).unwrap();
            t.store(project, processed, vec!["session"], now, Some(sink))
                .await
                .unwrap()
        }
    };
    let first: Vec<_> = futures_util::future::join_all((1..=64).map(store)).await;
    assert!(first.iter().all(|r| r.len() == 1 && !r[0].duplicate));
    let retries: Vec<_> = futures_util::future::join_all((1..=16).map(store)).await;
    assert!(retries.iter().all(|r| r[0].duplicate));
    // Answered means committed and counted: no waiting needed.
    let outcome = |outcome: &'static str| {
        t.shared
            .metrics
            .events
            .get_or_create(&ProjectOutcome {
                project: "web".into(),
                outcome,
            })
            .get()
    };
    assert_eq!((outcome("stored"), outcome("duplicate")), (64, 16));
    // strix_error_events_total counts every accepted event, retries included, as one
    // cumulative series whose samples never go down.
    let samples: Vec<f64> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.labels.get("__name__") == Some("strix_error_events_total"))
        .map(|s| s.samples[0].v)
        .collect();
    assert!(samples.windows(2).all(|w| w[0] <= w[1]), "{samples:?}");
    assert_eq!(samples.last(), Some(&80.0));
    assert!(samples.len() <= 80);
    assert_eq!(
        sink.by_component("strix_errors_items_total").get(""),
        Some(&80.0)
    );
    // Eight new issues went live; each issue's count is exact.
    let live = bus.since(before, 100).events;
    assert_eq!(
        live.iter().filter(|e| e.kind == kind::ERROR_ISSUE).count(),
        8
    );
    let (issues, _) = t
        .store
        .list_error_issues(&strix_state::ErrorIssueQuery::default())
        .unwrap();
    assert_eq!(issues.len(), 8);
    assert!(issues.iter().all(|i| i.count == 8), "{issues:?}");
    assert_eq!(t.shared.detector.lock().unwrap().tracked(), 8);
    assert_eq!(t.shared.metrics.queue.get(), 0);
}

/// A metric store that only counts appends and series.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);

impl Appendable for Counting {
    fn append(
        &self,
        series: &[TimeSeries],
        _mode: AppendMode,
    ) -> Result<AppendOutcome, StorageError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        self.1.fetch_add(series.len() as u64, Ordering::Relaxed);
        Ok(AppendOutcome::default())
    }
}

/// User + system CPU seconds of this process.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    tick(11) + tick(12)
}

/// The store path after processing: 32 concurrent requests of one event each (200
/// issues, 50 users) through `store` into SQLite and a counting metric store. A
/// measurement, not a test:
///
/// ```sh
/// cargo test --release -p strix-server --lib store_path_throughput -- --ignored --nocapture
/// ```
#[test]
#[ignore = "benchmark: run with --ignored --nocapture (release)"]
fn store_path_throughput() {
    let total: u32 = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16_384);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (t, _bus) = tracking(dir.path(), TrackingOptions::default());
    let project = t.project(1).unwrap();
    let sink = Arc::new(Counting::default());
    let now = strix_core::now_millis();
    let filler: String = (0..400).map(|i| format!("w{} ", i * 7919 % 1000)).collect();
    let mut processed: Vec<Vec<Processed>> = (0..total)
        .map(|n| {
            let k = n * 7919 % 200;
            let raw = json!({
                "event_id": format!("{n:032x}"),
                "message": format!("failure {k} in component"),
                "fingerprint": [format!("f{k}")],
                "tags": {"component": format!("svc-{}", k % 12)},
                "user": {"id": format!("user-{}", k % 50)},
                "environment": "production",
                "release": "shop@4.2.0",
                "extra": {"note": filler},
            });
            t.process(vec![raw.into()], now, None).unwrap()
        })
        .collect();
    let senders = 32;
    let per = processed.len() / senders;
    let cpu0 = process_cpu();
    let t0 = std::time::Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..senders)
            .map(|_| {
                let mine: Vec<_> = processed.drain(..per).collect();
                let (t, project, sink) = (t.clone(), project.clone(), sink.clone());
                tokio::spawn(async move {
                    for p in mine {
                        let sink: Arc<dyn Appendable> = sink.clone();
                        t.store(project.clone(), p, Vec::new(), now, Some(sink))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu0;
    let events = (per * senders) as f64;
    let batches = t.shared.metrics.batches.get() as f64;
    println!(
        "{}",
        json!({
            "events": events,
            "eventsPerSecond": (events / secs).round(),
            "cpuUsPerEvent": (cpu * 1e6 / events).round(),
            "eventsPerCommit": (events / batches * 10.0).round() / 10.0,
            "metricStoreAppends": sink.0.load(Ordering::Relaxed),
        })
    );
}

/// An event of the kind an SDK sends, for issue `n % 5`.
fn sdk_event(n: u32) -> serde_json::Value {
    let frames: Vec<_> = (0..5)
        .map(|f| json!({"filename": format!("app/mod_{f}.py"), "function": format!("run_{}", n % 5), "lineno": 10 + f, "in_app": true}))
        .collect();
    json!({
        "event_id": format!("{n:032x}"),
        "platform": "python",
        "exception": {"values": [{"type": format!("Error{}", n % 5), "value": format!("job {n} failed"),
                                  "stacktrace": {"frames": frames}}]},
        "breadcrumbs": {"values": [{"category": "http", "data": {"url": format!("https://api/{n}")}}]},
        "contexts": {"runtime": {"name": "CPython", "version": "3.12.3"}},
        "sdk": {"name": "sentry.python", "version": "2.19.0"}
    })
}

/// Stores events `from..to` of [`sdk_event`] in project 1, one request each.
async fn store_events(t: &Arc<ErrorTracking>, from: u32, to: u32) {
    let project = t.project(1).unwrap();
    for n in from..to {
        let now = strix_core::now_millis();
        let p = t.process(vec![sdk_event(n).into()], now, None).unwrap();
        t.store(project.clone(), p, Vec::new(), now, None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn later_events_are_compressed_with_a_dictionary_trained_on_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = TrackingOptions::default();
    options.compression.dictionary_samples = 24;
    options.compression.dictionary_bytes = 4 << 10;
    let (t, _bus) = tracking(dir.path(), options.clone());
    store_events(&t, 0, 23).await;
    assert!(t.compression.encoder(1).is_none(), "still sampling");
    store_events(&t, 23, 24).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let encoder = loop {
        if let Some(e) = t.compression.encoder(1) {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dictionary trained"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let stored = t.store.latest_error_dictionaries().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].id, stored[0].project_id), (encoder.id(), 1));

    // The next event goes with the dictionary, several times smaller, and reads back.
    let now = strix_core::now_millis();
    let p = t.process(vec![sdk_event(100).into()], now, None).unwrap();
    let text = payload_text(&p[0]).into_owned();
    let with = new_event(&p[0], &text, Some(&encoder)).payload;
    let without = new_event(&p[0], &text, None).payload;
    assert_eq!(
        strix_state::ErrorPayload::dictionary_id(with.as_bytes()),
        Some(encoder.id())
    );
    assert!(
        with.as_bytes().len() * 2 < without.as_bytes().len(),
        "{} bytes with the dictionary, {} without",
        with.as_bytes().len(),
        without.as_bytes().len()
    );
    let recorded = t
        .store(t.project(1).unwrap(), p, Vec::new(), now, None)
        .await
        .unwrap();
    let (events, _) = t
        .store
        .list_error_events(recorded[0].issue_id, 0, 100)
        .unwrap();
    let newest = events
        .iter()
        .find(|e| e.event_id == format!("{:032x}", 100))
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(newest.payload, sent);

    // After a restart the stored dictionary is used again; nothing is sampled.
    drop(t);
    let (t, _bus) = tracking(dir.path(), options);
    assert_eq!(t.compression.encoder(1).map(|e| e.id()), Some(encoder.id()));
    assert!(!t.compression.sampling(1));
}

#[tokio::test]
async fn no_dictionary_when_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = TrackingOptions::default();
    options.compression.dictionary = false;
    options.compression.dictionary_samples = 16;
    let (t, _bus) = tracking(dir.path(), options);
    store_events(&t, 0, 40).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(t.compression.encoder(1).is_none());
    assert!(t.store.latest_error_dictionaries().unwrap().is_empty());
}
