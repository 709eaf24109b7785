//! Notification channels: webhook (Alertmanager payload v4, HMAC-signed), Slack,
//! PagerDuty Events v2, e-mail (SMTP), Microsoft Teams, Discord and SMS (Twilio API).
//!
//! Every channel implements [`Channel`]: one `send` per [`Notification`], bounded by the
//! channel's timeout (default 10 s), returning a [`DeliveryReceipt`] or a
//! [`DeliveryError`] that says whether a retry can help. [`retry::deliver`] adds
//! exponential backoff with full jitter; [`ChannelSet::build`] turns routing's receiver
//! configurations ([`crate::routing::config::ReceiverConfig`], the one set of config
//! types) into channels, through the resolvers in [`config`].

pub mod config;
pub mod discord;
pub mod email;
mod error;
pub mod http;
mod notification;
pub mod pagerduty;
pub mod retry;
mod secret;
mod set;
pub mod slack;
pub mod sms;
pub mod teams;
pub mod template;
pub mod webhook;

#[cfg(test)]
pub(crate) mod test_support;

use async_trait::async_trait;

pub use error::{
    excerpt, status_is_retryable, ChannelKind, ConfigError, DeliveryError, DeliveryReceipt,
    ErrorKind, BODY_EXCERPT_LEN,
};
pub use notification::{
    format_rfc3339, now_utc, Alert, AlertStatus, LabelSet, Notification, Severity, GO_ZERO_TIME,
};
pub use retry::{deliver, Attempt, RetryPolicy};
pub use secret::Secret;
pub use set::ChannelSet;

/// A configured destination for notifications.
#[async_trait]
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// Which kind of channel this is.
    fn kind(&self) -> ChannelKind;

    /// Delivers one notification (one attempt, bounded by the channel's timeout).
    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError>;
}
