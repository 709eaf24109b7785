//! KPI thresholds: configuration, compilation into alerting rules, status evaluation
//! against a real storage engine, and the compiled rules firing with the right severity.
#![allow(clippy::unwrap_used)]

use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use strix_core::storage::{AppendMode, Appendable, Queryable, TimeSeries};
use strix_core::{Labels, Sample};
use strix_rules::kpi::{self, Direction, Kpi, KpiConfig, KpiStatus};
use strix_rules::{AlertInstanceState, Rule, RuleFile, RuleManager, RuleManagerOptions};
use strix_tsdb::{Db, DbOptions, FsyncPolicy};

fn parse(yaml: &str) -> Vec<KpiConfig> {
    serde_yaml::from_str(yaml).unwrap()
}

fn db(dir: &std::path::Path) -> Db {
    Db::open(
        dir,
        DbOptions {
            fsync: FsyncPolicy::Never,
            ..DbOptions::default()
        },
        &mut Registry::default(),
    )
    .unwrap()
}

fn put(db: &Db, name: &str, extra: &[(&str, &str)], t: i64, v: f64) {
    let mut pairs = vec![("__name__", name)];
    pairs.extend_from_slice(extra);
    let ts = TimeSeries {
        labels: Labels::from_pairs(pairs),
        samples: vec![Sample { t, v }],
    };
    db.append(&[ts], AppendMode::Live).unwrap();
}

const LATENCY: &str = r#"
- name: checkout_latency
  expr: checkout_latency_ms
  unit: ms
  direction: above
  target: 150
  warning: 200
  critical: 500
  for: 2m
  description: p95 checkout latency
  labels: {team: shop}
- name: hit_rate
  expr: cache_hit_ratio * 100
  unit: "%"
  direction: below
  warning: 80
  critical: 60
"#;

#[test]
fn config_parses_validates_and_compiles() {
    let kpis = kpi::from_config(&parse(LATENCY), false).unwrap();
    assert_eq!(kpis.len(), 2);
    assert_eq!(kpis[0].for_, Duration::from_secs(120));
    assert_eq!(kpis[1].direction, Direction::Below);

    let group = kpi::compile(&kpis);
    assert_eq!(group.name, kpi::GROUP_NAME);
    assert_eq!(group.rules.len(), 4);
    let Rule::Alerting {
        alert,
        expr,
        for_,
        labels,
        annotations,
        ..
    } = &group.rules[0]
    else {
        panic!("not an alerting rule")
    };
    assert_eq!(alert, "checkout_latency");
    assert_eq!(expr, "(checkout_latency_ms) > 500");
    assert_eq!(*for_, Duration::from_secs(120));
    assert_eq!(labels.get("severity").map(String::as_str), Some("critical"));
    assert_eq!(
        labels.get("kpi").map(String::as_str),
        Some("checkout_latency")
    );
    assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
    assert!(
        annotations["summary"].contains("{{ $value }} ms")
            && annotations["summary"].contains("500 ms"),
        "{annotations:?}"
    );
    assert_eq!(annotations["description"], "p95 checkout latency");
    let Rule::Alerting { expr, labels, .. } = &group.rules[1] else {
        panic!()
    };
    assert_eq!(expr, "(checkout_latency_ms) > 200 <= 500");
    assert_eq!(labels["severity"], "warning");
    // Mirrored for "below".
    assert_eq!(group.rules[2].expr(), "(cache_hit_ratio * 100) < 60");
    assert_eq!(group.rules[3].expr(), "(cache_hit_ratio * 100) < 80 >= 60");
    // Every compiled rule is a valid Prometheus rule: it survives the rule-file parser.
    let mut yaml = String::from("groups:\n- name: kpis\n  rules:\n");
    for r in &group.rules {
        yaml.push_str(&format!(
            "  - alert: {}\n    expr: {:?}\n",
            r.name(),
            r.expr()
        ));
    }
    strix_rules::parse_rule_file(&yaml, "kpis.yml").unwrap();
}

#[test]
fn invalid_entries_name_the_entry_and_reason() {
    let cases = [
        ("- {name: x, expr: up, direction: above}", "at least one of warning and critical"),
        ("- {name: x, expr: up, direction: sideways, warning: 1}", "sideways"),
        ("- {name: x, expr: 'sum(', direction: above, warning: 1}", "expr"),
        ("- {name: x, expr: '1 + 1', direction: above, warning: 1}", "instant vector"),
        ("- {name: 'bad name', expr: up, direction: above, warning: 1}", "metric-style name"),
        ("- {name: x, expr: up, direction: above, warning: 5, critical: 1}", "below critical"),
        ("- {name: x, expr: up, direction: below, warning: 1, critical: 5}", "above critical"),
        ("- {name: x, expr: up, direction: above, target: 9, warning: 5}", "target"),
        ("- {name: x, expr: up, direction: above, warning: 1, for: soon}", "for"),
        ("- {name: x, expr: up, direction: above, warning: 1, labels: {severity: x}}", "severity"),
        ("- {name: x, expr: up, direction: above, warning: 1, colour: red}", "colour"),
        ("- {name: x, expr: up, direction: above, warning: 1}\n- {name: x, expr: up, direction: above, warning: 2}", "repeated"),
    ];
    for (yaml, want) in cases {
        let msg = match serde_yaml::from_str::<Vec<KpiConfig>>(yaml) {
            Err(e) => e.to_string(),
            Ok(entries) => kpi::from_config(&entries, false).unwrap_err().to_string(),
        };
        assert!(msg.contains(want), "{yaml}: {msg}");
    }
    let e = kpi::from_config(&parse("- {name: ok, expr: up, direction: above, warning: 1}\n- {name: y, expr: up, direction: above}"), false).unwrap_err();
    assert!(e.to_string().starts_with("kpis[1] (\"y\")"), "{e}");
}

