//! The plain JSON API for apps without a Sentry SDK: `POST /api/monitoring/errors`.
//!
//! ```json
//! {"type": "api", "message": "Upstream returned 502", "stack": "Error: …\n    at …",
//!  "component": "checkout", "endpoint": "/api/pay", "status": 502, "method": "POST",
//!  "user": {"id": "42", "email": "…"}, "metadata": {"response_time_ms": 6100}}
//! ```
//!
//! [`parse_json_api`] turns the body into a Sentry-shaped raw event, so it goes through
//! the same scrubbing, normalisation, grouping and categorisation as SDK events:
//! `type` becomes the `error_type` tag and, without a stack header, the exception type
//! (`ApiError`, `AuthError`, …); `stack` is parsed into frames ([`crate::stacktrace`]);
//! `metadata` becomes `extra` (so rule conditions read `extra.response_time_ms` or
//! `metadata.response_time_ms`); component, endpoint, status and method become tags.

use serde_json::{json, Map, Value};

use crate::limits::{parse_json, PayloadLimits};
use crate::normalize::{parse_timestamp_ms, str_of};
use crate::stacktrace::parse_stack;
use crate::Error;

const WHAT: &str = "error body";

/// The `type` values accepted.
pub const TYPES: &[&str] = &["javascript", "api", "auth", "validation", "system"];

/// Parses a JSON API body into a raw Sentry-shaped event.
pub fn parse_json_api(body: &[u8], limits: &PayloadLimits) -> Result<Value, Error> {
    if body.len() > limits.max_event_bytes {
        return Err(Error::TooLarge {
            what: WHAT.into(),
            limit: limits.max_event_bytes,
        });
    }
    let v = parse_json(body, WHAT, limits.depth())?;
    to_sentry_event(&v)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid {
        what: WHAT.into(),
        message: message.into(),
    }
}

