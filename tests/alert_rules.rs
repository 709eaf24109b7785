//! Alerting rules inside `strix serve`: pending → firing with `for`, `ALERTS` series,
//! `/api/v1/alerts` and `/api/v1/rules`, re-evaluation as samples arrive, and the `for`
//! state surviving a restart (restored from `ALERTS_FOR_STATE`).
#![allow(clippy::unwrap_used)]
mod util;

use std::time::{Duration, Instant};
use util::{wait_for, StrixProcess};

fn push(strix: &StrixProcess, value: f64) {
    let body = format!(r#"[{{"name":"queue_depth","labels":{{"queue":"jobs"}},"value":{value}}}]"#);
    let (code, resp) = strix.post(
        "/api/monitoring/metrics",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(code, 200, "{resp}");
}

fn alerts(strix: &StrixProcess) -> Vec<serde_json::Value> {
    let (code, body) = strix.get("/api/v1/alerts");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["alerts"].as_array().cloned().unwrap_or_default()
}

fn config(dir: &std::path::Path, interval: &str, for_: &str) -> String {
    let rules = dir.join("alerts.yml");
    std::fs::write(
        &rules,
        format!(
            "groups:\n- name: queues\n  interval: {interval}\n  rules:\n  - alert: QueueBacklog\n    expr: queue_depth > 10\n    for: {for_}\n    labels: {{severity: critical}}\n    annotations:\n      summary: 'Queue {{{{ $labels.queue }}}} has {{{{ $value }}}} jobs'\n"
        ),
    )
    .unwrap();
    format!(
        "self_scrape: false\nhost_metrics: {{enabled: false}}\nrule_files: [{:?}]\n\
         check_settings: {{components: {{disk_free_percent: 0, disk_free_critical_percent: 0}}}}\n",
        rules.display().to_string()
    )
}

#[test]
fn alert_fires_on_new_samples_without_waiting_for_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    // A 1h interval: only the event-driven re-evaluation can make this fire in time.
    let strix = StrixProcess::start(&[], Some(&config(dir.path(), "1h", "0s")));
    push(&strix, 3.0);
    let started = Instant::now();
    push(&strix, 42.0);
    let firing = wait_for(Duration::from_secs(20), "alert firing", || {
        let a = alerts(&strix);
        (a.len() == 1 && a[0]["state"] == "firing").then_some(a)
    });
    // The group interval is 1h: only re-evaluation on new samples can fire it this soon.
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(firing[0]["labels"]["alertname"], "QueueBacklog");
    assert_eq!(firing[0]["labels"]["severity"], "critical");
    assert_eq!(
        firing[0]["annotations"]["summary"],
        "Queue jobs has 42 jobs"
    );
    assert_eq!(firing[0]["value"], "42");
    // ALERTS is written back as a series.
    let s = wait_for(Duration::from_secs(20), "ALERTS series", || {
        let s = strix.export(r#"ALERTS{alertname="QueueBacklog"}"#);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(
        s[0].labels.get("alertstate").map(String::as_str),
        Some("firing")
    );
    // Back under the threshold: the alert goes away.
    push(&strix, 1.0);
    wait_for(Duration::from_secs(20), "alert resolved", || {
        alerts(&strix).is_empty().then_some(())
    });
    let (_, rules) = strix.get("/api/v1/rules?type=alert");
    assert!(rules.contains("\"state\":\"inactive\""), "{rules}");
}

#[test]
fn pending_for_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut strix = StrixProcess::start(&[], Some(&config(dir.path(), "1s", "8s")));
    push(&strix, 50.0);
    let pending = wait_for(Duration::from_secs(20), "alert pending", || {
        let a = alerts(&strix);
        (a.len() == 1 && a[0]["state"] == "pending").then_some(a)
    });
    let active_at = pending[0]["activeAt"].as_str().unwrap().to_string();
    // ALERTS_FOR_STATE must be on disk before the restart.
    wait_for(Duration::from_secs(20), "ALERTS_FOR_STATE", || {
        (!strix
            .export(r#"ALERTS_FOR_STATE{alertname="QueueBacklog"}"#)
            .is_empty())
        .then_some(())
    });
    strix.stop();
    strix.restart();
    push(&strix, 51.0);
    let again = wait_for(
        Duration::from_secs(20),
        "alert active after restart",
        || {
            let a = alerts(&strix);
            (a.len() == 1).then_some(a)
        },
    );
    assert_eq!(
        again[0]["activeAt"].as_str().unwrap(),
        active_at,
        "activeAt restored"
    );
    // And it fires 8s after the original activeAt, not 8s after the restart.
    wait_for(Duration::from_secs(15), "alert firing", || {
        (alerts(&strix)
            .first()
            .is_some_and(|a| a["state"] == "firing"))
        .then_some(())
    });
}