#[test]
fn builtin_pack_has_the_issue_defaults_and_entries_override_it() {
    let pack = kpi::builtin().unwrap();
    let get = |n: &str| pack.iter().find(|k| k.name == n).unwrap().clone();
    let expect = [
        (
            "api_response_time",
            Direction::Above,
            Some(200.0),
            Some(500.0),
            "ms",
        ),
        (
            "throughput",
            Direction::Below,
            Some(1000.0),
            None,
            "req/min",
        ),
        ("error_rate", Direction::Above, Some(0.1), Some(1.0), "%"),
        (
            "memory_usage",
            Direction::Above,
            Some(70.0),
            Some(85.0),
            "%",
        ),
        ("cpu_usage", Direction::Above, Some(60.0), Some(80.0), "%"),
        (
            "cache_hit_rate",
            Direction::Below,
            Some(80.0),
            Some(60.0),
            "%",
        ),
        ("queue_length", Direction::Above, Some(10.0), Some(50.0), ""),
    ];
    assert_eq!(pack.len(), expect.len());
    for (name, dir, w, c, unit) in expect {
        let k = get(name);
        assert_eq!(
            (k.direction, k.warning, k.critical, k.unit.as_str()),
            (dir, w, c, unit),
            "{name}"
        );
    }
    assert!(get("api_response_time")
        .expr
        .contains("http_request_duration_seconds_bucket"));
    assert!(get("memory_usage")
        .expr
        .contains("node_memory_MemAvailable_bytes"));
    assert!(get("cpu_usage").expr.contains("node_cpu_seconds_total"));
    // The issue's bands: response time 350 ms is warning, 600 critical; error rate 0.05 % ok.
    assert_eq!(
        get("api_response_time").status_of(350.0),
        KpiStatus::Warning
    );
    assert_eq!(
        get("api_response_time").status_of(600.0),
        KpiStatus::Critical
    );
    assert_eq!(get("error_rate").status_of(0.05), KpiStatus::Ok);
    assert_eq!(get("cache_hit_rate").status_of(70.0), KpiStatus::Warning);
    assert_eq!(get("throughput").status_of(900.0), KpiStatus::Warning);
    assert_eq!(get("queue_length").status_of(51.0), KpiStatus::Critical);

    let with_override = kpi::from_config(
        &parse("- {name: queue_length, expr: max(jobs_waiting), direction: above, warning: 100}"),
        true,
    )
    .unwrap();
    assert_eq!(with_override.len(), 7);
    let q = with_override
        .iter()
        .find(|k| k.name == "queue_length")
        .unwrap();
    assert_eq!(
        (q.expr.as_str(), q.warning),
        ("max(jobs_waiting)", Some(100.0))
    );
    assert!(kpi::from_config(&[], false).unwrap().is_empty());
}

#[test]
fn status_is_evaluated_against_stored_samples() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let now = strix_core::now_millis();
    put(
        &db,
        "checkout_latency_ms",
        &[("region", "eu")],
        now - 1_000,
        120.0,
    );
    put(
        &db,
        "checkout_latency_ms",
        &[("region", "us")],
        now - 1_000,
        350.0,
    );
    put(&db, "cache_hit_ratio", &[], now - 1_000, 0.55);
    let kpis = kpi::from_config(&parse(LATENCY), false).unwrap();
    let engine = strix_query::Engine::default();
    let store: &dyn Queryable = &db;

    let latency = kpis[0].reading(&engine, store, now);
    assert_eq!(latency.status, KpiStatus::Warning);
    assert_eq!(latency.value, Some(350.0));
    assert_eq!(latency.series.len(), 2);
    assert_eq!(
        latency.series[0].labels.get("region").map(String::as_str),
        Some("us"),
        "worst first"
    );
    assert_eq!(latency.series[1].status, KpiStatus::Ok);

    let hit = kpis[1].reading(&engine, store, now);
    assert_eq!(hit.status, KpiStatus::Critical);
    assert!((hit.value.unwrap() - 55.0).abs() < 1e-9);

    // No data: unknown, no value. A failing query: unknown with the error.
    let none = Kpi {
        expr: "absent_metric".into(),
        ..kpis[0].clone()
    };
    let r = none.reading(&engine, store, now);
    assert_eq!(
        (r.status, r.value, r.error.is_none()),
        (KpiStatus::Unknown, None, true)
    );
    let broken = Kpi {
        expr: "label_replace(up, \"x\", \"$1\", \"y\", \"(\")".into(),
        ..kpis[0].clone()
    };
    let r = broken.reading(&engine, store, now);
    assert_eq!(r.status, KpiStatus::Unknown);
    assert!(r.error.is_some());
}

