use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channels::config::{default_timeout, yes};
use crate::channels::secret::Secret;

/// Discord webhook.
///
/// ```yaml
/// discord_configs:
///   - webhook_url: https://discord.com/api/webhooks/123/abc
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    pub webhook_url: Secret,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Message content above the embed (e.g. a role mention); empty by default.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

impl DiscordConfig {
    pub fn new(webhook_url: impl Into<String>) -> Self {
        DiscordConfig {
            webhook_url: Secret::new(webhook_url),
            send_resolved: true,
            username: None,
            avatar_url: None,
            content: None,
            title: None,
            message: None,
            timeout: default_timeout(),
        }
    }
}
