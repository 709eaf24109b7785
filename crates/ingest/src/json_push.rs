//! Strix JSON push, for applications that send a few samples without a Prometheus client:
//!
//! ```json
//! [{"name": "jobs_done_total", "labels": {"queue": "mail"}, "value": 3, "timestamp": 1700000000000}]
//! ```
//!
//! A single object is accepted in place of the array. `labels` and `timestamp` are
//! optional; `timestamp` is integer milliseconds (a number or a string of digits) and
//! defaults to the receive time. `value` is a number or a string holding one (`"1.5"`,
//! `"NaN"`, `"+Inf"`). Unknown fields are refused so a typo (`"lables"`) does not
//! silently drop labels.

use serde_json::Value;
use strix_core::storage::TimeSeries;
use strix_core::{Sample, METRIC_NAME};

use crate::series::{build_labels_owned, SeriesSet};
use crate::text::parse_float;
use crate::DecodeError;

/// Parses a JSON push body; samples with the same label set are grouped into one series
/// in input order. Errors name the array index and the field (`[2].value: ...`).
pub fn parse_json_push(body: &[u8], now: i64) -> Result<Vec<TimeSeries>, DecodeError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Body(format!("invalid JSON: {e}")))?;
    let items = match root {
        Value::Array(a) => a,
        obj @ Value::Object(_) => vec![obj],
        _ => {
            return Err(DecodeError::Body(
                "expected a JSON array of sample objects or a single sample object".to_owned(),
            ))
        }
    };
    let mut set = SeriesSet::default();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(DecodeError::item(i, "", "expected an object"));
        };
        let mut name = None;
        let mut pairs = Vec::new();
        let mut value = None;
        let mut ts = now;
        for (key, v) in obj {
            match key.as_str() {
                "name" => match v {
                    Value::String(s) if !s.is_empty() => name = Some(s),
                    Value::String(_) => {
                        return Err(DecodeError::item(i, "name", "must not be empty"))
                    }
                    _ => return Err(DecodeError::item(i, "name", "expected a string")),
                },
                "labels" => match v {
                    Value::Object(m) => {
                        pairs.reserve(m.len() + 1);
                        for (k, lv) in m {
                            match lv {
                                Value::String(s) => pairs.push((k, s)),
                                _ => {
                                    return Err(DecodeError::item(
                                        i,
                                        &format!("labels.{k}"),
                                        "expected a string",
                                    ));
                                }
                            }
                        }
                    }
                    Value::Null => {}
                    _ => {
                        return Err(DecodeError::item(
                            i,
                            "labels",
                            "expected an object of strings",
                        ))
                    }
                },
                "value" => {
                    let v = match &v {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => parse_float(s.trim()),
                        _ => None,
                    };
                    value = Some(v.ok_or_else(|| {
                        DecodeError::item(i, "value", "expected a number or a string holding one")
                    })?);
                }
                "timestamp" => {
                    if let Some(t) = timestamp(&v, now) {
                        ts = t;
                    } else {
                        return Err(DecodeError::item(
                            i,
                            "timestamp",
                            "expected integer milliseconds since the epoch",
                        ));
                    }
                }
                other => {
                    return Err(DecodeError::item(
                        i,
                        other,
                        "unknown field (expected name, labels, value, timestamp)",
                    ))
                }
            }
        }
        let name = name.ok_or_else(|| DecodeError::item(i, "name", "missing"))?;
        let value = value.ok_or_else(|| DecodeError::item(i, "value", "missing"))?;
        pairs.push((METRIC_NAME.to_owned(), name));
        let labels =
            build_labels_owned(pairs).map_err(|e| DecodeError::item(i, "labels", e.message()))?;
        let idx = set.index_of(None, labels);
        set.push_at(idx, Sample::new(ts, value));
    }
    Ok(set.series)
}

fn timestamp(v: &Value, now: i64) -> Option<i64> {
    match v {
        Value::Null => Some(now),
        Value::Number(n) => n.as_i64().or_else(|| {
            // 1.7e12 is an integer written as a float; accept it when exact.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strix_core::Labels;

    fn err(body: &str) -> String {
        parse_json_push(body.as_bytes(), 0).unwrap_err().to_string()
    }

    #[test]
    fn array_with_grouping_and_defaults() {
        let body = r#"[
            {"name":"jobs","labels":{"queue":"mail"},"value":1.5,"timestamp":1700000000000},
            {"name":"jobs","labels":{"queue":"sms"},"value":"2"},
            {"labels":{"queue":"mail"},"name":"jobs","value":"+Inf","timestamp":"1700000001000"},
            {"name":"up","value":1,"labels":null,"timestamp":null},
            {"name":"big","value":1,"timestamp":1.7e12},
            {"name":"e","labels":{"x":""},"value":-1e3}
        ]"#;
        let s = parse_json_push(body.as_bytes(), 99).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(
            s[0].labels,
            Labels::from_pairs([("__name__", "jobs"), ("queue", "mail")])
        );
        assert_eq!(
            s[0].samples,
            vec![
                Sample::new(1_700_000_000_000, 1.5),
                Sample::new(1_700_000_001_000, f64::INFINITY)
            ]
        );
        assert_eq!(s[1].samples, vec![Sample::new(99, 2.0)]);
        assert_eq!(s[2].samples, vec![Sample::new(99, 1.0)]);
        assert_eq!(s[3].samples, vec![Sample::new(1_700_000_000_000, 1.0)]);
        assert_eq!(s[4].labels, Labels::from_pairs([("__name__", "e")]));
    }

    #[test]
    fn single_object() {
        let s = parse_json_push(br#"{"name":"x","value":"NaN"}"#, 5).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].samples[0].v.is_nan());
        assert_eq!(s[0].samples[0].t, 5);
    }

    #[test]
    fn errors_name_index_and_field() {
        assert_eq!(
            err(r#"[{"name":"a","value":1},{"name":"b"}]"#),
            "[1].value: missing"
        );
        assert_eq!(err(r#"[{"value":1}]"#), "[0].name: missing");
        assert_eq!(
            err(r#"[{"name":"","value":1}]"#),
            "[0].name: must not be empty"
        );
        assert_eq!(
            err(r#"[{"name":3,"value":1}]"#),
            "[0].name: expected a string"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":"x"}]"#),
            "[0].value: expected a number or a string holding one"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":true}]"#),
            "[0].value: expected a number or a string holding one"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":1,"timestamp":1.5}]"#),
            "[0].timestamp: expected integer milliseconds since the epoch"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":1,"labels":{"k":2}}]"#),
            "[0].labels.k: expected a string"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":1,"labels":[]}]"#),
            "[0].labels: expected an object of strings"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":1,"labels":{"__name__":"b"}}]"#),
            "[0].labels: duplicate label name \"__name__\""
        );
        assert_eq!(
            err(r#"[{"name":"a","value":1,"labels":{"":"b"}}]"#),
            "[0].labels: empty label name"
        );
        assert_eq!(
            err(r#"[{"name":"a","value":1,"lables":{}}]"#),
            "[0].lables: unknown field (expected name, labels, value, timestamp)"
        );
        assert_eq!(err(r#"[1]"#), "[0]: expected an object");
        assert_eq!(
            err("3"),
            "expected a JSON array of sample objects or a single sample object"
        );
        assert!(err("[").starts_with("invalid JSON: "));
        assert_eq!(
            parse_json_push(b"[1]", 0).unwrap_err().class(),
            strix_core::ErrorClass::BadInput
        );
    }

    #[test]
    fn empty_array_is_fine() {
        assert!(parse_json_push(b"[]", 0).unwrap().is_empty());
    }
}
