use super::*;
use crate::channels::test_support::{client, sample_notification, MockServer, Reply};
use crate::channels::AlertStatus;

#[tokio::test]
async fn posts_embed() {
    let srv = MockServer::start(vec![Reply::status(204, "")]).await;
    let mut cfg = DiscordConfig::new(srv.url("/api/webhooks/123/tok"));
    cfg.username = Some("Strix".into());
    let ch = DiscordChannel::new(cfg, client()).unwrap();
    let r = ch.send(&sample_notification()).await.unwrap();
    assert_eq!(r.status, Some(204));
    let req = &srv.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/webhooks/123/tok");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let v = req.json();
    assert!(v.get("content").is_none());
    assert_eq!(v["username"], "Strix");
    let e = &v["embeds"][0];
    assert_eq!(e["title"], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(e["color"], COLOR_RED);
    assert!(e["description"]
        .as_str()
        .unwrap()
        .starts_with("• HighLatency: p99 latency above 1s on api-1"));
    assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
}

#[test]
fn colour_by_status_and_limits() {
    let mut n = sample_notification();
    n.status = AlertStatus::Resolved;
    assert_eq!(color(&n), COLOR_GREEN);
    n.status = AlertStatus::Firing;
    n.common_labels.insert("x".into(), "y".repeat(1000));
    let m = build_payload(&DiscordConfig::new("http://127.0.0.1/"), &n);
    assert_eq!(m.embeds[0].title.chars().count(), 256);
}

#[tokio::test]
async fn rate_limit_is_retryable() {
    let srv = MockServer::start(vec![Reply::Respond(
        429,
        vec![("Retry-After", "2".into())],
        r#"{"message":"You are being rate limited.","retry_after":2.0,"global":false}"#.into(),
    )])
    .await;
    let ch = DiscordChannel::new(DiscordConfig::new(srv.url("/x")), client()).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(2)));
}
