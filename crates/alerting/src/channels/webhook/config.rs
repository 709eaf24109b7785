use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channels::http::DEFAULT_TIMEOUT;
use crate::channels::secret::Secret;

/// A generic webhook receiving Alertmanager's webhook payload (version 4).
///
/// ```yaml
/// webhook_configs:
///   - url: https://hooks.example.com/alerts
///     max_alerts: 50           # 0 = all
///     signing_secret: s3cr3t   # adds X-Strix-Timestamp / X-Strix-Signature
///     headers: {X-Team: api}
///     timeout: 10s
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: Secret,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// At most this many alerts in the payload (0 = no limit); the rest are counted in
    /// `truncatedAlerts`.
    #[serde(default)]
    pub max_alerts: usize,
    /// When set, requests carry an HMAC-SHA256 signature (see `verify_signature`).
    #[serde(default)]
    pub signing_secret: Option<Secret>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

impl WebhookConfig {
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: Secret::new(url),
            send_resolved: true,
            max_alerts: 0,
            signing_secret: None,
            headers: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}
