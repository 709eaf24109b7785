//! The `alertmanager:` section of `strix.yaml`: Alertmanager's own configuration format,
//! unchanged, plus a few Strix keys beside Alertmanager's.
//!
//! Parsing ([`AlertmanagerConfig`], serde, unknown keys rejected where Alertmanager rejects
//! them) is separate from validation ([`AlertmanagerConfig::compile`]), which checks
//! references and values and returns every problem with the path of the key, e.g.
//! `alertmanager.route.routes[2].receiver: unknown receiver "x"`.
//!
//! Strix additions: per receiver `teams_configs`, `discord_configs` (Alertmanager's
//! fields), `sms_configs` (Twilio-compatible), `rate_limit: {max, per}` and
//! `max_concurrency` (deliveries in flight to the receiver at once); per webhook
//! `signing_secret` (HMAC signature of the body); top-level `escalation_policies`.
//!
//! Receiver types Alertmanager has and Strix does not send to (`opsgenie_configs`,
//! `victorops_configs`, `pushover_configs`, `sns_configs`, `telegram_configs`,
//! `webex_configs`, `wechat_configs`, `msteams_configs`, `msteamsv2_configs`,
//! `jira_configs`, `rocketchat_configs`) are parsed as opaque YAML so a pasted file
//! reads, and then rejected by validation with an error naming the receiver: silently
//! dropping a team's pages would be worse than refusing to start.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::escalation::{EscalationPolicies, EscalationPolicy, EscalationPolicyConfig};
use super::inhibit::InhibitRule;
use super::matchers::parse_matchers;
use super::ratelimit::RateLimit;
use super::route::RouteTree;
use super::timeinterval::{TimeInterval, TimeIntervalConfig};
use strix_core::{MatchOp, Matcher};

/// The path prefix of every error: the key in `strix.yaml`.
pub const ROOT: &str = "alertmanager";

// ---------------------------------------------------------------------------------------
// Primitive types

/// A duration in Prometheus/Alertmanager notation: `30s`, `5m`, `4h`, `1d`, `1w`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct AmDuration(pub Duration);

impl AmDuration {
    pub const fn secs(s: u64) -> Self {
        AmDuration(Duration::from_secs(s))
    }
    /// In milliseconds, saturating.
    pub fn millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

impl<'de> Deserialize<'de> for AmDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        strix_core::duration::parse(&s)
            .map(AmDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for AmDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&strix_core::duration::format(self.0))
    }
}

/// A secret string; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value, for the channel that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

// ---------------------------------------------------------------------------------------
// Top level

/// Alertmanager's configuration file, with Strix' additions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub global: GlobalConfig,
    /// The routing tree; required.
    pub route: Option<RouteConfig>,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Named time intervals (Alertmanager ≥ 0.24).
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalConfig>,
    /// The older name of `time_intervals`; both may be used.
    #[serde(default)]
    pub mute_time_intervals: Vec<TimeIntervalConfig>,
    /// Template file globs; rendering is the channels' concern.
    #[serde(default)]
    pub templates: Vec<String>,
    /// Strix: escalation policies keyed by the alert's `severity` label value.
    #[serde(default)]
    pub escalation_policies: BTreeMap<String, EscalationPolicyConfig>,
}

/// `global:` defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How long after its last update an alert without `endsAt` counts as resolved.
    #[serde(default = "default_resolve_timeout")]
    pub resolve_timeout: AmDuration,
    pub http_config: Option<HttpConfig>,
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<Secret>,
    pub smtp_auth_password_file: Option<String>,
    pub smtp_auth_secret: Option<Secret>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub smtp_tls_config: Option<TlsConfig>,
    pub slack_api_url: Option<Secret>,
    pub slack_api_url_file: Option<String>,
    pub pagerduty_url: Option<String>,
    // Globals of receiver types Strix does not send to: accepted, unused.
    pub opsgenie_api_key: Option<Secret>,
    pub opsgenie_api_key_file: Option<String>,
    pub opsgenie_api_url: Option<String>,
    pub victorops_api_key: Option<Secret>,
    pub victorops_api_key_file: Option<String>,
    pub victorops_api_url: Option<String>,
    pub wechat_api_url: Option<String>,
    pub wechat_api_secret: Option<Secret>,
    pub wechat_api_corp_id: Option<String>,
    pub telegram_api_url: Option<String>,
    pub webex_api_url: Option<String>,
    pub jira_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<Secret>,
    pub rocketchat_token_id: Option<Secret>,
}

