use super::*;

fn parse(yaml: &str) -> Result<Vec<Check>, String> {
    let list: Vec<CheckConfig> = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    validate_checks(&list).map_err(|e| e.to_string())
}

#[test]
fn full_example_parses_with_defaults() {
    let checks = parse(
        r#"
- name: api
  type: http
  url: https://api.example.com/health
  retries: 3
  expect_status: [200, "3xx"]
  json_condition: 'status == "ok"'
  body_regex: "ok"
  degraded_above: 800ms
  headers: {Authorization: "Bearer x"}
  labels: {team: core}
  public: true
- {name: db, type: tcp, host: db.internal, port: 5432, send: "PING\r\n", expect: "+PONG"}
- {name: example.test, type: dns, record: MX, expect: ["10 Mail.Example.Test."], server: "127.0.0.1:5353"}
- {name: cert, type: tls, host: example.com, warn_days: 20, critical_days: 5}
- {name: backup, type: heartbeat, token: abc-123, schedule: "0 3 * * *", grace: 30m}
- {name: worker, type: heartbeat, token: def, period: 5m}
"#,
    )
    .unwrap();
    assert_eq!(checks.len(), 6);
    let api = &checks[0];
    assert_eq!(api.interval, DEFAULT_INTERVAL);
    assert_eq!(api.timeout, DEFAULT_TIMEOUT);
    assert_eq!(api.retries, 3);
    assert_eq!(api.sla_target, 99.9);
    assert!(api.public);
    let CheckKind::Http(h) = &api.kind else {
        panic!()
    };
    assert!(h.expect_status.iter().any(|m| m.matches(200)));
    assert!(h.expect_status.iter().any(|m| m.matches(302)));
    assert!(!h.expect_status.iter().any(|m| m.matches(204)));
    assert!(h.follow_redirects && h.tls_verify);
    assert_eq!(h.degraded_above, Some(Duration::from_millis(800)));
    let CheckKind::Dns(d) = &checks[2].kind else {
        panic!()
    };
    assert_eq!(d.query, "example.test");
    assert_eq!(d.expect, vec!["10 mail.example.test".to_string()]);
    assert_eq!(d.server, Some("127.0.0.1:5353".parse().unwrap()));
    let CheckKind::Tls(t) = &checks[3].kind else {
        panic!()
    };
    assert_eq!((t.port, t.warn_days, t.critical_days), (443, 20, 5));
    let CheckKind::Heartbeat(hb) = &checks[4].kind else {
        panic!()
    };
    assert_eq!(hb.grace, Duration::from_secs(1800));
    let CheckKind::Heartbeat(hb) = &checks[5].kind else {
        panic!()
    };
    assert!(matches!(hb.expect, HeartbeatExpect::Period(p) if p == Duration::from_secs(300)));
    assert_eq!(hb.grace, DEFAULT_GRACE);
}

#[test]
fn default_http_expects_2xx_and_short_interval_caps_timeout() {
    let c = parse("- {name: a, type: http, url: 'http://x', interval: 5s}").unwrap();
    assert_eq!(c[0].timeout, Duration::from_secs(5));
    let CheckKind::Http(h) = &c[0].kind else {
        panic!()
    };
    assert_eq!(h.expect_status, vec![StatusMatch::Class(2)]);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        ("- {name: a, type: http, url: 'http://x'}\n- {name: b, type: http, url: 'http://x'}\n- {name: c, type: http, url: 'http://x', interval: 0s}", "checks[2].interval: must be positive"),
        ("- {name: a, type: http, url: 'http://x', timeout: 1m}", "checks[0].timeout: must not exceed the interval"),
        ("- {name: a, type: http, url: 'not a url'}", "checks[0].url: invalid URL"),
        ("- {name: a, type: http, url: 'ftp://x'}", "checks[0].url: scheme must be http or https"),
        ("- {name: a, type: http}", "checks[0].url: required for type http"),
        ("- {name: a, type: http, url: 'http://x'}\n- {name: a, type: tcp, host: h, port: 1}", "checks[1].name: duplicate check name"),
        ("- {name: a, type: heartbeat, token: t, period: 1m}\n- {name: b, type: heartbeat, token: t, period: 1m}", "checks[1].token: duplicate heartbeat token"),
        ("- {name: a, type: tcp, host: h}", "checks[0].port: required for type tcp"),
        ("- {name: a, type: tcp, host: h, port: 1, url: 'http://x'}", "checks[0].url: not allowed for type tcp"),
        ("- {name: a, type: dns, record: A, expect: [nope]}", "checks[0].expect[0]:"),
        ("- {name: 'bad name', type: dns}", "checks[0].name:"),
        ("- {name: a, type: dns, query: example.test, server: 'x.y'}", "checks[0].server:"),
        ("- {name: a, type: tls, host: h, warn_days: 5, critical_days: 10}", "checks[0].critical_days: must not exceed warn_days"),
        ("- {name: a, type: heartbeat, token: t}", "checks[0].period: period or schedule is required"),
        ("- {name: a, type: heartbeat, token: t, schedule: 'bogus'}", "checks[0].schedule:"),
        ("- {name: a, type: heartbeat, token: 'a/b', period: 1m}", "checks[0].token:"),
        ("- {name: a, type: http, url: 'http://x', retries: 0}", "checks[0].retries: must be at least 1"),
        ("- {name: a, type: http, url: 'http://x', sla_target: 120}", "checks[0].sla_target:"),
        ("- {name: a, type: http, url: 'http://x', expect_status: [700]}", "checks[0].expect_status[0]:"),
        ("- {name: a, type: http, url: 'http://x', body_regex: '('}", "checks[0].body_regex:"),
        ("- {name: a, type: http, url: 'http://x', json_condition: 'a..b'}", "checks[0].json_condition:"),
        ("- {name: a, type: http, url: 'http://x', labels: {check: x}}", "checks[0].labels.check:"),
        ("- {name: a, type: http, url: 'http://x', circuit_breaker: {failure_threshold: 0}}", "checks[0].circuit_breaker.failure_threshold:"),
    ];
    for (yaml, want) in cases {
        let err = parse(yaml).expect_err(yaml);
        assert!(
            err.starts_with(want),
            "{yaml}\n  got:  {err}\n  want: {want}"
        );
    }
}

#[test]
fn serde_rejects_unknown_type_keys_and_negative_durations() {
    let e = parse("- {name: a, type: ping}").unwrap_err();
    assert!(e.contains("unknown variant `ping`"), "{e}");
    let e = parse("- {name: a, type: http, url: 'http://x', bogus: 1}").unwrap_err();
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let e = parse("- {name: a, type: http, url: 'http://x', interval: -5s}").unwrap_err();
    assert!(e.contains("invalid duration"), "{e}");
}

#[test]
fn serialises_back() {
    let list: Vec<CheckConfig> = serde_yaml::from_str(
        "- {name: a, type: http, url: 'http://x', interval: 1m30s, max_body: 64KiB}",
    )
    .unwrap();
    assert_eq!(list[0].max_body, Some(64 * 1024));
    let s = serde_yaml::to_string(&list).unwrap();
    let back: Vec<CheckConfig> = serde_yaml::from_str(&s).unwrap();
    assert_eq!(back, list);
}

#[tokio::test]
async fn unresolvable_host_is_named() {
    let checks = parse("- {name: a, type: tcp, host: 127.0.0.1, port: 1}\n- {name: b, type: tcp, host: nonexistent.invalid, port: 1}").unwrap();
    let e = check_hosts_resolve(&checks, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(e.key, "checks[1].host");
}
