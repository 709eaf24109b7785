use super::*;
use crate::channels::test_support::{client, sample_notification, MockServer, Reply};
use crate::channels::AlertStatus;

const ACCEPTED: &str =
    r#"{"status":"success","message":"Event processed","dedup_key":"from-pagerduty"}"#;

#[tokio::test]
async fn trigger_event_shape() {
    let srv = MockServer::start(vec![Reply::status(202, ACCEPTED)]).await;
    let mut cfg = PagerDutyConfig::new("R0UTINGKEY");
    cfg.url = srv.url("/v2/enqueue");
    cfg.details
        .insert("runbook".into(), "https://wiki/rb".into());
    let ch = PagerDutyChannel::new(cfg, client()).unwrap();
    let n = sample_notification();
    let r = ch.send(&n).await.unwrap();
    assert_eq!(r.status, Some(202));
    assert_eq!(r.ids, vec!["from-pagerduty".to_string()]);

    let req = &srv.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v2/enqueue");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let v = req.json();
    assert_eq!(v["routing_key"], "R0UTINGKEY");
    assert_eq!(v["event_action"], "trigger");
    assert_eq!(v["dedup_key"], dedup_key(&n));
    assert_eq!(v["dedup_key"].as_str().unwrap().len(), 64);
    let p = &v["payload"];
    assert_eq!(p["summary"], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["source"], "strix");
    assert_eq!(p["timestamp"], "2024-05-06T07:08:09.12Z");
    assert_eq!(p["custom_details"]["num_firing"], 1);
    assert_eq!(p["custom_details"]["num_resolved"], 1);
    assert_eq!(p["custom_details"]["runbook"], "https://wiki/rb");
    assert!(p["custom_details"]["firing"]
        .as_str()
        .unwrap()
        .contains(" - instance = api-1:9090"));
    assert_eq!(v["client"], "Strix");
    assert_eq!(
        v["client_url"],
        "https://strix.example/#/alerts?receiver=team-api"
    );
    assert_eq!(
        v["links"][0]["href"],
        "https://strix.example/graph?g0.expr=latency"
    );
}

#[test]
fn dedup_key_is_stable_per_group_and_receiver() {
    let a = sample_notification();
    let mut b = a.clone();
    b.alerts.pop();
    b.status = AlertStatus::Resolved;
    b.escalation_level = 3;
    assert_eq!(dedup_key(&a), dedup_key(&b));
    let mut c = a.clone();
    c.receiver = "other".into();
    assert_ne!(dedup_key(&a), dedup_key(&c));
    let mut d = a.clone();
    d.group_key = "{}:{alertname=\"Other\"}".into();
    assert_ne!(dedup_key(&a), dedup_key(&d));
}

#[test]
fn actions_and_severity() {
    let mut n = sample_notification();
    let cfg = PagerDutyConfig::new("k");
    assert_eq!(build_event(&cfg, &n).event_action, "trigger");
    n.acknowledged = true;
    assert_eq!(build_event(&cfg, &n).event_action, "acknowledge");
    n.status = AlertStatus::Resolved;
    assert_eq!(build_event(&cfg, &n).event_action, "resolve");

    // No severity labels: the configured default.
    let mut n = sample_notification();
    for a in &mut n.alerts {
        a.labels.remove("severity");
    }
    assert_eq!(build_event(&cfg, &n).payload.severity, "error");
    for a in &mut n.alerts {
        a.labels.insert("severity".into(), "warn".into());
    }
    assert_eq!(build_event(&cfg, &n).payload.severity, "warning");
    let mut fixed = cfg.clone();
    fixed.severity = Some(crate::channels::Severity::Info);
    assert_eq!(build_event(&fixed, &n).payload.severity, "info");
}

#[tokio::test]
async fn resolve_and_errors() {
    let srv = MockServer::start(vec![
        Reply::status(202, ACCEPTED),
        Reply::status(
            400,
            r#"{"status":"invalid event","message":"Event object is invalid"}"#,
        ),
        Reply::status(500, ""),
    ])
    .await;
    let mut cfg = PagerDutyConfig::new("k");
    cfg.url = srv.url("/v2/enqueue");
    let ch = PagerDutyChannel::new(cfg, client()).unwrap();
    let mut n = sample_notification();
    n.status = AlertStatus::Resolved;
    for a in &mut n.alerts {
        a.status = AlertStatus::Resolved;
    }
    ch.send(&n).await.unwrap();
    assert_eq!(srv.requests()[0].json()["event_action"], "resolve");
    let e = ch.send(&n).await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.body_excerpt.unwrap().contains("invalid event"));
    assert!(ch.send(&n).await.unwrap_err().is_retryable());
}

#[test]
fn config_defaults() {
    let c: PagerDutyConfig = serde_yaml::from_str("routing_key: abc\n").unwrap();
    assert_eq!(c.url, DEFAULT_URL);
    assert!(c.send_resolved);
    assert!(PagerDutyChannel::new(PagerDutyConfig::new(""), client()).is_err());
}
