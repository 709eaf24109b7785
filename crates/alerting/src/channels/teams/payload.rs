//! Teams card JSON (Adaptive Card in a message, or legacy MessageCard).

use serde_json::{json, Value};

use super::config::{TeamsConfig, TeamsFormat};
use crate::channels::notification::{AlertStatus, Notification, Severity};
use crate::channels::template;

/// Teams rejects payloads over ~28 KB; keep the text well under.
const MAX_TEXT: usize = 12_000;

/// MessageCard `themeColor`: Alertmanager's red / green, amber for warnings.
pub fn theme_color(n: &Notification) -> &'static str {
    match (n.status, n.effective_severity()) {
        (AlertStatus::Resolved, _) => "2DC72D",
        (AlertStatus::Firing, Some(Severity::Warning)) => "FFA500",
        (AlertStatus::Firing, Some(Severity::Info)) => "439FE0",
        (AlertStatus::Firing, _) => "8C1A1A",
    }
}

/// Adaptive Card `TextBlock.color`.
fn adaptive_color(n: &Notification) -> &'static str {
    match (n.status, n.effective_severity()) {
        (AlertStatus::Resolved, _) => "Good",
        (AlertStatus::Firing, Some(Severity::Warning)) => "Warning",
        (AlertStatus::Firing, Some(Severity::Info)) => "Accent",
        (AlertStatus::Firing, _) => "Attention",
    }
}

pub fn build(cfg: &TeamsConfig, n: &Notification) -> Value {
    let title = cfg.title.clone().unwrap_or_else(|| template::subject(n));
    let text = cfg.text.clone().unwrap_or_else(|| {
        template::short_lines(n)
            .into_iter()
            .map(|l| format!("- {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let text = template::truncate_chars(&text, MAX_TEXT);
    let url = template::alerts_url(n);
    match cfg.format {
        TeamsFormat::MessageCard => {
            let mut card = json!({
                "@type": "MessageCard",
                "@context": "http://schema.org/extensions",
                "themeColor": theme_color(n),
                "summary": title,
                "title": title,
                "text": text,
            });
            if !url.is_empty() {
                card["potentialAction"] = json!([{
                    "@type": "OpenUri",
                    "name": "View in Strix",
                    "targets": [{"os": "default", "uri": url}],
                }]);
            }
            card
        }
        TeamsFormat::AdaptiveCard => {
            let mut content = json!({
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": [
                    {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
                     "wrap": true, "color": adaptive_color(n)},
                    {"type": "TextBlock", "text": text, "wrap": true},
                ],
            });
            if !url.is_empty() {
                content["actions"] =
                    json!([{"type": "Action.OpenUrl", "title": "View in Strix", "url": url}]);
            }
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": content,
                }],
            })
        }
    }
}
