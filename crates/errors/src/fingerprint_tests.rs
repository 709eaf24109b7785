use super::*;
use crate::normalize::{normalize, NormalizeOptions};
use serde_json::{json, Value};

fn ev(raw: Value) -> NormalizedEvent {
    normalize(raw, &NormalizeOptions::default())
}

fn exc(ty: &str, value: &str, frames: Value) -> Value {
    json!({"exception": {"values": [{"type": ty, "value": value, "stacktrace": {"frames": frames}}]}})
}

fn app_frames() -> Value {
    json!([
        {"module": "flask.app", "function": "dispatch", "abs_path": "/venv/lib/python3.11/site-packages/flask/app.py", "lineno": 100, "in_app": false},
        {"module": "shop.views", "function": "checkout", "filename": "shop/views.py", "lineno": 42, "in_app": true},
        {"module": "shop.cart", "function": "total", "filename": "shop/cart.py", "lineno": 7, "in_app": true},
    ])
}

#[test]
fn patterns_compile() {
    assert!(PATTERNS.is_some());
}

#[test]
fn same_error_twice_same_hash() {
    let a = group(&ev(exc("KeyError", "'sku'", app_frames())));
    let b = group(&ev(exc("KeyError", "'sku'", app_frames())));
    assert_eq!(a, b);
    assert_eq!(a.hash.len(), 32);
    assert_eq!(a.method, Method::Exception);
    assert_eq!(a.title, "KeyError: 'sku'");
    assert_eq!(a.culprit.as_deref(), Some("shop.cart in total"));
    assert_eq!(
        a.components,
        [
            "type:KeyError",
            "frame:shop.views:checkout",
            "frame:shop.cart:total"
        ]
    );
}

#[test]
fn value_lines_and_library_frames_do_not_split() {
    let a = group(&ev(exc("KeyError", "'sku'", app_frames())));
    let mut frames = app_frames();
    frames[1]["lineno"] = json!(99);
    frames[2]["filename"] = json!("shop/cart_v2.py");
    frames[0]["function"] = json!("full_dispatch_request");
    let b = group(&ev(exc("KeyError", "'price'", frames)));
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.title, b.title);
}

#[test]
fn different_in_app_frames_or_type_split() {
    let a = group(&ev(exc("KeyError", "x", app_frames())));
    let mut frames = app_frames();
    frames[2]["function"] = json!("subtotal");
    let b = group(&ev(exc("KeyError", "x", frames)));
    assert_ne!(a.hash, b.hash);
    let c = group(&ev(exc("ValueError", "x", app_frames())));
    assert_ne!(a.hash, c.hash);
}

#[test]
fn all_frames_when_none_in_app() {
    let frames = json!([
        {"module": "lib.a", "function": "f", "in_app": false},
        {"module": "lib.b", "function": "g", "in_app": false},
    ]);
    let g = group(&ev(exc("E", "v", frames)));
    assert_eq!(g.components, ["type:E", "frame:lib.a:f", "frame:lib.b:g"]);
    assert_eq!(g.culprit.as_deref(), Some("lib.b in g"));
}

#[test]
fn no_frames_uses_normalised_value() {
    let a = group(&ev(exc(
        "TimeoutError",
        "timed out after 30s on 10.0.0.5:5432",
        json!([]),
    )));
    let b = group(&ev(exc(
        "TimeoutError",
        "timed out after 31s on 10.0.0.6:5432",
        json!([]),
    )));
    assert_eq!(a.hash, b.hash);
    assert_eq!(
        a.components,
        ["type:TimeoutError", "value:timed out after <int>s on <ip>"]
    );
}

#[test]
fn message_events_group_by_normalised_message() {
    let a = group(&ev(
        json!({"message": "Payment 1234 failed for \"bob\" (order 9f1c2e3d4a)"}),
    ));
    let b = group(&ev(
        json!({"message": "Payment 99 failed for \"alice\" (order 0a1b2c3d4e)"}),
    ));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.method, Method::Message);
    assert_eq!(
        a.title,
        "Payment 1234 failed for \"bob\" (order 9f1c2e3d4a)"
    );
    let c = group(&ev(json!({"message": "Refund 1 failed"})));
    assert_ne!(a.hash, c.hash);
}

