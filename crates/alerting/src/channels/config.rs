//! From the routing layer's receiver configuration (the `alertmanager:` section, parsed
//! and validated by [`crate::routing::config`]) to the channels' resolved settings.
//!
//! There is one set of user-facing configuration types: routing's
//! ([`crate::routing::config::ReceiverConfig`] with its `webhook_configs`,
//! `slack_configs`, …). Each channel module keeps a small *resolved* settings struct
//! (`WebhookConfig`, `SlackConfig`, …: secrets read from their `*_file`, defaults filled
//! in, timeouts as [`Duration`]) which the functions here build. Those structs are what a
//! channel is constructed from; they are not parsed from `strix.yaml` directly.

use std::time::Duration;

use crate::routing::config as rc;

use super::discord::DiscordConfig;
use super::email::{EmailConfig, SmtpTls};
use super::notification::Severity;
use super::pagerduty::{Link, PagerDutyConfig};
use super::secret::Secret;
use super::slack::SlackConfig;
use super::sms::SmsConfig;
use super::teams::TeamsConfig;
use super::webhook::WebhookConfig;

pub(crate) fn default_timeout() -> Duration {
    super::http::DEFAULT_TIMEOUT
}

pub(crate) fn yes() -> bool {
    true
}

/// A secret given inline or in a file (trimmed); an error when neither is set.
fn secret(inline: Option<&rc::Secret>, file: Option<&str>, what: &str) -> Result<Secret, String> {
    if let Some(s) = inline {
        return Ok(Secret::new(s.expose()));
    }
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read {what} file {f:?}: {e}"))?;
        return Ok(Secret::new(text.trim()));
    }
    Err(format!("no {what} configured"))
}

fn timeout(t: Option<rc::AmDuration>) -> Duration {
    match t {
        Some(d) if !d.0.is_zero() => d.0,
        _ => default_timeout(),
    }
}

/// Request headers from an `http_config`: basic auth, bearer token or authorization.
fn auth_headers(h: Option<&rc::HttpConfig>) -> Result<Vec<(String, String)>, String> {
    let Some(h) = h else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if let Some(b) = &h.basic_auth {
        let user = b.username.clone().unwrap_or_default();
        let pass = match (&b.password, &b.password_file) {
            (None, None) => String::new(),
            (p, f) => secret(p.as_ref(), f.as_deref(), "basic_auth password")?
                .expose()
                .to_string(),
        };
        out.push((
            "Authorization".to_string(),
            format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())),
        ));
    } else if let Some(a) = &h.authorization {
        let kind = a.kind.clone().unwrap_or_else(|| "Bearer".to_string());
        let cred = secret(
            a.credentials.as_ref(),
            a.credentials_file.as_deref(),
            "authorization credentials",
        )?;
        out.push((
            "Authorization".to_string(),
            format!("{kind} {}", cred.expose()),
        ));
    } else if h.bearer_token.is_some() || h.bearer_token_file.is_some() {
        let t = secret(
            h.bearer_token.as_ref(),
            h.bearer_token_file.as_deref(),
            "bearer_token",
        )?;
        out.push((
            "Authorization".to_string(),
            format!("Bearer {}", t.expose()),
        ));
    }
    Ok(out)
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// `webhook_configs[]` → the webhook channel's settings.
pub fn webhook(c: &rc::WebhookConfig) -> Result<WebhookConfig, String> {
    let url = secret(c.url.as_ref(), c.url_file.as_deref(), "url")?;
    let mut w = WebhookConfig::new(url.expose());
    w.send_resolved = c.send_resolved;
    w.max_alerts = usize::try_from(c.max_alerts).unwrap_or(usize::MAX);
    w.signing_secret = c
        .signing_secret
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| Secret::new(s.expose()));
    w.timeout = timeout(c.timeout);
    for (k, v) in auth_headers(c.http_config.as_ref())? {
        w.headers.insert(k, v);
    }
    Ok(w)
}

/// `slack_configs[]` → the Slack channel's settings (global `slack_api_url` already
/// filled in by routing's validation).
pub fn slack(c: &rc::SlackConfig) -> Result<SlackConfig, String> {
    let url = secret(c.api_url.as_ref(), c.api_url_file.as_deref(), "api_url")?;
    let mut s = SlackConfig::new(url.expose());
    s.send_resolved = c.send_resolved;
    s.channel = c.channel.clone();
    s.username = c.username.clone();
    s.icon_emoji = c.icon_emoji.clone();
    s.icon_url = c.icon_url.clone();
    s.title = c.title.clone();
    s.title_link = c.title_link.clone();
    s.text = c.text.clone();
    s.timeout = timeout(c.timeout);
    Ok(s)
}

