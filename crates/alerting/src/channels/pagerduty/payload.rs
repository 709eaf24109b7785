//! PagerDuty Events API v2 event.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::{Link, PagerDutyConfig};
use crate::channels::notification::{format_rfc3339, AlertStatus, Notification};
use crate::channels::template;

/// PagerDuty rejects longer summaries.
pub const MAX_SUMMARY: usize = 1024;
/// Cap for each free-text custom detail (the whole event must stay under 512 KiB).
const MAX_DETAIL_TEXT: usize = 64 * 1024;
/// Links added from the alerts' generator URLs.
const MAX_ALERT_LINKS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub routing_key: String,
    pub event_action: &'static str,
    pub dedup_key: String,
    pub payload: Payload,
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_url: String,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    pub summary: String,
    pub source: String,
    pub severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    pub custom_details: Map<String, Value>,
}

/// Stable per alert group and receiver: hex SHA-256 of `receiver \0 group_key`. Every
/// trigger, acknowledge and resolve of the group addresses the same PagerDuty incident.
pub fn dedup_key(n: &Notification) -> String {
    let mut h = Sha256::new();
    h.update(n.receiver.as_bytes());
    h.update([0u8]);
    h.update(n.group_key.as_bytes());
    hex::encode(h.finalize())
}

/// `trigger`, `acknowledge` (firing but acknowledged in Strix) or `resolve`.
pub fn event_action(n: &Notification) -> &'static str {
    match (n.status, n.acknowledged) {
        (AlertStatus::Resolved, _) => "resolve",
        (AlertStatus::Firing, true) => "acknowledge",
        (AlertStatus::Firing, false) => "trigger",
    }
}

pub fn build(cfg: &PagerDutyConfig, n: &Notification) -> Event {
    let severity = cfg
        .severity
        .or_else(|| n.effective_severity())
        .unwrap_or(cfg.default_severity);
    let source = cfg.source.clone().unwrap_or_else(|| {
        n.common_labels
            .get("instance")
            .cloned()
            .unwrap_or_else(|| "strix".to_string())
    });
    let timestamp = n
        .firing_alerts()
        .filter_map(|a| a.starts_at)
        .min()
        .map(|t| format_rfc3339(Some(&t)));

    let mut details = Map::new();
    let firing = template::text_alert_list(n.firing_alerts());
    let resolved = template::text_alert_list(n.resolved_alerts());
    details.insert(
        "firing".into(),
        Value::String(template::truncate_chars(&firing, MAX_DETAIL_TEXT)),
    );
    details.insert(
        "resolved".into(),
        Value::String(template::truncate_chars(&resolved, MAX_DETAIL_TEXT)),
    );
    details.insert("num_firing".into(), Value::from(n.num_firing()));
    details.insert("num_resolved".into(), Value::from(n.num_resolved()));
    details.insert(
        "group_labels".into(),
        serde_json::to_value(&n.group_labels).unwrap_or(Value::Null),
    );
    details.insert("escalation_level".into(), Value::from(n.escalation_level));
    if !n.alert_ids.is_empty() {
        details.insert("alert_ids".into(), Value::from(n.alert_ids.clone()));
    }
    for (k, v) in &cfg.details {
        details.insert(k.clone(), Value::String(v.clone()));
    }

    let mut links = cfg.links.clone();
    let mut seen: Vec<&str> = Vec::new();
    for a in &n.alerts {
        if seen.len() >= MAX_ALERT_LINKS {
            break;
        }
        if !a.generator_url.is_empty() && !seen.contains(&a.generator_url.as_str()) {
            seen.push(&a.generator_url);
            links.push(Link {
                href: a.generator_url.clone(),
                text: format!("{} (source)", a.name()),
            });
        }
    }

    Event {
        routing_key: cfg.routing_key.expose().to_string(),
        event_action: event_action(n),
        dedup_key: dedup_key(n),
        payload: Payload {
            summary: template::truncate_chars(&template::subject(n), MAX_SUMMARY),
            source,
            severity: severity.as_str(),
            timestamp,
            component: cfg.component.clone(),
            group: cfg.group.clone(),
            class: cfg.class.clone(),
            custom_details: details,
        },
        client: cfg.client.clone(),
        client_url: cfg
            .client_url
            .clone()
            .unwrap_or_else(|| template::alerts_url(n)),
        links,
    }
}