fn default_resolve_timeout() -> AmDuration {
    AmDuration::secs(300)
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout: default_resolve_timeout(),
            http_config: None,
            smtp_from: None,
            smtp_hello: None,
            smtp_smarthost: None,
            smtp_auth_username: None,
            smtp_auth_password: None,
            smtp_auth_password_file: None,
            smtp_auth_secret: None,
            smtp_auth_identity: None,
            smtp_require_tls: None,
            smtp_tls_config: None,
            slack_api_url: None,
            slack_api_url_file: None,
            pagerduty_url: None,
            opsgenie_api_key: None,
            opsgenie_api_key_file: None,
            opsgenie_api_url: None,
            victorops_api_key: None,
            victorops_api_key_file: None,
            victorops_api_url: None,
            wechat_api_url: None,
            wechat_api_secret: None,
            wechat_api_corp_id: None,
            telegram_api_url: None,
            webex_api_url: None,
            jira_api_url: None,
            rocketchat_api_url: None,
            rocketchat_token: None,
            rocketchat_token_id: None,
        }
    }
}

/// Prometheus' common HTTP client settings (`http_config:`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    /// Legacy form of `authorization: {credentials}`.
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<TlsConfig>,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: Option<bool>,
    /// Kept opaque: header name → list of values.
    pub proxy_connect_header: Option<serde_yaml::Value>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    /// Kept opaque; Strix channels do not run OAuth2 flows (validation rejects it).
    pub oauth2: Option<serde_yaml::Value>,
    /// Extra headers (Prometheus ≥ 2.55 common config); kept opaque.
    pub http_headers: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: Option<String>,
    pub username_file: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Defaults to `Bearer`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<Secret>,
    pub credentials_file: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca: Option<String>,
    pub ca_file: Option<String>,
    pub cert: Option<String>,
    pub cert_file: Option<String>,
    pub key: Option<Secret>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Routes, inhibition

/// One node of the routing tree (`route:` and each of its `routes:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Inherited from the parent when unset; required at the root.
    pub receiver: Option<String>,
    /// Labels to group by; `['...']` groups by all labels. Inherited when unset.
    pub group_by: Option<Vec<String>>,
    /// Keep matching siblings after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Legacy equality matchers.
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    /// Legacy regex matchers.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Matchers in Alertmanager's syntax, e.g. `severity=~"critical|high"`.
    #[serde(default)]
    pub matchers: Vec<String>,
    pub group_wait: Option<AmDuration>,
    pub group_interval: Option<AmDuration>,
    pub repeat_interval: Option<AmDuration>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// One `inhibit_rules:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
    /// Labels whose values must agree between source and target.
    #[serde(default)]
    pub equal: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Receivers

/// One `receivers:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    /// Alertmanager ≥ 0.25 has `discord_configs` with the same fields.
    #[serde(default)]
    pub discord_configs: Vec<DiscordConfig>,
    /// Strix: Microsoft Teams incoming webhooks.
    #[serde(default)]
    pub teams_configs: Vec<TeamsConfig>,
    /// Strix: SMS through a Twilio-compatible API.
    #[serde(default)]
    pub sms_configs: Vec<SmsConfig>,
    /// Strix: at most `max` notifications to this receiver `per` window.
    pub rate_limit: Option<RateLimitConfig>,
    /// Strix: at most this many deliveries to this receiver in flight at once (default:
    /// the pipeline's per-receiver concurrency, 64).
    pub max_concurrency: Option<u32>,

    // Alertmanager receiver types Strix does not support (rejected by validation).
    #[serde(default)]
    pub opsgenie_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub victorops_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub pushover_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub sns_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub telegram_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub webex_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub wechat_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub msteams_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub msteamsv2_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub jira_configs: Vec<serde_yaml::Value>,
    #[serde(default)]
    pub rocketchat_configs: Vec<serde_yaml::Value>,
}