/// `pagerduty_configs[]` → the PagerDuty channel's settings (Events API v2; a v1
/// `service_key` is used as the routing key).
pub fn pagerduty(c: &rc::PagerdutyConfig) -> Result<PagerDutyConfig, String> {
    let key = match (&c.routing_key, &c.routing_key_file) {
        (None, None) => secret(
            c.service_key.as_ref(),
            c.service_key_file.as_deref(),
            "routing_key",
        )?,
        (k, f) => secret(k.as_ref(), f.as_deref(), "routing_key")?,
    };
    let mut p = PagerDutyConfig::new(key.expose());
    if let Some(u) = &c.url {
        p.url = u.clone();
    }
    p.send_resolved = c.send_resolved;
    p.severity = c.severity.as_deref().and_then(Severity::parse_label);
    p.source = c.source.clone();
    p.component = c.component.clone();
    p.group = c.group.clone();
    p.class = c.class.clone();
    if let Some(cl) = &c.client {
        p.client = cl.clone();
    }
    p.client_url = c.client_url.clone();
    p.details = c.details.clone();
    p.links = c
        .links
        .iter()
        .map(|l| Link {
            href: l.href.clone(),
            text: l.text.clone().unwrap_or_default(),
        })
        .collect();
    p.timeout = timeout(c.timeout);
    Ok(p)
}

/// `email_configs[]` → the e-mail channel's settings (global `smtp_*` filled in by
/// routing's validation). Port 465 means implicit TLS; `require_tls: false` plain SMTP;
/// otherwise STARTTLS.
pub fn email(c: &rc::EmailConfig) -> Result<EmailConfig, String> {
    let smarthost = c.smarthost.clone().ok_or("no smarthost configured")?;
    let from = c.from.clone().ok_or("no from address configured")?;
    let to: Vec<String> =
        c.to.as_deref()
            .unwrap_or("")
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
    if to.is_empty() {
        return Err("no recipient (to) configured".into());
    }
    let mut e = EmailConfig::new(smarthost.clone(), from, to);
    e.hello = c.hello.clone();
    e.auth_username = c.auth_username.clone();
    if c.auth_password.is_some() || c.auth_password_file.is_some() {
        e.auth_password = Some(secret(
            c.auth_password.as_ref(),
            c.auth_password_file.as_deref(),
            "auth_password",
        )?);
    }
    e.tls = if smarthost.ends_with(":465") {
        SmtpTls::Tls
    } else if c.require_tls == Some(false) {
        SmtpTls::None
    } else {
        SmtpTls::Starttls
    };
    e.insecure_skip_verify = c
        .tls_config
        .as_ref()
        .is_some_and(|t| t.insecure_skip_verify);
    e.subject = c.headers.get("Subject").cloned();
    e.send_resolved = c.send_resolved;
    Ok(e)
}

/// `teams_configs[]` → the Teams channel's settings.
pub fn teams(c: &rc::TeamsConfig) -> Result<TeamsConfig, String> {
    let url = secret(
        c.webhook_url.as_ref(),
        c.webhook_url_file.as_deref(),
        "webhook_url",
    )?;
    let mut t = TeamsConfig::new(url.expose());
    t.send_resolved = c.send_resolved;
    t.title = c.title.clone();
    t.text = c.text.clone();
    Ok(t)
}

/// `discord_configs[]` → the Discord channel's settings.
pub fn discord(c: &rc::DiscordConfig) -> Result<DiscordConfig, String> {
    let url = secret(
        c.webhook_url.as_ref(),
        c.webhook_url_file.as_deref(),
        "webhook_url",
    )?;
    let mut d = DiscordConfig::new(url.expose());
    d.send_resolved = c.send_resolved;
    d.username = c.username.clone();
    d.avatar_url = c.avatar_url.clone();
    d.content = c.content.clone();
    d.title = c.title.clone();
    d.message = c.message.clone();
    Ok(d)
}

/// `sms_configs[]` → the SMS channel's settings.
pub fn sms(c: &rc::SmsConfig) -> Result<SmsConfig, String> {
    let sid = c.account_sid.clone().ok_or("no account_sid configured")?;
    let token = secret(
        c.auth_token.as_ref(),
        c.auth_token_file.as_deref(),
        "auth_token",
    )?;
    let from = c
        .from
        .clone()
        .or_else(|| c.messaging_service_sid.clone())
        .ok_or("no from number (or messaging_service_sid) configured")?;
    if c.to.is_empty() {
        return Err("no recipient (to) configured".into());
    }
    let mut s = SmsConfig::new(sid, token.expose(), from, c.to.clone());
    if let Some(u) = &c.api_url {
        s.base_url = u.clone();
    }
    s.send_resolved = c.send_resolved;
    s.message = c.message.clone();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn secrets_from_files_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("url");
        std::fs::write(&f, "http://127.0.0.1:9/x\n").unwrap();
        let c = rc::WebhookConfig {
            send_resolved: true,
            url_file: Some(f.display().to_string()),
            ..Default::default()
        };
        let w = webhook(&c).unwrap();
        assert_eq!(w.url.expose(), "http://127.0.0.1:9/x");
        assert_eq!(w.timeout, default_timeout());
        assert!(webhook(&rc::WebhookConfig::default()).is_err());
    }
}
