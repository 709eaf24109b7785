//! Cross-check: our routing agrees with Alertmanager's own `amtool config routes test`
//! on the fixture. Skipped when amtool is missing, unless STRIX_REQUIRE_PEERS=1
//! (Debian/Ubuntu: `apt-get install prometheus-alertmanager`).
#![allow(clippy::unwrap_used)] // test helpers

use std::process::Command;

use strix_alerting::routing::config::AlertmanagerConfig;
use strix_core::Labels;

const FIXTURE: &str = include_str!("fixtures/alertmanager.yml");

/// Removes the keys Strix adds beside Alertmanager's, so amtool accepts the file.
fn strip_strix_keys(yaml: &str) -> String {
    let mut v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let top = v.as_mapping_mut().unwrap();
    top.remove("escalation_policies");
    if let Some(rs) = top.get_mut("receivers").and_then(|r| r.as_sequence_mut()) {
        for r in rs {
            let r = r.as_mapping_mut().unwrap();
            for k in ["teams_configs", "sms_configs", "rate_limit"] {
                r.remove(k);
            }
            if let Some(ws) = r
                .get_mut("webhook_configs")
                .and_then(|w| w.as_sequence_mut())
            {
                for w in ws {
                    w.as_mapping_mut().unwrap().remove("signing_secret");
                }
            }
        }
    }
    serde_yaml::to_string(&v).unwrap()
}

fn amtool_available() -> bool {
    let ok = Command::new("amtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("STRIX_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!(
            "amtool is required (STRIX_REQUIRE_PEERS=1): apt-get install prometheus-alertmanager"
        );
    }
    ok
}

#[test]
fn routing_agrees_with_amtool() {
    if !amtool_available() {
        eprintln!("skipping: amtool not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, strip_strix_keys(FIXTURE)).unwrap();
    let check = Command::new("amtool")
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "amtool rejects the stripped fixture: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let config = AlertmanagerConfig::load(FIXTURE).unwrap();
    let label_sets: &[&[(&str, &str)]] = &[
        &[("alertname", "X")],
        &[("severity", "critical")],
        &[("severity", "critical"), ("cluster", "eu")],
        &[("team", "database")],
        &[("team", "database"), ("env", "prod")],
        &[
            ("team", "database"),
            ("env", "staging"),
            ("severity", "critical"),
        ],
        &[("team", "database"), ("env", "dev")],
        &[("team", "database"), ("env", "production")],
        &[("team", "frontend"), ("env", "prod")],
        &[("team", "frontend"), ("env", "dev")],
        &[("team", "api")],
        &[("team", "api"), ("severity", "critical")],
        &[("team", "apis")],
        &[("service", "café"), ("region", "eu-west-1")],
        &[("service", "café"), ("region", "us-east-1")],
        &[("service", "cafe"), ("region", "eu-west-1")],
        &[("category", "security"), ("severity", "critical")],
        &[("category", "security")],
    ];
    for labels in label_sets {
        let args: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let out = Command::new("amtool")
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", path.display()))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "amtool failed for {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let theirs: Vec<&str> = stdout.trim().split(',').map(str::trim).collect();
        let ours = config
            .tree
            .receivers_for(&Labels::from_pairs(labels.iter().copied()));
        assert_eq!(ours, theirs, "routing differs from amtool for {args:?}");
    }
}