impl ReceiverConfig {
    /// The keys of unsupported receiver types that are present.
    pub fn unsupported_types(&self) -> Vec<&'static str> {
        let all: [(&'static str, usize); 11] = [
            ("opsgenie_configs", self.opsgenie_configs.len()),
            ("victorops_configs", self.victorops_configs.len()),
            ("pushover_configs", self.pushover_configs.len()),
            ("sns_configs", self.sns_configs.len()),
            ("telegram_configs", self.telegram_configs.len()),
            ("webex_configs", self.webex_configs.len()),
            ("wechat_configs", self.wechat_configs.len()),
            ("msteams_configs", self.msteams_configs.len()),
            ("msteamsv2_configs", self.msteamsv2_configs.len()),
            ("jira_configs", self.jira_configs.len()),
            ("rocketchat_configs", self.rocketchat_configs.len()),
        ];
        all.iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Number of supported integrations (a receiver with none is a valid "blackhole").
    pub fn integration_count(&self) -> usize {
        self.webhook_configs.len()
            + self.slack_configs.len()
            + self.pagerduty_configs.len()
            + self.email_configs.len()
            + self.discord_configs.len()
            + self.teams_configs.len()
            + self.sms_configs.len()
    }
}

fn yes() -> bool {
    true
}

/// `webhook_configs:` entry. Alertmanager's webhook JSON body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Default true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// Exactly one of `url` and `url_file`.
    pub url: Option<Secret>,
    pub url_file: Option<String>,
    /// At most this many alerts per message; 0 = all.
    #[serde(default)]
    pub max_alerts: u64,
    /// Per-request timeout; 0/unset = the channel's default.
    pub timeout: Option<AmDuration>,
    /// Strix: HMAC-SHA256 key; the channel signs each body with it.
    pub signing_secret: Option<Secret>,
}

/// `slack_configs:` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Default false.
    #[serde(default)]
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    /// Falls back to `global.slack_api_url` (filled in by [`AlertmanagerConfig::compile`]).
    pub api_url: Option<Secret>,
    pub api_url_file: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub color: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<SlackField>,
    pub short_fields: Option<bool>,
    pub footer: Option<String>,
    pub fallback: Option<String>,
    pub callback_id: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    pub link_names: Option<bool>,
    #[serde(default)]
    pub mrkdwn_in: Vec<String>,
    /// Message buttons; kept opaque for the channel.
    #[serde(default)]
    pub actions: Vec<serde_yaml::Value>,
    pub update_message: Option<bool>,
    pub timeout: Option<AmDuration>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    pub short: Option<bool>,
}

/// `pagerduty_configs:` entry (Events API v2 with `routing_key`, v1 with `service_key`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    /// Default true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    pub routing_key: Option<Secret>,
    pub routing_key_file: Option<String>,
    pub service_key: Option<Secret>,
    pub service_key_file: Option<String>,
    /// Falls back to `global.pagerduty_url`, then PagerDuty's Events API v2 URL.
    pub url: Option<String>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<PagerdutyImage>,
    #[serde(default)]
    pub links: Vec<PagerdutyLink>,
    pub source: Option<String>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub timeout: Option<AmDuration>,
}

/// PagerDuty's default Events API v2 endpoint.
pub const PAGERDUTY_DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    pub src: String,
    pub alt: Option<String>,
    pub href: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    pub href: String,
    pub text: Option<String>,
}

/// `email_configs:` entry. `from`, `smarthost`, `hello`, auth and `require_tls` fall back
/// to the `global.smtp_*` keys (filled in by [`AlertmanagerConfig::compile`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Default false.
    #[serde(default)]
    pub send_resolved: bool,
    /// Comma-separated addresses; required.
    pub to: Option<String>,
    pub from: Option<String>,
    pub hello: Option<String>,
    /// `host:port`.
    pub smarthost: Option<String>,
    pub auth_username: Option<String>,
    pub auth_password: Option<Secret>,
    pub auth_password_file: Option<String>,
    pub auth_secret: Option<Secret>,
    pub auth_identity: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub require_tls: Option<bool>,
    pub tls_config: Option<TlsConfig>,
}

/// `discord_configs:` entry (Alertmanager's fields).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// Default true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub content: Option<String>,
    pub username: Option<String>,
    pub avatar_url: Option<String>,
}

/// Strix `teams_configs:` entry: a Microsoft Teams incoming webhook (the fields of
/// Alertmanager's `msteams_configs`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// Default true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
}

/// Strix `sms_configs:` entry: a Twilio-compatible Messages API.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// Default false (SMS costs money and wakes people).
    #[serde(default)]
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    /// Base URL; default [`TWILIO_DEFAULT_URL`].
    pub api_url: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub auth_token_file: Option<String>,
    /// Sender number (E.164), or use `messaging_service_sid`.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// Recipient numbers (E.164).
    #[serde(default)]
    pub to: Vec<String>,
    /// Message template.
    pub message: Option<String>,
}

