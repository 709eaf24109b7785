use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channels::config::{default_timeout, yes};
use crate::channels::secret::Secret;

/// Card format posted to the Teams webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamsFormat {
    /// `{"type":"message","attachments":[{adaptive card}]}`: Teams "Workflows" webhooks
    /// (Power Automate), the successor of Office 365 connectors.
    #[default]
    AdaptiveCard,
    /// Legacy Office 365 connector `MessageCard` (what Alertmanager's `msteams` sends).
    MessageCard,
}

/// Microsoft Teams incoming webhook.
///
/// ```yaml
/// teams_configs:
///   - webhook_url: https://prod-00.westeurope.logic.azure.com/workflows/...
///     format: adaptive_card   # or message_card
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    pub webhook_url: Secret,
    #[serde(default)]
    pub format: TeamsFormat,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

impl TeamsConfig {
    pub fn new(webhook_url: impl Into<String>) -> Self {
        TeamsConfig {
            webhook_url: Secret::new(webhook_url),
            format: TeamsFormat::default(),
            send_resolved: true,
            title: None,
            text: None,
            timeout: default_timeout(),
        }
    }
}