#[test]
fn compiled_rules_fire_with_the_kpi_severity() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let now = strix_core::now_millis();
    put(
        &db,
        "checkout_latency_ms",
        &[("region", "eu")],
        now - 1_000,
        800.0,
    );
    put(
        &db,
        "checkout_latency_ms",
        &[("region", "us")],
        now - 1_000,
        300.0,
    );
    put(
        &db,
        "checkout_latency_ms",
        &[("region", "ap")],
        now - 1_000,
        100.0,
    );
    let mut kpis = kpi::from_config(&parse(LATENCY), false).unwrap();
    kpis.truncate(1);
    kpis[0].for_ = Duration::ZERO;
    let mut reg = Registry::default();
    let manager = RuleManager::new(
        strix_query::Engine::default(),
        Arc::new(db.clone()),
        Arc::new(db.clone()) as Arc<dyn Appendable>,
        RuleManagerOptions::default(),
        &mut reg,
    );
    manager.apply(vec![RuleFile {
        path: kpi::GROUP_FILE.into(),
        groups: vec![kpi::compile(&kpis)],
    }]);
    manager.evaluate_all_at(now);
    let groups = manager.groups();
    assert_eq!(groups.len(), 1);
    let mut firing: Vec<(String, String)> = groups[0]
        .rules
        .iter()
        .flat_map(|r| r.alerts.active.values())
        .filter(|a| a.state == AlertInstanceState::Firing)
        .map(|a| {
            (
                a.labels.get("region").unwrap_or("").to_string(),
                a.labels.get("severity").unwrap_or("").to_string(),
            )
        })
        .collect();
    firing.sort();
    assert_eq!(
        firing,
        vec![
            ("eu".to_string(), "critical".to_string()),
            ("us".to_string(), "warning".to_string())
        ]
    );
}

#[test]
fn kpi_status_changes_are_published_as_live_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let now = strix_core::now_millis();
    put(&db, "checkout_latency_ms", &[], now - 1_000, 100.0);
    let mut kpis = kpi::from_config(&parse(LATENCY), false).unwrap();
    kpis.truncate(1);
    let bus = Arc::new(strix_core::events::EventBus::default());
    let mut reg = Registry::default();
    let manager = RuleManager::new(
        strix_query::Engine::default(),
        Arc::new(db.clone()),
        Arc::new(db.clone()) as Arc<dyn Appendable>,
        RuleManagerOptions {
            events: Some(bus.clone()),
            kpis: kpis.clone(),
            ..RuleManagerOptions::default()
        },
        &mut reg,
    );
    manager.apply(vec![RuleFile {
        path: kpi::GROUP_FILE.into(),
        groups: vec![kpi::compile(&kpis)],
    }]);
    let kpi_events = || -> Vec<serde_json::Value> {
        bus.since(0, 1000)
            .events
            .into_iter()
            .filter(|e| e.kind == strix_core::events::kind::KPI)
            .map(|e| serde_json::from_str(e.data.as_str()).unwrap())
            .collect()
    };
    manager.evaluate_all_at(now);
    let ev = kpi_events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["name"], "checkout_latency");
    assert_eq!(ev[0]["status"], "ok");
    assert_eq!(ev[0]["previous"], "unknown");
    assert_eq!(ev[0]["value"], 100.0);
    assert_eq!(ev[0]["unit"], "ms");
    assert_eq!(ev[0]["target"], 150.0);
    // Unchanged: nothing new.
    manager.evaluate_all_at(now + 1_000);
    assert_eq!(kpi_events().len(), 1);
    // Worse: ok -> critical.
    put(&db, "checkout_latency_ms", &[], now + 1_500, 900.0);
    manager.evaluate_all_at(now + 2_000);
    let ev = kpi_events();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1]["status"], "critical");
    assert_eq!(ev[1]["previous"], "ok");
    assert_eq!(ev[1]["value"], 900.0);
    // The KPI's alert (for: 2m) entered pending: published in the alert shape.
    let alerts: Vec<serde_json::Value> = bus
        .since(0, 1000)
        .events
        .into_iter()
        .filter(|e| e.kind == strix_core::events::kind::ALERT)
        .map(|e| serde_json::from_str(e.data.as_str()).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["state"], "pending");
    assert_eq!(alerts[0]["labels"]["alertname"], "checkout_latency");
    assert_eq!(alerts[0]["severity"], "critical");
    assert_eq!(alerts[0]["value"], 900.0);
    let fp = alerts[0]["fingerprint"].as_str().unwrap();
    assert_eq!(
        alerts[0]["id"].as_str().unwrap(),
        strix_state::AlertRecord::derive_id(fp, now + 2_000),
        "the id the alert keeps when it fires"
    );
}