/// Twilio's API base URL.
pub const TWILIO_DEFAULT_URL: &str = "https://api.twilio.com";

/// Strix `rate_limit:` of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub max: u32,
    pub per: AmDuration,
}

// ---------------------------------------------------------------------------------------
// Errors

/// One validation problem, with the path of the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// Everything wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// Whether some error's path and message contain the given fragments (for tests).
    pub fn has(&self, path: &str, message_part: &str) -> bool {
        self.0
            .iter()
            .any(|e| e.path == path && e.message.contains(message_part))
    }
}

#[derive(Default)]
pub(crate) struct Errs(pub Vec<ConfigError>);

impl Errs {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

// ---------------------------------------------------------------------------------------
// Compiled form

/// A validated configuration, ready for the dispatcher, inhibitor and channels.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    pub global: GlobalConfig,
    pub tree: RouteTree,
    /// Receivers with global defaults filled in, in file order.
    pub receivers: Vec<ReceiverConfig>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// Named time intervals from `time_intervals` and `mute_time_intervals`.
    pub time_intervals: BTreeMap<String, TimeInterval>,
    pub templates: Vec<String>,
    pub escalation: EscalationPolicies,
    /// Receiver name → rate limit.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Receiver name → deliveries in flight at most (`max_concurrency`).
    pub concurrency: BTreeMap<String, usize>,
}

impl RoutingConfig {
    pub fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

impl AlertmanagerConfig {
    /// Parses YAML; errors name the key path (`alertmanager.route.group_wait: ...`).
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ConfigError {
                path: if path == "." || path.is_empty() {
                    ROOT.to_string()
                } else {
                    format!("{ROOT}.{path}")
                },
                message: inner.to_string(),
            }
        })
    }

    /// Parses and validates.
    pub fn load(text: &str) -> Result<RoutingConfig, ConfigErrors> {
        Self::from_yaml(text)
            .map_err(|e| ConfigErrors(vec![e]))?
            .compile()
    }

    /// Validates and builds the runtime form, reporting every problem found.
    pub fn compile(&self) -> Result<RoutingConfig, ConfigErrors> {
        let mut errs = Errs::default();

        // Time intervals first: routes refer to them.
        let mut time_intervals = BTreeMap::new();
        for (key, list) in [
            ("time_intervals", &self.time_intervals),
            ("mute_time_intervals", &self.mute_time_intervals),
        ] {
            for (i, ti) in list.iter().enumerate() {
                let path = format!("{ROOT}.{key}[{i}]");
                if ti.name.is_empty() {
                    errs.push(format!("{path}.name"), "empty time interval name");
                    continue;
                }
                match TimeInterval::compile(ti, &format!("{path}.time_intervals")) {
                    Ok(t) => {
                        if time_intervals.insert(ti.name.clone(), t).is_some() {
                            errs.push(
                                format!("{path}.name"),
                                format!("duplicate time interval name {:?}", ti.name),
                            );
                        }
                    }
                    Err(e) => errs.0.extend(e),
                }
            }
        }

        // Receivers.
        let mut names = HashSet::new();
        let mut receivers = Vec::with_capacity(self.receivers.len());
        let mut rate_limits = BTreeMap::new();
        let mut concurrency = BTreeMap::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let path = format!("{ROOT}.receivers[{i}]");
            if r.name.is_empty() {
                errs.push(format!("{path}.name"), "missing receiver name");
            } else if !names.insert(r.name.as_str()) {
                errs.push(
                    format!("{path}.name"),
                    format!("duplicate receiver name {:?}", r.name),
                );
            }
            for key in r.unsupported_types() {
                errs.push(
                    format!("{path}.{key}"),
                    format!(
                        "receiver {:?}: {key} is not supported by Strix; use webhook_configs, \
                         slack_configs, pagerduty_configs, email_configs, teams_configs, \
                         discord_configs or sms_configs",
                        r.name
                    ),
                );
            }
            match r.max_concurrency {
                Some(0) => errs.push(
                    format!("{path}.max_concurrency"),
                    "must be greater than zero",
                ),
                Some(n) => {
                    concurrency.insert(r.name.clone(), n as usize);
                }
                None => {}
            }
            if let Some(rl) = &r.rate_limit {
                match RateLimit::new(rl.max, rl.per.0) {
                    Some(l) => {
                        rate_limits.insert(r.name.clone(), l);
                    }
                    None => errs.push(
                        format!("{path}.rate_limit"),
                        "max and per must both be greater than zero",
                    ),
                }
            }
            receivers.push(resolve_receiver(r, &self.global, &path, &mut errs));
        }

        // Routing tree.
        let tree = match &self.route {
            None => {
                errs.push(
                    format!("{ROOT}.route"),
                    "missing route: a root route is required",
                );
                None
            }
            Some(route) => RouteTree::compile(route, &names, &time_intervals, &mut errs),
        };

        // Inhibition rules.
        let mut inhibit_rules = Vec::new();
        for (i, r) in self.inhibit_rules.iter().enumerate() {
            let path = format!("{ROOT}.inhibit_rules[{i}]");
            let source = compile_matchers(
                &r.source_matchers,
                &r.source_match,
                &r.source_match_re,
                &path,
                ("source_matchers", "source_match", "source_match_re"),
                &mut errs,
            );
            let target = compile_matchers(
                &r.target_matchers,
                &r.target_match,
                &r.target_match_re,
                &path,
                ("target_matchers", "target_match", "target_match_re"),
                &mut errs,
            );
            for (j, l) in r.equal.iter().enumerate() {
                if l.is_empty() {
                    errs.push(format!("{path}.equal[{j}]"), "empty label name");
                }
            }
            inhibit_rules.push(InhibitRule {
                source_matchers: source,
                target_matchers: target,
                equal: r.equal.clone(),
            });
        }

        // Escalation policies.
        let mut policies = EscalationPolicies::defaults();
        for (sev, p) in &self.escalation_policies {
            let path = format!("{ROOT}.escalation_policies.{sev}");
            if let Some(p) = EscalationPolicy::compile(p, &path, &names, &mut errs) {
                policies.insert(sev.clone(), p);
            }
        }

        for (i, t) in self.templates.iter().enumerate() {
            if t.is_empty() {
                errs.push(format!("{ROOT}.templates[{i}]"), "empty template path");
            }
        }

        match tree {
            Some(tree) if errs.0.is_empty() => Ok(RoutingConfig {
                global: self.global.clone(),
                tree,
                receivers,
                inhibit_rules,
                time_intervals,
                templates: self.templates.clone(),
                escalation: policies,
                rate_limits,
                concurrency,
            }),
            _ => Err(ConfigErrors(errs.0)),
        }
    }
}

