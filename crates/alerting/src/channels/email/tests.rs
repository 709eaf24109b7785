//! E-mail against a real SMTP server (Python's aiosmtpd) on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::*;
use crate::channels::test_support::sample_notification;

const SERVER_PY: &str = include_str!("smtp_server.py");

fn require_peers() -> bool {
    std::env::var("STRIX_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// `false` (and a message) when aiosmtpd is missing and peers are optional.
fn aiosmtpd_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !require_peers(),
            "STRIX_REQUIRE_PEERS=1 but python3 cannot import aiosmtpd (pip install aiosmtpd)"
        );
        eprintln!("SKIP: python3 cannot import aiosmtpd (pip install aiosmtpd)");
    }
    ok
}

struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    async fn start(mode: &str) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SERVER_PY).unwrap();
        let out = dir.path().join("messages.jsonl");
        let (cert, key) = if mode == "plain" {
            (PathBuf::from("-"), PathBuf::from("-"))
        } else {
            self_signed_cert(dir.path())
        };
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&out)
            .arg(mode)
            .arg(&cert)
            .arg(&key)
            .arg("60")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("SMTP server did not start in 20s")
            .unwrap()
            .expect("SMTP server exited");
        let port: u16 = line.trim().parse().unwrap();
        SmtpServer {
            child,
            port,
            out,
            _dir: dir,
        }
    }

    fn smarthost(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn stop(mut self) {
        // Stops the process we started, by its handle (PID).
        let _ = self.child.kill().await;
    }
}

fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=smtp.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed for the TLS e-mail tests");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

fn config(srv: &SmtpServer, tls: SmtpTls) -> EmailConfig {
    let mut c = EmailConfig::new(
        srv.smarthost(),
        "Strix <strix@example.com>",
        vec![
            "oncall@example.com".into(),
            "Team API <api@example.com>".into(),
        ],
    );
    c.tls = tls;
    c.timeout = Duration::from_secs(5);
    c
}

/// Checks the headers and that both parts arrived.
fn assert_message(m: &serde_json::Value, expect_subject: &str) {
    assert_eq!(m["mail_from"], "strix@example.com");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["oncall@example.com", "api@example.com"])
    );
    let data = m["data"].as_str().unwrap();
    let unfolded = data.replace("\r\n ", " ");
    assert!(
        unfolded.contains("From: Strix <strix@example.com>"),
        "{data}"
    );
    assert!(
        unfolded.contains("To: oncall@example.com, \"Team API\" <api@example.com>"),
        "{data}"
    );
    assert!(
        unfolded.contains(&format!("Subject: {expect_subject}")),
        "{data}"
    );
    assert!(unfolded.contains("Message-ID: <idem-123@strix>"), "{data}");
    assert!(
        data.contains("Content-Type: multipart/alternative"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: text/plain; charset=utf-8"),
        "{data}"
    );
    assert!(
        data.contains("Content-Type: text/html; charset=utf-8"),
        "{data}"
    );
    assert!(data.contains("Alerts Firing (1):"), "{data}");
    assert!(data.contains("<h3>Firing (1)</h3>"), "{data}");
}

