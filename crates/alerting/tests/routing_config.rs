//! The Alertmanager configuration fixture parses, validates and routes as expected.

use std::time::Duration;

use strix_alerting::routing::config::{AlertmanagerConfig, RoutingConfig};
use strix_alerting::routing::route::GroupBy;
use strix_core::Labels;

const FIXTURE: &str = include_str!("fixtures/alertmanager.yml");

fn load() -> RoutingConfig {
    match AlertmanagerConfig::load(FIXTURE) {
        Ok(c) => c,
        Err(e) => panic!("fixture does not load:\n{e}"),
    }
}

#[test]
fn fixture_parses_every_section() {
    let c = load();
    assert_eq!(c.global.resolve_timeout.0, Duration::from_secs(600));
    assert_eq!(
        c.templates,
        vec!["/etc/alertmanager/templates/*.tmpl".to_string()]
    );
    assert_eq!(c.receivers.len(), 10);
    assert_eq!(c.inhibit_rules.len(), 2);
    assert_eq!(c.inhibit_rules[1].equal, vec!["cluster".to_string()]);
    let names: Vec<&str> = c.time_intervals.keys().map(String::as_str).collect();
    assert_eq!(names, vec!["business-hours", "holidays", "weekends"]);
    assert_eq!(c.tree.iter().count(), 9);
    assert_eq!(c.rate_limits["oncall-pager"].max, 10);
    assert_eq!(c.rate_limits["oncall-pager"].per, Duration::from_secs(3600));
    let crit = c.escalation.for_severity("critical").unwrap();
    assert_eq!(crit.levels.len(), 3);
    assert_eq!(
        (crit.repeat, crit.repeat_every),
        (2, Duration::from_secs(3600))
    );
    assert!(c.escalation.for_severity("high").is_some(), "default kept");
}

#[test]
fn receivers_get_global_defaults_and_strix_keys() {
    let c = load();
    let email = &c.receiver("default-email").unwrap().email_configs[0];
    assert_eq!(email.from.as_deref(), Some("alertmanager@example.com"));
    assert_eq!(email.smarthost.as_deref(), Some("smtp.example.com:587"));
    assert_eq!(
        email.auth_password.as_ref().map(|s| s.expose()),
        Some("s3cret")
    );
    assert!(email.send_resolved);
    assert_eq!(
        email.headers["Subject"],
        "[{{ .Status }}] {{ .GroupLabels.alertname }}"
    );

    let slack = &c.receiver("db-slack").unwrap().slack_configs[0];
    assert_eq!(
        slack.api_url.as_ref().map(|s| s.expose()),
        Some("https://hooks.slack.com/services/T000/B000/XXXX")
    );
    assert_eq!(slack.fields[0].short, Some(true));
    assert!(slack
        .http_config
        .as_ref()
        .is_some_and(|h| h.follow_redirects == Some(true)));

    let pd = &c.receiver("oncall-pager").unwrap().pagerduty_configs[0];
    assert!(pd.send_resolved, "pagerduty default");
    assert_eq!(
        pd.url.as_deref(),
        Some("https://events.pagerduty.com/v2/enqueue")
    );
    assert_eq!(pd.links[0].text.as_deref(), Some("Runbooks"));

    let web = c.receiver("web-teams").unwrap();
    assert_eq!(web.webhook_configs[0].max_alerts, 20);
    assert!(web.webhook_configs[0].send_resolved, "webhook default");
    assert_eq!(web.teams_configs.len(), 1);
    let auth = web.webhook_configs[0]
        .http_config
        .as_ref()
        .unwrap()
        .authorization
        .as_ref()
        .unwrap();
    assert_eq!(
        auth.credentials.as_ref().map(|s| s.expose()),
        Some("web-token")
    );

    let api = &c.receiver("api-webhook").unwrap().webhook_configs[0];
    assert!(!api.send_resolved);
    assert_eq!(
        api.signing_secret.as_ref().map(|s| s.expose()),
        Some("hmac-key")
    );
    assert_eq!(
        api.http_config
            .as_ref()
            .unwrap()
            .basic_auth
            .as_ref()
            .unwrap()
            .username
            .as_deref(),
        Some("strix")
    );

    let sms = &c.receiver("security-sms").unwrap().sms_configs[0];
    assert_eq!(sms.to.len(), 2);
    assert_eq!(sms.api_url.as_deref(), Some("https://api.twilio.com"));
    assert!(c.receiver("eu-discord").unwrap().discord_configs[0].send_resolved);
    assert_eq!(c.receiver("blackhole").unwrap().integration_count(), 0);
}