/// Builds matchers from a `matchers:` list and legacy `match`/`match_re` maps.
pub(crate) fn compile_matchers(
    list: &[String],
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    path: &str,
    keys: (&str, &str, &str),
    errs: &mut Errs,
) -> Vec<Matcher> {
    let mut out = Vec::new();
    for (name, value) in eq {
        if !valid_label_name(name) {
            errs.push(
                format!("{path}.{}", keys.1),
                format!("invalid label name {name:?}"),
            );
            continue;
        }
        out.push(Matcher::equal(name.clone(), value.clone()));
    }
    for (name, value) in re {
        if !valid_label_name(name) {
            errs.push(
                format!("{path}.{}", keys.2),
                format!("invalid label name {name:?}"),
            );
            continue;
        }
        match Matcher::new(MatchOp::RegexMatch, name.clone(), value.clone()) {
            Ok(m) => out.push(m),
            Err(e) => errs.push(format!("{path}.{}.{name}", keys.2), e.to_string()),
        }
    }
    for (i, s) in list.iter().enumerate() {
        match parse_matchers(s) {
            Ok(ms) => out.extend(ms),
            Err(e) => errs.push(format!("{path}.{}[{i}]", keys.0), e.to_string()),
        }
    }
    out
}

/// Prometheus' classic label name rule.
pub fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_http(h: &Option<HttpConfig>, path: &str, errs: &mut Errs) {
    let Some(h) = h else { return };
    let path = format!("{path}.http_config");
    let mut auths = 0;
    if h.basic_auth.is_some() {
        auths += 1;
    }
    if h.authorization.is_some() {
        auths += 1;
    }
    if h.bearer_token.is_some() || h.bearer_token_file.is_some() {
        auths += 1;
    }
    if auths > 1 {
        errs.push(
            path.clone(),
            "at most one of basic_auth, authorization and bearer_token/bearer_token_file may be set",
        );
    }
    if h.bearer_token.is_some() && h.bearer_token_file.is_some() {
        errs.push(
            path.clone(),
            "at most one of bearer_token and bearer_token_file may be set",
        );
    }
    if let Some(b) = &h.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            errs.push(
                format!("{path}.basic_auth"),
                "at most one of password and password_file may be set",
            );
        }
    }
    if let Some(a) = &h.authorization {
        if a.credentials.is_some() && a.credentials_file.is_some() {
            errs.push(
                format!("{path}.authorization"),
                "at most one of credentials and credentials_file may be set",
            );
        }
        if a.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("basic"))
        {
            errs.push(
                format!("{path}.authorization.type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
    }
    if h.oauth2.is_some() {
        errs.push(
            format!("{path}.oauth2"),
            "oauth2 is not supported by Strix channels",
        );
    }
    // Strix honours tls_config.{insecure_skip_verify, ca_file, ca, min_version},
    // proxy_url and no_proxy; the rest would silently not apply, so it is refused.
    if let Some(t) = &h.tls_config {
        for (key, set) in [
            ("cert", t.cert.is_some()),
            ("cert_file", t.cert_file.is_some()),
            ("key", t.key.is_some()),
            ("key_file", t.key_file.is_some()),
            ("server_name", t.server_name.is_some()),
            ("max_version", t.max_version.is_some()),
        ] {
            if set {
                errs.push(
                    format!("{path}.tls_config.{key}"),
                    format!(
                        "{key} is not supported by Strix channels (supported: insecure_skip_verify, ca_file, ca, min_version)"
                    ),
                );
            }
        }
        if let Some(v) = &t.min_version {
            if v != "TLS12" && v != "TLS13" {
                errs.push(
                    format!("{path}.tls_config.min_version"),
                    format!("{v:?} is not supported (TLS12 or TLS13)"),
                );
            }
        }
    }
    if let Some(p) = &h.proxy_url {
        if !(p.starts_with("http://") || p.starts_with("https://")) {
            errs.push(
                format!("{path}.proxy_url"),
                "must be an http:// or https:// URL (SOCKS proxies are not supported)",
            );
        }
    }
    if h.proxy_connect_header.is_some() {
        errs.push(
            format!("{path}.proxy_connect_header"),
            "proxy_connect_header is not supported by Strix channels",
        );
    }
}

fn one_of(a: bool, b: bool, path: &str, names: (&str, &str), errs: &mut Errs) {
    match (a, b) {
        (true, true) => errs.push(
            path.to_string(),
            format!("at most one of {} and {} may be set", names.0, names.1),
        ),
        (false, false) => errs.push(
            path.to_string(),
            format!("one of {} or {} must be configured", names.0, names.1),
        ),
        _ => {}
    }
}

fn check_url(u: Option<&str>, path: &str, errs: &mut Errs) {
    if let Some(u) = u {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            errs.push(
                path.to_string(),
                format!("invalid URL {u:?}: expected http:// or https://"),
            );
        }
    }
}

