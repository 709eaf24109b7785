use super::*;
use crate::channels::test_support::{client, sample_notification, MockServer, Reply};

#[tokio::test]
async fn adaptive_card() {
    let srv = MockServer::start(vec![Reply::status(202, "")]).await;
    let ch = TeamsChannel::new(TeamsConfig::new(srv.url("/workflows/abc")), client()).unwrap();
    ch.send(&sample_notification()).await.unwrap();
    let req = &srv.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/workflows/abc");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let v = req.json();
    assert_eq!(v["type"], "message");
    let att = &v["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let c = &att["content"];
    assert_eq!(c["type"], "AdaptiveCard");
    assert_eq!(c["body"][0]["text"], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(c["body"][0]["color"], "Attention");
    let text = c["body"][1]["text"].as_str().unwrap();
    assert!(text.contains("- HighLatency: p99 latency above 1s on api-1"));
    assert!(text.contains("- HighLatency (resolved): p99 latency above 1s on api-2"));
    assert_eq!(
        c["actions"][0]["url"],
        "https://strix.example/#/alerts?receiver=team-api"
    );
}

#[tokio::test]
async fn message_card() {
    let srv = MockServer::start(vec![Reply::status(200, "1")]).await;
    let mut cfg = TeamsConfig::new(srv.url("/webhookb2/x"));
    cfg.format = TeamsFormat::MessageCard;
    let ch = TeamsChannel::new(cfg, client()).unwrap();
    ch.send(&sample_notification()).await.unwrap();
    let v = srv.requests()[0].json();
    assert_eq!(v["@type"], "MessageCard");
    assert_eq!(v["@context"], "http://schema.org/extensions");
    assert_eq!(v["themeColor"], "8C1A1A");
    assert_eq!(v["title"], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(v["summary"], v["title"]);
    assert_eq!(v["potentialAction"][0]["@type"], "OpenUri");
}

#[test]
fn format_from_yaml() {
    let c: TeamsConfig =
        serde_yaml::from_str("webhook_url: http://127.0.0.1/x\nformat: message_card\n").unwrap();
    assert_eq!(c.format, TeamsFormat::MessageCard);
}
