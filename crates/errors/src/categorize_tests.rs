use super::*;
use crate::normalize::{normalize, NormalizeOptions};
use serde_json::json;

fn cat(raw: Value) -> Categorization {
    Categorizer::new(&CategorizeConfig::default())
        .unwrap()
        .categorize(&normalize(raw, &NormalizeOptions::default()))
}

fn msg(m: &str) -> Categorization {
    cat(json!({"message": m}))
}

#[test]
fn runbook_defaults() {
    for (m, sev, c, rule) in [
        (
            "Database connection failed: ECONNREFUSED",
            Severity::Critical,
            Category::Database,
            "database-connection-failed",
        ),
        (
            "could not connect to the database",
            Severity::Critical,
            Category::Database,
            "database-connection-failed",
        ),
        (
            "Payment processing failed for order 12",
            Severity::Critical,
            Category::Payment,
            "payment-processing-failed",
        ),
        (
            "Authentication service down",
            Severity::Critical,
            Category::Auth,
            "authentication-service-down",
        ),
        (
            "File system error: ENOSPC",
            Severity::Critical,
            Category::System,
            "file-system-error",
        ),
        (
            "Out of memory",
            Severity::Critical,
            Category::System,
            "out-of-memory",
        ),
        (
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            Severity::Critical,
            Category::System,
            "out-of-memory",
        ),
        (
            "Unauthorized access to /admin",
            Severity::High,
            Category::Security,
            "unauthorized-access",
        ),
        (
            "CSRF token invalid",
            Severity::High,
            Category::Security,
            "csrf-token-invalid",
        ),
        (
            "Rate limit exceeded for 1.2.3.4",
            Severity::High,
            Category::Security,
            "rate-limit-exceeded",
        ),
        (
            "Webhook signature invalid",
            Severity::High,
            Category::Security,
            "webhook-signature-invalid",
        ),
        (
            "SQL injection attempt: ' OR '1'='1",
            Severity::Critical,
            Category::Security,
            "sql-injection-attempt",
        ),
        (
            "Request timeout after 30000ms",
            Severity::Medium,
            Category::Performance,
            "timeout",
        ),
        (
            "upstream timed out",
            Severity::Medium,
            Category::Performance,
            "timeout",
        ),
        (
            "Slow response from /search",
            Severity::Medium,
            Category::Performance,
            "slow-response-text",
        ),
        (
            "Redis cache miss storm",
            Severity::Low,
            Category::Cache,
            "cache-error",
        ),
        (
            "Sync failed for device 7",
            Severity::Medium,
            Category::Sync,
            "sync-failure",
        ),
        (
            "email is required",
            Severity::Low,
            Category::Validation,
            "validation-error",
        ),
    ] {
        let c2 = msg(m);
        assert_eq!(
            (c2.severity, c2.category, c2.rule.as_deref()),
            (sev, c, Some(rule)),
            "{m}"
        );
        assert_eq!(c2.priority, sev.priority(), "{m}");
    }
}

#[test]
fn priorities_and_targets() {
    let c = msg("Out of memory");
    assert_eq!(c.priority, Priority::P0);
    assert_eq!(c.response_target_secs, 15 * 60);
    assert_eq!(msg("Unauthorized").response_target_secs, 3600);
    assert_eq!(msg("timeout").response_target_secs, 4 * 3600);
    assert_eq!(msg("email is required").response_target_secs, 24 * 3600);
}

#[test]
fn exception_text_matches_and_stack_does_not_for_defaults() {
    let c = cat(json!({"exception": [{"type": "MemoryError", "value": ""}]}));
    assert_eq!(c.rule.as_deref(), Some("out-of-memory"));
    let c = cat(json!({"exception": [{"type": "KeyError", "value": "x",
        "stacktrace": {"frames": [{"module": "django.core.cache", "function": "get"}]}}]}));
    assert_eq!(c.rule, None);
    assert_eq!(c.severity, Severity::Medium, "error level → medium");
    assert_eq!(c.category, Category::Unknown);
}

#[test]
fn metadata_condition_slow_response() {
    let c = cat(json!({"message": "request finished", "extra": {"response_time_ms": 7200}}));
    assert_eq!(c.rule.as_deref(), Some("slow-response"));
    assert_eq!(c.category, Category::Performance);
    let c = cat(json!({"message": "request finished", "extra": {"response_time_ms": "4000"}}));
    assert_eq!(c.rule, None);
}

