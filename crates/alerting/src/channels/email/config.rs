use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::channels::config::{default_timeout, yes};
use crate::channels::secret::Secret;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS; fails if the server does not offer it
    /// (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption. Only for loopback relays and tests.
    None,
}

/// E-mail over SMTP.
///
/// ```yaml
/// email_configs:
///   - smarthost: smtp.example.com:587
///     from: strix@example.com
///     to: [oncall@example.com, "Team API <api@example.com>"]   # or "a@x, b@y"
///     auth_username: strix
///     auth_password: ...
///     tls: starttls            # starttls | tls | none
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `host:port`.
    pub smarthost: String,
    pub from: String,
    #[serde(deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// EHLO name (default: this machine's hostname).
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    #[serde(default)]
    pub tls: SmtpTls,
    /// Accept any certificate and host name (self-signed relays). Avoid.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Overrides the default `[FIRING:N] …` subject (literal text).
    #[serde(default)]
    pub subject: Option<String>,
    /// Send an HTML alternative next to the text part.
    #[serde(default = "yes")]
    pub html: bool,
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

/// `to: a@x` , `to: "a@x, b@y"` (Alertmanager's form) or `to: [a@x, b@y]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

impl EmailConfig {
    pub fn new(smarthost: impl Into<String>, from: impl Into<String>, to: Vec<String>) -> Self {
        EmailConfig {
            smarthost: smarthost.into(),
            from: from.into(),
            to,
            hello: None,
            auth_username: None,
            auth_password: None,
            tls: SmtpTls::default(),
            insecure_skip_verify: false,
            subject: None,
            html: true,
            send_resolved: false,
            timeout: default_timeout(),
        }
    }
}
