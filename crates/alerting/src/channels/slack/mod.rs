//! Slack incoming webhooks.
//!
//! Example body:
//!
//! ```json
//! {"attachments":[{"color":"danger","title":"[FIRING:1] HighLatency (prod api)",
//!   "title_link":"https://strix.example/#/alerts?receiver=team-api",
//!   "text":"• HighLatency: p99 latency above 1s on api-1",
//!   "fallback":"[FIRING:1] HighLatency (prod api) | https://strix.example/#/alerts?receiver=team-api",
//!   "footer":"Strix","mrkdwn_in":["fallback","pretext","text"]}]}
//! ```

mod config;
mod payload;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use reqwest::Url;

pub use config::SlackConfig;
pub use payload::{build as build_payload, color, Attachment, Message as SlackMessage};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt};
use super::webhook::http_url;
use super::{http, Channel, Notification};

const KIND: ChannelKind = ChannelKind::Slack;

#[derive(Debug)]
pub struct SlackChannel {
    client: reqwest::Client,
    url: Url,
    config: SlackConfig,
}

impl SlackChannel {
    pub fn new(config: SlackConfig, client: reqwest::Client) -> Result<Self, String> {
        let url = http_url(config.api_url.expose())?;
        Ok(SlackChannel {
            client,
            url,
            config,
        })
    }
}

#[async_trait]
impl Channel for SlackChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        http::post_chat_webhook(
            &self.client,
            &self.url,
            KIND,
            self.config.send_resolved,
            self.config.timeout,
            n,
            |n| build_payload(&self.config, n),
        )
        .await
    }
}
