//! Rule group evaluation over a real storage engine: expressions parsed once at load,
//! results written once per group, and a rule still seeing what an earlier rule of the
//! same group wrote in the same evaluation.
#![allow(clippy::unwrap_used)]

use prometheus_client::registry::Registry;
use std::sync::Arc;
use strix_core::storage::{AppendMode, Appendable, Queryable, TimeSeries};
use strix_core::{Labels, Matcher, Sample};
use strix_rules::{parse_rule_file, AlertInstanceState, RuleManager, RuleManagerOptions};
use strix_tsdb::{Db, DbOptions, FsyncPolicy};

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

fn put(db: &Db, name: &str, inst: &str, t: i64, v: f64) {
    let ts = TimeSeries {
        labels: Labels::from_pairs([("__name__", name), ("instance", inst)]),
        samples: vec![Sample { t, v }],
    };
    db.append(&[ts], AppendMode::Live).unwrap();
}

const RULES: &str = r#"
groups:
  - name: chain
    rules:
      - record: job:load:sum
        expr: sum(load)
      - alert: LoadHigh
        expr: job:load:sum > 5
        labels: {severity: warning}
      - alert: PerInstance
        expr: load > 4
      - record: clash
        expr: label_replace(load, "instance", "same", "", "")
"#;

#[test]
fn later_rules_see_earlier_results_and_errors_stay_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(dir.path());
    let now = strix_core::now_millis();
    put(&db, "load", "a", now - 1_000, 3.0);
    put(&db, "load", "b", now - 1_000, 4.5);
    let file = parse_rule_file(RULES, "chain.yml").unwrap();
    let mut reg = Registry::default();
    let manager = RuleManager::new(
        strix_query::Engine::default(),
        Arc::new(db.clone()),
        Arc::new(db.clone()) as Arc<dyn Appendable>,
        RuleManagerOptions::default(),
        &mut reg,
    );
    manager.apply(vec![file]);
    manager.evaluate_all_at(now);
    let groups = manager.groups();
    let rules = &groups[0].rules;
    assert_eq!(rules.len(), 4);
    assert!(rules[..3].iter().all(|r| r.health == "ok"), "{rules:?}");
    // The last rule fails alone (two series with one label set), the others are written.
    assert_eq!(rules[3].health, "err");
    assert!(rules[3].last_error.is_some());
    // LoadHigh reads job:load:sum, written by the recording rule in this evaluation.
    let firing = |i: usize| {
        rules[i]
            .alerts
            .active
            .values()
            .filter(|a| a.state == AlertInstanceState::Firing)
            .count()
    };
    assert_eq!(firing(1), 1, "LoadHigh did not see the recorded sum");
    assert_eq!(firing(2), 1, "PerInstance: only b is above 4");
    // Every result is in the store: the recording and the ALERTS series of both alerts.
    let sum = db
        .select(&[Matcher::equal("__name__", "job:load:sum")], now - 1, now)
        .unwrap();
    assert_eq!(sum.len(), 1);
    assert_eq!(sum[0].samples.last().unwrap().v, 7.5);
    let alerts = db
        .select(&[Matcher::equal("__name__", "ALERTS")], now - 1, now)
        .unwrap();
    let mut names: Vec<String> = alerts
        .iter()
        .map(|s| s.labels.get("alertname").unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["LoadHigh", "PerInstance"]);
    // A second evaluation after the load drops: the alerts resolve and their series go
    // stale, in the same single write.
    put(&db, "load", "a", now + 9_000, 0.0);
    put(&db, "load", "b", now + 9_000, 0.0);
    manager.evaluate_all_at(now + 10_000);
    let groups = manager.groups();
    assert_eq!(
        groups[0].rules[1]
            .alerts
            .active
            .values()
            .filter(|a| a.state == AlertInstanceState::Firing)
            .count(),
        0
    );
    let alerts = db
        .select(
            &[Matcher::equal("__name__", "ALERTS")],
            now + 10_000,
            now + 10_000,
        )
        .unwrap();
    assert!(
        alerts
            .iter()
            .all(|s| s.samples.iter().all(|x| strix_core::is_stale_nan(x.v))),
        "{alerts:?}"
    );
}