#[test]
fn custom_rules_first_and_teams() {
    let cfg: CategorizeConfig = serde_yaml::from_str(
        r#"
rules:
  - name: checkout-5xx
    component: checkout
    when: ["tags.status >= 500", "request.method ~= ^post$"]
    severity: high
    category: payment
  - name: noisy-bot
    message: "bot .* blocked"
    severity: low
    priority: P3
    team: trust
teams:
  - keyword: "^search"
    team: discovery
default_team: on-call
response_targets:
  p1: 30m
"#,
    )
    .unwrap();
    let c = Categorizer::new(&cfg).unwrap();
    let n = |raw: Value| c.categorize(&normalize(raw, &NormalizeOptions::default()));
    let r = n(
        json!({"message": "Payment processing failed", "tags": {"component": "checkout-api", "status": "502"},
        "request": {"method": "POST"}}),
    );
    assert_eq!(r.rule.as_deref(), Some("checkout-5xx"));
    assert_eq!(r.severity, Severity::High);
    assert_eq!(r.response_target_secs, 30 * 60);
    assert_eq!(r.team.as_deref(), Some("payments"));
    assert_eq!(r.component.as_deref(), Some("checkout-api"));
    // A GET does not match the custom rule and falls through to the runbook default.
    let r = n(
        json!({"message": "Payment processing failed", "tags": {"component": "checkout-api", "status": "502"},
        "request": {"method": "GET"}}),
    );
    assert_eq!(r.rule.as_deref(), Some("payment-processing-failed"));
    let r = n(json!({"message": "Bot 7 blocked", "extra": {"component": "search-frontend"}}));
    assert_eq!(
        (r.severity, r.priority, r.team.as_deref()),
        (Severity::Low, Priority::P3, Some("trust"))
    );
    let r = n(json!({"message": "something odd", "extra": {"component": "search-frontend"}}));
    assert_eq!(r.team.as_deref(), Some("discovery"));
    let r = n(json!({"message": "something odd", "level": "fatal"}));
    assert_eq!(
        (r.severity, r.team.as_deref()),
        (Severity::Critical, Some("on-call"))
    );
    let r = n(json!({"message": "Unauthorized"}));
    assert_eq!(r.team.as_deref(), Some("security"), "team from category");
}

#[test]
fn conditions() {
    let raw = json!({"extra": {"n": 5, "s": "abc", "f": 1.5}, "tags": {"env": "Prod"}});
    let h = |c: &str| parse_condition("t", c).unwrap().holds(&raw);
    assert!(h("extra.n > 4"));
    assert!(!h("extra.n > 5"));
    assert!(h("extra.n >= 5"));
    assert!(h("extra.n <= 5"));
    assert!(h("extra.f < 2"));
    assert!(h("extra.n == 5"));
    assert!(h("tags.env == prod"));
    assert!(h("tags.env != staging"));
    assert!(h("extra.s ~= ^a.c$"));
    assert!(h("extra.s exists"));
    assert!(!h("extra.missing exists"));
    assert!(h("extra.missing != x"));
    assert!(!h("extra.missing > 1"));
    assert!(h("metadata.n == 5"));
    for bad in ["extra.n", "extra.n > abc", "a b > 1", "x ~= ("] {
        assert!(parse_condition("t", bad).is_err(), "{bad}");
    }
}

#[test]
fn bad_config_is_reported() {
    let e = Categorizer::new(&CategorizeConfig {
        rules: vec![Rule {
            name: "empty".into(),
            ..Rule::default()
        }],
        ..CategorizeConfig::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("rule \"empty\" has no matcher"),
        "{e}"
    );
    let e = Categorizer::new(&CategorizeConfig {
        rules: vec![Rule {
            name: "r".into(),
            message: Some("(".into()),
            ..Rule::default()
        }],
        ..CategorizeConfig::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().starts_with("config: rule \"r\" message"),
        "{e}"
    );
    assert!(serde_yaml::from_str::<CategorizeConfig>("rulez: []").is_err());
}

#[test]
fn default_config_round_trips() {
    let y = serde_yaml::to_string(&CategorizeConfig::default()).unwrap();
    let back: CategorizeConfig = serde_yaml::from_str(&y).unwrap();
    assert_eq!(back, CategorizeConfig::default());
    // Every shipped rule compiles.
    assert!(Categorizer::new(&CategorizeConfig::default()).is_ok());
}
