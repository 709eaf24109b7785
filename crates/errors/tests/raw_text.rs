//! The stored event is the SDK's own text when scrubbing and normalising change nothing,
//! and the re-serialised tree whenever they change anything — including what a repeated
//! key hides from the tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use strix_errors::*;

fn run(event_text: &str, scrub: &ScrubConfig) -> NormalizedEvent {
    let body = format!(
        "{{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event_text}\n",
        event_text.len()
    );
    let limits = PayloadLimits::default();
    let env = Envelope::parse(body.as_bytes(), &limits).unwrap();
    let raw = env.items[0].event(&limits).unwrap();
    let opts = NormalizeOptions {
        received_ms: 1_700_000_100_000,
        ..NormalizeOptions::default()
    };
    process(
        raw,
        &Scrubber::new(scrub).unwrap(),
        &Categorizer::new(&CategorizeConfig::default()).unwrap(),
        &opts,
    )
    .unwrap()
    .event
}

/// A clean Python SDK event, members not in serde_json's (sorted) order, a float as the
/// SDK wrote it.
fn clean() -> String {
    r#"{"timestamp": 1700000000.50, "event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "platform": "python", "level": "error",
        "exception": {"values": [{"type": "KeyError", "value": "'sku'", "stacktrace": {"frames": [{"function": "checkout", "module": "app.cart", "lineno": 10, "in_app": true}]}}]},
        "breadcrumbs": {"values": [{"category": "http", "message": "GET /cart 200"}]},
        "user": {"id": "u1"}, "tags": {"component": "cart"}}"#
        .to_string()
}

#[test]
fn a_clean_event_is_stored_as_sent() {
    let text = clean();
    let e = run(&text, &ScrubConfig::default());
    assert_eq!(e.raw_text.as_deref(), Some(text.as_bytes()));
    // The text and the tree say the same.
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, *e.raw());
    assert_eq!(e.event_id, "9ec79c33ec9942ab8353589fcb2e04dc");
}

#[test]
fn anything_scrubbed_stores_the_scrubbed_tree() {
    let base: Value = serde_json::from_str(&clean()).unwrap();
    for (path, secret) in [
        ("extra", json!({"password": "hunter2"})),
        ("extra", json!({"note": "card 4111 1111 1111 1111"})),
        ("extra", json!({"n": 4_111_111_111_111_111u64})),
        (
            "request",
            json!({"headers": [["Authorization", "Bearer abcdef0123456789"]]}),
        ),
        ("request", json!({"query_string": "a=1&token=s3cr3t"})),
        ("extra", json!({"payload": "{\"api_key\": \"k-123456\"}"})),
    ] {
        let mut v = base.clone();
        v[path] = secret.clone();
        let text = v.to_string();
        let e = run(&text, &ScrubConfig::default());
        assert_eq!(e.raw_text, None, "{secret}");
        let stored = serde_json::to_string(&e.raw()).unwrap();
        for s in ["hunter2", "4111", "abcdef0123456789", "s3cr3t", "k-123456"] {
            assert!(!stored.contains(s), "{s} in {stored}");
        }
    }
    // With scrubbing off nothing changes: the text is kept.
    let mut v = base.clone();
    v["extra"] = json!({"password": "hunter2"});
    let text = v.to_string();
    let off = ScrubConfig {
        enabled: false,
        ..ScrubConfig::default()
    };
    assert_eq!(run(&text, &off).raw_text.as_deref(), Some(text.as_bytes()));
}

#[test]
fn a_repeated_key_never_stores_the_text() {
    // The tree keeps the second "note", so the card number in the first is in the text only.
    let text = clean().replacen(
        "\"user\"",
        "\"extra\": {\"note\": \"4111 1111 1111 1111\", \"note\": \"ok\"}, \"user\"",
        1,
    );
    let e = run(&text, &ScrubConfig::default());
    assert_eq!(e.raw_text, None);
    assert!(!serde_json::to_string(&e.raw()).unwrap().contains("4111"));
}

#[test]
fn anything_normalised_stores_the_normalised_tree() {
    let base: Value = serde_json::from_str(&clean()).unwrap();
    let cases: Vec<(&str, Value)> = vec![
        // A dashed, upper-case id is stored as 32 lowercase hex digits.
        ("event_id", json!("9EC79C33-EC99-42AB-8353-589FCB2E04DC")),
        // No id: one is made up.
        ("event_id", Value::Null),
        // A timestamp a day in the future is clamped, the SDK's kept beside it.
        ("timestamp", json!(1_700_086_500.0)),
        // Over the breadcrumb cap.
        (
            "breadcrumbs",
            json!((0..150).map(|i| json!({"message": i})).collect::<Vec<_>>()),
        ),
        // A string over the raw limit is cut.
        ("extra", json!({"blob": "x".repeat(20_000)})),
    ];
    for (key, value) in cases {
        let mut v = base.clone();
        if value.is_null() {
            v.as_object_mut().unwrap().remove(key);
        } else {
            v[key] = value.clone();
        }
        let text = v.to_string();
        let e = run(&text, &ScrubConfig::default());
        assert_eq!(e.raw_text, None, "{key}: {value}");
        assert_ne!(*e.raw(), v, "{key}: the tree was changed");
    }
}

