//! Generic webhook: Alertmanager's webhook payload v4, optionally HMAC-signed.
//!
//! Example body:
//!
//! ```json
//! {"receiver":"team-api","status":"firing",
//!  "alerts":[{"status":"firing","labels":{"alertname":"HighLatency","env":"prod"},
//!             "annotations":{"summary":"p99 > 1s"},
//!             "startsAt":"2024-05-06T07:08:09.12Z","endsAt":"0001-01-01T00:00:00Z",
//!             "generatorURL":"https://strix.example/graph?g0.expr=...","fingerprint":"a1b2c3"}],
//!  "groupLabels":{"alertname":"HighLatency"},"commonLabels":{"alertname":"HighLatency","env":"prod"},
//!  "commonAnnotations":{},"externalURL":"https://strix.example","version":"4",
//!  "groupKey":"{}:{alertname=\"HighLatency\"}","truncatedAlerts":0}
//! ```

mod config;
mod payload;
mod signature;
#[cfg(test)]
mod tests;

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Url;

pub use config::WebhookConfig;
pub use payload::{Alert as WebhookAlert, Message as WebhookMessage};
pub use signature::{
    sign, verify_signature, verify_signature_at, SignatureError, IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt};
use super::{http, Channel, Notification};

const KIND: ChannelKind = ChannelKind::Webhook;

/// Posts Alertmanager webhook v4 JSON.
#[derive(Debug)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    config: WebhookConfig,
}

impl WebhookChannel {
    pub fn new(config: WebhookConfig, client: reqwest::Client) -> Result<Self, String> {
        let url = http_url(config.url.expose())?;
        let mut headers = HeaderMap::new();
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
            headers.insert(name, value);
        }
        Ok(WebhookChannel {
            client,
            url,
            headers,
            config,
        })
    }

    /// The exact body that would be sent for `n`.
    pub fn render(&self, n: &Notification) -> Result<Vec<u8>, DeliveryError> {
        // Sized for the usual body up front: growing the buffer step by step while encoding
        // cost more than the encoding itself.
        let mut body = Vec::with_capacity(768 * n.alerts.len().clamp(1, 64));
        serde_json::to_writer(&mut body, &WebhookMessage::new(n, self.config.max_alerts))
            .map_err(|e| DeliveryError::permanent(KIND, format!("cannot encode payload: {e}")))?;
        Ok(body)
    }
}

/// Parses an http(s) URL.
pub(crate) fn http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("invalid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported URL scheme {other:?}")),
    }
}

#[async_trait]
impl Channel for WebhookChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        let Some(n) = n.filter_resolved(self.config.send_resolved) else {
            return Ok(DeliveryReceipt::skipped(KIND));
        };
        let body = self.render(&n)?;
        let mut req = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, n.idempotency_key());
        if let Some(secret) = &self.config.signing_secret {
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            req = req.header(TIMESTAMP_HEADER, ts.to_string()).header(
                SIGNATURE_HEADER,
                sign(secret.expose().as_bytes(), ts, &body),
            );
        }
        http::execute_receipt(KIND, req.body(body), self.config.timeout).await
    }
}
