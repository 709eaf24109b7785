use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channels::config::default_timeout;
use crate::channels::secret::Secret;

/// Slack incoming webhook.
///
/// ```yaml
/// slack_configs:
///   - api_url: https://hooks.slack.com/services/T000/B000/XXXX
///     channel: "#alerts"        # optional (legacy webhooks only)
///     send_resolved: true       # default false, as Alertmanager
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL (it embeds a token).
    pub api_url: Secret,
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    /// Overrides the default `[FIRING:N] …` title (literal text).
    #[serde(default)]
    pub title: Option<String>,
    /// Overrides the title link (default: Strix's alert list for the receiver).
    #[serde(default)]
    pub title_link: Option<String>,
    /// Overrides the default text (one line per alert).
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

impl SlackConfig {
    pub fn new(api_url: impl Into<String>) -> Self {
        SlackConfig {
            api_url: Secret::new(api_url),
            send_resolved: false,
            channel: None,
            username: None,
            icon_emoji: None,
            icon_url: None,
            title: None,
            title_link: None,
            text: None,
            timeout: default_timeout(),
        }
    }
}
