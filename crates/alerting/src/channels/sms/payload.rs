//! The SMS body.

use super::config::SmsConfig;
use crate::channels::notification::Notification;
use crate::channels::template;

/// Twilio's limit for `Body`.
pub const MAX_BODY_CHARS: usize = 1600;

/// `[FIRING:1] HighLatency (prod api)` then one line per alert, at most 1600 characters.
pub fn body(cfg: &SmsConfig, n: &Notification) -> String {
    let text = match &cfg.message {
        Some(m) => m.clone(),
        None => {
            let mut s = template::subject(n);
            for l in template::short_lines(n) {
                s.push('\n');
                s.push_str(&l);
            }
            s
        }
    };
    template::truncate_chars(&text, MAX_BODY_CHARS)
}

/// `Messages.json` under the account.
pub fn messages_url(cfg: &SmsConfig) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        cfg.base_url.trim_end_matches('/'),
        cfg.account_sid
    )
}