/// Converts an already-parsed JSON API body.
pub fn to_sentry_event(v: &Value) -> Result<Value, Error> {
    let o = v
        .as_object()
        .ok_or_else(|| invalid("must be a JSON object"))?;
    let s = |k: &str| o.get(k).and_then(str_of).filter(|s| !s.trim().is_empty());
    let ty = match o.get("type") {
        None | Some(Value::Null) => "system".to_owned(),
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => t.clone(),
        Some(t) => {
            return Err(invalid(format!(
                "\"type\" must be one of {}, got {t}",
                TYPES.join(", ")
            )))
        }
    };
    let message = s("message").ok_or_else(|| invalid("\"message\" is required"))?;
    let stack_text = match o.get("stack") {
        Some(Value::String(st)) => Some(st.clone()),
        Some(Value::Array(lines)) => Some(
            lines
                .iter()
                .filter_map(str_of)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    };
    let parsed = stack_text.as_deref().map(parse_stack).unwrap_or_default();
    let exc_type = parsed
        .ty
        .clone()
        .unwrap_or_else(|| default_type(&ty).to_owned());
    let exc_value = parsed.value.clone().unwrap_or_else(|| message.clone());

    let mut tags = Map::new();
    if let Some(Value::Object(t)) = o.get("tags") {
        for (k, v) in t {
            if let Some(v) = str_of(v) {
                tags.insert(k.clone(), Value::String(v));
            }
        }
    }
    tags.insert("error_type".into(), Value::String(ty.clone()));
    let mut extra = match o.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None => Map::new(),
        Some(other) => {
            let mut m = Map::new();
            m.insert("metadata".into(), other.clone());
            m
        }
    };
    for k in ["component", "endpoint", "status", "method"] {
        if let Some(val) = s(k) {
            tags.insert(k.into(), Value::String(val.clone()));
            extra
                .entry(k)
                .or_insert_with(|| o.get(k).cloned().unwrap_or(Value::Null));
        }
    }
    if let Some(st) = &stack_text {
        extra.insert("stack".into(), Value::String(st.clone()));
    }

    let frames: Vec<Value> = parsed
        .frames
        .iter()
        .filter_map(|f| serde_json::to_value(f).ok())
        .collect();
    let mut exception = json!({"type": exc_type, "value": exc_value,
        "mechanism": {"type": "json-api", "handled": true}});
    if !frames.is_empty() {
        exception["stacktrace"] = json!({ "frames": frames });
    }
    let mut ev = json!({
        "platform": if ty == "javascript" { "javascript" } else { "other" },
        "level": s("level").unwrap_or_else(|| "error".into()),
        "logger": s("logger").unwrap_or_else(|| "json-api".into()),
        "message": message,
        "exception": {"values": [exception]},
        "tags": tags,
        "extra": extra,
        "sdk": {"name": "strix.json-api", "version": env!("CARGO_PKG_VERSION")},
    });
    let obj = ev.as_object_mut().ok_or_else(|| invalid("internal"))?;
    for k in [
        "event_id",
        "environment",
        "release",
        "server_name",
        "transaction",
    ] {
        if let Some(val) = s(k) {
            obj.insert(k.into(), Value::String(val));
        }
    }
    if let Some(ts) = o.get("timestamp").filter(|t| !t.is_null()) {
        // Numbers above 1e11 are milliseconds (JavaScript's Date.now()).
        let ms = match ts.as_f64() {
            Some(n) if n > 1e11 => Some(n as i64),
            _ => parse_timestamp_ms(ts),
        }
        .ok_or_else(|| invalid(format!("\"timestamp\" is not a time: {ts}")))?;
        obj.insert("timestamp".into(), json!(ms as f64 / 1000.0));
    }
    if let Some(Value::Array(fp)) = o.get("fingerprint") {
        obj.insert("fingerprint".into(), Value::Array(fp.clone()));
    }
    match o.get("user") {
        Some(u @ Value::Object(_)) => {
            obj.insert("user".into(), u.clone());
        }
        Some(u @ (Value::String(_) | Value::Number(_))) => {
            obj.insert("user".into(), json!({ "id": str_of(u) }));
        }
        _ => {}
    }
    let url = s("url").or_else(|| s("endpoint"));
    if url.is_some() || s("method").is_some() {
        obj.insert("request".into(), json!({"url": url, "method": s("method")}));
    }
    Ok(ev)
}

