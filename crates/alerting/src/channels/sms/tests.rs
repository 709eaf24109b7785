use base64_check::basic;

use super::*;
use crate::channels::test_support::{client, sample_notification, MockServer, Reply};

mod base64_check {
    /// Expected `Authorization` header for basic auth (standard base64).
    pub fn basic(user: &str, pass: &str) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let input = format!("{user}:{pass}").into_bytes();
        let mut out = String::new();
        for c in input.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }
}

fn config(srv: &MockServer, to: &[&str]) -> SmsConfig {
    let mut c = SmsConfig::new(
        "AC123",
        "tok3n",
        "+15005550006",
        to.iter().map(|s| s.to_string()).collect(),
    );
    c.base_url = srv.url("");
    c
}

#[tokio::test]
async fn posts_form_per_recipient_with_basic_auth() {
    let srv = MockServer::start(vec![
        Reply::status(201, r#"{"sid":"SM1","status":"queued"}"#),
        Reply::status(201, r#"{"sid":"SM2","status":"queued"}"#),
    ])
    .await;
    let ch = SmsChannel::new(config(&srv, &["+15551230001", "+15551230002"]), client()).unwrap();
    let r = ch.send(&sample_notification()).await.unwrap();
    assert_eq!(r.status, Some(201));
    assert_eq!(r.ids, vec!["SM1", "SM2"]);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    for (req, to) in reqs.iter().zip(["+15551230001", "+15551230002"]) {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/2010-04-01/Accounts/AC123/Messages.json");
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            req.header("authorization"),
            Some(basic("AC123", "tok3n").as_str())
        );
        let form = req.form();
        assert_eq!(form[0], ("To".to_string(), to.to_string()));
        assert_eq!(form[1], ("From".to_string(), "+15005550006".to_string()));
        assert_eq!(form[2].0, "Body");
        assert!(
            form[2].1.starts_with(
                "[FIRING:1] HighLatency (prod api)\nHighLatency: p99 latency above 1s on api-1"
            ),
            "{}",
            form[2].1
        );
    }
}

#[tokio::test]
async fn partial_failure_retries_only_missing_recipients() {
    let srv = MockServer::start(vec![
        Reply::status(201, r#"{"sid":"SM1"}"#),
        Reply::status(503, "unavailable"),
        Reply::status(201, r#"{"sid":"SM2"}"#),
    ])
    .await;
    let ch = SmsChannel::new(config(&srv, &["+15551230001", "+15551230002"]), client()).unwrap();
    let n = sample_notification();
    let e = ch.send(&n).await.unwrap_err();
    assert!(e.is_retryable());
    assert!(e.message.contains("1 of 2 recipients failed"), "{e}");
    assert!(!e.message.contains("+15551230002"), "{e}");
    let r = ch.send(&n).await.unwrap();
    assert_eq!(r.ids, vec!["SM2"]);
    let to: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| r.form()[0].1.clone())
        .collect();
    assert_eq!(to, vec!["+15551230001", "+15551230002", "+15551230002"]);
}

#[tokio::test]
async fn bad_request_is_permanent() {
    let srv = MockServer::start(vec![Reply::status(
        400,
        r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#,
    )])
    .await;
    let ch = SmsChannel::new(config(&srv, &["+1"]), client()).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(!e.is_retryable());
    assert_eq!(e.status, Some(400));
    assert!(e.body_excerpt.unwrap().contains("21211"));
}

#[test]
fn body_is_capped_at_1600_chars() {
    let mut n = sample_notification();
    n.alerts[0]
        .annotations
        .insert("summary".into(), "é".repeat(5000));
    let c = SmsConfig::new("AC1", "t", "+1", vec!["+2".into()]);
    let b = render_body(&c, &n);
    assert_eq!(b.chars().count(), MAX_BODY_CHARS);
    assert!(b.ends_with('…'));
}

#[test]
fn rejects_bad_config() {
    let ok = SmsConfig::new("AC1", "t", "+1", vec!["+2".into()]);
    assert!(SmsChannel::new(ok.clone(), client()).is_ok());
    let mut c = ok.clone();
    c.to.clear();
    assert!(SmsChannel::new(c, client()).is_err());
    let mut c = ok.clone();
    c.account_sid = "AC/../x".into();
    assert!(SmsChannel::new(c, client()).is_err());
    let mut c = ok;
    c.auth_token = "".into();
    assert!(SmsChannel::new(c, client()).is_err());
}
