//! The real Python `sentry-sdk` (PyPI) sending to a loopback listener: its envelopes
//! (brotli or gzip bodies) decode, normalise, scrub and group as specified.
//!
//! Needs `python3` with `sentry-sdk` (installed into the scratch dir when missing) and,
//! for the `br` path, `brotli`. Skips with a message when unavailable, unless
//! `STRIX_REQUIRE_PEERS=1`.
#![allow(clippy::expect_used)]
#![allow(clippy::unwrap_used)] // test helpers

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{decode_all, run, skip, CaptureServer};
use strix_errors::fingerprint::{default_components, hash, Method};
use strix_errors::{Category, Level};

const SCRIPT: &str = r#"
import sys
import sentry_sdk
from sentry_sdk.scrubber import EventScrubber

dsn, algo = sys.argv[1], sys.argv[2]
# Secrets are built at run time so they never appear in the source lines the SDK sends
# as frame context; only the values themselves are in the payload.
PASSWORD = "hun" + "ter2"
TOKEN = "tok-" + "abc-123"
CARD = "4111" + "111111111111"
sentry_sdk.init(
    dsn=dsn,
    release="shop@1.2.3",
    environment="test",
    send_default_pii=True,
    # Switch the SDK's own scrubbing off so Strix's is what the test sees.
    event_scrubber=EventScrubber(denylist=["strix_nothing"], pii_denylist=["strix_nothing"]),
    _experiments={} if algo == "default" else {"transport_compression_algo": algo},
)

def checkout(card):
    raise ValueError("card %s declined for order 1234" % card)

def lookup():
    return {}["sku"]

sentry_sdk.set_user({"id": "u-42", "email": "bob@example.com", "username": "bob"})
sentry_sdk.set_tag("component", "checkout")
sentry_sdk.set_extra("password", PASSWORD)
sentry_sdk.set_extra("order", {"card_number": CARD, "items": 3})
sentry_sdk.add_breadcrumb(category="auth", message="user logged in", data={"token": TOKEN})

for _ in range(2):
    try:
        checkout(" ".join(CARD[i:i + 4] for i in range(0, 16, 4)))
    except Exception:
        sentry_sdk.capture_exception()

try:
    lookup()
except Exception:
    sentry_sdk.capture_exception()

with sentry_sdk.new_scope() as scope:
    scope.fingerprint = ["payments-custom", "{{ default }}"]
    try:
        checkout("5555 5555 5555 4444")
    except Exception:
        sentry_sdk.capture_exception()

sentry_sdk.capture_message("Database connection failed after 3 retries", level="fatal")
sentry_sdk.flush(timeout=10)
print("sent")
"#;

/// The PYTHONPATH under which `import sentry_sdk` works, `None` if it cannot be had.
fn python_path(scratch: &Path) -> Option<Option<String>> {
    let probe = |pp: Option<&str>| {
        let mut c = Command::new("python3");
        c.args(["-c", "import sentry_sdk; print(sentry_sdk.VERSION)"]);
        if let Some(pp) = pp {
            c.env("PYTHONPATH", pp);
        }
        run(&mut c, Duration::from_secs(60))
    };
    let (ok, out) = probe(None);
    if ok {
        eprintln!("sentry-sdk {}", out.trim());
        return Some(None);
    }
    let target = scratch.join("py");
    let (ok, out) = run(
        Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--target",
            target.to_str()?,
            "sentry-sdk",
        ]),
        Duration::from_secs(300),
    );
    if !ok {
        eprintln!("pip install sentry-sdk failed:\n{out}");
        return None;
    }
    let pp = target.to_str()?.to_owned();
    let (ok, out) = probe(Some(&pp));
    ok.then(|| {
        eprintln!("sentry-sdk {} (installed into the scratch dir)", out.trim());
        Some(pp)
    })
}

fn brotli_available(pp: &Option<String>) -> bool {
    let mut c = Command::new("python3");
    c.args(["-c", "import brotli"]);
    if let Some(pp) = pp {
        c.env("PYTHONPATH", pp);
    }
    run(&mut c, Duration::from_secs(30)).0
}