fn default_type(ty: &str) -> &'static str {
    match ty {
        "javascript" => "Error",
        "api" => "ApiError",
        "auth" => "AuthError",
        "validation" => "ValidationError",
        _ => "SystemError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::categorize::{CategorizeConfig, Categorizer, Category, Severity};
    use crate::fingerprint::group;
    use crate::normalize::{normalize, NormalizeOptions};
    use crate::scrub::{ScrubConfig, Scrubber};

    fn parse(v: Value) -> Result<Value, Error> {
        parse_json_api(v.to_string().as_bytes(), &PayloadLimits::default())
    }

    #[test]
    fn api_error_end_to_end() {
        let raw = parse(json!({
            "type": "api", "message": "Upstream returned 502 for order 1234",
            "component": "checkout", "endpoint": "/api/pay", "status": 502, "method": "POST",
            "user": {"id": "u1", "email": "bob@example.com"},
            "metadata": {"response_time_ms": 6100, "password": "hunter2"},
            "timestamp": 1700000000123u64, "environment": "prod",
        }))
        .unwrap();
        let mut raw = raw;
        Scrubber::new(&ScrubConfig::default())
            .unwrap()
            .scrub_event(&mut raw);
        let e = normalize(raw, &NormalizeOptions::default());
        assert_eq!(e.timestamp, 1_700_000_000_123);
        assert_eq!(e.environment.as_deref(), Some("prod"));
        assert_eq!(
            e.message.as_deref(),
            Some("Upstream returned 502 for order 1234")
        );
        assert_eq!(e.exception[0].ty.as_deref(), Some("ApiError"));
        assert_eq!(e.tags["error_type"], "api");
        assert_eq!(e.tags["status"], "502");
        assert_eq!(e.tags["component"], "checkout");
        assert_eq!(e.raw()["extra"]["password"], "[Filtered]");
        assert_eq!(e.raw()["extra"]["status"], 502);
        assert_eq!(
            e.user.as_ref().unwrap().email.as_deref(),
            Some("b***@example.com")
        );
        let r = e.request.as_ref().unwrap();
        assert_eq!(
            (r.url.as_deref(), r.method.as_deref()),
            (Some("/api/pay"), Some("POST"))
        );
        let g = group(&e);
        assert_eq!(g.title, "ApiError: Upstream returned 502 for order 1234");
        let c = Categorizer::new(&CategorizeConfig::default())
            .unwrap()
            .categorize(&e);
        assert_eq!(
            (c.category, c.severity),
            (Category::Performance, Severity::Medium)
        );
        assert_eq!(c.rule.as_deref(), Some("slow-response"));
        assert_eq!(c.team.as_deref(), Some("payments"));
        // Another order number: same issue.
        let raw2 =
            parse(json!({"type": "api", "message": "Upstream returned 502 for order 99"})).unwrap();
        assert_eq!(
            group(&normalize(raw2, &NormalizeOptions::default())).hash,
            g.hash
        );
    }

    #[test]
    fn javascript_stack() {
        let raw = parse(json!({
            "type": "javascript", "message": "Cannot read properties of undefined (reading 'id')",
            "stack": "TypeError: Cannot read properties of undefined (reading 'id')\n    at render (https://app.example.com/static/js/main.js:1:500)\n    at commit (https://app.example.com/static/js/vendor.js:2:10)",
            "component": "ProfilePage", "user": 42,
        }))
        .unwrap();
        let e = normalize(raw, &NormalizeOptions::default());
        assert_eq!(e.platform, "javascript");
        let ex = e.main_exception().unwrap();
        assert_eq!(ex.ty.as_deref(), Some("TypeError"));
        assert_eq!(ex.frames.len(), 2);
        assert_eq!(ex.frames[1].function.as_deref(), Some("render"));
        assert_eq!(e.user.as_ref().unwrap().id.as_deref(), Some("42"));
        let g = group(&e);
        assert_eq!(
            g.title,
            "TypeError: Cannot read properties of undefined (reading 'id')"
        );
        assert_eq!(g.culprit.as_deref(), Some("main in render"));
        let c = Categorizer::new(&CategorizeConfig::default())
            .unwrap()
            .categorize(&e);
        assert_eq!(c.category, Category::Frontend);
        assert_eq!(c.team.as_deref(), Some("frontend"));
    }

    #[test]
    fn types_and_validation() {
        for (t, want) in [
            ("auth", "AuthError"),
            ("validation", "ValidationError"),
            ("system", "SystemError"),
        ] {
            let raw = parse(json!({"type": t, "message": "m"})).unwrap();
            assert_eq!(raw["exception"]["values"][0]["type"], want);
            assert_eq!(raw["tags"]["error_type"], t);
        }
        let raw = parse(json!({"message": "no type"})).unwrap();
        assert_eq!(raw["tags"]["error_type"], "system");
        let e = parse(json!({"type": "bogus", "message": "m"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error body: \"type\" must be one of javascript, api, auth, validation, system, got \"bogus\""
        );
        let e = parse(json!({"type": "api"})).unwrap_err();
        assert_eq!(e.to_string(), "error body: \"message\" is required");
        let e = parse(json!([1])).unwrap_err();
        assert_eq!(e.to_string(), "error body: must be a JSON object");
        let e = parse(json!({"message": "m", "timestamp": "soon"})).unwrap_err();
        assert!(e.to_string().contains("not a time"), "{e}");
        let e = parse_json_api(b"{", &PayloadLimits::default()).unwrap_err();
        assert!(e.to_string().starts_with("error body: invalid JSON"), "{e}");
        let e = parse_json_api(
            b"{\"message\":\"0123456789\"}",
            &PayloadLimits {
                max_event_bytes: 5,
                ..PayloadLimits::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
    }
}
