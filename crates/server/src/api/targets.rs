//! `/api/v1/targets` and `/api/v1/rules` in Prometheus' shapes.

use super::params::Params;
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use strix_rules::{AlertInstance, AlertInstanceState, Rule, RuleStatus};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
}

fn rfc3339(t: Option<i64>) -> String {
    match t {
        Some(ms) => strix_scrape::rfc3339(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
        ),
        None => "0001-01-01T00:00:00Z".into(),
    }
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=`.
async fn targets(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let env = Envelope::Prometheus;
    let p = Params::parse(q.as_deref(), None);
    let which = p.get("state").unwrap_or("any");
    if !matches!(which, "active" | "dropped" | "any") {
        return Err(ApiError::bad_input(
            format!("invalid state {which:?}: use active, dropped or any"),
            env,
        ));
    }
    let pool = p.get("scrapePool").filter(|s| !s.is_empty());
    let (mut active, mut dropped) = match &state.services.scrape {
        Some(m) => (m.targets(), m.dropped_targets()),
        None => (Vec::new(), Vec::new()),
    };
    if let Some(pool) = pool {
        active.retain(|t| t.scrape_pool == pool);
        dropped.retain(|t| t.scrape_pool == pool);
    }
    let mut counts: Map<String, Value> = Map::new();
    for d in &dropped {
        let n = counts.entry(d.scrape_pool.clone()).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let active = if which == "dropped" {
        json!([])
    } else {
        json!(active)
    };
    let dropped = if which == "active" {
        json!([])
    } else {
        json!(dropped)
    };
    Ok(Json(
        json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts}}),
    ))
}

/// An alert instance as Prometheus' `/api/v1/alerts` and `/api/v1/rules` show it.
fn alert_json(a: &AlertInstance) -> Value {
    let labels: Map<String, Value> = a
        .labels
        .iter()
        .map(|l| (l.name.clone(), json!(l.value)))
        .collect();
    json!({
        "labels": labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(Some(a.active_at)),
        "value": super::query::format_value(a.value),
    })
}

fn active(r: &RuleStatus) -> impl Iterator<Item = &AlertInstance> {
    let mut v: Vec<&AlertInstance> = r
        .alerts
        .active
        .values()
        .filter(|a| a.state != AlertInstanceState::Inactive)
        .collect();
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v.into_iter()
}

/// `GET /api/v1/alerts`: pending and firing alerts of every alerting rule.
async fn alerts(State(state): State<AppState>) -> Json<Value> {
    let groups = state
        .services
        .rules
        .as_ref()
        .map(|m| m.groups())
        .unwrap_or_default();
    let list: Vec<Value> = groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| active(r).map(alert_json).collect::<Vec<_>>())
        .collect();
    Json(json!({"status": "success", "data": {"alerts": list}}))
}

fn rule_json(r: &RuleStatus) -> Option<Value> {
    let rule = r.rule.as_deref()?;
    let common = |v: &mut Value| {
        v["health"] = json!(r.health);
        v["lastError"] = json!(r.last_error.clone().unwrap_or_default());
        v["lastEvaluation"] = json!(rfc3339(r.last_evaluation));
        v["evaluationTime"] = json!(r.evaluation_seconds);
    };
    let mut v = match rule {
        Rule::Recording {
            record,
            expr,
            labels,
        } => json!({"type": "recording", "name": record, "query": expr, "labels": labels}),
        Rule::Alerting {
            alert,
            expr,
            for_,
            keep_firing_for,
            labels,
            annotations,
        } => json!({
            "type": "alerting",
            "name": alert,
            "query": expr,
            "duration": for_.as_secs_f64(),
            "keepFiringFor": keep_firing_for.as_secs_f64(),
            "labels": labels,
            "annotations": annotations,
            "alerts": active(r).map(alert_json).collect::<Vec<_>>(),
            "state": r.alerts.rule_state().as_str(),
        }),
    };
    common(&mut v);
    Some(v)
}

/// `GET /api/v1/rules?type=alert|record`.
async fn rules(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let env = Envelope::Prometheus;
    let p = Params::parse(q.as_deref(), None);
    let kind = p.get("type").unwrap_or("");
    if !matches!(kind, "" | "alert" | "record") {
        return Err(ApiError::bad_input(
            format!("invalid type {kind:?}: use alert or record"),
            env,
        ));
    }
    let groups = state
        .services
        .rules
        .as_ref()
        .map(|m| m.groups())
        .unwrap_or_default();
    let out: Vec<Value> = groups
        .iter()
        .map(|g| {
            let rules: Vec<Value> = g
                .rules
                .iter()
                .filter(|r| {
                    !matches!(
                        (r.rule.as_deref(), kind),
                        (Some(Rule::Recording { .. }), "alert")
                            | (Some(Rule::Alerting { .. }), "record")
                    )
                })
                .filter_map(rule_json)
                .collect();
            json!({
                "name": g.group.name,
                "file": g.group.file,
                "interval": g.interval.as_secs_f64(),
                "limit": g.group.limit,
                "rules": rules,
                "evaluationTime": g.evaluation_seconds,
                "lastEvaluation": rfc3339(g.last_evaluation),
            })
        })
        .collect();
    Ok(Json(json!({"status": "success", "data": {"groups": out}})))
}