#[tokio::test]
async fn plain_smtp_with_auth_delivers_text_and_html() {
    if !aiosmtpd_available() {
        return;
    }
    let srv = SmtpServer::start("plain").await;
    let mut cfg = config(&srv, SmtpTls::None);
    cfg.auth_username = Some("strix".into());
    cfg.auth_password = Some("hunter2".into());
    cfg.hello = Some("strix.test".into());
    let ch = EmailChannel::new(cfg).unwrap();
    let r = ch.send(&sample_notification()).await.unwrap();
    assert_eq!(r.status, Some(250));
    assert!(r.ids[0].contains("STRIXTEST"), "{r:?}");
    let msgs = srv.messages();
    assert_eq!(msgs.len(), 1);
    assert_message(&msgs[0], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(msgs[0]["authenticated"], true);
    assert_eq!(msgs[0]["auth_login"], "strix");
    assert_eq!(msgs[0]["tls"], false);
    srv.stop().await;
}

#[tokio::test]
async fn wrong_password_is_permanent() {
    if !aiosmtpd_available() {
        return;
    }
    let srv = SmtpServer::start("plain").await;
    let mut cfg = config(&srv, SmtpTls::None);
    cfg.auth_username = Some("strix".into());
    cfg.auth_password = Some("wrong".into());
    let ch = EmailChannel::new(cfg).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(e.status, Some(535), "{e}");
    assert!(srv.messages().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn starttls_with_insecure_skip_verify() {
    if !aiosmtpd_available() {
        return;
    }
    let srv = SmtpServer::start("starttls").await;
    let mut cfg = config(&srv, SmtpTls::Starttls);
    cfg.insecure_skip_verify = true;
    cfg.auth_username = Some("strix".into());
    cfg.auth_password = Some("hunter2".into());
    let ch = EmailChannel::new(cfg).unwrap();
    ch.send(&sample_notification()).await.unwrap();
    let msgs = srv.messages();
    assert_eq!(msgs.len(), 1);
    assert_message(&msgs[0], "[FIRING:1] HighLatency (prod api)");
    assert_eq!(msgs[0]["tls"], true);
    assert_eq!(msgs[0]["authenticated"], true);

    // Without skipping verification the self-signed certificate is refused: permanent.
    let ch = EmailChannel::new(config(&srv, SmtpTls::Starttls)).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(srv.messages().len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn starttls_required_but_not_offered_fails() {
    if !aiosmtpd_available() {
        return;
    }
    let srv = SmtpServer::start("plain").await;
    let mut cfg = config(&srv, SmtpTls::Starttls);
    cfg.insecure_skip_verify = true;
    let ch = EmailChannel::new(cfg).unwrap();
    let e = ch.send(&sample_notification()).await.unwrap_err();
    assert!(srv.messages().is_empty(), "{e}");
    srv.stop().await;
}

#[tokio::test]
async fn implicit_tls_with_custom_subject_and_resolved() {
    if !aiosmtpd_available() {
        return;
    }
    let srv = SmtpServer::start("tls").await;
    let mut cfg = config(&srv, SmtpTls::Tls);
    cfg.insecure_skip_verify = true;
    cfg.send_resolved = true;
    cfg.subject = Some("Strix: latency\r\nBcc: evil@example.com".into());
    let ch = EmailChannel::new(cfg).unwrap();
    ch.send(&sample_notification()).await.unwrap();
    let msgs = srv.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["tls"], true);
    let data = msgs[0]["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: Strix: latency  Bcc: evil@example.com"),
        "{data}"
    );
    assert!(!data.contains("\r\nBcc:"), "{data}");
    assert!(data.contains("Alerts Resolved (1):"), "{data}");
    srv.stop().await;
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = EmailConfig::new(
        addr.to_string(),
        "strix@example.com",
        vec!["a@example.com".into()],
    );
    cfg.tls = SmtpTls::None;
    cfg.timeout = Duration::from_secs(2);
    let e = EmailChannel::new(cfg)
        .unwrap()
        .send(&sample_notification())
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[test]
fn config_parsing_and_validation() {
    let c: EmailConfig = serde_yaml::from_str(
        "smarthost: smtp.example.com:587\nfrom: strix@example.com\nto: 'a@example.com, b@example.com'\nauth_password: pw\n",
    )
    .unwrap();
    assert_eq!(c.to, vec!["a@example.com", "b@example.com"]);
    assert_eq!(c.tls, SmtpTls::Starttls);
    assert!(!c.send_resolved);
    assert!(!format!("{c:?}").contains("pw\""));
    assert!(EmailChannel::new(c.clone()).is_ok());
    let mut bad = c.clone();
    bad.smarthost = "smtp.example.com".into();
    assert!(EmailChannel::new(bad).is_err());
    let mut bad = c.clone();
    bad.to = vec!["not an address".into()];
    assert!(EmailChannel::new(bad).is_err());
    let mut bad = c;
    bad.to.clear();
    assert!(EmailChannel::new(bad).is_err());
}

#[test]
fn html_escapes_alert_content() {
    let mut n = sample_notification();
    n.alerts[0]
        .annotations
        .insert("summary".into(), "<script>alert(1)</script>".into());
    let h = render_html(&n);
    assert!(!h.contains("<script>"));
    assert!(h.contains("&lt;script&gt;"));
}
