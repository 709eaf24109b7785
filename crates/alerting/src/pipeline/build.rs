//! Building channel notifications and outbox entries from routing's notifications.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strix_core::Labels;
use strix_state::OutboxItem;

use crate::channels::{self, AlertStatus, ChannelKind, LabelSet};
use crate::routing::group::{self, AlertInput};

/// What an outbox entry's payload holds: the notification and which of the receiver's
/// channels (index in configuration order) it is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Payload {
    pub channel_index: usize,
    pub notification: channels::Notification,
}

pub(crate) fn label_map(l: &Labels) -> LabelSet {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

pub(crate) fn time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

pub(crate) fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// A routing alert as a channel alert.
pub(crate) fn channel_alert(a: &AlertInput) -> channels::Alert {
    let status = match a.status {
        group::AlertStatus::Firing => AlertStatus::Firing,
        group::AlertStatus::Resolved => AlertStatus::Resolved,
    };
    channels::Alert {
        status,
        labels: label_map(&a.labels),
        annotations: a.annotations.clone(),
        starts_at: time(a.starts_at),
        ends_at: match status {
            AlertStatus::Firing => None,
            AlertStatus::Resolved => a.ends_at.and_then(time),
        },
        generator_url: a.generator_url.clone(),
        fingerprint: fingerprint_hex(a.fingerprint),
    }
}

fn common(sets: &[&LabelSet]) -> LabelSet {
    let Some((first, rest)) = sets.split_first() else {
        return LabelSet::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|s| s.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Alert ids and acknowledgement, by fingerprint, for the notification's Strix fields.
pub(crate) struct AlertInfo<'a> {
    /// The alert id and whether it is acknowledged, for an alert's fingerprint.
    pub id_of: &'a dyn Fn(u64) -> Option<(&'a str, bool)>,
}

/// The channel notification for one group notification.
pub(crate) fn channel_notification(
    n: &group::Notification,
    external_url: &str,
    info: &AlertInfo<'_>,
    now: i64,
) -> channels::Notification {
    let alerts: Vec<channels::Alert> = n.alerts.iter().map(channel_alert).collect();
    let labels: Vec<&LabelSet> = alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&LabelSet> = alerts.iter().map(|a| &a.annotations).collect();
    let mut alert_ids = Vec::new();
    let mut acked = 0usize;
    for a in &n.alerts {
        if let Some((id, ack)) = (info.id_of)(a.fingerprint) {
            alert_ids.push(id.to_string());
            if ack && a.status == group::AlertStatus::Firing {
                acked += 1;
            }
        }
    }
    let status = match n.status() {
        group::AlertStatus::Firing => AlertStatus::Firing,
        group::AlertStatus::Resolved => AlertStatus::Resolved,
    };
    let mut out = channels::Notification {
        receiver: n.receiver.clone(),
        status,
        group_key: n.group_key.clone(),
        group_labels: label_map(&n.group_labels),
        common_labels: common(&labels),
        common_annotations: common(&annotations),
        external_url: external_url.to_string(),
        alerts,
        alert_ids,
        severity: None,
        escalation_level: 0,
        acknowledged: n.firing > 0 && acked == n.firing,
        idempotency_key: String::new(),
    };
    let extra = match n.trigger {
        // A repeat has the content of the notification it repeats: tell them apart by
        // the flush time.
        group::Trigger::Repeat => format!("repeat@{now}"),
        _ => String::new(),
    };
    out.idempotency_key = notification_key(&out, &n.alerts, &extra);
    out
}

/// The notification's stable key: channels' content key (receiver, group, status,
/// escalation level, each alert's fingerprint and status) plus each alert's start, so a
/// new firing episode of the same labels gets a new key, and `extra`.
///
/// 64 hex digits: the time of the newest change the notification reports (the latest
/// start, or end of a resolved alert) in milliseconds as 12 digits, then 52 digits of the
/// SHA-256 of the rest. Keys of new notifications therefore sort after older ones, and the
/// outbox's unique index on them grows at its end instead of on random pages.
pub(crate) fn notification_key(
    n: &channels::Notification,
    inputs: &[AlertInput],
    extra: &str,
) -> String {
    let mut starts: Vec<(u64, i64)> = inputs
        .iter()
        .map(|a| (a.fingerprint, a.starts_at))
        .collect();
    starts.sort_unstable();
    let latest = inputs
        .iter()
        .map(|a| match a.status {
            group::AlertStatus::Resolved => a.ends_at.unwrap_or(a.starts_at).max(a.starts_at),
            group::AlertStatus::Firing => a.starts_at,
        })
        .max()
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(n.compute_idempotency_key().as_bytes());
    for (fp, s) in starts {
        h.update(fp.to_be_bytes());
        h.update(s.to_be_bytes());
    }
    h.update(extra.as_bytes());
    h.update([u8::from(n.acknowledged)]);
    let digest = hex::encode(h.finalize());
    let ms = u64::try_from(latest).unwrap_or(0) & 0xffff_ffff_ffff;
    format!("{ms:012x}{}", &digest[..52])
}

/// A one-alert notification (escalation pages, PagerDuty acknowledgements).
pub(crate) fn single_alert_notification(
    receiver: &str,
    group_key: &str,
    input: &AlertInput,
    alert_id: &str,
    external_url: &str,
) -> channels::Notification {
    let a = channel_alert(input);
    let status = a.status;
    channels::Notification {
        receiver: receiver.to_string(),
        status,
        group_key: group_key.to_string(),
        group_labels: BTreeMap::new(),
        common_labels: a.labels.clone(),
        common_annotations: a.annotations.clone(),
        external_url: external_url.to_string(),
        alerts: vec![a],
        alert_ids: vec![alert_id.to_string()],
        severity: None,
        escalation_level: 0,
        acknowledged: false,
        idempotency_key: String::new(),
    }
}

/// Outbox entries about to be written, each with its payload in decoded form, which the
/// delivery queue keeps so a fresh entry is never decoded again.
#[derive(Default)]
pub(crate) struct Prepared {
    pub items: Vec<OutboxItem>,
    pub payloads: Vec<Arc<Payload>>,
}

impl Prepared {
    pub fn append(&mut self, mut other: Prepared) {
        self.items.append(&mut other.items);
        self.payloads.append(&mut other.payloads);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds the outbox entry of `notification` for channel `i` of kind `kind`.
    fn push(
        &mut self,
        (i, kind): (usize, ChannelKind),
        notification: channels::Notification,
        key: &str,
        now: i64,
    ) {
        let payload = Payload {
            channel_index: i,
            notification,
        };
        let text = match serde_json::to_string(&payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "Cannot encode a notification for the outbox.");
                return;
            }
        };
        self.items.push(OutboxItem {
            idempotency_key: format!("{key}:{i}"),
            receiver: payload.notification.receiver.clone(),
            channel: kind.as_str().to_string(),
            payload: text,
            not_before: now,
        });
        self.payloads.push(Arc::new(payload));
    }
}

