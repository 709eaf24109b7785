//! The real `@sentry/node` (npm) sending to a loopback listener: chunked bodies, gzip
//! above 32 KiB, `session`/`transaction`/`span`/`client_report` items next to events —
//! all must parse, and events must normalise, scrub and group as specified.
//!
//! Needs `node` and `npm`; `@sentry/node` is installed into the test's scratch dir.
//! Skips with a message when that fails, unless `STRIX_REQUIRE_PEERS=1`.
#![allow(clippy::expect_used)]
#![allow(clippy::unwrap_used)] // test helpers

mod common;

use std::process::Command;
use std::time::Duration;

use common::{decode_all, run, skip, CaptureServer};
use strix_errors::fingerprint::{default_components, hash, Method};
use strix_errors::{Category, Level, Processed};

const SCRIPT: &str = r#"
const Sentry = require("@sentry/node");
const dsn = process.argv[2];
// Secrets are built at run time so they never appear in source context lines.
const PASSWORD = "hun" + "ter2";
const TOKEN = "tok-" + "abc-123";
const CARD = "4111" + "111111111111";
const SPACED = CARD.match(/.{4}/g).join(" ");

Sentry.init({
  dsn,
  release: "shop@1.2.3",
  environment: "test",
  sendDefaultPii: true,
  tracesSampleRate: 1.0,
  // Dedupe would drop the second identical exception, which the test sends on purpose.
  integrations: (defaults) => defaults.filter((i) => i.name !== "Dedupe"),
});

function checkout(card) {
  throw new TypeError(`card ${card} declined for order 1234`);
}

function lookup() {
  const order = null;
  return order.sku;
}

Sentry.setUser({ id: "u-42", email: "bob@" + "example.com", username: "bob" });
Sentry.setTag("component", "checkout");
Sentry.setExtra("password", PASSWORD);
Sentry.setExtra("order", { card_number: CARD, items: 3 });
Sentry.addBreadcrumb({ category: "auth", message: "user logged in", data: { token: TOKEN } });

Sentry.startSpan({ name: "checkout-flow", op: "task" }, () => {
  for (let i = 0; i < 2; i++) {
    try {
      checkout(SPACED);
    } catch (e) {
      Sentry.captureException(e);
    }
  }
});

try {
  lookup();
} catch (e) {
  Sentry.captureException(e);
}

Sentry.withScope((scope) => {
  scope.setFingerprint(["payments-custom", "{{ default }}"]);
  // Over 32 KiB, so the SDK gzips this envelope.
  scope.setExtra("blob", "lorem ipsum dolor ".repeat(3000));
  try {
    checkout("5555 5555 5555 4444");
  } catch (e) {
    Sentry.captureException(e);
  }
});

Sentry.captureMessage("Database connection failed after 3 retries", "fatal");

(async () => {
  await Sentry.close(10000);
  console.log("sent");
})();
"#;