#[test]
fn message_normalisation_table() {
    for (input, want) in [
        (
            "Error 42 at 0xdeadbeef for \"bob\"",
            "Error <int> at <hex> for <str>",
        ),
        ("user 'alice' not found", "user <str> not found"),
        ("can't connect to 'db-1'", "can't connect to <str>"),
        (
            "id 123e4567-e89b-12d3-a456-426614174000 missing",
            "id <uuid> missing",
        ),
        ("mail to bob@example.com bounced", "mail to <email> bounced"),
        (
            "mail to b***@example.com bounced",
            "mail to <email> bounced",
        ),
        ("connect 192.168.1.20:5432 refused", "connect <ip> refused"),
        ("from fe80::1ff:fe23:4567:890a", "from <ip>"),
        ("took 1.25s (limit 1s)", "took <float>s (limit <int>s)"),
        ("took 3 s", "took <int> s"),
        ("sha 9f86d081884c7d65 mismatch", "sha <hex> mismatch"),
        ("deadbeefcafe is a word", "deadbeefcafe is a word"),
        ("at 2024-01-15T10:00:00Z retry", "at <date> retry"),
        ("utf8 and v2 stay", "utf8 and v2 stay"),
        ("key `x` bad", "key <str> bad"),
        ("  trimmed  ", "trimmed"),
    ] {
        assert_eq!(normalize_message(input), want, "{input}");
    }
}

#[test]
fn custom_fingerprint() {
    let mut raw = exc("KeyError", "x", app_frames());
    raw["fingerprint"] = json!(["payments", "{{ type }}"]);
    let a = group(&ev(raw.clone()));
    assert_eq!(a.method, Method::Fingerprint);
    assert_eq!(a.components, ["fp:payments", "fp:KeyError"]);
    // Different frames, same fingerprint: same issue.
    let mut raw2 = exc(
        "KeyError",
        "y",
        json!([{"module": "m", "function": "other", "in_app": true}]),
    );
    raw2["fingerprint"] = json!(["payments", "{{type}}"]);
    assert_eq!(group(&ev(raw2)).hash, a.hash);
    // Title and culprit still come from the event.
    assert_eq!(a.title, "KeyError: x");

    // {{ default }} expands to the default components, so it differs from a literal.
    let mut d = exc("KeyError", "x", app_frames());
    d["fingerprint"] = json!(["{{ default }}", "tenant-1"]);
    let g = group(&ev(d));
    assert_eq!(
        g.components,
        [
            "type:KeyError",
            "frame:shop.views:checkout",
            "frame:shop.cart:total",
            "fp:tenant-1"
        ]
    );
    let mut d2 = exc("KeyError", "x", app_frames());
    d2["fingerprint"] = json!(["{{ default }}", "tenant-2"]);
    assert_ne!(group(&ev(d2)).hash, g.hash);
    // ["{{ default }}"] alone is the default grouping.
    let mut d3 = exc("KeyError", "x", app_frames());
    d3["fingerprint"] = json!(["{{ default }}"]);
    assert_eq!(
        group(&ev(d3)).hash,
        group(&ev(exc("KeyError", "x", app_frames()))).hash
    );

    let mut v = json!({"message": "m", "level": "warning", "transaction": "/a", "logger": "l"});
    v["fingerprint"] = json!([
        "{{ level }}",
        "{{ transaction }}",
        "{{ logger }}",
        "{{ nope }}"
    ]);
    assert_eq!(
        group(&ev(v)).components,
        ["fp:warning", "fp:/a", "fp:l", "fp:{{ nope }}"]
    );
}

