use super::*;
use serde_json::json;

fn opts() -> NormalizeOptions {
    NormalizeOptions {
        received_ms: 1_700_000_100_000,
        client_ip: Some("203.0.113.9".into()),
        limits: NormalizeLimits::default(),
    }
}

#[test]
fn python_style_event() {
    let raw = json!({
        "event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC",
        "timestamp": "2023-11-14T22:13:20.123456Z",
        "level": "error",
        "platform": "python",
        "logger": "app.views",
        "environment": "production",
        "release": "web@1.2.3",
        "server_name": "web-1",
        "transaction": "/checkout",
        "exception": {"values": [
            {"type": "KeyError", "value": "'sku'", "module": null,
             "stacktrace": {"frames": [{"function": "inner", "module": "app.cart", "filename": "app/cart.py", "lineno": 10}]}},
            {"type": "ValueError", "value": "bad cart", "mechanism": {"type": "generic", "handled": true},
             "stacktrace": {"frames": [
                {"function": "handle", "module": "django.core", "abs_path": "/usr/lib/python3/site-packages/django/core.py", "lineno": 5},
                {"function": "checkout", "module": "app.views", "filename": "app/views.py", "lineno": "42", "colno": 3, "in_app": true, "context_line": "raise ValueError('bad cart')"}
             ]}}
        ]},
        "user": {"id": 42, "email": "a***@corp.io", "ip_address": "{{auto}}"},
        "tags": {"route": "/checkout", "retries": 3},
        "contexts": {"runtime": {"name": "CPython"}},
        "breadcrumbs": {"values": [{"message": "a"}, {"message": "b"}]},
        "request": {"url": "https://shop/checkout", "method": "POST", "headers": {"Accept": "*/*"}, "query_string": "?a=1"},
        "fingerprint": ["{{ default }}", 7],
        "sdk": {"name": "sentry.python", "version": "2.19.0"},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": "x"}]},
        "unknown_future_field": {"anything": [1, 2]}
    });
    let e = normalize(raw, &opts());
    assert_eq!(e.event_id, "9ec79c33ec9942ab8353589fcb2e04dc");
    assert_eq!(e.raw()["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
    assert_eq!(e.timestamp, 1_700_000_000_123);
    assert_eq!(e.received, 1_700_000_100_000);
    assert_eq!(e.level, Level::Error);
    assert_eq!(e.platform, "python");
    assert_eq!(e.logger.as_deref(), Some("app.views"));
    assert_eq!(e.environment.as_deref(), Some("production"));
    assert_eq!(e.release.as_deref(), Some("web@1.2.3"));
    assert_eq!(e.server_name.as_deref(), Some("web-1"));
    assert_eq!(e.transaction.as_deref(), Some("/checkout"));
    assert_eq!(e.exception.len(), 2);
    let main = e.main_exception().unwrap();
    assert_eq!(main.ty.as_deref(), Some("ValueError"));
    assert_eq!(main.value.as_deref(), Some("bad cart"));
    assert_eq!(main.mechanism.as_ref().unwrap()["handled"], true);
    assert_eq!(main.frames.len(), 2);
    assert!(
        !main.frames[0].is_in_app(),
        "site-packages guessed as library"
    );
    let top = &main.frames[1];
    assert_eq!(top.lineno, Some(42));
    assert_eq!(top.colno, Some(3));
    assert_eq!(top.in_app, Some(true));
    assert_eq!(
        top.context_line.as_deref(),
        Some("raise ValueError('bad cart')")
    );
    assert_eq!(e.exception[0].module, None);
    let u = e.user.as_ref().unwrap();
    assert_eq!(u.id.as_deref(), Some("42"));
    assert_eq!(u.ip_address.as_deref(), Some("203.0.113.9"));
    assert_eq!(u.key(), Some("42"));
    assert_eq!(e.tags["retries"], "3");
    assert_eq!(e.contexts()["runtime"]["name"], "CPython");
    assert_eq!(e.breadcrumbs().len(), 2);
    let r = e.request.as_ref().unwrap();
    assert_eq!(r.method.as_deref(), Some("POST"));
    assert_eq!(r.headers["Accept"], "*/*");
    assert_eq!(r.query.as_deref(), Some("a=1"));
    assert_eq!(
        e.fingerprint,
        Some(vec!["{{ default }}".into(), "7".into()])
    );
    assert_eq!(e.sdk.as_ref().unwrap().version.as_deref(), Some("2.19.0"));
    assert_eq!(e.raw()["debug_meta"]["images"][0]["type"], "sourcemap");
    assert_eq!(e.raw()["unknown_future_field"]["anything"][1], 2);
}

#[test]
fn javascript_style_event() {
    let raw = json!({
        "timestamp": 1700000000.5,
        "platform": "javascript",
        "exception": [{"type": "TypeError", "value": "Cannot read properties of undefined (reading 'x')",
            "stacktrace": {"frames": [{"filename": "app:///main.js", "function": "onClick", "lineno": 1, "colno": 200}]}}],
        "tags": [["browser", "Chrome"], ["bad"], ["n", 1]],
        "breadcrumbs": [{"category": "ui.click"}],
        "request": {"headers": [["User-Agent", "x"]], "query_string": [["q", "a b"]]},
        "level": "warn"
    });
    let e = normalize(raw, &opts());
    assert_eq!(e.event_id.len(), 32);
    assert!(e.event_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(e.timestamp, 1_700_000_000_500);
    assert_eq!(e.level, Level::Warning);
    assert_eq!(e.exception[0].ty.as_deref(), Some("TypeError"));
    assert_eq!(e.tags.len(), 2);
    assert_eq!(e.tags["browser"], "Chrome");
    assert_eq!(e.breadcrumbs().len(), 1);
    let r = e.request.unwrap();
    assert_eq!(r.headers["User-Agent"], "x");
    assert_eq!(r.query.as_deref(), Some("q=a+b"));
}

#[test]
fn messages_logentry_and_params() {
    let m = |raw: Value| normalize(raw, &opts()).message;
    assert_eq!(m(json!({"message": "plain"})).as_deref(), Some("plain"));
    assert_eq!(
        m(json!({"logentry": {"message": "user %s failed %d times", "params": ["bob", 3]}}))
            .as_deref(),
        Some("user bob failed 3 times")
    );
    assert_eq!(
        m(json!({"logentry": {"message": "x %s", "formatted": "x done"}, "message": "other"}))
            .as_deref(),
        Some("x done")
    );
    assert_eq!(
        m(json!({"message": {"message": "%(who)s left, 100%% sure", "params": {"who": "amy"}}}))
            .as_deref(),
        Some("amy left, 100% sure")
    );
    assert_eq!(m(json!({"message": ""})), None);
    assert_eq!(apply_params("a %s %s", &json!(["1"])), "a 1 %s");
    assert_eq!(apply_params("50% off %(x)", &json!({})), "50% off %(x)");
    assert_eq!(apply_params("ü%sü", &json!([{"k": 1}])), "ü{\"k\":1}ü");
}

#[test]
fn timestamps() {
    let t = |v: Value| parse_timestamp_ms(&v);
    assert_eq!(t(json!(1700000000)), Some(1_700_000_000_000));
    assert_eq!(t(json!("1700000000.25")), Some(1_700_000_000_250));
    assert_eq!(t(json!("2023-11-14T22:13:20Z")), Some(1_700_000_000_000));
    assert_eq!(
        t(json!("2023-11-14T23:13:20+01:00")),
        Some(1_700_000_000_000)
    );
    assert_eq!(t(json!("2023-11-14T22:13:20.5")), Some(1_700_000_000_500));
    assert_eq!(t(json!("yesterday")), None);
    assert_eq!(t(json!(-5)), None);
    // A future timestamp is clamped to the arrival time; a missing one defaults to it.
    // Both are filed at arrival; a timestamp taken as sent is not, even one equal to the
    // arrival time.
    let e = normalize(json!({"timestamp": 4_000_000_000u64}), &opts());
    assert_eq!(e.timestamp, opts().received_ms);
    assert!(e.filed_at_arrival);
    let e = normalize(json!({}), &opts());
    assert_eq!(e.timestamp, opts().received_ms);
    assert!(e.filed_at_arrival);
    let at = |ms: i64| json!({"timestamp": ms as f64 / 1000.0});
    for ms in [opts().received_ms - 250, opts().received_ms] {
        let e = normalize(at(ms), &opts());
        assert_eq!(e.timestamp, ms);
        assert!(!e.filed_at_arrival);
    }
}

#[test]
fn old_timestamps_are_filed_under_the_arrival_time() {
    let received = opts().received_ms;
    let day = 86_400_000i64;
    // 40 days old (a device with a wrong clock): the arrival time, original kept.
    let old = (received - 40 * day) as f64 / 1000.0;
    let e = normalize(json!({"timestamp": old, "strix": {"x": 1}}), &opts());
    assert_eq!(e.timestamp, received);
    assert_eq!(e.raw()["strix"]["timestamp"]["original"], json!(old));
    assert_eq!(e.raw()["strix"]["timestamp"]["reason"], "past_timestamp");
    assert_eq!(e.raw()["strix"]["x"], 1, "other notes are kept");
    assert_eq!(e.raw()["timestamp"], json!(received as f64 / 1000.0));
    // 10 days old is within the default 30 days: kept as sent, no note.
    let recent = (received - 10 * day) as f64 / 1000.0;
    let e = normalize(json!({"timestamp": recent}), &opts());
    assert_eq!(e.timestamp, received - 10 * day);
    assert!(e.raw().get("strix").is_none());
    // The age is configurable; zero turns clamping of old timestamps off.
    let mut o = opts();
    o.limits.max_event_age = Duration::from_secs(86_400);
    assert_eq!(
        normalize(json!({"timestamp": recent}), &o).timestamp,
        received
    );
    o.limits.max_event_age = Duration::ZERO;
    assert_eq!(
        normalize(json!({"timestamp": old}), &o).timestamp,
        received - 40 * day
    );
    // A future one is noted too.
    let e = normalize(json!({"timestamp": 4_000_000_000u64}), &opts());
    assert_eq!(e.raw()["strix"]["timestamp"]["reason"], "future_timestamp");
    assert_eq!(
        e.raw()["strix"]["timestamp"]["original"],
        json!(4_000_000_000u64)
    );
}

#[test]
fn truncation_and_caps() {
    let mut o = opts();
    o.limits.max_text_bytes = 10;
    o.limits.max_raw_string_bytes = 20;
    o.limits.max_breadcrumbs = 2;
    o.limits.max_frames = 4;
    o.limits.max_exceptions = 1;
    let frames: Vec<Value> = (0..10)
        .map(|i| json!({"function": format!("f{i}")}))
        .collect();
    let raw = json!({
        "message": "é".repeat(20),
        "extra": {"blob": "x".repeat(100)},
        "breadcrumbs": [{"n": 1}, {"n": 2}, {"n": 3}],
        "exception": {"values": [{"type": "A"}, {"type": "B", "stacktrace": {"frames": frames}}]},
    });
    let e = normalize(raw, &o);
    assert_eq!(e.message.as_deref(), Some("ééééé…[truncated 30 bytes]"));
    assert_eq!(
        e.raw()["extra"]["blob"],
        format!("{}…[truncated 80 bytes]", "x".repeat(20))
    );
    assert_eq!(e.breadcrumbs(), vec![json!({"n": 2}), json!({"n": 3})]);
    assert_eq!(e.raw()["breadcrumbs"].as_array().unwrap().len(), 2);
    assert_eq!(e.exception.len(), 1);
    let names: Vec<_> = e.exception[0]
        .frames
        .iter()
        .map(|f| f.function.clone().unwrap())
        .collect();
    assert_eq!(names, ["f0", "f1", "f8", "f9"]);
}

#[test]
fn odd_shapes_never_fail() {
    for raw in [
        json!(null),
        json!([1, 2]),
        json!({"exception": "boom", "tags": "x", "user": "bob", "request": 5, "breadcrumbs": {"values": 3}}),
        json!({"exception": {"values": [null, 3, {"stacktrace": {"frames": [null, {"lineno": -1}]}}]}}),
        json!({"exception": {"type": "Solo", "value": {"nested": true}}}),
        json!({"threads": {"values": [{"current": true, "stacktrace": {"frames": [{"function": "main"}]}}]}}),
    ] {
        let e = normalize(raw.clone(), &opts());
        assert_eq!(e.level, Level::Error, "{raw}");
    }
    let e = normalize(
        json!({"exception": {"type": "Solo", "value": {"nested": true}}}),
        &opts(),
    );
    assert_eq!(e.exception[0].value.as_deref(), Some("{\"nested\":true}"));
    let e = normalize(
        json!({"threads": {"values": [{"current": true, "stacktrace": {"frames": [{"function": "main"}]}}]}}),
        &opts(),
    );
    assert_eq!(e.frames()[0].function.as_deref(), Some("main"));
}

#[test]
fn in_app_guess() {
    let f = |p: &str| Frame {
        abs_path: Some(p.into()),
        ..Frame::default()
    };
    assert!(f("/srv/app/main.js").is_in_app());
    assert!(!f("/srv/app/node_modules/express/lib/router.js").is_in_app());
    assert!(!f("node:internal/process/task_queues").is_in_app());
    assert!(!f("/usr/local/lib/python3.11/site-packages/flask/app.py").is_in_app());
    let mut g = f("/srv/app/node_modules/x.js");
    g.in_app = Some(true);
    assert!(g.is_in_app());
}

#[test]
fn levels() {
    for (s, l) in [
        ("FATAL", Level::Fatal),
        ("critical", Level::Fatal),
        ("warn", Level::Warning),
        ("log", Level::Info),
        ("debug", Level::Debug),
    ] {
        assert_eq!(Level::parse(s), Some(l));
    }
    assert_eq!(Level::parse("loud"), None);
    assert_eq!(
        serde_json::to_string(&Level::Warning).unwrap(),
        "\"warning\""
    );
}