#[test]
fn node_sentry_sdk() {
    let (node_ok, node_v) = run(
        Command::new("node").arg("--version"),
        Duration::from_secs(30),
    );
    let (npm_ok, _) = run(
        Command::new("npm").arg("--version"),
        Duration::from_secs(60),
    );
    if !node_ok || !npm_ok {
        return skip("node and npm are needed for @sentry/node");
    }
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(
        dir.join("package.json"),
        r#"{"name":"strix-sdk-test","private":true}"#,
    )
    .unwrap();
    let (ok, out) = run(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "@sentry/node",
            ])
            .current_dir(dir),
        Duration::from_secs(400),
    );
    if !ok {
        eprintln!("{out}");
        return skip("npm install @sentry/node failed");
    }
    let version = std::fs::read_to_string(dir.join("node_modules/@sentry/node/package.json"))
        .ok()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
        .and_then(|p| p["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    eprintln!("node {} @sentry/node {version}", node_v.trim());

    let server = CaptureServer::start();
    std::fs::write(dir.join("send.js"), SCRIPT).unwrap();
    let (ok, out) = run(
        Command::new("node")
            .arg("send.js")
            .arg(server.dsn())
            .current_dir(dir),
        Duration::from_secs(120),
    );
    assert!(ok && out.contains("sent"), "node failed:\n{out}");
    let reqs = server.wait_for(Duration::from_secs(10), |r| r.len() >= 5);
    let d = decode_all(&reqs);
    eprintln!(
        "encodings {:?}, chunked {}, items {:?}",
        d.encodings, d.any_chunked, d.item_types
    );
    assert_eq!(d.events.len(), 5, "items: {:?}", d.item_types);
    assert!(d.encodings.iter().any(|e| e == "gzip"), "{:?}", d.encodings);
    for t in ["session", "span"] {
        if !d.item_types.iter().any(|i| i == t) {
            eprintln!("note: no {t} item this time: {:?}", d.item_types);
        }
    }
    check(&d.events);
}

fn value(p: &Processed) -> &str {
    p.event
        .main_exception()
        .and_then(|x| x.value.as_deref())
        .unwrap_or_default()
}

fn check(events: &[Processed]) {
    // Requests may arrive in any order over several connections: pick events by content.
    let plain: Vec<&Processed> = events
        .iter()
        .filter(|p| value(p).starts_with("card") && p.event.fingerprint.is_none())
        .collect();
    let [a, b] = plain[..] else {
        panic!("want two plain checkout events, got {}", plain.len())
    };
    let other = events
        .iter()
        .find(|p| value(p).contains("reading 'sku'"))
        .expect("the null-dereference event");
    let custom = events
        .iter()
        .find(|p| p.event.fingerprint.is_some())
        .expect("the custom-fingerprint event");
    let msg = events
        .iter()
        .find(|p| p.event.message.as_deref() == Some("Database connection failed after 3 retries"))
        .unwrap_or_else(|| {
            let all: Vec<_> = events.iter().map(|p| p.event.raw()).collect();
            panic!("no message event in {all:#?}")
        });

    let e = &a.event;
    assert_eq!(e.platform, "node");
    assert_eq!(e.level, Level::Error);
    assert_eq!(e.release.as_deref(), Some("shop@1.2.3"));
    assert_eq!(e.environment.as_deref(), Some("test"));
    assert!(e.timestamp > 1_600_000_000_000);
    let ex = e.main_exception().unwrap();
    assert_eq!(ex.ty.as_deref(), Some("TypeError"));
    let top = ex
        .frames
        .iter()
        .rev()
        .find(|f| f.is_in_app())
        .expect("an in-app frame");
    assert_eq!(top.function.as_deref(), Some("checkout"));
    assert!(top.lineno.is_some() && top.colno.is_some());
    assert!(
        ex.frames.iter().any(|f| !f.is_in_app()),
        "node internals are not in-app"
    );
    let u = e.user.as_ref().unwrap();
    assert_eq!(u.id.as_deref(), Some("u-42"));
    assert_eq!(
        e.tags.get("component").map(String::as_str),
        Some("checkout")
    );
    let crumb = e
        .breadcrumbs()
        .into_iter()
        .find(|c| c["message"] == "user logged in")
        .expect("breadcrumb");
    assert_eq!(crumb["category"], "auth");
    assert_eq!(
        e.sdk.as_ref().unwrap().name.as_deref(),
        Some("sentry.javascript.node")
    );

    for p in events {
        let stored = common::stored_text(p);
        for secret in [
            "hunter2",
            "4111 1111",
            "4111111111111111",
            "5555 5555",
            "tok-abc-123",
            "bob@example.com",
        ] {
            assert!(!stored.contains(secret), "{secret} leaked: {stored}");
        }
    }
    assert_eq!(e.raw()["extra"]["password"], "[Filtered]");
    assert_eq!(e.raw()["extra"]["order"]["card_number"], "[Filtered]");
    assert_eq!(e.raw()["extra"]["order"]["items"], 3);
    assert_eq!(crumb["data"]["token"], "[Filtered]");
    assert_eq!(u.email.as_deref(), Some("b***@example.com"));
    assert_eq!(
        ex.value.as_deref(),
        Some("card [Filtered] declined for order 1234")
    );

    assert_eq!(a.grouping.method, Method::Exception);
    assert_eq!(a.grouping.hash, b.grouping.hash, "same error twice");
    assert_ne!(a.event.event_id, b.event.event_id);
    assert_ne!(a.grouping.hash, other.grouping.hash, "different exception");
    assert_eq!(
        a.grouping.title,
        "TypeError: card [Filtered] declined for order 1234"
    );
    let culprit = a.grouping.culprit.as_deref().unwrap_or_default();
    assert!(culprit.ends_with(" in checkout"), "{culprit}");
    assert_eq!(
        other.grouping.title,
        "TypeError: Cannot read properties of null (reading 'sku')"
    );
    assert_eq!(custom.grouping.method, Method::Fingerprint);
    let raw = custom.event.raw();
    let blob = raw["extra"]["blob"].as_str().unwrap();
    assert!(
        blob.len() < 17 << 10 && blob.ends_with(" bytes]"),
        "truncated with a marker"
    );
    let mut want = vec!["fp:payments-custom".to_owned()];
    // `{{ default }}` expands to the event's own default components (its call path).
    want.extend(default_components(&custom.event).1);
    assert_eq!(custom.grouping.components, want);
    assert_eq!(custom.grouping.hash, hash(&want));
    // @sentry/node wraps captureMessage in a synthetic exception to carry the stack.
    assert!(msg.event.main_exception().is_some_and(|x| x.is_synthetic()));
    assert_eq!(msg.grouping.method, Method::Message);
    assert_eq!(
        msg.grouping.title,
        "Database connection failed after 3 retries"
    );
    assert_eq!(msg.event.level, Level::Fatal);
    assert_eq!(msg.categorization.category, Category::Database);
}
