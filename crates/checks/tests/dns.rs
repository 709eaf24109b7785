//! End-to-end: the dns probe against dnsmasq (Debian package `dnsmasq-base`) started on a
//! loopback port with fixed records.
#![allow(clippy::expect_used)]
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::checks;
use strix_checks::{CheckState, CheckStatus, Probe, ProbeContext, ProbeResult};

struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        // Stop the one process we started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// dnsmasq's path; `None` when it is not installed.
fn find_dnsmasq() -> Option<&'static str> {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| std::fs::metadata(p).is_ok())
}

fn dnsmasq_path() -> &'static str {
    find_dnsmasq().expect("dnsmasq is installed (checked by the test)")
}

fn start_dnsmasq() -> Dnsmasq {
    let port = free_udp_port();
    let child = Command::new(dnsmasq_path())
        .args([
            "--keep-in-foreground",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--address=/example.test/10.1.2.3",
            "--mx-host=example.test,mail.example.test,10",
            "--txt-record=example.test,hello world",
            "--cname=alias.example.test,target.example.test",
            "--host-record=target.example.test,10.9.9.9",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    Dnsmasq { child, port }
}

/// Starts dnsmasq and waits until it answers. A port that looked free for UDP can be
/// taken for TCP (dnsmasq binds both) while other tests run: then dnsmasq exits, and a
/// new port is tried (bounded).
async fn ready_dnsmasq() -> (Dnsmasq, String) {
    for _ in 0..3 {
        let mut dns = start_dnsmasq();
        let server = format!("127.0.0.1:{}", dns.port);
        let probe_yaml = format!(
            "- {{name: example.test, type: dns, record: A, server: '{server}', timeout: 500ms}}"
        );
        for _ in 0..30 {
            if dns.child.try_wait().ok().flatten().is_some() {
                break;
            }
            if run(&probe_yaml).await[0].ok {
                return (dns, server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("dnsmasq did not answer on three ports");
}

async fn run(yaml: &str) -> Vec<ProbeResult> {
    let ctx = ProbeContext::new().unwrap();
    let mut out = Vec::new();
    for c in checks(yaml) {
        out.push(Probe::build(&c, &ctx).unwrap().unwrap().run().await);
    }
    out
}

#[tokio::test]
async fn records_and_expectations() {
    if find_dnsmasq().is_none() {
        assert!(
            std::env::var("STRIX_REQUIRE_PEERS").is_err(),
            "dnsmasq missing and STRIX_REQUIRE_PEERS=1 (apt-get install -y dnsmasq-base)"
        );
        eprintln!("skipping: dnsmasq not installed (Debian package dnsmasq-base)");
        return;
    }
    let (dns, server) = ready_dnsmasq().await;

    let r = run(&format!(
        r#"
- {{name: example.test, type: dns, record: A, expect: [10.1.2.3], server: '{server}'}}
- {{name: www-a, query: www.example.test, type: dns, record: A, expect: 10.1.2.3, server: '{server}'}}
- {{name: mx, query: example.test, type: dns, record: MX, expect: ["10 mail.example.test."], server: '{server}'}}
- {{name: txt, query: example.test, type: dns, record: TXT, expect: ["hello world"], server: '{server}'}}
- {{name: cname, query: alias.example.test, type: dns, record: CNAME, expect: [target.example.test], server: '{server}'}}
- {{name: mismatch, query: example.test, type: dns, record: A, expect: [10.9.9.9], server: '{server}'}}
- {{name: no-aaaa, query: example.test, type: dns, record: AAAA, server: '{server}'}}
"#
    ))
    .await;
    assert!(r[0].ok, "{:?}", r[0]);
    assert_eq!(r[0].detail.answers, vec!["10.1.2.3"]);
    assert!(r[1].ok, "{:?}", r[1]);
    assert!(r[2].ok, "{:?}", r[2]);
    assert_eq!(r[2].detail.answers, vec!["10 mail.example.test"]);
    assert!(r[3].ok, "{:?}", r[3]);
    assert_eq!(r[3].detail.answers, vec!["hello world"]);
    assert!(r[4].ok, "{:?}", r[4]);
    assert_eq!(r[4].detail.answers, vec!["target.example.test"]);
    assert!(!r[5].ok);
    assert!(
        r[5].error
            .as_deref()
            .unwrap()
            .contains("expected 10.9.9.9 not in answers 10.1.2.3"),
        "{:?}",
        r[5]
    );
    assert!(!r[6].ok, "{:?}", r[6]);

    // A mismatch drives the check unhealthy after its retries.
    let mut st = CheckState::new(2);
    st.observe("m", &r[0], 1);
    assert_eq!(st.observe("m", &r[5], 2), None);
    assert_eq!(
        st.observe("m", &r[5], 3).map(|c| c.to),
        Some(CheckStatus::Unhealthy)
    );

    // The server gone: a failure within the timeout.
    let port = dns.port;
    drop(dns);
    let r = run(&format!(
        "- {{name: example.test, type: dns, record: A, server: '127.0.0.1:{port}', timeout: 500ms}}"
    ))
    .await;
    assert!(!r[0].ok);
    assert!(r[0].latency < Duration::from_millis(1500));
}
