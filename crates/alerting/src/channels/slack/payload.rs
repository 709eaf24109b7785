//! Slack incoming-webhook JSON: one attachment coloured by status and severity.

use serde::Serialize;

use super::config::SlackConfig;
use crate::channels::notification::{AlertStatus, Notification, Severity};
use crate::channels::template;

/// Most text Slack shows in an attachment before collapsing; we cut earlier.
const MAX_TEXT: usize = 3000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub color: String,
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    pub text: String,
    pub fallback: String,
    pub footer: String,
    pub mrkdwn_in: Vec<&'static str>,
}

/// `good` when resolved; when firing `danger` (critical, error or unknown), `warning`,
/// or blue for info.
pub fn color(n: &Notification) -> &'static str {
    match (n.status, n.effective_severity()) {
        (AlertStatus::Resolved, _) => "good",
        (AlertStatus::Firing, Some(Severity::Warning)) => "warning",
        (AlertStatus::Firing, Some(Severity::Info)) => "#439FE0",
        (AlertStatus::Firing, _) => "danger",
    }
}

pub fn build(cfg: &SlackConfig, n: &Notification) -> Message {
    let title = cfg.title.clone().unwrap_or_else(|| template::subject(n));
    let title_link = cfg
        .title_link
        .clone()
        .unwrap_or_else(|| template::alerts_url(n));
    let text = cfg.text.clone().unwrap_or_else(|| {
        template::short_lines(n)
            .into_iter()
            .map(|l| format!("• {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let fallback = if title_link.is_empty() {
        title.clone()
    } else {
        format!("{title} | {title_link}")
    };
    Message {
        channel: cfg.channel.clone(),
        username: cfg.username.clone(),
        icon_emoji: cfg.icon_emoji.clone(),
        icon_url: cfg.icon_url.clone(),
        attachments: vec![Attachment {
            color: color(n).to_string(),
            title,
            title_link,
            text: template::truncate_chars(&text, MAX_TEXT),
            fallback,
            footer: "Strix".to_string(),
            mrkdwn_in: vec!["fallback", "pretext", "text"],
        }],
    }
}
