use super::*;
use crate::channels::test_support::{client, sample_notification, MockServer, Reply};
use crate::channels::{AlertStatus, Severity};

#[tokio::test]
async fn posts_attachment() {
    let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
    let mut cfg = SlackConfig::new(srv.url("/services/T0/B0/XYZ"));
    cfg.channel = Some("#alerts".into());
    cfg.username = Some("strix".into());
    let ch = SlackChannel::new(cfg, client()).unwrap();
    let r = ch.send(&sample_notification()).await.unwrap();
    assert_eq!(r.status, Some(200));
    let req = &srv.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/services/T0/B0/XYZ");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let v = req.json();
    assert_eq!(v["channel"], "#alerts");
    assert_eq!(v["username"], "strix");
    assert!(v.get("icon_emoji").is_none());
    let a = &v["attachments"][0];
    // send_resolved defaults to false: only the firing alert is left.
    assert_eq!(a["title"], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(a["color"], "danger");
    assert_eq!(
        a["title_link"],
        "https://strix.example/#/alerts?receiver=team-api"
    );
    assert_eq!(a["text"], "• HighLatency: p99 latency above 1s on api-1");
    assert_eq!(
        a["fallback"],
        "[FIRING:1] HighLatency (prod api) | https://strix.example/#/alerts?receiver=team-api"
    );
    assert_eq!(
        a["mrkdwn_in"],
        serde_json::json!(["fallback", "pretext", "text"])
    );
}

#[test]
fn colours() {
    let mut n = sample_notification();
    assert_eq!(color(&n), "danger");
    n.severity = Some(Severity::Warning);
    assert_eq!(color(&n), "warning");
    n.severity = Some(Severity::Info);
    assert_eq!(color(&n), "#439FE0");
    n.status = AlertStatus::Resolved;
    assert_eq!(color(&n), "good");
}

#[tokio::test]
async fn slack_errors_are_classified() {
    let srv = MockServer::start(vec![
        Reply::status(404, "channel_not_found"),
        Reply::Respond(
            429,
            vec![("Retry-After", "30".into())],
            "rate_limited".into(),
        ),
    ])
    .await;
    let ch = SlackChannel::new(SlackConfig::new(srv.url("/x")), client()).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(!e.is_retryable());
    assert_eq!(e.body_excerpt.as_deref(), Some("channel_not_found"));
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(30)));
}
