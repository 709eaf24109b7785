//! Error tracking end to end with the real `@sentry/node` SDK (installed from npm into a
//! temporary directory) pointed at a spawned Strix: exceptions, messages, breadcrumbs,
//! user, tags, a custom fingerprint, secrets in the payload (scrubbed), grouping, resolve
//! and regress. Skips without node/npm unless `STRIX_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod util;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use util::StrixProcess;

const KEY: &str = "00112233445566778899aabbccddeeff";

const SCRIPT: &str = r#"
const Sentry = require('@sentry/node');
const [dsn, phase] = process.argv.slice(2);

Sentry.init({
  dsn,
  release: 'shop@3.0.0',
  environment: 'staging',
  tracesSampleRate: 0,
});
Sentry.setUser({ id: 'u-42', username: 'jane' });
Sentry.setTag('component', 'checkout');
Sentry.addBreadcrumb({ category: 'auth', message: 'user logged in', level: 'info' });

function chargeCard(order) {
  return order.payment.amount;
}

function charge(i) {
  try {
    chargeCard({});
  } catch (e) {
    Sentry.captureException(e, {
      extra: { password: 'hunter2-node-secret', card: '4111 1111 1111 1111', order: 1000 + i },
    });
  }
}

async function main() {
  charge(0);
  if (phase === 'first') {
    // Something else in between: the SDK's dedupe drops an event identical to the last one.
    Sentry.captureMessage('Inventory sync finished with 3 conflicts', 'warning');
    charge(1);
    for (const text of ['custom grouped A', 'custom grouped B, another message']) {
      Sentry.withScope((scope) => {
        scope.setFingerprint(['inventory-custom-group']);
        Sentry.captureException(new Error(text));
      });
    }
  }
  const flushed = await Sentry.close(15000);
  if (!flushed) {
    console.error('events not flushed');
    process.exit(2);
  }
}
main();
"#;

fn available(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_or_fail(why: &str) {
    assert!(
        std::env::var("STRIX_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{why} and STRIX_REQUIRE_PEERS=1"
    );
    eprintln!("skipping: {why}");
}

/// Installs `@sentry/node` into `dir`; `Err` with npm's output when it cannot.
fn npm_install(dir: &Path) -> Result<(), String> {
    std::fs::write(
        dir.join("package.json"),
        r#"{"name": "strix-sentry-node-test", "version": "1.0.0", "private": true}"#,
    )
    .unwrap();
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "@sentry/node@11",
        ])
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn run(dir: &Path, strix: &StrixProcess, phase: &str) {
    let dsn = format!(
        "http://{KEY}@{}/3",
        strix.base().trim_start_matches("http://")
    );
    let mut child = Command::new("node")
        .args(["script.js", &dsn, phase])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let status = util::wait_exit(&mut child, Duration::from_secs(60));
    let Some(status) = status else {
        util::kill_child(&mut child);
        panic!("the node script did not finish within 60 s");
    };
    let out = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "node script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn issues(strix: &StrixProcess) -> Vec<Value> {
    let (code, body) = strix.get("/api/monitoring/errors/issues?project=shop");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"].as_array().unwrap().clone()
}

fn total(list: &[Value]) -> u64 {
    list.iter().map(|i| i["count"].as_u64().unwrap()).sum()
}

#[test]
fn sentry_node_groups_scrubs_and_regresses() {
    if !available("node") || !available("npm") {
        skip_or_fail("node or npm is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    if let Err(e) = npm_install(dir.path()) {
        skip_or_fail(&format!("npm could not install @sentry/node: {e}"));
        return;
    }
    std::fs::write(dir.path().join("script.js"), SCRIPT).unwrap();
    let config = format!(
        "projects:\n  - {{id: 3, slug: shop, public_key: \"{KEY}\"}}\n\
         check_settings:\n  components: {{disk_free_percent: 0, disk_free_critical_percent: 0}}\n"
    );
    let strix = StrixProcess::start(&[], Some(&config));

    run(dir.path(), &strix, "first");
    let list = util::wait_for(Duration::from_secs(15), "five events", || {
        let l = issues(&strix);
        (total(&l) == 5).then_some(l)
    });
    // chargeCard twice → one issue; the message; the custom fingerprint groups two
    // different errors into one.
    assert_eq!(list.len(), 3, "{list:#?}");
    let by = |needle: &str| {
        list.iter()
            .find(|i| i["title"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no issue like {needle:?}: {list:#?}"))
            .clone()
    };
    let charge = by("TypeError");
    assert_eq!(charge["count"], 2, "{charge}");
    assert_eq!(charge["userCount"], 1);
    assert!(
        charge["culprit"].as_str().unwrap().contains("chargeCard"),
        "{charge}"
    );
    let message = by("Inventory sync finished");
    assert_eq!(message["level"], "warning");
    let custom = list
        .iter()
        .find(|i| i["count"] == 2 && i["id"] != charge["id"])
        .expect("custom-fingerprint issue");
    assert!(custom["title"].as_str().unwrap().contains("custom grouped"));

    // Payloads: user, tags, breadcrumbs, release and environment kept; secrets scrubbed.
    let id = charge["id"].as_i64().unwrap();
    let (code, body) = strix.get(&format!("/api/monitoring/errors/issues/{id}/events"));
    assert_eq!(code, 200, "{body}");
    assert!(
        !body.contains("hunter2-node-secret"),
        "password stored: {body}"
    );
    assert!(
        !body.contains("4111 1111 1111 1111"),
        "card number stored: {body}"
    );
    let evs: Value = serde_json::from_str(&body).unwrap();
    let p = &evs["data"][0]["payload"];
    assert_eq!(p["user"]["id"], "u-42", "{p}");
    assert_eq!(p["tags"]["component"], "checkout", "{p}");
    assert_eq!(p["release"], "shop@3.0.0");
    assert_eq!(p["environment"], "staging");
    let crumbs = p["breadcrumbs"]["values"]
        .as_array()
        .or_else(|| p["breadcrumbs"].as_array())
        .expect("breadcrumbs");
    assert!(
        crumbs.iter().any(|c| c["message"] == "user logged in"),
        "{crumbs:?}"
    );
    assert_eq!(p["extra"]["order"].as_i64().map(|o| o >= 1000), Some(true));

    // Resolve, then the same error again: regressed.
    let (code, body) = strix.post(
        &format!("/api/monitoring/errors/issues/{id}/resolve"),
        &[("content-type", "application/json")],
        br#"{"operator": "jane", "notes": "null check added"}"#,
    );
    assert_eq!(code, 200, "{body}");
    run(dir.path(), &strix, "again");
    let issue = util::wait_for(Duration::from_secs(15), "regression", || {
        let (_, body) = strix.get(&format!("/api/monitoring/errors/issues/{id}"));
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["data"]["count"] == 3).then_some(v)
    });
    assert_eq!(issue["data"]["status"], "regressed", "{issue}");
    assert_eq!(
        issue["data"]["environments"],
        serde_json::json!(["staging"])
    );
    assert_eq!(issues(&strix).len(), 3, "no new issue for the same error");
}
