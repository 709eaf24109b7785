//! Strix scrapes its own `/metrics` by default, and recording rules from `rule_files`
//! write their results back, all inside `strix serve`.
mod util;

use std::time::Duration;
use util::{wait_for, StrixProcess};

#[test]
fn self_scrape_and_recording_rules() {
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("strix.rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: self\n  interval: 1s\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {source: rule}\n",
    )
    .unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files: [{:?}]\nhost_metrics:\n  interval: 1s\n",
        rules.display().to_string()
    );
    let strix = StrixProcess::start(&[], Some(&cfg));
    // The self-scrape writes `up` and Strix's own metrics with job="strix".
    let up = wait_for(Duration::from_secs(20), "self-scrape up", || {
        let s = strix.export(r#"up{job="strix"}"#);
        (!s.is_empty() && s[0].values.contains(&1.0)).then_some(s)
    });
    assert_eq!(up.len(), 1);
    assert!(!strix
        .export(r#"{__name__="strix_tsdb_head_series",job="strix"}"#)
        .is_empty());
    // The recording rule sees `up` and records its sum with the rule's labels.
    let rec = wait_for(Duration::from_secs(20), "recording rule output", || {
        let s = strix.export(r#"{__name__="job:up:sum"}"#);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(rec[0].labels.get("job").map(String::as_str), Some("strix"));
    assert_eq!(
        rec[0].labels.get("source").map(String::as_str),
        Some("rule")
    );
    assert_eq!(rec[0].values.last(), Some(&1.0));
    // Host metrics under node_exporter names.
    wait_for(Duration::from_secs(20), "host metrics", || {
        (!strix
            .export(r#"{__name__="node_memory_MemTotal_bytes"}"#)
            .is_empty())
        .then_some(())
    });
    // /api/v1/targets and /api/v1/rules describe both.
    let (code, body) = strix.get("/api/v1/targets");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["activeTargets"][0]["labels"]["job"], "strix");
    assert_eq!(v["data"]["activeTargets"][0]["health"], "up");
    let (code, body) = strix.get("/api/v1/rules");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rule = &v["data"]["groups"][0]["rules"][0];
    assert_eq!(rule["name"], "job:up:sum");
    assert_eq!(rule["type"], "recording");
    assert_eq!(rule["health"], "ok");
}

#[test]
fn check_config_validates_rule_files_and_scrape_configs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.rules.yml"),
        "groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(\n",
    )
    .unwrap();
    let cfg = dir.path().join("strix.yaml");
    std::fs::write(&cfg, "rule_files: [\"*.rules.yml\"]\n").unwrap();
    let out = std::process::Command::new(util::strix_bin())
        .args(["check-config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.rules.yml") && err.contains("group \"g\""),
        "{err}"
    );
    std::fs::write(&cfg, "scrape_configs:\n- job_name: a\n  scrape_interval: 5s\n  scrape_timeout: 10s\n  static_configs: [{targets: ['127.0.0.1:1']}]\n").unwrap();
    let out = std::process::Command::new(util::strix_bin())
        .args(["check-config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scrape_configs[0].scrape_timeout"), "{err}");
}
