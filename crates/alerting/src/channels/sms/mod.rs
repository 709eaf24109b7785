//! SMS through Twilio's Messages API: one `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`
//! per recipient, form fields `To`, `From`, `Body` (≤ 1600 characters), HTTP basic auth
//! with the account SID and auth token.
//!
//! When some recipients got the message and another failed, the error is returned (so the
//! caller retries) and a retry with the same idempotency key only sends to the recipients
//! still missing it.

mod config;
mod payload;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::Url;

pub use config::{SmsConfig, DEFAULT_BASE_URL};
pub use payload::{body as render_body, messages_url, MAX_BODY_CHARS};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt, ErrorKind};
use super::webhook::http_url;
use super::{http, Channel, Notification};

const KIND: ChannelKind = ChannelKind::Sms;
/// Idempotency keys remembered for partial deliveries.
const REMEMBERED_KEYS: usize = 1024;

#[derive(Debug)]
pub struct SmsChannel {
    client: reqwest::Client,
    url: Url,
    config: SmsConfig,
    delivered: Mutex<Delivered>,
}

/// Recipients already reached, per idempotency key (bounded, oldest forgotten first).
#[derive(Debug, Default)]
struct Delivered {
    by_key: HashMap<String, HashSet<String>>,
    order: VecDeque<String>,
}

impl Delivered {
    fn get(&self, key: &str) -> HashSet<String> {
        self.by_key.get(key).cloned().unwrap_or_default()
    }

    fn add(&mut self, key: &str, to: &str) {
        if !self.by_key.contains_key(key) {
            if self.order.len() >= REMEMBERED_KEYS {
                if let Some(old) = self.order.pop_front() {
                    self.by_key.remove(&old);
                }
            }
            self.order.push_back(key.to_string());
        }
        self.by_key
            .entry(key.to_string())
            .or_default()
            .insert(to.to_string());
    }
}

impl SmsChannel {
    pub fn new(config: SmsConfig, client: reqwest::Client) -> Result<Self, String> {
        if config.account_sid.is_empty() || config.auth_token.is_empty() {
            return Err("account_sid and auth_token are required".into());
        }
        if config.account_sid.contains(['/', '?', '#']) {
            return Err("invalid account_sid".into());
        }
        if config.from.is_empty() {
            return Err("from is required".into());
        }
        if config.to.is_empty() || config.to.iter().any(|t| t.trim().is_empty()) {
            return Err("at least one non-empty recipient in to is required".into());
        }
        let url = http_url(&messages_url(&config))?;
        Ok(SmsChannel {
            client,
            url,
            config,
            delivered: Mutex::new(Delivered::default()),
        })
    }

    fn already_delivered(&self, key: &str) -> HashSet<String> {
        match self.delivered.lock() {
            Ok(d) => d.get(key),
            Err(p) => p.into_inner().get(key),
        }
    }

    fn mark_delivered(&self, key: &str, to: &str) {
        match self.delivered.lock() {
            Ok(mut d) => d.add(key, to),
            Err(p) => p.into_inner().add(key, to),
        }
    }
}

#[async_trait]
impl Channel for SmsChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        let Some(n) = n.filter_resolved(self.config.send_resolved) else {
            return Ok(DeliveryReceipt::skipped(KIND));
        };
        let key = n.idempotency_key();
        let body = render_body(&self.config, &n);
        let done = self.already_delivered(&key);
        let mut receipt = DeliveryReceipt::sent(KIND, None);
        let mut failures: Vec<(String, DeliveryError)> = Vec::new();
        for to in &self.config.to {
            if done.contains(to) {
                continue;
            }
            let req = self
                .client
                .post(self.url.clone())
                .basic_auth(
                    &self.config.account_sid,
                    Some(self.config.auth_token.expose()),
                )
                .form(&[
                    ("To", to.as_str()),
                    ("From", self.config.from.as_str()),
                    ("Body", body.as_str()),
                ]);
            match http::execute(KIND, req, self.config.timeout).await {
                Ok(resp) => {
                    self.mark_delivered(&key, to);
                    receipt.status = Some(resp.status);
                    if let Some(sid) = serde_json::from_slice::<serde_json::Value>(&resp.body)
                        .ok()
                        .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_string))
                    {
                        receipt.ids.push(sid);
                    }
                }
                Err(e) => failures.push((to.clone(), e)),
            }
        }
        if failures.is_empty() {
            return Ok(receipt);
        }
        // Retryable if any failure is; report the first failure of that kind.
        let retryable = failures.iter().any(|(_, e)| e.is_retryable());
        let total = failures.len();
        let idx = failures
            .iter()
            .position(|(_, e)| e.is_retryable() == retryable)
            .unwrap_or(0);
        let (to, mut err) = failures.swap_remove(idx);
        err.kind = if retryable {
            ErrorKind::Retryable
        } else {
            ErrorKind::Permanent
        };
        err.message = format!(
            "{} of {} recipients failed (first: {}): {}",
            total,
            self.config.to.len(),
            mask_number(&to),
            err.message
        );
        Err(err)
    }
}

/// `+1555…01`: enough to tell recipients apart in logs without printing the number.
fn mask_number(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() <= 6 {
        return "…".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}
