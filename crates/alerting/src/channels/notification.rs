//! The input every channel renders: one notification for one alert group and receiver.
//!
//! The shape follows Alertmanager's template data (`receiver`, `status`, `groupLabels`, …)
//! plus the few fields Strix adds (alert ids, severity, escalation level, acknowledgement and
//! an idempotency key).

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A label or annotation set. Sorted, like Alertmanager's `SortedPairs`.
pub type LabelSet = BTreeMap<String, String>;

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    #[default]
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity, in PagerDuty's four levels (the coarsest common scale of the channels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Maps a free-form `severity` label value (`page`, `crit`, `P1`, `warn`, `low`, …).
    pub fn parse_label(value: &str) -> Option<Severity> {
        let v = value.trim().to_ascii_lowercase();
        Some(match v.as_str() {
            "critical" | "crit" | "page" | "fatal" | "emergency" | "emerg" | "alert" | "p1"
            | "sev1" | "s1" => Severity::Critical,
            "error" | "err" | "high" | "major" | "p2" | "sev2" | "s2" => Severity::Error,
            "warning" | "warn" | "medium" | "minor" | "p3" | "sev3" | "s3" => Severity::Warning,
            "info" | "informational" | "information" | "notice" | "low" | "debug" | "none"
            | "ok" | "p4" | "p5" | "sev4" | "sev5" | "s4" | "s5" => Severity::Info,
            _ => return None,
        })
    }

    /// The highest severity found in the `severity` label of `labels`.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a LabelSet>) -> Option<Severity> {
        labels
            .into_iter()
            .filter_map(|l| l.get("severity").and_then(|v| Severity::parse_label(v)))
            .max()
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Alert {
    pub status: AlertStatus,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    /// When the alert started firing; `None` renders as Go's zero time.
    #[serde(with = "rfc3339_opt")]
    pub starts_at: Option<DateTime<Utc>>,
    /// When the alert resolved (or will be considered resolved); `None` = unset.
    #[serde(with = "rfc3339_opt")]
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    pub fingerprint: String,
}

impl Alert {
    /// The `alertname` label, or "" when missing.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// One notification for one receiver and alert group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Notification {
    /// Receiver name from the configuration.
    pub receiver: String,
    /// `firing` if any alert fires, else `resolved`.
    pub status: AlertStatus,
    /// Alertmanager-style group key (`{}/{...}:{alertname="x"}`), stable per group.
    pub group_key: String,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    /// Base URL of Strix's UI (Alertmanager's `externalURL`).
    pub external_url: String,
    pub alerts: Vec<Alert>,

    // ---- Strix fields ----
    /// Strix's ids of the alerts in this notification.
    pub alert_ids: Vec<String>,
    /// Severity of the group; when `None` channels derive it from the `severity` labels.
    pub severity: Option<Severity>,
    /// Escalation level (0 = first notification).
    pub escalation_level: u32,
    /// The group is firing but acknowledged by a person (PagerDuty: `acknowledge`).
    pub acknowledged: bool,
    /// Stable per logical notification: a retry of the same notification carries the same
    /// key, so receivers can drop duplicates. See [`Notification::compute_idempotency_key`].
    pub idempotency_key: String,
}

impl Notification {
    pub fn firing_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
    }

    pub fn resolved_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Resolved)
    }

    pub fn num_firing(&self) -> usize {
        self.firing_alerts().count()
    }

    pub fn num_resolved(&self) -> usize {
        self.resolved_alerts().count()
    }

    /// The notification's severity: the explicit one, else the highest `severity` label of
    /// the firing alerts (or of all alerts when none fires), else the common labels.
    pub fn effective_severity(&self) -> Option<Severity> {
        if self.severity.is_some() {
            return self.severity;
        }
        Severity::from_labels(self.firing_alerts().map(|a| &a.labels))
            .or_else(|| Severity::from_labels(self.alerts.iter().map(|a| &a.labels)))
            .or_else(|| Severity::from_labels([&self.common_labels]))
    }

    /// A key that is the same for the same logical notification: receiver, group, status,
    /// escalation level and the (fingerprint, status) of every alert, order-independent.
    /// Hex SHA-256, 64 characters.
    pub fn compute_idempotency_key(&self) -> String {
        let mut alerts: Vec<(&str, &str)> = self
            .alerts
            .iter()
            .map(|a| (a.fingerprint.as_str(), a.status.as_str()))
            .collect();
        alerts.sort_unstable();
        let mut h = Sha256::new();
        for part in [
            self.receiver.as_str(),
            self.group_key.as_str(),
            self.status.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        h.update(self.escalation_level.to_be_bytes());
        for (fp, st) in alerts {
            h.update(fp.as_bytes());
            h.update([b'=']);
            h.update(st.as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }

    /// The idempotency key, computing one when the caller left it empty.
    pub fn idempotency_key(&self) -> String {
        if self.idempotency_key.is_empty() {
            self.compute_idempotency_key()
        } else {
            self.idempotency_key.clone()
        }
    }

    /// Alertmanager's `send_resolved: false`: drop resolved alerts; `None` when nothing
    /// is left to send.
    pub fn filter_resolved(
        &self,
        send_resolved: bool,
    ) -> Option<std::borrow::Cow<'_, Notification>> {
        use std::borrow::Cow;
        if send_resolved || self.num_resolved() == 0 {
            return Some(Cow::Borrowed(self));
        }
        if self.status == AlertStatus::Resolved || self.num_firing() == 0 {
            return None;
        }
        let mut n = self.clone();
        n.alerts.retain(|a| a.status == AlertStatus::Firing);
        Some(Cow::Owned(n))
    }
}

/// Current time as `DateTime<Utc>` (chrono's `clock` feature is not needed).
pub fn now_utc() -> DateTime<Utc> {
    DateTime::<Utc>::from(SystemTime::now())
}

/// Go's zero `time.Time` as Alertmanager serialises it.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Formats like Go's `time.RFC3339Nano` (what Alertmanager's JSON carries): fractional
/// seconds only when non-zero, trailing zeros trimmed. `None` gives [`GO_ZERO_TIME`].
pub fn format_rfc3339(t: Option<&DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return GO_ZERO_TIME.to_string();
    };
    let (date, time) = (t.date_naive(), t.time());
    let Ok(year) = u32::try_from(date.year()) else {
        return format_rfc3339_slow(t);
    };
    if year > 9999 {
        return format_rfc3339_slow(t);
    }
    // Every notification carries two of these per alert: digits straight into a buffer.
    let mut s = String::with_capacity(30);
    for (v, width, sep) in [
        (year, 4, '-'),
        (date.month(), 2, '-'),
        (date.day(), 2, 'T'),
        (time.hour(), 2, ':'),
        (time.minute(), 2, ':'),
    ] {
        push_digits(&mut s, v, width);
        s.push(sep);
    }
    push_digits(&mut s, time.second(), 2);
    // Leap seconds are folded into nanosecond() >= 1e9; clamp like Go would print them.
    let mut nanos = time.nanosecond().min(999_999_999);
    if nanos > 0 {
        let mut width = 9;
        while nanos % 10 == 0 {
            nanos /= 10;
            width -= 1;
        }
        s.push('.');
        push_digits(&mut s, nanos, width);
    }
    s.push('Z');
    s
}

