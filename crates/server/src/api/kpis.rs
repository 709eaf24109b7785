//! `GET /api/monitoring/kpis`: every configured KPI evaluated now.
//!
//! ```json
//! {"success": true,
//!  "data": [{"name": "api_response_time", "description": "...",
//!            "expr": "1000 * histogram_quantile(0.95, ...)", "unit": "ms",
//!            "direction": "above", "target": 200, "warning": 200, "critical": 500,
//!            "for": "5m", "value": 231.5, "status": "warning",
//!            "series": [{"labels": {...}, "value": 231.5, "status": "warning"}]}],
//!  "meta": {"evaluatedAt": "2024-05-06T10:00:00.000Z"}}
//! ```
//!
//! `expr` is the PromQL the KPI evaluates, so a client can chart its history with one
//! `/api/v1/query_range`. `value` and `status` are those of the worst result series (`value: null`,
//! `status: "unknown"` without data); a KPI whose query fails is `unknown` with an `error`
//! message, the others are still reported. The status is instantaneous (the KPI's `for`
//! applies to its alerts only). Optional `time` (Unix seconds or RFC 3339) evaluates at
//! another instant. All KPIs are evaluated on the blocking pool under one query slot.

use super::params::Params;
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use strix_core::ErrorClass;
use strix_rules::kpi::{Kpi, KpiReading};

const ENV: Envelope = Envelope::Strix;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/monitoring/kpis", get(list))
}

/// A JSON number, or `null` for NaN and infinities (which JSON cannot carry).
fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn opt_num(v: Option<f64>) -> Value {
    v.map_or(Value::Null, num)
}

/// One KPI with its reading, as the endpoint shows it.
pub fn kpi_json(k: &Kpi, r: &KpiReading) -> Value {
    let series: Vec<Value> = r
        .series
        .iter()
        .map(|s| json!({"labels": s.labels, "value": num(s.value), "status": s.status.as_str()}))
        .collect();
    let mut v = json!({
        "name": k.name,
        "description": k.description,
        "expr": k.expr,
        "unit": k.unit,
        "direction": k.direction.as_str(),
        "target": opt_num(k.target),
        "warning": opt_num(k.warning),
        "critical": opt_num(k.critical),
        "for": strix_core::duration::format(k.for_),
        "value": opt_num(r.value),
        "status": r.status.as_str(),
        "series": series,
    });
    if let Some(e) = &r.error {
        v["error"] = json!(e);
    }
    v
}

async fn list(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(q.as_deref(), None);
    let t = p.time("time", strix_core::now_millis(), ENV)?;
    let permit = state.admit_query(ENV)?;
    let st = state.clone();
    let readings = tokio::task::spawn_blocking(move || {
        let out: Vec<Value> = st
            .opts
            .kpis
            .iter()
            .map(|k| kpi_json(k, &k.reading(&st.engine, &st.db, t)))
            .collect();
        drop(permit);
        out
    })
    .await
    .map_err(|e| {
        ApiError::new(
            ErrorClass::Internal,
            format!("KPI evaluation failed: {e}"),
            ENV,
        )
    })?;
    Ok(Json(json!({
        "success": true,
        "data": readings,
        "meta": {"evaluatedAt": super::alerts::rfc3339(t)},
    })))
}
