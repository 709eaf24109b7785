//! The JSON shape of an alert (`GET /api/monitoring/alerts` items and live events) and
//! publishing alert changes on the event bus.

use serde_json::Value;
use strix_core::events::{kind, EventBus};
use strix_state::AlertRecord;

pub use strix_state::alert::{alert_json, rfc3339};

/// A JSON number, `null` for NaN and infinities.
pub fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Publishes `a` as a [`kind::ALERT`] event, if there is a bus. The JSON is made when
/// the event is first read.
pub fn publish_alert(bus: Option<&EventBus>, a: AlertRecord) {
    if let Some(bus) = bus {
        bus.publish_with(kind::ALERT, move || alert_json(&a).to_string());
    }
}