/// Outbox entries for `n`: one per channel of the receiver (optionally only channels of
/// `only` kind), keyed `{key}:{index}`. The last entry takes `n` itself; earlier ones
/// (a receiver with several channels) get copies.
pub(crate) fn outbox_items(
    chans: &[Box<dyn channels::Channel>],
    n: channels::Notification,
    key: &str,
    only: Option<ChannelKind>,
    now: i64,
) -> Prepared {
    let mut out = Prepared::default();
    let wanted: Vec<(usize, ChannelKind)> = chans
        .iter()
        .enumerate()
        .map(|(i, ch)| (i, ch.kind()))
        .filter(|(_, kind)| only.is_none_or(|k| k == *kind))
        .collect();
    let Some((&last, rest)) = wanted.split_last() else {
        return out;
    };
    for &channel in rest {
        out.push(channel, n.clone(), key, now);
    }
    out.push(last, n, key, now);
    out
}

/// The notification [`super::AlertPipeline::send_test`] sends.
pub(crate) fn test_notification(
    receiver: &str,
    external_url: &str,
    now: i64,
) -> channels::Notification {
    let labels = Labels::from_pairs([("alertname", "StrixTestNotification"), ("severity", "info")]);
    let fp = group::fingerprint(&labels);
    let input = AlertInput {
        fingerprint: fp,
        labels,
        annotations: BTreeMap::from([(
            "summary".to_string(),
            format!("Test notification from Strix to receiver {receiver}"),
        )]),
        starts_at: now,
        ends_at: None,
        generator_url: external_url.to_string(),
        status: group::AlertStatus::Firing,
    };
    let mut n = single_alert_notification(
        receiver,
        &format!("test:{receiver}"),
        &input,
        "test",
        external_url,
    );
    n.group_labels =
        BTreeMap::from([("alertname".to_string(), "StrixTestNotification".to_string())]);
    n.idempotency_key = notification_key(&n, &[input], &format!("test@{now}"));
    n
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(name: &str, starts_at: i64, ends_at: Option<i64>) -> AlertInput {
        let labels = Labels::from_pairs([("alertname", name)]);
        AlertInput {
            fingerprint: group::fingerprint(&labels),
            labels,
            annotations: BTreeMap::new(),
            starts_at,
            ends_at,
            generator_url: String::new(),
            status: if ends_at.is_some() {
                group::AlertStatus::Resolved
            } else {
                group::AlertStatus::Firing
            },
        }
    }

    fn key(inputs: &[AlertInput]) -> String {
        let mut n = single_alert_notification("r", "{}:{}", &inputs[0], "id", "");
        n.alerts = inputs.iter().map(channel_alert).collect();
        notification_key(&n, inputs, "")
    }

    #[test]
    fn keys_are_stable_and_sort_by_the_newest_change() {
        let a = input("A", 1_700_000_000_000, None);
        let b = input("B", 1_700_000_000_500, None);
        let k = key(std::slice::from_ref(&a));
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|c| c.is_ascii_hexdigit()), "{k}");
        assert_eq!(
            k,
            key(std::slice::from_ref(&a)),
            "same notification, same key"
        );
        assert!(k.starts_with(&format!("{:012x}", 1_700_000_000_000_i64)));
        // A later alert sorts after, whatever its hash.
        assert!(key(std::slice::from_ref(&b)) > k);
        assert!(
            key(&[a.clone(), b.clone()]).starts_with(&format!("{:012x}", 1_700_000_000_500_i64))
        );
        // Its resolution is a newer change than its start, and another key.
        let resolved = input("A", 1_700_000_000_000, Some(1_700_000_060_000));
        let kr = key(&[resolved]);
        assert!(
            kr.starts_with(&format!("{:012x}", 1_700_000_060_000_i64)),
            "{kr}"
        );
        assert_ne!(kr[12..], k[12..]);
    }
}