fn send(scratch: &Path, pp: &Option<String>, algo: &str) -> common::Decoded {
    let server = CaptureServer::start();
    let script = scratch.join("send.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(server.dsn()).arg(algo);
    if let Some(pp) = pp {
        cmd.env("PYTHONPATH", pp);
    }
    let (ok, out) = run(&mut cmd, Duration::from_secs(120));
    assert!(ok && out.contains("sent"), "python failed:\n{out}");
    let reqs = server.wait_for(Duration::from_secs(10), |r| r.len() >= 5);
    decode_all(&reqs)
}

fn check(d: &common::Decoded) {
    assert_eq!(d.events.len(), 5, "items: {:?}", d.item_types);
    let [a, b, other, custom, msg] = &d.events[..] else {
        unreachable!()
    };

    // Fields.
    let e = &a.event;
    assert_eq!(e.platform, "python");
    assert_eq!(e.level, Level::Error);
    assert_eq!(e.release.as_deref(), Some("shop@1.2.3"));
    assert_eq!(e.environment.as_deref(), Some("test"));
    assert_eq!(e.event_id.len(), 32);
    assert!(e.timestamp > 1_600_000_000_000, "{}", e.timestamp);
    let ex = e.main_exception().unwrap();
    assert_eq!(ex.ty.as_deref(), Some("ValueError"));
    assert!(ex
        .frames
        .iter()
        .any(|f| f.function.as_deref() == Some("checkout") && f.is_in_app()));
    assert!(ex.frames.iter().all(|f| f.lineno.is_some()));
    let u = e.user.as_ref().unwrap();
    assert_eq!(u.id.as_deref(), Some("u-42"));
    assert_eq!(u.username.as_deref(), Some("bob"));
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
    let sdk = e.sdk.as_ref().unwrap().name.as_deref().unwrap();
    assert!(sdk.starts_with("sentry.python"), "{sdk}");
    assert!(e.contexts().get("runtime").is_some(), "{:#}", e.contexts());

    // Scrubbing: nothing secret survives anywhere in what would be stored.
    for p in &d.events {
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
    assert!(
        a.scrubbed.keys >= 3 && a.scrubbed.values >= 2,
        "{:?}",
        a.scrubbed
    );

    // Grouping.
    assert_eq!(a.grouping.method, Method::Exception);
    assert_eq!(a.grouping.hash, b.grouping.hash, "same error twice");
    assert_ne!(a.event.event_id, b.event.event_id);
    assert_ne!(a.grouping.hash, other.grouping.hash, "different exception");
    assert_eq!(
        a.grouping.title,
        "ValueError: card [Filtered] declined for order 1234"
    );
    assert_eq!(a.grouping.culprit.as_deref(), Some("__main__ in checkout"));
    assert_eq!(other.grouping.title, "KeyError: 'sku'");
    assert_eq!(
        other.grouping.culprit.as_deref(),
        Some("__main__ in lookup")
    );
    assert_eq!(custom.grouping.method, Method::Fingerprint);
    let mut want = vec!["fp:payments-custom".to_owned()];
    // `{{ default }}` expands to the event's own default components (its call path).
    want.extend(default_components(&custom.event).1);
    assert_eq!(custom.grouping.components, want);
    assert_eq!(custom.grouping.hash, hash(&want));
    assert_ne!(custom.grouping.hash, a.grouping.hash);
    assert_eq!(msg.grouping.method, Method::Message);
    assert_eq!(msg.event.level, Level::Fatal);
    assert_eq!(
        msg.grouping.title,
        "Database connection failed after 3 retries"
    );

    // Categorisation.
    assert_eq!(msg.categorization.category, Category::Database);
    assert_eq!(msg.categorization.priority.as_str(), "P0");
    assert_eq!(
        a.categorization.team.as_deref(),
        Some("payments"),
        "component keyword"
    );
}

#[test]
fn python_sentry_sdk() {
    if run(
        Command::new("python3").arg("--version"),
        Duration::from_secs(30),
    )
    .0
    {
        // fallthrough
    } else {
        return skip("python3 is not installed");
    }
    let scratch = tempfile::tempdir().unwrap();
    let Some(pp) = python_path(scratch.path()) else {
        return skip("sentry-sdk could not be installed (python3 -m pip install sentry-sdk)");
    };

    // The SDK's default: br when brotli is importable, gzip otherwise.
    let d = send(scratch.path(), &pp, "default");
    let want = if brotli_available(&pp) { "br" } else { "gzip" };
    eprintln!(
        "default encoding {:?}, items {:?}",
        d.encodings, d.item_types
    );
    assert!(d.encodings.iter().all(|e| e == want), "{:?}", d.encodings);
    check(&d);

    // Forced gzip.
    let d = send(scratch.path(), &pp, "gzip");
    assert!(d.encodings.iter().all(|e| e == "gzip"), "{:?}", d.encodings);
    check(&d);
}
