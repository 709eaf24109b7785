//! Receiver configuration for the channels, in Alertmanager's shape
//! (`receivers: [{name, webhook_configs, slack_configs, …}]`).
//!
//! Kept local to `channels` so it can be reconciled with the routing crate's config types:
//! a receiver there can hold (or convert into) a [`ReceiverConfig`].

use serde::{Deserialize, Serialize};

use super::discord::DiscordConfig;
use super::email::EmailConfig;
use super::pagerduty::PagerDutyConfig;
use super::slack::SlackConfig;
use super::sms::SmsConfig;
use super::teams::TeamsConfig;
use super::webhook::WebhookConfig;

/// One receiver: a name and any number of channel configurations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
    pub slack_configs: Vec<SlackConfig>,
    pub pagerduty_configs: Vec<PagerDutyConfig>,
    pub email_configs: Vec<EmailConfig>,
    /// Alertmanager calls these `msteams_configs`; both spellings are accepted.
    #[serde(alias = "msteams_configs")]
    pub teams_configs: Vec<TeamsConfig>,
    pub discord_configs: Vec<DiscordConfig>,
    pub sms_configs: Vec<SmsConfig>,
}

pub(crate) fn default_timeout() -> std::time::Duration {
    super::http::DEFAULT_TIMEOUT
}

pub(crate) fn yes() -> bool {
    true
}
