//! Delivery outcome types.

use std::fmt;
use std::time::Duration;

/// Which kind of channel delivered (or failed to deliver) a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Webhook,
    Slack,
    PagerDuty,
    Email,
    Teams,
    Discord,
    Sms,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::PagerDuty => "pagerduty",
            ChannelKind::Email => "email",
            ChannelKind::Teams => "teams",
            ChannelKind::Discord => "discord",
            ChannelKind::Sms => "sms",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a successful `send` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    pub channel: ChannelKind,
    /// HTTP status of the (last) response; SMTP reply code for e-mail.
    pub status: Option<u16>,
    /// Nothing was sent because nothing was left after `send_resolved: false`.
    pub skipped: bool,
    /// Provider ids: PagerDuty's dedup_key, Twilio message SIDs, the SMTP reply text.
    pub ids: Vec<String>,
    /// Attempts used (set by [`crate::channels::retry::deliver`]; 1 for a single `send`).
    pub attempts: u32,
}

impl DeliveryReceipt {
    pub fn sent(channel: ChannelKind, status: Option<u16>) -> Self {
        DeliveryReceipt {
            channel,
            status,
            skipped: false,
            ids: Vec::new(),
            attempts: 1,
        }
    }

    pub fn skipped(channel: ChannelKind) -> Self {
        DeliveryReceipt {
            channel,
            status: None,
            skipped: true,
            ids: Vec::new(),
            attempts: 0,
        }
    }
}

/// Retry or give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Timeouts, connection errors, HTTP 408/429/5xx: the same request may succeed later.
    Retryable,
    /// Other 4xx, invalid configuration, unrenderable payload: retrying cannot help.
    Permanent,
}

/// A failed delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DeliveryError {
    pub channel: ChannelKind,
    pub kind: ErrorKind,
    pub message: String,
    /// HTTP status (or SMTP reply code) when the peer answered.
    pub status: Option<u16>,
    /// The first bytes of the response body (at most [`BODY_EXCERPT_LEN`] bytes).
    pub body_excerpt: Option<String>,
    /// The peer's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

/// How much of an error response body [`DeliveryError::body_excerpt`] keeps.
pub const BODY_EXCERPT_LEN: usize = 512;

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Permanent => "permanent",
        };
        write!(
            f,
            "{} delivery failed ({kind}): {}",
            self.channel, self.message
        )?;
        if let Some(s) = self.status {
            write!(f, " [status {s}]")?;
        }
        if let Some(b) = &self.body_excerpt {
            if !b.is_empty() {
                write!(f, ": {b}")?;
            }
        }
        Ok(())
    }
}

impl DeliveryError {
    pub fn retryable(channel: ChannelKind, message: impl Into<String>) -> Self {
        DeliveryError {
            channel,
            kind: ErrorKind::Retryable,
            message: message.into(),
            status: None,
            body_excerpt: None,
            retry_after: None,
        }
    }

    pub fn permanent(channel: ChannelKind, message: impl Into<String>) -> Self {
        DeliveryError {
            kind: ErrorKind::Permanent,
            ..DeliveryError::retryable(channel, message)
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    pub fn with_status(mut self, status: u16, body: &[u8]) -> Self {
        self.status = Some(status);
        self.body_excerpt = Some(excerpt(body));
        self
    }
}

/// Whether an HTTP status is worth retrying: 408, 429 and 5xx.
pub fn status_is_retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// The first [`BODY_EXCERPT_LEN`] bytes of `body`, lossily decoded, control characters
/// flattened, trimmed.
pub fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT_LEN)];
    let s = String::from_utf8_lossy(cut);
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    out = out.trim().to_string();
    if body.len() > BODY_EXCERPT_LEN {
        out.push('…');
    }
    out
}

/// Error building a channel from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receiver {receiver:?}: {channel} config #{index}: {message}")]
pub struct ConfigError {
    pub receiver: String,
    pub channel: ChannelKind,
    pub index: usize,
    pub message: String,
}
