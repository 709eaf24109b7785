//! Discord webhooks.
//!
//! Example body:
//!
//! ```json
//! {"embeds":[{"title":"[FIRING:1] HighLatency (prod api)",
//!   "description":"• HighLatency: p99 latency above 1s on api-1","color":10038562,
//!   "url":"https://strix.example/#/alerts?receiver=team-api","footer":{"text":"Strix"}}],
//!  "allowed_mentions":{"parse":[]}}
//! ```

mod config;
mod payload;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use reqwest::Url;

pub use config::DiscordConfig;
pub use payload::{
    build as build_payload, color, Embed, Message as DiscordMessage, COLOR_GREEN, COLOR_GREY,
    COLOR_ORANGE, COLOR_RED,
};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt};
use super::webhook::http_url;
use super::{http, Channel, Notification};

const KIND: ChannelKind = ChannelKind::Discord;

#[derive(Debug)]
pub struct DiscordChannel {
    client: reqwest::Client,
    url: Url,
    config: DiscordConfig,
}

impl DiscordChannel {
    pub fn new(config: DiscordConfig, client: reqwest::Client) -> Result<Self, String> {
        let url = http_url(config.webhook_url.expose())?;
        Ok(DiscordChannel {
            client,
            url,
            config,
        })
    }
}

#[async_trait]
impl Channel for DiscordChannel {
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
