//! End-to-end: the http and tcp probes against loopback servers, driving the state machine,
//! the circuit breaker and the incident / uptime computations.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{checks, HttpServer, Mode};
use strix_checks::state::{history_from_changes, incidents, uptime};
use strix_checks::{BreakerState, CheckState, CheckStatus, CircuitBreaker, Probe, ProbeContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_states_follow_retries_degraded_and_breaker() {
    let mut srv = HttpServer::start().await;
    let c = checks(&format!(
        r#"
- name: api
  type: http
  url: {}
  interval: 5s
  timeout: 1s
  retries: 2
  degraded_above: 200ms
  json_condition: 'status == "ok"'
  circuit_breaker: {{failure_threshold: 3, cool_down: 30s, success_threshold: 2}}
"#,
        srv.url("/health")
    ));
    let check = &c[0];
    let ctx = ProbeContext::new().unwrap();
    let probe = Probe::build(check, &ctx).unwrap().unwrap();
    let mut state = CheckState::new(check.retries);
    let mut breaker = CircuitBreaker::new(check.breaker);
    let mut changes = Vec::new();
    // A fake clock: one probe every 5 s.
    let mut now = 1_700_000_000_000i64;

    macro_rules! probe {
        () => {{
            now += 5000;
            let r = probe.run().await;
            breaker.record(r.ok, now);
            if let Some(ch) = state.observe(&check.name, &r, now) {
                changes.push(ch);
            }
            r
        }};
    }

    // Up.
    let r = probe!();
    assert!(r.ok && !r.degraded, "{r:?}");
    assert_eq!(r.detail.status_code, Some(200));
    assert_eq!(state.status(), CheckStatus::Healthy);

    // Slow: degraded (still up).
    srv.set(Mode::Slow);
    let r = probe!();
    assert!(r.ok && r.degraded, "{r:?}");
    assert!(r.latency >= Duration::from_millis(400));
    assert_eq!(state.status(), CheckStatus::Degraded);

    // 500: the first failure does not change the state (retries: 2), the second does.
    srv.set(Mode::Error);
    let r = probe!();
    assert!(!r.ok);
    assert_eq!(r.detail.status_code, Some(500));
    assert_eq!(r.error.as_deref(), Some("unexpected status 500"));
    assert_eq!(state.status(), CheckStatus::Degraded);
    let r = probe!();
    assert!(!r.ok);
    assert_eq!(state.status(), CheckStatus::Unhealthy);
    let down_at = now;
    assert_eq!(breaker.state(now), BreakerState::Closed);

    // Down (listener closed): connection refused; third failure in a row opens the breaker.
    srv.set(Mode::Down);
    let r = probe!();
    assert!(!r.ok);
    assert!(r.error.as_deref().unwrap().contains("connect"), "{r:?}");
    assert_eq!(breaker.state(now), BreakerState::Open);
    let opened = now;

    // Hang: the probe gives up at its timeout.
    srv.set(Mode::Hang);
    let t = Instant::now();
    let r = probe!();
    let took = t.elapsed();
    assert!(!r.ok);
    assert!(r.error.as_deref().unwrap().contains("timed out"), "{r:?}");
    assert!(
        took >= Duration::from_millis(990) && took < Duration::from_millis(1800),
        "{took:?}"
    );

    // Back up after the cool-down: half-open, then closed after two successes; the check
    // recovers on the first success.
    srv.set(Mode::Up);
    now = opened + 30_000 - 5000;
    let r = probe!();
    assert!(r.ok);
    assert_eq!(state.status(), CheckStatus::Healthy);
    let up_at = now;
    assert_eq!(breaker.state(now), BreakerState::HalfOpen);
    probe!();
    assert_eq!(breaker.state(now), BreakerState::Closed);

    // The incident and the uptime over the run, to the millisecond.
    let inc = incidents(&changes);
    assert_eq!(inc.len(), 1);
    assert_eq!((inc[0].start, inc[0].end), (down_at, Some(up_at)));
    assert_eq!(inc[0].cause.as_deref(), Some("unexpected status 500"));
    let first = changes[0].at;
    let u = uptime(&history_from_changes(&changes), first, now);
    assert_eq!(u.down_ms, up_at - down_at);
    assert_eq!(u.up_ms, (now - first) - (up_at - down_at));
}

#[tokio::test]
async fn http_body_regex_status_list_and_json_condition() {
    let srv = HttpServer::start().await;
    let url = srv.url("/");
    let c = checks(&format!(
        r#"
- {{name: a, type: http, url: "{url}", body_regex: '"status":\s*"ok"'}}
- {{name: b, type: http, url: "{url}", body_regex: 'nope'}}
- {{name: c, type: http, url: "{url}", expect_status: [204]}}
- {{name: d, type: http, url: "{url}", json_condition: 'status == "down"'}}
- {{name: e, type: http, url: "{url}", method: POST, body: "x", headers: {{X-Test: "1"}}, max_body: 4}}
"#
    ));
    let ctx = ProbeContext::new().unwrap();
    let mut results = Vec::new();
    for check in &c {
        results.push(Probe::build(check, &ctx).unwrap().unwrap().run().await);
    }
    assert!(results[0].ok, "{:?}", results[0]);
    assert!(
        !results[1].ok
            && results[1]
                .error
                .as_deref()
                .unwrap()
                .contains("does not match")
    );
    assert!(!results[2].ok && results[2].error.as_deref() == Some("unexpected status 200"));
    assert!(!results[3].ok && results[3].error.as_deref().unwrap().contains("is false"));
    // max_body applies only when the body is needed: e has no body condition.
    assert!(results[4].ok, "{:?}", results[4]);
}

/// A line server: replies `PONG\n` to `PING\n`; a second listener accepts and stays silent.
#[tokio::test]
async fn tcp_connect_send_expect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let mut got = Vec::new();
                while !got.ends_with(b"\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let reply: &[u8] = if got == b"PING\n" {
                    b"+PONG\n"
                } else {
                    b"-ERR\n"
                };
                let _ = s.write_all(reply).await;
            });
        }
    });
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let c = checks(&format!(
        r#"
- {{name: ok, type: tcp, host: 127.0.0.1, port: {port}, send: "PING\n", expect: "PONG"}}
- {{name: mismatch, type: tcp, host: 127.0.0.1, port: {port}, send: "HELLO\n", expect: "PONG"}}
- {{name: connect-only, type: tcp, host: 127.0.0.1, port: {port}}}
- {{name: refused, type: tcp, host: 127.0.0.1, port: {closed_port}}}
- {{name: silent, type: tcp, host: 127.0.0.1, port: {silent_port}, expect: "x", timeout: 300ms}}
"#
    ));
    let ctx = ProbeContext::new().unwrap();
    let mut r = Vec::new();
    for check in &c {
        r.push(Probe::build(check, &ctx).unwrap().unwrap().run().await);
    }
    assert!(r[0].ok, "{:?}", r[0]);
    assert!(
        !r[1].ok
            && r[1]
                .error
                .as_deref()
                .unwrap()
                .contains("connection closed before"),
        "{:?}",
        r[1]
    );
    assert!(r[2].ok);
    assert!(
        !r[3].ok && r[3].error.as_deref().unwrap().contains("connect error"),
        "{:?}",
        r[3]
    );
    assert!(
        !r[4].ok && r[4].error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        r[4]
    );
    assert!(r[4].latency < Duration::from_millis(1000));

    // retries: 1 → the first failure is unhealthy; one success recovers.
    let mut st = CheckState::new(c[3].retries);
    assert_eq!(
        st.observe("refused", &r[3], 1).map(|c| c.to),
        Some(CheckStatus::Unhealthy)
    );
    assert_eq!(
        st.observe("refused", &r[0], 2).map(|c| c.to),
        Some(CheckStatus::Healthy)
    );
    server.abort();
    drop(silent);
}
