//! PagerDuty Events API v2.
//!
//! Example event:
//!
//! ```json
//! {"routing_key":"R0…","event_action":"trigger",
//!  "dedup_key":"5d41…(sha256 of receiver \\0 group_key)",
//!  "payload":{"summary":"[FIRING:1] HighLatency (prod api)","source":"strix","severity":"critical",
//!             "timestamp":"2024-05-06T07:08:09.12Z",
//!             "custom_details":{"firing":"Labels:\n - alertname = HighLatency\n…","resolved":"",
//!                               "num_firing":1,"num_resolved":0,"group_labels":{"alertname":"HighLatency"},
//!                               "escalation_level":0}},
//!  "client":"Strix","client_url":"https://strix.example/#/alerts?receiver=team-api",
//!  "links":[{"href":"https://strix.example/graph?g0.expr=latency","text":"HighLatency (source)"}]}
//! ```

mod config;
mod payload;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use reqwest::Url;

pub use config::{Link, PagerDutyConfig, DEFAULT_URL};
pub use payload::{build as build_event, dedup_key, event_action, Event, Payload, MAX_SUMMARY};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt};
use super::webhook::{http_url, IDEMPOTENCY_HEADER};
use super::{http, Channel, Notification};

const KIND: ChannelKind = ChannelKind::PagerDuty;

#[derive(Debug)]
pub struct PagerDutyChannel {
    client: reqwest::Client,
    url: Url,
    config: PagerDutyConfig,
}

impl PagerDutyChannel {
    pub fn new(config: PagerDutyConfig, client: reqwest::Client) -> Result<Self, String> {
        if config.routing_key.is_empty() {
            return Err("routing_key is required".into());
        }
        let url = http_url(&config.url)?;
        Ok(PagerDutyChannel {
            client,
            url,
            config,
        })
    }
}

#[async_trait]
impl Channel for PagerDutyChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        let Some(n) = n.filter_resolved(self.config.send_resolved) else {
            return Ok(DeliveryReceipt::skipped(KIND));
        };
        let event = build_event(&self.config, &n);
        let req = self
            .client
            .post(self.url.clone())
            .header(IDEMPOTENCY_HEADER, n.idempotency_key())
            .json(&event);
        let resp = http::execute(KIND, req, self.config.timeout).await?;
        let mut receipt = DeliveryReceipt::sent(KIND, Some(resp.status));
        let key = serde_json::from_slice::<serde_json::Value>(&resp.body)
            .ok()
            .and_then(|v| {
                v.get("dedup_key")
                    .and_then(|k| k.as_str())
                    .map(str::to_string)
            })
            .unwrap_or(event.dedup_key);
        receipt.ids.push(key);
        Ok(receipt)
    }
}
