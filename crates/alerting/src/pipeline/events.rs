//! The JSON shape of an alert (`GET /api/monitoring/alerts` items and live events) and
//! publishing alert changes on the event bus.

use serde_json::{json, Value};
use strix_core::events::{kind, EventBus};
use strix_state::AlertRecord;

/// Milliseconds as RFC 3339 UTC with milliseconds (`2024-05-06T10:00:00.000Z`), as
/// Alertmanager writes times.
pub fn rfc3339(ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => "0001-01-01T00:00:00.000Z".into(),
    }
}

fn opt_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// A JSON number, `null` for NaN and infinities.
pub fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// One alert in the Strix shape (an item of `GET /api/monitoring/alerts`).
pub fn alert_json(a: &AlertRecord) -> Value {
    json!({
        "id": a.id,
        "fingerprint": a.fingerprint,
        "rule": a.rule,
        "generator": a.generator,
        "state": a.state.as_str(),
        "severity": a.severity,
        "labels": a.labels,
        "annotations": a.annotations,
        "value": num(a.value),
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

/// Publishes `a` as a [`kind::ALERT`] event, if there is a bus.
pub fn publish_alert(bus: Option<&EventBus>, a: &AlertRecord) {
    if let Some(bus) = bus {
        bus.publish(kind::ALERT, alert_json(a).to_string());
    }
}
