//! Discord webhook JSON with one embed.

use serde::Serialize;

use super::config::DiscordConfig;
use crate::channels::notification::{AlertStatus, Notification, Severity};
use crate::channels::template;

/// Discord limits.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 4096;
const MAX_CONTENT: usize = 2000;

/// Alertmanager's colours: red firing, green resolved; orange for warnings, grey for info.
pub const COLOR_RED: u32 = 0x992D22;
pub const COLOR_GREEN: u32 = 0x2ECC71;
pub const COLOR_ORANGE: u32 = 0xE67E22;
pub const COLOR_GREY: u32 = 0x95A5A6;

pub fn color(n: &Notification) -> u32 {
    match (n.status, n.effective_severity()) {
        (AlertStatus::Resolved, _) => COLOR_GREEN,
        (AlertStatus::Firing, Some(Severity::Warning)) => COLOR_ORANGE,
        (AlertStatus::Firing, Some(Severity::Info)) => COLOR_GREY,
        (AlertStatus::Firing, _) => COLOR_RED,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    pub embeds: Vec<Embed>,
    /// Alert text never pings anyone (no `@everyone` from an annotation).
    pub allowed_mentions: AllowedMentions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Embed {
    pub title: String,
    pub description: String,
    pub color: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    pub footer: Footer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footer {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowedMentions {
    pub parse: Vec<String>,
}

pub fn build(cfg: &DiscordConfig, n: &Notification) -> Message {
    let title = cfg.title.clone().unwrap_or_else(|| template::subject(n));
    let description = cfg.message.clone().unwrap_or_else(|| {
        template::short_lines(n)
            .into_iter()
            .map(|l| format!("• {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Message {
        content: template::truncate_chars(cfg.content.as_deref().unwrap_or(""), MAX_CONTENT),
        username: cfg.username.clone(),
        avatar_url: cfg.avatar_url.clone(),
        embeds: vec![Embed {
            title: template::truncate_chars(&title, MAX_TITLE),
            description: template::truncate_chars(&description, MAX_DESCRIPTION),
            color: color(n),
            url: template::alerts_url(n),
            footer: Footer {
                text: "Strix".into(),
            },
        }],
        allowed_mentions: AllowedMentions { parse: Vec::new() },
    }
}
