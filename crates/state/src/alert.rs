//! Alert records, their lifecycle and queries over them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strix_core::Matcher;

use crate::StateError;

/// Where an alert is in its lifecycle.
///
/// ```text
/// pending ──► firing ──► acknowledged ──► resolved
///    │          │                           ▲
///    └──────────┴───────────────────────────┘
/// ```
///
/// `resolved` is terminal: an alert that fires again after it resolved is a new record
/// (its `starts_at`, and so its id, differ). See [`AlertState::can_transition_to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds but not yet for the rule's `for` duration.
    Pending,
    /// The condition held long enough; notifications go out.
    Firing,
    /// An operator took it; escalation stops, the alert stays open until resolved.
    Acknowledged,
    /// The condition cleared or an operator closed it. Terminal.
    Resolved,
}

impl AlertState {
    /// Every state, in lifecycle order.
    pub const ALL: [AlertState; 4] = [
        AlertState::Pending,
        AlertState::Firing,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ];

    /// The lowercase name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// Whether the lifecycle allows moving from `self` to `to`.
    ///
    /// Allowed: pending → firing, pending → resolved, firing → acknowledged,
    /// firing → resolved, acknowledged → resolved. Everything else, including staying in
    /// the same state, is refused (a [`StateError::Conflict`] from the store).
    pub fn can_transition_to(self, to: AlertState) -> bool {
        use AlertState::*;
        matches!(
            (self, to),
            (Pending, Firing)
                | (Pending, Resolved)
                | (Firing, Acknowledged)
                | (Firing, Resolved)
                | (Acknowledged, Resolved)
        )
    }

    /// Whether the alert is still open (not resolved).
    pub fn is_active(self) -> bool {
        self != AlertState::Resolved
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertState {
    type Err = StateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(AlertState::Pending),
            "firing" => Ok(AlertState::Firing),
            "acknowledged" => Ok(AlertState::Acknowledged),
            "resolved" => Ok(AlertState::Resolved),
            other => Err(StateError::BadInput(format!(
                "unknown alert state {other:?} (expected pending, firing, acknowledged or resolved)"
            ))),
        }
    }
}

/// Which part of Strix raised an alert.
pub mod generator {
    /// A Prometheus-style alerting rule.
    pub const RULE: &str = "rule";
    /// A KPI threshold.
    pub const KPI: &str = "kpi";
    /// An external sender (`POST /api/v2/alerts`).
    pub const EXTERNAL: &str = "external";
}

/// One alert: one firing episode of one label set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Stable id, derived from `fingerprint` and `starts_at` by [`AlertRecord::derive_id`].
    pub id: String,
    /// The label-set fingerprint (by convention 16 lowercase hex digits of a `u64`). At most
    /// one alert per fingerprint is active (not resolved) at a time.
    pub fingerprint: String,
    /// The rule (or KPI, or external source) name.
    pub rule: String,
    /// `rule`, `kpi` or `external` (see [`generator`]).
    pub generator: String,
    /// Identifying labels.
    pub labels: BTreeMap<String, String>,
    /// Descriptive annotations (summary, description, runbook_url, ...).
    pub annotations: BTreeMap<String, String>,
    /// Lifecycle state.
    pub state: AlertState,
    /// Severity label value (`critical`, `warning`, `info`, ... free text).
    pub severity: String,
    /// The last evaluated value.
    pub value: f64,
    /// When the alert began, ms since the epoch.
    pub starts_at: i64,
    /// Last change (any field), ms.
    pub updated_at: i64,
    /// When it resolved, ms.
    pub ended_at: Option<i64>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged, ms.
    pub acknowledged_at: Option<i64>,
    /// Who resolved it (`system` when the condition cleared).
    pub resolved_by: Option<String>,
    /// When it was resolved, ms.
    pub resolved_at: Option<i64>,
    /// The notes of the last transition that carried any.
    pub notes: String,
}

