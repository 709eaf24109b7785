use std::time::Duration;

use super::*;
use crate::channels::test_support::{client, sample_notification, MockServer, Reply};
use crate::channels::ErrorKind;

#[tokio::test]
async fn posts_v4_payload_with_signature_and_idempotency_key() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let mut cfg = WebhookConfig::new(srv.url("/hook?team=api"));
    cfg.signing_secret = Some("s3cr3t".into());
    cfg.headers.insert("X-Team".into(), "api".into());
    let ch = WebhookChannel::new(cfg, client()).unwrap();
    let r = ch.send(&sample_notification()).await.unwrap();
    assert_eq!(r.status, Some(200));
    assert!(!r.skipped);

    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hook?team=api");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-team"), Some("api"));
    assert_eq!(req.header("x-strix-idempotency-key"), Some("idem-123"));
    assert!(req.header("user-agent").unwrap().starts_with("Strix/"));
    let ts = req.header("x-strix-timestamp").unwrap();
    let sig = req.header("x-strix-signature").unwrap();
    verify_signature(b"s3cr3t", ts, &req.body, sig, Duration::from_secs(60)).unwrap();
    assert_eq!(
        verify_signature(b"other", ts, &req.body, sig, Duration::from_secs(60)),
        Err(SignatureError::Mismatch)
    );

    let v = req.json();
    let expected = serde_json::json!({
        "receiver": "team-api",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "env": "prod", "instance": "api-1:9090", "job": "api", "severity": "critical"},
                "annotations": {"summary": "p99 latency above 1s on api-1"},
                "startsAt": "2024-05-06T07:08:09.12Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://strix.example/graph?g0.expr=latency",
                "fingerprint": "1a2b3c4d5e6f7081"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "HighLatency", "env": "prod", "instance": "api-2:9090", "job": "api", "severity": "warning"},
                "annotations": {"summary": "p99 latency above 1s on api-2"},
                "startsAt": "2024-05-06T06:00:00Z",
                "endsAt": "2024-05-06T07:00:00Z",
                "generatorURL": "https://strix.example/graph?g0.expr=latency",
                "fingerprint": "8091a2b3c4d5e6f7"
            }
        ],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "env": "prod", "job": "api"},
        "commonAnnotations": {},
        "externalURL": "https://strix.example",
        "version": "4",
        "groupKey": "{}:{alertname=\"HighLatency\"}",
        "truncatedAlerts": 0
    });
    assert_eq!(v, expected);
}

#[tokio::test]
async fn unsigned_when_no_secret_and_truncates() {
    let srv = MockServer::start(vec![Reply::status(204, "")]).await;
    let mut cfg = WebhookConfig::new(srv.url("/"));
    cfg.max_alerts = 1;
    let ch = WebhookChannel::new(cfg, client()).unwrap();
    ch.send(&sample_notification()).await.unwrap();
    let req = &srv.requests()[0];
    assert!(req.header("x-strix-signature").is_none());
    assert!(req.header("x-strix-timestamp").is_none());
    let v = req.json();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(v["truncatedAlerts"], 1);
}

