//! PromQL endpoints in Prometheus' shapes: instant and range queries, query formatting
//! and (empty) exemplars.
//!
//! Parameters are validated here the way Prometheus' `web/api/v1/api.go` does it (same
//! messages, `bad_data`); evaluation runs on the blocking pool under a query slot; the
//! result is written as JSON directly, with values and timestamps formatted as
//! Prometheus formats them (see [`format_value`] and [`format_timestamp`]).

use super::params::{parse_time, Params};
use crate::error::{ApiError, Envelope};
use crate::router::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::time::Duration;
use strix_core::{ErrorClass, Labels, Timestamp};
use strix_query::{Engine, EngineOptions, QueryValue};

const ENV: Envelope = Envelope::Prometheus;

/// Prometheus refuses range queries with more points than this per series.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(instant).post(instant))
        .route("/api/v1/query_range", get(range).post(range))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
}

/// Query string plus, for form POSTs, the body.
fn params(
    state: &AppState,
    query: Option<String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Params, ApiError> {
    let body = crate::error::body(body, state.opts.max_body_bytes, ENV)?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    Ok(Params::parse(
        query.as_deref(),
        is_form.then_some(&body[..]),
    ))
}

fn invalid(param: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_input(format!("invalid parameter {param:?}: {msg}"), ENV)
}

/// A time parameter that must be present.
fn required_time(p: &Params, key: &str) -> Result<Timestamp, ApiError> {
    let s = p.get(key).unwrap_or("");
    parse_time(s)
        .ok_or_else(|| invalid(key, format_args!("cannot parse {s:?} to a valid timestamp")))
}

/// Prometheus' `parseDuration`: float seconds (`15`, `0.5`) or a duration (`15s`, `1m30s`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(f) = s.parse::<f64>() {
        let nanos = f * 1e9;
        if !nanos.is_finite() || nanos >= i64::MAX as f64 || nanos < 0.0 {
            return None;
        }
        return Some(Duration::from_nanos(nanos as u64));
    }
    parse_prom_duration(s)
}

/// Prometheus' duration syntax: one or more `<int><unit>` with units y, w, d, h, m, s, ms,
/// largest first, each at most once.
fn parse_prom_duration(s: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s.is_empty() || s == "0" {
        return (s == "0").then_some(Duration::ZERO);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_unit = 0usize; // index into UNITS + 1 of the previous unit
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: u64 = s.get(start..i)?.parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = s.get(ustart..i)?;
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if idx < last_unit {
            return None;
        }
        last_unit = idx + 1;
        total = total.checked_add(n.checked_mul(UNITS[idx].1)?)?;
    }
    Some(Duration::from_millis(total))
}

/// The engine for one request: the server's, with a shorter timeout when the request
/// asks for one (`timeout` parameter).
fn engine_for(state: &AppState, p: &Params) -> Result<Engine, ApiError> {
    match p.get("timeout") {
        None | Some("") => Ok(state.engine.clone()),
        Some(s) => {
            let d = parse_duration(s).ok_or_else(|| {
                invalid(
                    "timeout",
                    format_args!("cannot parse {s:?} to a valid duration"),
                )
            })?;
            let opts = EngineOptions {
                timeout: d.min(state.engine.opts.timeout),
                ..state.engine.opts.clone()
            };
            Ok(Engine::new(opts))
        }
    }
}

fn query_param(p: &Params) -> String {
    p.get("query").unwrap_or("").to_string()
}