impl AlertRecord {
    /// The stable alert id for a fingerprint and start time, shaped like a UUIDv7 (RFC
    /// 9562): the start in milliseconds as the first 48 bits, then the version (7), then
    /// 74 bits of SHA-256(`fingerprint` `\0` `starts_at` as decimal) around the variant
    /// bits, printed `8-4-4-4-12` in lowercase hex. The same episode always gets the same
    /// id, so a replayed or re-sent alert updates the record it already has; ids of later
    /// episodes sort later, so new alerts (and their history) are appended to the
    /// store's indexes instead of being spread over all of their pages.
    pub fn derive_id(fingerprint: &str, starts_at: i64) -> String {
        let mut h = Sha256::new();
        h.update(fingerprint.as_bytes());
        h.update([0u8]);
        h.update(starts_at.to_string().as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        let hash = u128::from_be_bytes(b);
        let ms = u128::try_from(starts_at.clamp(0, (1 << 48) - 1)).unwrap_or(0);
        let rand_a = (hash >> 116) & 0xfff;
        let rand_b = hash & ((1 << 62) - 1);
        format_uuid((ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)
    }

    /// A new record in `state` with its id derived, `updated_at = starts_at`, nothing
    /// acknowledged or resolved.
    pub fn new(
        fingerprint: impl Into<String>,
        rule: impl Into<String>,
        state: AlertState,
        starts_at: i64,
    ) -> Self {
        let fingerprint = fingerprint.into();
        AlertRecord {
            id: Self::derive_id(&fingerprint, starts_at),
            fingerprint,
            rule: rule.into(),
            generator: generator::RULE.to_string(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            state,
            severity: String::new(),
            value: 0.0,
            starts_at,
            updated_at: starts_at,
            ended_at: None,
            acknowledged_by: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_at: None,
            notes: String::new(),
        }
    }
}

/// Formats 128 bits as a lowercase `8-4-4-4-12` UUID string.
pub(crate) fn format_uuid(v: u128) -> String {
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The alert it belongs to.
    pub alert_id: String,
    /// When, ms.
    pub at: i64,
    /// The state before; `None` for the creation of the record.
    pub from: Option<AlertState>,
    /// The state after.
    pub to: AlertState,
    /// `system` or the operator's name.
    pub actor: String,
    /// Free text given with the change.
    pub notes: String,
}

/// The actor name for changes made by Strix itself.
pub const SYSTEM_ACTOR: &str = "system";

/// What [`StateStore::upsert_alert`](crate::StateStore::upsert_alert) did.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertOutcome {
    /// The record as stored after the call.
    pub record: AlertRecord,
    /// Whether the record was inserted (false: it existed and was updated).
    pub created: bool,
    /// The transition recorded, if the state changed or the record was created.
    pub transition: Option<Transition>,
}

/// Field to sort [`AlertQuery`] results by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSortField {
    /// Start time (default).
    #[default]
    StartsAt,
    /// Last update.
    UpdatedAt,
    /// Severity rank: critical > error/high > warning > info > anything else, then by name.
    Severity,
    /// Lifecycle order: pending < firing < acknowledged < resolved.
    State,
    /// Rule name.
    Rule,
    /// Last value.
    Value,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest / newest first (default).
    #[default]
    Desc,
}

/// The largest page [`AlertQuery::limit`] (and other list limits) may ask for.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// A filtered, sorted, paged alert listing. Every filter is optional; empty vectors mean
/// "any". Ties in the sort order are broken by id, so pages are stable.
#[derive(Debug, Clone)]
pub struct AlertQuery {
    /// Only these states.
    pub states: Vec<AlertState>,
    /// Only these severities (exact match).
    pub severities: Vec<String>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Label matchers, all of which must match (Prometheus semantics: a missing label is
    /// the empty string).
    pub matchers: Vec<Matcher>,
    /// Case-insensitive substring over rule name and label/annotation names and values.
    pub text: Option<String>,
    /// Only alerts that started at or after this time, ms.
    pub since: Option<i64>,
    /// Only alerts that started before this time, ms.
    pub until: Option<i64>,
    /// Sort field.
    pub sort: AlertSortField,
    /// Sort direction.
    pub direction: SortDirection,
    /// Rows to skip.
    pub offset: usize,
    /// Rows to return, at most [`MAX_LIST_LIMIT`].
    pub limit: usize,
}

impl Default for AlertQuery {
    fn default() -> Self {
        AlertQuery {
            states: Vec::new(),
            severities: Vec::new(),
            rule: None,
            matchers: Vec::new(),
            text: None,
            since: None,
            until: None,
            sort: AlertSortField::default(),
            direction: SortDirection::default(),
            offset: 0,
            limit: 100,
        }
    }
}

impl AlertQuery {
    /// Whether a record passes the filters that are evaluated outside the database
    /// (label matchers and text search).
    pub fn matches_labels_and_text(&self, a: &AlertRecord) -> bool {
        let label_ok = self
            .matchers
            .iter()
            .all(|m| m.matches(a.labels.get(&m.name).map(String::as_str).unwrap_or("")));
        if !label_ok {
            return false;
        }
        match self.text.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(t) => {
                let needle = t.to_lowercase();
                let hit = |s: &str| s.to_lowercase().contains(&needle);
                hit(&a.rule)
                    || a.labels.iter().any(|(k, v)| hit(k) || hit(v))
                    || a.annotations.iter().any(|(k, v)| hit(k) || hit(v))
            }
        }
    }
}

/// Aggregates over the alerts that started in a period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertStats {
    /// Start of the period, ms.
    pub since: i64,
    /// Alerts that started in the period.
    pub total: u64,
    /// Count per severity.
    pub by_severity: BTreeMap<String, u64>,
    /// Count per current state.
    pub by_state: BTreeMap<String, u64>,
    /// Mean time to acknowledge (`acknowledged_at - starts_at`) over acknowledged alerts,
    /// seconds; `None` when none was acknowledged.
    pub mtta_seconds: Option<f64>,
    /// Mean time to resolve (`resolved_at - starts_at`) over resolved alerts, seconds.
    pub mttr_seconds: Option<f64>,
    /// Rules with the most alerts, most first (ties by name).
    pub top_rules: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_unknown() {
        for s in AlertState::ALL {
            assert_eq!(s.as_str().parse::<AlertState>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        let err = "open".parse::<AlertState>().unwrap_err();
        assert_eq!(err.class(), strix_core::ErrorClass::BadInput);
    }

    #[test]
    fn transition_table() {
        use AlertState::*;
        let allowed = [
            (Pending, Firing),
            (Pending, Resolved),
            (Firing, Acknowledged),
            (Firing, Resolved),
            (Acknowledged, Resolved),
        ];
        for from in AlertState::ALL {
            for to in AlertState::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn derived_id_is_stable_and_uuid_shaped() {
        let a = AlertRecord::derive_id("00000000deadbeef", 1_700_000_000_000);
        assert_eq!(
            a,
            AlertRecord::derive_id("00000000deadbeef", 1_700_000_000_000)
        );
        assert_ne!(
            a,
            AlertRecord::derive_id("00000000deadbeef", 1_700_000_000_001)
        );
        assert_ne!(
            a,
            AlertRecord::derive_id("00000000deadbeee", 1_700_000_000_000)
        );
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        // UUIDv7: the start in ms first, version 7, variant 10.
        assert!(a.starts_with("018bcfe5-6800-7"), "{a}");
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{a}");
        // A later episode sorts after an earlier one, whatever the fingerprint.
        assert!(AlertRecord::derive_id("ffff", 1_700_000_000_001) > a);
        assert!(AlertRecord::derive_id("0000", 1_699_999_999_999) < a);
    }

    #[test]
    fn label_matchers_and_text() {
        use strix_core::MatchOp;
        let mut a = AlertRecord::new("fp", "HighLatency", AlertState::Firing, 1);
        a.labels.insert("service".into(), "checkout".into());
        a.annotations
            .insert("summary".into(), "p99 above 2s".into());
        let mut q = AlertQuery::default();
        q.matchers
            .push(Matcher::new(MatchOp::RegexMatch, "service", "check.*").unwrap());
        assert!(q.matches_labels_and_text(&a));
        q.matchers
            .push(Matcher::new(MatchOp::Equal, "team", "").unwrap());
        assert!(q.matches_labels_and_text(&a), "missing label matches empty");
        q.text = Some("P99".into());
        assert!(q.matches_labels_and_text(&a));
        q.text = Some("highlat".into());
        assert!(q.matches_labels_and_text(&a));
        q.text = Some("nowhere".into());
        assert!(!q.matches_labels_and_text(&a));
    }
}

/// One write of a batch given to
/// [`StateStore::write_alerts`](crate::StateStore::write_alerts).
// Batches are short-lived vectors built and consumed at once: boxing the record would add
// an allocation per write for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AlertWrite {
    /// As [`StateStore::upsert_alert`](crate::StateStore::upsert_alert).
    Upsert {
        /// The record.
        alert: AlertRecord,
        /// Who.
        actor: String,
        /// Why.
        notes: String,
    },
    /// As [`StateStore::transition`](crate::StateStore::transition).
    Transition {
        /// Alert id.
        id: String,
        /// Target state.
        to: AlertState,
        /// Who.
        actor: String,
        /// Why.
        notes: String,
        /// When, ms.
        at: i64,
    },
    /// As [`StateStore::upsert_escalation`](crate::StateStore::upsert_escalation).
    Escalation {
        /// The timer.
        escalation: crate::Escalation,
        /// When, ms.
        now: i64,
    },
}

/// What one [`AlertWrite`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertWritten {
    /// An upsert's outcome.
    Upserted(UpsertOutcome),
    /// The record after a transition.
    Transitioned(AlertRecord),
    /// The escalation timer was set.
    Escalation,
}

/// The fingerprint of an alert's label set (64-bit FNV-1a over names and values with a
/// separator byte), stable across versions and safe to persist; as 16 hex digits it is
/// [`AlertRecord::fingerprint`].
pub fn fingerprint(labels: &strix_core::Labels) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut feed = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(PRIME);
        }
    };
    for l in labels.iter() {
        feed(l.name.as_bytes());
        feed(&[0xff]);
        feed(l.value.as_bytes());
        feed(&[0xff]);
    }
    h
}