#[tokio::test]
async fn send_resolved_false_skips_fully_resolved_groups() {
    let srv = MockServer::start(vec![Reply::status(200, "")]).await;
    let mut cfg = WebhookConfig::new(srv.url("/"));
    cfg.send_resolved = false;
    let ch = WebhookChannel::new(cfg, client()).unwrap();
    let mut n = sample_notification();
    n.status = crate::channels::AlertStatus::Resolved;
    for a in &mut n.alerts {
        a.status = crate::channels::AlertStatus::Resolved;
    }
    let r = ch.send(&n).await.unwrap();
    assert!(r.skipped);
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn classifies_failures() {
    let srv = MockServer::start(vec![
        Reply::status(500, "backend exploded"),
        Reply::Respond(429, vec![("Retry-After", "3".into())], "slow down".into()),
        Reply::status(400, "bad payload"),
        Reply::status(503, &"x".repeat(2000)),
    ])
    .await;
    let ch = WebhookChannel::new(WebhookConfig::new(srv.url("/")), client()).unwrap();
    let n = sample_notification();

    let e = ch.send(&n).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Retryable);
    assert_eq!(e.status, Some(500));
    assert_eq!(e.body_excerpt.as_deref(), Some("backend exploded"));

    let e = ch.send(&n).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.status, Some(429));
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));

    let e = ch.send(&n).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert_eq!(e.status, Some(400));
    assert!(e.to_string().contains("bad payload"), "{e}");

    let e = ch.send(&n).await.unwrap_err();
    assert!(e.is_retryable());
    let ex = e.body_excerpt.unwrap();
    assert!(ex.len() <= crate::channels::BODY_EXCERPT_LEN + '…'.len_utf8());
}

#[tokio::test]
async fn timeout_against_silent_server_is_retryable() {
    let srv = MockServer::start(vec![Reply::Hang]).await;
    let mut cfg = WebhookConfig::new(srv.url("/"));
    cfg.timeout = Duration::from_millis(300);
    let ch = WebhookChannel::new(cfg, client()).unwrap();
    let started = std::time::Instant::now();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.is_retryable(), "{e}");
    assert!(e.message.contains("timed out"), "{e}");
    assert_eq!(e.status, None);
}

#[tokio::test]
async fn connection_refused_is_retryable_and_hides_url() {
    // Bind then drop to get a closed loopback port.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = WebhookConfig::new(format!("http://{addr}/secret-token-path"));
    let ch = WebhookChannel::new(cfg, client()).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(!e.to_string().contains("secret-token-path"), "{e}");
}

#[tokio::test]
async fn deliver_retries_then_succeeds_with_same_idempotency_key() {
    let srv = MockServer::start(vec![
        Reply::status(502, ""),
        Reply::Respond(429, vec![("Retry-After", "0".into())], String::new()),
        Reply::status(200, ""),
    ])
    .await;
    let mut cfg = WebhookConfig::new(srv.url("/"));
    cfg.signing_secret = Some("k".into());
    let ch = WebhookChannel::new(cfg, client()).unwrap();
    let policy = crate::channels::RetryPolicy {
        base: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_attempts: 5,
        ..Default::default()
    };
    let r = crate::channels::deliver(&ch, &sample_notification(), &policy)
        .await
        .unwrap();
    assert_eq!(r.attempts, 3);
    let keys: Vec<_> = srv
        .requests()
        .iter()
        .map(|r| r.header("x-strix-idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!(keys, vec!["idem-123"; 3]);
}

#[tokio::test]
async fn deliver_stops_on_permanent_error() {
    let srv = MockServer::start(vec![Reply::status(404, "no such hook")]).await;
    let ch = WebhookChannel::new(WebhookConfig::new(srv.url("/")), client()).unwrap();
    let e = crate::channels::deliver(&ch, &sample_notification(), &Default::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn rejects_bad_config() {
    assert!(WebhookChannel::new(WebhookConfig::new("ftp://x"), client()).is_err());
    assert!(WebhookChannel::new(WebhookConfig::new("not a url"), client()).is_err());
    let mut c = WebhookConfig::new("http://127.0.0.1/");
    c.headers.insert("bad header".into(), "v".into());
    assert!(WebhookChannel::new(c, client()).is_err());
}

#[test]
fn config_from_yaml() {
    let c: WebhookConfig = serde_yaml::from_str(
        "url: http://127.0.0.1:1/x\nmax_alerts: 5\nsigning_secret: abc\ntimeout: 2s\n",
    )
    .unwrap();
    assert_eq!(c.max_alerts, 5);
    assert!(c.send_resolved);
    assert_eq!(c.timeout, Duration::from_secs(2));
    assert!(!format!("{c:?}").contains("abc"));
}