#[test]
fn titles_and_culprits() {
    let g = group(&ev(
        json!({"exception": [{"type": "TypeError", "value": "Cannot read properties of undefined (reading 'x')\n    at foo"}]}),
    ));
    assert_eq!(
        g.title,
        "TypeError: Cannot read properties of undefined (reading 'x')"
    );
    assert_eq!(g.culprit, None);
    let long = "x".repeat(500);
    let g = group(&ev(json!({"message": long})));
    assert_eq!(g.title.chars().count(), 201);
    let g = group(&ev(json!({"transaction": "/health"})));
    assert_eq!(g.title, "/health");
    assert_eq!(g.method, Method::Fallback);
    assert_eq!(g.culprit.as_deref(), Some("/health"));
    let g = group(&ev(json!({"exception": [{"value": "no type",
        "stacktrace": {"frames": [{"filename": "app.js", "function": "run"}]}}]})));
    assert_eq!(g.title, "no type");
    assert_eq!(g.culprit.as_deref(), Some("app.js in run"));
    let g = group(&ev(json!({})));
    assert_eq!(g.title, "<unlabeled event>");
}

#[test]
fn bundler_hashes_and_async_do_not_split() {
    let f = |m: &str, func: &str| {
        exc(
            "E",
            "v",
            json!([{"module": m, "function": func, "in_app": true}]),
        )
    };
    assert_eq!(
        group(&ev(f("main.3f2a9c1b", "run"))).hash,
        group(&ev(f("main.77aa0b12", "async run"))).hash
    );
}

#[test]
fn synthetic_exception_message_events_group_by_message() {
    let mk = |m: &str, func: &str| {
        ev(json!({"message": m, "exception": {"values": [{"value": m,
            "mechanism": {"type": "generic", "synthetic": true},
            "stacktrace": {"frames": [{"module": "send", "function": func, "in_app": true}]}}]}}))
    };
    let a = group(&mk("Disk 1 full", "a"));
    let b = group(&mk("Disk 2 full", "b"));
    assert_eq!(a.method, Method::Message);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.title, "Disk 1 full");
    assert_eq!(a.culprit.as_deref(), Some("send in a"));
    // A real (non-synthetic) exception with a message still groups by the exception.
    let c = group(&ev(
        json!({"message": "m", "exception": [{"type": "E", "value": "v"}]}),
    ));
    assert_eq!(c.method, Method::Exception);
    assert_eq!(c.title, "E: v");
}

/// Issue hashes stored in users' databases: the whole pipeline (scrubbing, normalising,
/// grouping) must keep giving these for these events, or existing issues split.
#[test]
fn stored_issue_hashes_do_not_change() {
    let scrubber = crate::Scrubber::new(&crate::ScrubConfig::default()).unwrap();
    let categorizer = crate::Categorizer::new(&crate::CategorizeConfig::default()).unwrap();
    let cases = [
        (
            exc("KeyError", "'sku'", app_frames()),
            "2f0be5e749e14db2b21183c9040c1002",
        ),
        (
            json!({"message": "Payment 1234 failed for bob@example.com at 0xdeadbeef (took 1.5s)", "level": "error"}),
            "2823858f4e1eb2a113be29e384d50a84",
        ),
        (
            json!({"fingerprint": ["{{ default }}", "checkout"], "exception": [{"type": "TypeError", "value": "x is undefined",
                "stacktrace": {"frames": [{"module": "main.3f2a9c1b", "function": "async render", "in_app": true}]}}]}),
            "afe7a3875788832730f28b6c5ff2a94d",
        ),
        (
            json!({"logentry": {"message": "user %s failed %d times", "params": ["bob", 3]}, "user": {"email": "bob@example.com"},
                "request": {"headers": {"Authorization": "Bearer abcdefghijkl123"}}}),
            "bf3403e4db2222e811b9eed1ba40b67a",
        ),
    ];
    for (raw, hash) in cases {
        let p = crate::process(
            raw.clone(),
            &scrubber,
            &categorizer,
            &NormalizeOptions::default(),
        )
        .unwrap();
        assert_eq!(p.grouping.hash, hash, "{raw}");
    }
}