/// Checks one receiver and fills in global defaults.
fn resolve_receiver(
    r: &ReceiverConfig,
    g: &GlobalConfig,
    path: &str,
    errs: &mut Errs,
) -> ReceiverConfig {
    let mut out = r.clone();
    for (i, w) in out.webhook_configs.iter_mut().enumerate() {
        let p = format!("{path}.webhook_configs[{i}]");
        one_of(
            w.url.is_some(),
            w.url_file.is_some(),
            &p,
            ("url", "url_file"),
            errs,
        );
        check_url(
            w.url.as_ref().map(Secret::expose),
            &format!("{p}.url"),
            errs,
        );
        if w.http_config.is_none() {
            w.http_config = g.http_config.clone();
        }
        check_http(&w.http_config, &p, errs);
    }
    for (i, s) in out.slack_configs.iter_mut().enumerate() {
        let p = format!("{path}.slack_configs[{i}]");
        if s.api_url.is_none() && s.api_url_file.is_none() {
            s.api_url = g.slack_api_url.clone();
            s.api_url_file = g.slack_api_url_file.clone();
        }
        if s.api_url.is_none() && s.api_url_file.is_none() {
            errs.push(
                p.clone(),
                "no Slack API URL: set api_url here or global.slack_api_url",
            );
        } else if s.api_url.is_some() && s.api_url_file.is_some() {
            errs.push(
                p.clone(),
                "at most one of api_url and api_url_file may be set",
            );
        }
        check_url(
            s.api_url.as_ref().map(Secret::expose),
            &format!("{p}.api_url"),
            errs,
        );
        if s.http_config.is_none() {
            s.http_config = g.http_config.clone();
        }
        check_http(&s.http_config, &p, errs);
    }
    for (i, pd) in out.pagerduty_configs.iter_mut().enumerate() {
        let p = format!("{path}.pagerduty_configs[{i}]");
        let keys = [
            pd.routing_key.is_some(),
            pd.routing_key_file.is_some(),
            pd.service_key.is_some(),
            pd.service_key_file.is_some(),
        ];
        match keys.iter().filter(|b| **b).count() {
            0 => errs.push(
                p.clone(),
                "missing routing_key (Events API v2) or service_key (v1): one must be set",
            ),
            1 => {}
            _ => errs.push(
                p.clone(),
                "only one of routing_key, routing_key_file, service_key, service_key_file may be set",
            ),
        }
        if pd.url.is_none() {
            pd.url = Some(
                g.pagerduty_url
                    .clone()
                    .unwrap_or_else(|| PAGERDUTY_DEFAULT_URL.to_string()),
            );
        }
        check_url(pd.url.as_deref(), &format!("{p}.url"), errs);
        if let Some(sev) = &pd.severity {
            // Templates are allowed; only literal values are checked.
            if !sev.contains("{{")
                && !["critical", "error", "warning", "info"].contains(&sev.as_str())
            {
                errs.push(
                    format!("{p}.severity"),
                    format!("invalid severity {sev:?}: expected critical, error, warning or info"),
                );
            }
        }
        if pd.http_config.is_none() {
            pd.http_config = g.http_config.clone();
        }
        check_http(&pd.http_config, &p, errs);
    }
    for (i, e) in out.email_configs.iter_mut().enumerate() {
        let p = format!("{path}.email_configs[{i}]");
        if e.to.as_deref().is_none_or(str::is_empty) {
            errs.push(format!("{p}.to"), "missing to address");
        }
        e.from = e.from.take().or_else(|| g.smtp_from.clone());
        e.hello = e.hello.take().or_else(|| g.smtp_hello.clone());
        e.smarthost = e.smarthost.take().or_else(|| g.smtp_smarthost.clone());
        if e.auth_username.is_none() {
            e.auth_username = g.smtp_auth_username.clone();
        }
        if e.auth_password.is_none() && e.auth_password_file.is_none() {
            e.auth_password = g.smtp_auth_password.clone();
            e.auth_password_file = g.smtp_auth_password_file.clone();
        }
        e.auth_secret = e.auth_secret.take().or_else(|| g.smtp_auth_secret.clone());
        e.auth_identity = e
            .auth_identity
            .take()
            .or_else(|| g.smtp_auth_identity.clone());
        e.require_tls = e.require_tls.or(g.smtp_require_tls).or(Some(true));
        e.tls_config = e.tls_config.take().or_else(|| g.smtp_tls_config.clone());
        if e.from.is_none() {
            errs.push(
                format!("{p}.from"),
                "no from address: set from here or global.smtp_from",
            );
        }
        match &e.smarthost {
            None => errs.push(
                format!("{p}.smarthost"),
                "no SMTP smarthost: set smarthost here or global.smtp_smarthost",
            ),
            Some(h)
                if h.rsplit_once(':')
                    .is_none_or(|(_, port)| port.parse::<u16>().is_err()) =>
            {
                errs.push(
                    format!("{p}.smarthost"),
                    format!("invalid smarthost {h:?}: expected host:port"),
                )
            }
            Some(_) => {}
        }
        if e.auth_password.is_some() && e.auth_password_file.is_some() {
            errs.push(
                p.clone(),
                "at most one of auth_password and auth_password_file may be set",
            );
        }
    }
    for (i, d) in out.discord_configs.iter_mut().enumerate() {
        let p = format!("{path}.discord_configs[{i}]");
        one_of(
            d.webhook_url.is_some(),
            d.webhook_url_file.is_some(),
            &p,
            ("webhook_url", "webhook_url_file"),
            errs,
        );
        check_url(
            d.webhook_url.as_ref().map(Secret::expose),
            &format!("{p}.webhook_url"),
            errs,
        );
        if d.http_config.is_none() {
            d.http_config = g.http_config.clone();
        }
        check_http(&d.http_config, &p, errs);
    }
    for (i, t) in out.teams_configs.iter_mut().enumerate() {
        let p = format!("{path}.teams_configs[{i}]");
        one_of(
            t.webhook_url.is_some(),
            t.webhook_url_file.is_some(),
            &p,
            ("webhook_url", "webhook_url_file"),
            errs,
        );
        check_url(
            t.webhook_url.as_ref().map(Secret::expose),
            &format!("{p}.webhook_url"),
            errs,
        );
        if t.http_config.is_none() {
            t.http_config = g.http_config.clone();
        }
        check_http(&t.http_config, &p, errs);
    }
    for (i, s) in out.sms_configs.iter_mut().enumerate() {
        let p = format!("{path}.sms_configs[{i}]");
        if s.account_sid.as_deref().is_none_or(str::is_empty) {
            errs.push(format!("{p}.account_sid"), "missing account_sid");
        }
        one_of(
            s.auth_token.is_some(),
            s.auth_token_file.is_some(),
            &p,
            ("auth_token", "auth_token_file"),
            errs,
        );
        one_of(
            s.from.is_some(),
            s.messaging_service_sid.is_some(),
            &p,
            ("from", "messaging_service_sid"),
            errs,
        );
        if s.to.is_empty() {
            errs.push(
                format!("{p}.to"),
                "at least one recipient number is required",
            );
        }
        for (j, n) in s.to.iter().enumerate() {
            let digits = n.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                errs.push(
                    format!("{p}.to[{j}]"),
                    format!("invalid phone number {n:?}: expected E.164, e.g. +14155550100"),
                );
            }
        }
        if s.api_url.is_none() {
            s.api_url = Some(TWILIO_DEFAULT_URL.to_string());
        }
        check_url(s.api_url.as_deref(), &format!("{p}.api_url"), errs);
        if s.http_config.is_none() {
            s.http_config = g.http_config.clone();
        }
        check_http(&s.http_config, &p, errs);
    }
    out
}

