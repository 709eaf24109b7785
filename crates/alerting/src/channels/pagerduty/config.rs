use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channels::config::{default_timeout, yes};
use crate::channels::notification::Severity;
use crate::channels::secret::Secret;

/// PagerDuty Events API v2's endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty Events API v2.
///
/// ```yaml
/// pagerduty_configs:
///   - routing_key: R0ABCDEF...      # integration key of the service
///     severity: critical            # default: from the severity labels, else "error"
///     details: {runbook: "https://wiki/runbooks/latency"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub routing_key: Secret,
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Fixed severity; when unset it is mapped from the alerts' `severity` labels.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Used when neither `severity` nor the labels say.
    #[serde(default = "default_severity")]
    pub default_severity: Severity,
    /// `payload.source` (default: the group's `instance` label, else "strix").
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default = "default_client")]
    pub client: String,
    /// Default: the alert list in Strix's UI.
    #[serde(default)]
    pub client_url: Option<String>,
    /// Extra `custom_details` entries.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub links: Vec<Link>,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub href: String,
    #[serde(default)]
    pub text: String,
}

fn default_url() -> String {
    DEFAULT_URL.to_string()
}

fn default_severity() -> Severity {
    Severity::Error
}

fn default_client() -> String {
    "Strix".to_string()
}

impl PagerDutyConfig {
    pub fn new(routing_key: impl Into<String>) -> Self {
        PagerDutyConfig {
            routing_key: Secret::new(routing_key),
            url: default_url(),
            send_resolved: true,
            severity: None,
            default_severity: default_severity(),
            source: None,
            component: None,
            group: None,
            class: None,
            client: default_client(),
            client_url: None,
            details: BTreeMap::new(),
            links: Vec::new(),
            timeout: default_timeout(),
        }
    }
}