/// Everything processing yields, the raw event as a tree instead of how it is held.
fn outcome(text: &str, raw: RawEvent) -> (NormalizedEvent, Grouping, Categorization, ScrubStats) {
    let opts = NormalizeOptions {
        received_ms: 1_700_000_100_000,
        client_ip: Some("10.9.8.7".into()),
        ..NormalizeOptions::default()
    };
    let mut categorize = CategorizeConfig::default();
    categorize.rules.insert(
        0,
        serde_yaml::from_str(
            "{name: slow-checkout, when: [\"extra.response_ms > 5000\", \"tags.region == eu\"], \
             component: checkout, category: performance}",
        )
        .unwrap(),
    );
    let p = process(
        raw,
        &Scrubber::new(&ScrubConfig::default()).unwrap(),
        &Categorizer::new(&categorize).unwrap(),
        &opts,
    )
    .unwrap();
    let mut event = p.event;
    let tree = event.raw().into_owned();
    event.raw = Some(tree);
    if event.raw_text.is_some() {
        assert_eq!(event.raw_text.as_deref(), Some(text.as_bytes()));
    }
    event.raw_text = None;
    (event, p.grouping, p.categorization, p.scrubbed)
}

#[test]
fn events_read_where_parsed_and_events_parsed_into_a_tree_come_out_the_same() {
    let id = "\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"";
    let many_tags: Vec<String> = (0..80)
        .rev()
        .map(|i| format!("\"t{i:02}\":\"v{i}\""))
        .collect();
    let events = [
        clean(),
        format!(
            r#"{{{id},"exception":[{{"type":"A","value":{{"b":[1,2]}}}},{{"type":"B","mechanism":{{"type":"x","synthetic":true}}}}],"message":"m"}}"#
        ),
        format!(
            r#"{{{id},"exception":{{"type":"Single","value":42,"module":"m","stacktrace":[{{"function":"f","lineno":"12","colno":3,"in_app":false}}]}}}}"#
        ),
        format!(
            r#"{{{id},"threads":{{"values":[{{"id":1,"stacktrace":{{"frames":[{{"function":"idle"}}]}}}},{{"id":2,"crashed":true,"stacktrace":{{"frames":[{{"function":"boom","filename":"a.js"}}]}}}}]}},"logentry":{{"message":"user %s failed %d times","params":["ann",3]}}}}"#
        ),
        format!(
            r#"{{{id},"message":{{"message":"%(who)s left","params":{{"who":"bob"}}}},"level":"warning","logger":7,"platform":"javascript"}}"#
        ),
        format!(
            r#"{{{id},"tags":[["region","eu"],["n",5],["bad"]],"extra":{{"response_ms":"7000"}},"message":"slow"}}"#
        ),
        format!(
            r#"{{{id},"tags":{{"region":"eu","component":"pay"}},"extra":{{"response_ms":7000,"component":"ignored"}},"message":"slow","request":{{"url":"https://x/y","method":"GET","query_string":{{"b":"2","a":"1"}},"headers":[["Accept","*/*"],["X-Id","7"]]}}}}"#
        ),
        format!(
            r#"{{{id},"request":{{"query_string":[["q","x y"],["p","1"]],"headers":{{"Host":"x"}}}},"fingerprint":["{{{{ default }}}}","checkout",3],"user":{{"ip_address":"{{{{auto}}}}","username":"u"}}}}"#
        ),
        format!(
            r#"{{{id},"tags":{{{}}},"message":"many tags"}}"#,
            many_tags.join(",")
        ),
        format!(
            r#"{{{id},"timestamp":"2023-11-14T22:13:20.123456","sdk":{{"name":"sentry.python","version":2}},"breadcrumbs":[{{"message":"a"}}],"extra":{{"big":18446744073709551616,"f":1e300}}}}"#
        ),
        format!(
            r#"{{{id},"message":"caf\u00e9 \"quoted\" \\ back","environment":"","release":"r@1","server_name":"web-1","transaction":"/t"}}"#
        ),
        // Scrubbed: each of these takes the edited tree, and both ways must agree.
        format!(r#"{{{id},"extra":{{"password":"hunter2"}},"message":"m"}}"#),
        format!(r#"{{{id},"message":"card 4111 1111 1111 1111 declined"}}"#),
        format!(
            r#"{{{id},"request":{{"headers":[["Authorization","Bearer abcdefghijklmnop"],["Cookie","session=abc; theme=dark"]]}}}}"#
        ),
        format!(r#"{{{id},"extra":{{"note":"{{\"api_key\":\"abc123\"}}","n":4111111111111111}}}}"#),
        // Normalised: the same.
        r#"{"message":"no id"}"#.to_string(),
        format!(r#"{{{id},"timestamp":1800000000,"message":"future"}}"#),
        format!(r#"{{{id},"timestamp":1700000000,"message":"integer seconds"}}"#),
        format!(r#"{{{id},"timestamp":"1700000000.25","message":"seconds as text"}}"#),
        format!(r#"{{{id},"extra":{{"note":"a"}},"extra":{{"note":"b"}}}}"#),
        "[1,2,3]".to_string(),
    ];
    for text in &events {
        let raw = limits::parse_event_json(text.as_bytes(), "event", 100).unwrap();
        let tree: Value = serde_json::from_str(text).unwrap();
        let (a, b) = (outcome(text, raw), outcome(text, RawEvent::from(tree)));
        // A made-up event id differs run to run.
        let fresh = !text.contains("9ec79c33");
        let strip = |mut o: (NormalizedEvent, Grouping, Categorization, ScrubStats)| {
            if fresh {
                o.0.event_id.clear();
                o.0.raw
                    .as_mut()
                    .and_then(Value::as_object_mut)
                    .map(|m| m.remove("event_id"));
            }
            o
        };
        assert_eq!(strip(a), strip(b), "{text}");
    }
}