/// Validates a `group_by` list: `...` alone means all labels; no duplicates.
pub(crate) fn check_group_by(list: &[String], path: &str, errs: &mut Errs) {
    let mut seen = BTreeSet::new();
    for (i, l) in list.iter().enumerate() {
        if l == "..." {
            if list.len() > 1 {
                errs.push(
                    format!("{path}[{i}]"),
                    "cannot have wildcard '...' together with other labels in group_by",
                );
            }
        } else if l.is_empty() {
            errs.push(format!("{path}[{i}]"), "empty label name");
        }
        if !seen.insert(l.as_str()) {
            errs.push(
                format!("{path}[{i}]"),
                format!("duplicated label {l:?} in group_by"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_alertmanager_style() {
        let d: AmDuration = serde_yaml::from_str("1d").unwrap();
        assert_eq!(d.0, Duration::from_secs(86_400));
        let d: AmDuration = serde_yaml::from_str("1w").unwrap();
        assert_eq!(d.0, Duration::from_secs(7 * 86_400));
        let d: AmDuration = serde_yaml::from_str("1h30m").unwrap();
        assert_eq!(d.0, Duration::from_secs(5400));
        assert!(serde_yaml::from_str::<AmDuration>("5").is_err());
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn minimal_config_compiles_with_defaults() {
        let c = AlertmanagerConfig::load("route: {receiver: a}\nreceivers: [{name: a}]\n").unwrap();
        assert_eq!(c.global.resolve_timeout.0, Duration::from_secs(300));
        let root = c.tree.root();
        assert_eq!(root.group_wait.0, Duration::from_secs(30));
        assert_eq!(root.group_interval.0, Duration::from_secs(300));
        assert_eq!(root.repeat_interval.0, Duration::from_secs(4 * 3600));
    }

    #[test]
    fn missing_route_and_unknown_keys() {
        let e = AlertmanagerConfig::load("receivers: [{name: a}]\n").unwrap_err();
        assert!(e.has("alertmanager.route", "missing route"), "{e}");
        let e =
            AlertmanagerConfig::load("route: {receiver: a, bogus: 1}\nreceivers: [{name: a}]\n")
                .unwrap_err();
        assert_eq!(e.0[0].path, "alertmanager.route.bogus");
        assert!(e.0[0].message.contains("unknown field `bogus`"), "{e}");
        let e = AlertmanagerConfig::load(
            "route: {receiver: a, group_wait: 5x}\nreceivers: [{name: a}]\n",
        )
        .unwrap_err();
        assert_eq!(e.0[0].path, "alertmanager.route.group_wait", "{e}");
    }

    #[test]
    fn label_names() {
        assert!(valid_label_name("a_1"));
        assert!(valid_label_name("_x"));
        assert!(!valid_label_name("1a"));
        assert!(!valid_label_name("a-b"));
        assert!(!valid_label_name(""));
    }
}
