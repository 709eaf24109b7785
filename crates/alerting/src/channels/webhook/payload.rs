//! Alertmanager's webhook payload, version 4.

use serde::Serialize;

use crate::channels::notification::{format_rfc3339, LabelSet, Notification};

/// The JSON body, field for field as Alertmanager's `webhook.Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message<'a> {
    pub receiver: &'a str,
    pub status: &'static str,
    pub alerts: Vec<Alert<'a>>,
    pub group_labels: &'a LabelSet,
    pub common_labels: &'a LabelSet,
    pub common_annotations: &'a LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: &'a str,
    pub version: &'static str,
    pub group_key: &'a str,
    pub truncated_alerts: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert<'a> {
    pub status: &'static str,
    pub labels: &'a LabelSet,
    pub annotations: &'a LabelSet,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
    pub fingerprint: &'a str,
}

impl<'a> Message<'a> {
    /// Builds the payload; `max_alerts` > 0 keeps that many alerts (in order) and counts
    /// the rest in `truncatedAlerts`.
    pub fn new(n: &'a Notification, max_alerts: usize) -> Self {
        let keep = if max_alerts == 0 {
            n.alerts.len()
        } else {
            max_alerts.min(n.alerts.len())
        };
        let alerts = n.alerts[..keep]
            .iter()
            .map(|a| Alert {
                status: a.status.as_str(),
                labels: &a.labels,
                annotations: &a.annotations,
                starts_at: format_rfc3339(a.starts_at.as_ref()),
                ends_at: format_rfc3339(a.ends_at.as_ref()),
                generator_url: &a.generator_url,
                fingerprint: &a.fingerprint,
            })
            .collect();
        Message {
            receiver: &n.receiver,
            status: n.status.as_str(),
            alerts,
            group_labels: &n.group_labels,
            common_labels: &n.common_labels,
            common_annotations: &n.common_annotations,
            external_url: &n.external_url,
            version: "4",
            group_key: &n.group_key,
            truncated_alerts: (n.alerts.len() - keep) as u64,
        }
    }
}