/// Runs `f` on the blocking pool holding a query slot until it returns.
async fn evaluate(
    state: &AppState,
    f: impl FnOnce(&AppState) -> Result<QueryValue, strix_query::QueryError> + Send + 'static,
) -> Result<QueryValue, ApiError> {
    let permit = state.admit_query(ENV)?;
    let st = state.clone();
    let r = tokio::task::spawn_blocking(move || {
        let r = f(&st);
        drop(permit);
        r
    })
    .await
    .map_err(|e| ApiError::new(ErrorClass::Internal, format!("query task failed: {e}"), ENV))?;
    r.map_err(|e| ApiError::query(&e, ENV))
}

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`.
async fn instant(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let p = params(&state, q, &headers, body)?;
    let time = match p.get("time") {
        None | Some("") => strix_core::now_millis(),
        Some(_) => required_time(&p, "time")?,
    };
    let engine = engine_for(&state, &p)?;
    let query = query_param(&p);
    let v = evaluate(&state, move |st| engine.instant_query(&st.db, &query, time)).await?;
    Ok(json_response(render(&v)))
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`.
async fn range(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let p = params(&state, q, &headers, body)?;
    let start = required_time(&p, "start")?;
    let end = required_time(&p, "end")?;
    if end < start {
        return Err(invalid(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_s = p.get("step").unwrap_or("");
    let step = parse_duration(step_s).ok_or_else(|| {
        invalid(
            "step",
            format_args!("cannot parse {step_s:?} to a valid duration"),
        )
    })?;
    let step_ms = step.as_millis() as i64;
    if step_ms <= 0 {
        return Err(invalid("step", "zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    if (end - start) / step_ms > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_input(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ENV,
        ));
    }
    let engine = engine_for(&state, &p)?;
    let query = query_param(&p);
    let v = evaluate(&state, move |st| {
        engine.range_query(&st.db, &query, start, end, step_ms)
    })
    .await?;
    Ok(json_response(render(&v)))
}

fn parse_query(q: &str) -> Result<promql_parser::parser::Expr, ApiError> {
    promql_parser::parser::parse(q).map_err(|e| invalid("query", e))
}

/// `GET|POST /api/v1/format_query`: the query pretty-printed.
async fn format_query(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = params(&state, q, &headers, body)?;
    let expr = parse_query(p.get("query").unwrap_or(""))?;
    Ok(Json(json!({"status": "success", "data": expr.prettify()})))
}

/// `GET|POST /api/v1/query_exemplars`: Strix keeps no exemplars; the parameters are still
/// checked so clients see the same errors as from Prometheus.
async fn exemplars(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    state.admit_read(ENV)?;
    let p = params(&state, q, &headers, body)?;
    parse_query(p.get("query").unwrap_or(""))?;
    p.range(ENV)?;
    Ok(Json(json!({"status": "success", "data": []})))
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

// ---- result encoding ----------------------------------------------------------------

/// The whole success envelope for a query result.
pub fn render(v: &QueryValue) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"status":"success","data":{"resultType":""#);
    match v {
        // Prometheus marshals scalars and strings with encoding/json, not with the sample
        // codec: the time is the float t/1000 and a scalar value never uses an exponent.
        QueryValue::Scalar { t, v } => {
            out.push_str(r#"scalar","result":["#);
            out.push_str(&format_float_seconds(*t));
            out.push_str(",\"");
            out.push_str(&if v.is_finite() {
                format!("{v}")
            } else {
                format_value(*v)
            });
            out.push_str("\"]");
        }
        QueryValue::String { t, s } => {
            out.push_str(r#"string","result":["#);
            out.push_str(&format_float_seconds(*t));
            out.push(',');
            push_json_str(&mut out, s);
            out.push(']');
        }
        QueryValue::Vector(samples) => {
            out.push_str(r#"vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(&mut out, &s.labels);
                out.push_str(r#","value":"#);
                push_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push_str(r#"matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(&mut out, &s.labels);
                out.push_str(r#","values":["#);
                for (j, smp) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(&mut out, smp.t, smp.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push_str("}}");
    out
}

fn push_point(out: &mut String, t: Timestamp, v: f64) {
    out.push('[');
    out.push_str(&format_timestamp(t));
    out.push_str(",\"");
    out.push_str(&format_value(v));
    out.push_str("\"]");
}

fn push_labels(out: &mut String, labels: &Labels) {
    // Labels are sorted by name, as Prometheus writes them.
    let mut pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    pairs.sort_unstable();
    out.push('{');
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, n);
        out.push(':');
        push_json_str(out, v);
    }
    out.push('}');
}

fn push_json_str(out: &mut String, s: &str) {
    // Serialising a &str cannot fail; fall back to an empty string all the same.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// Unix seconds with the milliseconds as Prometheus writes them: `1700000000`,
/// `1700000000.5` → `1700000000.500`, negative times with a leading `-`.
pub fn format_timestamp(t: Timestamp) -> String {
    let sign = if t < 0 { "-" } else { "" };
    let a = t.unsigned_abs();
    let (secs, frac) = (a / 1000, a % 1000);
    if frac == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{frac:03}")
    }
}

/// A time as the shortest float of seconds (`1700000000.5`), as Go's encoding/json writes
/// `float64(t)/1000`.
fn format_float_seconds(t: Timestamp) -> String {
    format!("{}", t as f64 / 1000.0)
}

/// A sample value as Prometheus writes it: Go's `strconv.FormatFloat(v, f, -1, 64)`
/// where `f` is `'e'` for |v| < 1e-6 or |v| ≥ 1e21 (and v ≠ 0), `'f'` otherwise; the
/// shortest digits that round-trip; `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        // Rust's `{:e}` has the shortest round-trip digits as `d.ddde-7`; Go writes the
        // exponent with a sign and at least two digits: `d.ddde-07`.
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mant, exp)) => {
                let (esign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                let pad = if digits.len() < 2 { "0" } else { "" };
                format!("{mant}e{esign}{pad}{digits}")
            }
            None => s,
        }
    } else {
        // Rust's Display never uses an exponent and prints the shortest round-trip digits.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_go() {
        let cases: [(f64, &str); 22] = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (100000.0, "100000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (-2.5e22, "-2.5e+22"),
            (1e100, "1e+100"),
            (1e-6, "0.000001"),
            (1.5e-6, "0.0000015"),
            (9.99e-7, "9.99e-07"),
            (1e-7, "1e-07"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123456789.123, "123456789.123"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(v), want, "formatting {v:e}");
        }
    }

    #[test]
    fn timestamps_have_millisecond_fractions() {
        assert_eq!(format_timestamp(1_700_000_000_000), "1700000000");
        assert_eq!(format_timestamp(1_700_000_000_123), "1700000000.123");
        assert_eq!(format_timestamp(1_700_000_000_500), "1700000000.500");
        assert_eq!(format_timestamp(1_700_000_000_005), "1700000000.005");
        assert_eq!(format_timestamp(-1_500), "-1.500");
        assert_eq!(format_timestamp(0), "0");
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("30s1m"), None);
        assert_eq!(parse_duration("-5"), None);
        assert_eq!(parse_duration("1e30"), None);
    }

    #[test]
    fn envelope_shapes() {
        assert_eq!(
            render(&QueryValue::Scalar { t: 1_000, v: 2.0 }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#
        );
        assert_eq!(
            render(&QueryValue::String {
                t: 1_500,
                s: "a\"b".into()
            }),
            r#"{"status":"success","data":{"resultType":"string","result":[1.5,"a\"b"]}}"#
        );
        assert_eq!(
            render(&QueryValue::Scalar { t: 1_040, v: 1e21 }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.04,"1000000000000000000000"]}}"#
        );
        assert_eq!(
            render(&QueryValue::Scalar {
                t: 0,
                v: f64::NEG_INFINITY
            }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[0,"-Inf"]}}"#
        );
        assert_eq!(
            render(&QueryValue::Vector(vec![])),
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
        );
        let v: Value =
            serde_json::from_str(&render(&QueryValue::Matrix(vec![]))).unwrap_or(Value::Null);
        assert_eq!(v["data"]["resultType"], "matrix");
    }
}
