use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::channels::config::{default_timeout, yes};
use crate::channels::secret::Secret;

/// Twilio's API base.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// SMS through Twilio's Messages API (or any compatible service).
///
/// ```yaml
/// sms_configs:
///   - account_sid: AC0123...
///     auth_token: ...
///     from: "+15005550006"
///     to: ["+15551230001", "+15551230002"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    #[serde(default = "default_base_url")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Overrides the default body (literal text).
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "default_timeout", with = "strix_core::duration::serde_str")]
    pub timeout: Duration,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

impl SmsConfig {
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        from: impl Into<String>,
        to: Vec<String>,
    ) -> Self {
        SmsConfig {
            base_url: default_base_url(),
            account_sid: account_sid.into(),
            auth_token: Secret::new(auth_token),
            from: from.into(),
            to,
            send_resolved: true,
            message: None,
            timeout: default_timeout(),
        }
    }
}