type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn fixture_routes() {
    let c = load();
    let cases: &[Case] = &[
        (&[("alertname", "X")], &["default-email"]),
        (&[("severity", "critical")], &["oncall-pager"]),
        (&[("team", "database"), ("env", "prod")], &["db-pager"]),
        (&[("team", "database"), ("env", "dev")], &["blackhole"]),
        (&[("team", "database"), ("env", "qa")], &["db-slack"]),
        (
            &[
                ("severity", "critical"),
                ("team", "database"),
                ("env", "staging"),
            ],
            &["oncall-pager", "db-pager"],
        ),
        (&[("team", "frontend"), ("env", "prod")], &["web-teams"]),
        (&[("team", "frontend"), ("env", "dev")], &["default-email"]),
        (&[("team", "api")], &["web-teams", "api-webhook"]),
        (
            &[("service", "café"), ("region", "eu-west-1")],
            &["eu-discord"],
        ),
        (&[("category", "security")], &["security-sms"]),
    ];
    for (labels, want) in cases {
        let got = c
            .tree
            .receivers_for(&Labels::from_pairs(labels.iter().copied()));
        assert_eq!(got, *want, "{labels:?}");
    }
    let db = c
        .tree
        .match_routes(&Labels::from_pairs([("team", "database"), ("env", "prod")]));
    let r = c.tree.get(db[0]);
    assert_eq!(r.group_by, GroupBy::All);
    assert_eq!(r.id, r#"{}/{team="database"}/1/{env=~"prod|staging"}/0"#);
    assert_eq!(r.active_time_intervals, vec!["business-hours".to_string()]);
}

fn errors(yaml: &str) -> Vec<String> {
    match AlertmanagerConfig::load(yaml) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn error_messages_name_paths() {
    let e = errors(
        r#"
route:
  receiver: a
  routes:
    - receiver: a
    - receiver: a
    - receiver: x
receivers:
  - name: a
  - name: a
  - name: og
    opsgenie_configs: [{api_key: k}]
  - name: w
    webhook_configs: [{url: ftp://x, url_file: /f}]
  - name: s
    slack_configs: [{channel: '#x'}]
  - name: m
    email_configs: [{}]
  - name: p
    pagerduty_configs: [{routing_key: a, service_key: b, severity: fatal}]
  - name: t
    sms_configs: [{account_sid: A, auth_token: t, from: '+1', to: ['0800']}]
  - name: h
    webhook_configs:
      - url: http://x
        http_config: {basic_auth: {username: u}, bearer_token: t}
"#,
    );
    let want = [
        r#"alertmanager.route.routes[2].receiver: unknown receiver "x""#,
        r#"alertmanager.receivers[1].name: duplicate receiver name "a""#,
        r#"alertmanager.receivers[2].opsgenie_configs: receiver "og": opsgenie_configs is not supported by Strix"#,
        "alertmanager.receivers[3].webhook_configs[0]: at most one of url and url_file may be set",
        r#"alertmanager.receivers[3].webhook_configs[0].url: invalid URL "ftp://x""#,
        "alertmanager.receivers[4].slack_configs[0]: no Slack API URL",
        "alertmanager.receivers[5].email_configs[0].to: missing to address",
        "alertmanager.receivers[5].email_configs[0].from: no from address",
        "alertmanager.receivers[5].email_configs[0].smarthost: no SMTP smarthost",
        "alertmanager.receivers[6].pagerduty_configs[0]: only one of routing_key",
        r#"alertmanager.receivers[6].pagerduty_configs[0].severity: invalid severity "fatal""#,
        r#"alertmanager.receivers[7].sms_configs[0].to[0]: invalid phone number "0800""#,
        "alertmanager.receivers[8].webhook_configs[0].http_config: at most one of basic_auth",
    ];
    for w in want {
        assert!(
            e.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in:\n{}",
            e.join("\n")
        );
    }
}

#[test]
fn parse_errors_name_paths() {
    let cases = [
        ("route: {receiver: a, routes: [{receiver: a, group_wait: soon}]}\nreceivers: [{name: a}]", "alertmanager.route.routes[0].group_wait"),
        ("route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'http://x', colour: red}]}]", "alertmanager.receivers[0].webhook_configs[0].colour"),
        ("route: {receiver: a}\nreceivers: [{name: a, carrier_pigeon_configs: []}]", "alertmanager.receivers[0].carrier_pigeon_configs"),
        ("route: {receiver: a}\nreceivers: [{name: a}]\nglobal: {resolve_timeout: 1}", "alertmanager.global.resolve_timeout"),
        ("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekday: [monday]}]}]", "alertmanager.time_intervals[0].time_intervals[0].weekday"),
    ];
    for (yaml, path) in cases {
        let e = errors(yaml);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!("{path}: ")),
            "{yaml}\n=> {}",
            e[0]
        );
    }
}

#[test]
fn time_interval_references_are_checked() {
    let e = errors(
        r#"
route:
  receiver: a
  mute_time_intervals: [x]
  routes:
    - active_time_intervals: [later]
time_intervals:
  - name: t
    time_intervals: [{weekdays: ['sunday:saturday']}]
  - name: t
    time_intervals: [{days_of_month: ['0']}]
receivers: [{name: a}]
"#,
    );
    let want = [
        "alertmanager.route.mute_time_intervals: root route must not have any mute time intervals",
        r#"alertmanager.route.routes[0].active_time_intervals[0]: unknown time interval "later""#,
        "alertmanager.time_intervals[1].time_intervals[0].days_of_month[0]: invalid day of month",
    ];
    for w in want {
        assert!(
            e.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in:\n{}",
            e.join("\n")
        );
    }
}