/// Appends `v` as `width` decimal digits, zero-padded (higher digits dropped).
fn push_digits(s: &mut String, v: u32, width: u32) {
    for p in (0..width).rev() {
        let d = (v / 10u32.pow(p)) % 10;
        s.push(char::from(b'0' + d as u8));
    }
}

/// [`format_rfc3339`] for years outside 0–9999.
fn format_rfc3339_slow(t: &DateTime<Utc>) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond().min(999_999_999);
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Serde for `Option<DateTime<Utc>>` as RFC 3339 strings; Go's zero time and "" read as `None`.
pub(crate) mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(v.as_ref()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s.as_deref() {
            None | Some("") | Some(super::GO_ZERO_TIME) => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_like_go() {
        let t = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.120Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_rfc3339(Some(&t)), "2024-05-06T07:08:09.12Z");
        let t = DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_rfc3339(Some(&t)), "2024-05-06T07:08:09Z");
        assert_eq!(format_rfc3339(None), "0001-01-01T00:00:00Z");
        // The digit writer agrees with the general formatter across dates, times and
        // fractions (trailing zeros trimmed, none when whole).
        let mut ns: i64 = 1;
        for i in 0..2000i64 {
            ns = ns
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let secs = ns.rem_euclid(253_402_300_799); // up to 9999-12-31T23:59:59
            let nanos = match i % 4 {
                0 => 0,
                1 => (ns.rem_euclid(1000) * 1_000_000) as u32,
                _ => (ns >> 7).rem_euclid(1_000_000_000) as u32,
            };
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(format_rfc3339(Some(&t)), format_rfc3339_slow(&t), "{t:?}");
        }
        let far = DateTime::from_timestamp(300_000_000_000, 5_000).unwrap();
        assert_eq!(format_rfc3339(Some(&far)), "11476-08-15T05:20:00.000005Z");
    }

    #[test]
    fn serde_round_trip() {
        let n = crate::channels::test_support::sample_notification();
        let json = serde_json::to_string(&n).unwrap();
        let back: Notification = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn idempotency_key_is_stable_and_order_independent() {
        let n = crate::channels::test_support::sample_notification();
        let mut m = n.clone();
        m.alerts.reverse();
        assert_eq!(n.compute_idempotency_key(), m.compute_idempotency_key());
        m.escalation_level += 1;
        assert_ne!(n.compute_idempotency_key(), m.compute_idempotency_key());
        assert_eq!(n.compute_idempotency_key().len(), 64);
    }

    #[test]
    fn severity_mapping() {
        assert_eq!(Severity::parse_label("PAGE"), Some(Severity::Critical));
        assert_eq!(Severity::parse_label("warn"), Some(Severity::Warning));
        assert_eq!(Severity::parse_label("p2"), Some(Severity::Error));
        assert_eq!(Severity::parse_label("low"), Some(Severity::Info));
        assert_eq!(Severity::parse_label("banana"), None);
    }

    #[test]
    fn send_resolved_filtering() {
        let n = crate::channels::test_support::sample_notification();
        assert_eq!(n.num_firing(), 1);
        assert_eq!(n.num_resolved(), 1);
        let f = n.filter_resolved(false).unwrap();
        assert_eq!(f.alerts.len(), 1);
        let mut r = n.clone();
        r.status = AlertStatus::Resolved;
        for a in &mut r.alerts {
            a.status = AlertStatus::Resolved;
        }
        assert!(r.filter_resolved(false).is_none());
        assert_eq!(r.filter_resolved(true).unwrap().alerts.len(), 2);
    }
}