/// Milliseconds as RFC 3339 UTC with milliseconds (`2024-05-06T10:00:00.000Z`), as
/// Alertmanager writes times.
pub fn rfc3339(ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => "0001-01-01T00:00:00.000Z".into(),
    }
}

fn opt_time(ms: Option<i64>) -> serde_json::Value {
    ms.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(rfc3339(t))
    })
}

/// One alert as the API shows it (an item of `GET /api/monitoring/alerts`) and as live
/// `alert` events carry it.
pub fn alert_json(a: &AlertRecord) -> serde_json::Value {
    serde_json::json!({
        "id": a.id,
        "fingerprint": a.fingerprint,
        "rule": a.rule,
        "generator": a.generator,
        "state": a.state.as_str(),
        "severity": a.severity,
        "labels": a.labels,
        "annotations": a.annotations,
        "value": serde_json::Number::from_f64(a.value)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        "startsAt": rfc3339(a.starts_at),
        "updatedAt": rfc3339(a.updated_at),
        "endsAt": opt_time(a.ended_at),
        "acknowledgedBy": a.acknowledged_by,
        "acknowledgedAt": opt_time(a.acknowledged_at),
        "resolvedBy": a.resolved_by,
        "resolvedAt": opt_time(a.resolved_at),
        "notes": a.notes,
    })
}
