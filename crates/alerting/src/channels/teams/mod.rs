//! Microsoft Teams incoming webhooks (Workflows / Adaptive Card, or legacy MessageCard).
//!
//! Example (adaptive_card):
//!
//! ```json
//! {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//!   "contentUrl":null,"content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json",
//!   "type":"AdaptiveCard","version":"1.4","msteams":{"width":"Full"},
//!   "body":[{"type":"TextBlock","text":"[FIRING:1] HighLatency (prod api)","weight":"Bolder",
//!            "size":"Medium","wrap":true,"color":"Attention"},
//!           {"type":"TextBlock","text":"- HighLatency: p99 latency above 1s on api-1","wrap":true}],
//!   "actions":[{"type":"Action.OpenUrl","title":"View in Strix",
//!               "url":"https://strix.example/#/alerts?receiver=team-api"}]}}]}
//! ```

mod config;
mod payload;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use reqwest::Url;

pub use config::{TeamsConfig, TeamsFormat};
pub use payload::{build as build_payload, theme_color};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt};
use super::webhook::http_url;
use super::{http, Channel, Notification};

const KIND: ChannelKind = ChannelKind::Teams;

#[derive(Debug)]
pub struct TeamsChannel {
    client: reqwest::Client,
    url: Url,
    config: TeamsConfig,
}

impl TeamsChannel {
    pub fn new(config: TeamsConfig, client: reqwest::Client) -> Result<Self, String> {
        let url = http_url(config.webhook_url.expose())?;
        Ok(TeamsChannel {
            client,
            url,
            config,
        })
    }
}

#[async_trait]
impl Channel for TeamsChannel {
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
