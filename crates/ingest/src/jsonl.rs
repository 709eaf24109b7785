//! VictoriaMetrics JSON lines, the `/api/v1/import` and `/api/v1/export` format, plus the
//! CSV export shape.
//!
//! One series per line:
//! `{"metric":{"__name__":"up","job":"api"},"values":[1,"NaN"],"timestamps":[1700000000000,1700000015000]}`.
//! Values are JSON numbers, `null` (read as NaN, as VictoriaMetrics does) or strings
//! holding a float or `NaN`/`+Inf`/`-Inf`; timestamps are integer milliseconds.
//!
//! Stale markers are not exported, in either JSON lines or CSV: VictoriaMetrics drops
//! them on export too, and an importer would otherwise read them back as plain `NaN`
//! samples (the format has no spelling for a stale marker).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use strix_core::storage::TimeSeries;
use strix_core::{is_stale_nan, Labels, Sample, METRIC_NAME};

use crate::series::{build_labels_owned, SeriesSet};
use crate::text::{parse_float, write_float};
use crate::DecodeError;

/// Parses JSON lines. Blank lines are skipped; lines describing the same label set are
/// merged into one series (samples in input order). Errors name the 1-based line.
///
/// `max_line_bytes` bounds one line (VictoriaMetrics' `-import.maxLineLen`); the caller
/// bounds the whole input with [`crate::DecodeLimits`].
pub fn parse_jsonl(input: &[u8], max_line_bytes: usize) -> Result<Vec<TimeSeries>, DecodeError> {
    let mut set = SeriesSet::default();
    for (i, line) in input.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if line.len() > max_line_bytes {
            return Err(DecodeError::LineTooLong {
                line: n,
                limit: max_line_bytes,
            });
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let row: Row =
            serde_json::from_slice(line).map_err(|e| DecodeError::line(n, json_error(&e)))?;
        if row.values.len() != row.timestamps.len() {
            return Err(DecodeError::line(
                n,
                format!(
                    "\"values\" has {} entries but \"timestamps\" has {}; they must match",
                    row.values.len(),
                    row.timestamps.len()
                ),
            ));
        }
        let labels = build_labels_owned(row.metric.0)
            .map_err(|e| DecodeError::line(n, format!("metric: {}", e.message())))?;
        if row.values.is_empty() {
            continue;
        }
        let idx = set.index_of(None, labels);
        for (v, t) in row.values.into_iter().zip(row.timestamps) {
            set.push_at(idx, Sample::new(t, v.0));
        }
    }
    Ok(set.series)
}

/// serde_json's message without its "at line 1 column N" suffix (we number lines).
fn json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let msg = match s.rfind(" at line ") {
        Some(i) => &s[..i],
        None => &s,
    };
    format!("invalid JSON line: {msg} at column {}", e.column())
}

#[derive(serde::Deserialize)]
struct Row {
    metric: Pairs,
    values: Vec<Value>,
    timestamps: Vec<i64>,
}

/// The `metric` object as pairs, keeping duplicate keys so they can be reported.
struct Pairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of label names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((k, val)) = m.next_entry::<String, String>()? {
                    v.push((k, val));
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// A sample value: number, null (NaN) or a string with a float or special value.
struct Value(f64);

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number, null, or a string such as \"1.5\", \"NaN\", \"+Inf\", \"-Inf\"",
                )
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value(f64::NAN))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
                parse_float(s)
                    .map(Value)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// Appends one JSON line for `labels` and `samples`:
/// `{"metric":{"__name__":"..",...},"values":[...],"timestamps":[...]}` and `\n`.
/// `__name__` comes first, then the other labels sorted. NaN and infinities are written as
/// the strings `"NaN"`, `"+Inf"`, `"-Inf"`; stale markers are skipped (see the module
/// docs), and nothing is written when no sample is left.
pub fn encode_jsonl_series(dst: &mut Vec<u8>, labels: &Labels, samples: &[Sample]) {
    let live = || samples.iter().filter(|s| !is_stale_nan(s.v));
    if live().next().is_none() {
        return;
    }
    dst.extend_from_slice(b"{\"metric\":{");
    let mut first = true;
    let named = labels.metric_name().map(|n| (METRIC_NAME, n));
    let rest = labels
        .iter()
        .filter(|l| l.name != METRIC_NAME)
        .map(|l| (l.name.as_str(), l.value.as_str()));
    for (k, v) in named.into_iter().chain(rest) {
        if !first {
            dst.push(b',');
        }
        first = false;
        write_json_str(dst, k);
        dst.push(b':');
        write_json_str(dst, v);
    }
    dst.extend_from_slice(b"},\"values\":[");
    for (i, s) in live().enumerate() {
        if i > 0 {
            dst.push(b',');
        }
        if s.v.is_finite() {
            write_float(dst, s.v);
        } else {
            dst.push(b'"');
            write_float(dst, s.v);
            dst.push(b'"');
        }
    }
    dst.extend_from_slice(b"],\"timestamps\":[");
    for (i, s) in live().enumerate() {
        if i > 0 {
            dst.push(b',');
        }
        dst.extend_from_slice(s.t.to_string().as_bytes());
    }
    dst.extend_from_slice(b"]}\n");
}

fn write_json_str(dst: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    dst.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'"' => dst.extend_from_slice(b"\\\""),
            b'\\' => dst.extend_from_slice(b"\\\\"),
            b'\n' => dst.extend_from_slice(b"\\n"),
            b'\r' => dst.extend_from_slice(b"\\r"),
            b'\t' => dst.extend_from_slice(b"\\t"),
            c if c < 0x20 => {
                dst.extend_from_slice(b"\\u00");
                dst.push(HEX[usize::from(c >> 4)]);
                dst.push(HEX[usize::from(c & 0xf)]);
            }
            c => dst.push(c),
        }
    }
    dst.push(b'"');
}

/// The CSV header line, `name,labels,timestamp,value`.
///
/// The CSV shape (RFC 4180 quoting, `\n` line ends): one row per sample; `name` is the
/// metric name; `labels` the other labels as `k=v;k=v` sorted by name (`;` and `=` inside
/// values are not escaped, so the column is for reading, not for re-import); `timestamp`
/// integer milliseconds; `value` a float, `NaN`, `+Inf` or `-Inf`.
pub fn encode_csv_header(dst: &mut Vec<u8>) {
    dst.extend_from_slice(b"name,labels,timestamp,value\n");
}

/// Appends the CSV row of one sample (nothing for a stale marker); see
/// [`encode_csv_header`] for the shape.
pub fn encode_csv_row(dst: &mut Vec<u8>, labels: &Labels, sample: Sample) {
    encode_csv_series(dst, labels, std::slice::from_ref(&sample));
}

/// Appends one CSV row per sample of a series, skipping stale markers.
pub fn encode_csv_series(dst: &mut Vec<u8>, labels: &Labels, samples: &[Sample]) {
    let mut prefix = Vec::new();
    write_csv_field(&mut prefix, labels.metric_name().unwrap_or(""));
    prefix.push(b',');
    let mut joined = String::new();
    for l in labels.iter().filter(|l| l.name != METRIC_NAME) {
        if !joined.is_empty() {
            joined.push(';');
        }
        joined.push_str(&l.name);
        joined.push('=');
        joined.push_str(&l.value);
    }
    write_csv_field(&mut prefix, &joined);
    prefix.push(b',');
    for s in samples.iter().filter(|s| !is_stale_nan(s.v)) {
        dst.extend_from_slice(&prefix);
        dst.extend_from_slice(s.t.to_string().as_bytes());
        dst.push(b',');
        write_float(dst, s.v);
        dst.push(b'\n');
    }
}

/// RFC 4180: quote a field holding `,`, `"`, CR or LF, doubling inner quotes.
fn write_csv_field(dst: &mut Vec<u8>, s: &str) {
    if !s.bytes().any(|c| matches!(c, b',' | b'"' | b'\r' | b'\n')) {
        dst.extend_from_slice(s.as_bytes());
        return;
    }
    dst.push(b'"');
    for &c in s.as_bytes() {
        if c == b'"' {
            dst.push(b'"');
        }
        dst.push(c);
    }
    dst.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use strix_core::STALE_NAN;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn err(input: &str) -> String {
        parse_jsonl(input.as_bytes(), 1 << 20)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_vm_lines() {
        let input = br#"{"metric":{"__name__":"up","job":"api"},"values":[1,2.5,"NaN","+Inf","-Inf","1.5",null,-3e2],"timestamps":[1,2,3,4,5,6,7,8]}

{"metric":{"job":"api","__name__":"up"},"values":[9],"timestamps":[9],"extra":true}
{"metric":{"__name__":"other"},"values":[],"timestamps":[]}
"#;
        let s = parse_jsonl(input, 1 << 20).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels, l(&[("__name__", "up"), ("job", "api")]));
        let v: Vec<f64> = s[0].samples.iter().map(|s| s.v).collect();
        assert_eq!(v.len(), 9);
        assert_eq!(v[..2], [1.0, 2.5]);
        assert!(v[2].is_nan() && v[6].is_nan());
        assert_eq!(v[3..6], [f64::INFINITY, f64::NEG_INFINITY, 1.5]);
        assert_eq!(v[7..], [-300.0, 9.0]);
        assert_eq!(
            s[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let ok = r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[1]}"#;
        assert_eq!(
            err(&format!(
                "{ok}\n{}",
                r#"{"metric":{"__name__":"a"},"values":[1,2],"timestamps":[1]}"#
            )),
            "line 2: \"values\" has 2 entries but \"timestamps\" has 1; they must match"
        );
        let e = err(&format!(
            "{ok}\n{ok}\n{{\"metric\":{{}},\"values\":[\"abc\"],\"timestamps\":[1]}}"
        ));
        assert!(
            e.starts_with("line 3: invalid JSON line: invalid value: string \"abc\""),
            "{e}"
        );
        let e = err(r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[1.5]}"#);
        assert!(
            e.starts_with("line 1: invalid JSON line: invalid type: floating point"),
            "{e}"
        );
        let e = err(r#"{"values":[1],"timestamps":[1]}"#);
        assert!(
            e.starts_with("line 1: invalid JSON line: missing field `metric`"),
            "{e}"
        );
        let e = err(r#"{"metric":{"a":1},"values":[1],"timestamps":[1]}"#);
        assert!(
            e.starts_with(
                "line 1: invalid JSON line: invalid type: integer `1`, expected a string"
            ),
            "{e}"
        );
        assert_eq!(
            err(r#"{"metric":{"a":"1","a":"2"},"values":[1],"timestamps":[1]}"#),
            "line 1: metric: duplicate label name \"a\""
        );
        assert_eq!(
            err("{not json"),
            "line 1: invalid JSON line: key must be a string at column 2"
        );
    }

    #[test]
    fn line_limit() {
        let line = r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[1]}"#;
        let input = format!("{line}\n{line}x\n");
        let e = parse_jsonl(input.as_bytes(), line.len()).unwrap_err();
        assert_eq!(
            e,
            DecodeError::LineTooLong {
                line: 2,
                limit: line.len()
            }
        );
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
    }

    #[test]
    fn encode_exact_shape() {
        let mut buf = b"keep".to_vec();
        let labels = l(&[("Zone", "eu"), ("__name__", "up"), ("q", "a\"b\\c\n\u{1}")]);
        encode_jsonl_series(
            &mut buf,
            &labels,
            &[
                Sample::new(1, 1.0),
                Sample::new(2, STALE_NAN),
                Sample::new(3, f64::INFINITY),
                Sample::new(4, 0.25),
            ],
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "keep{\"metric\":{\"__name__\":\"up\",\"Zone\":\"eu\",\"q\":\"a\\\"b\\\\c\\n\\u0001\"},\"values\":[1,\"+Inf\",0.25],\"timestamps\":[1,3,4]}\n"
        );
        let mut buf = Vec::new();
        encode_jsonl_series(&mut buf, &labels, &[Sample::new(2, STALE_NAN)]);
        assert!(buf.is_empty(), "only stale markers: nothing written");
    }

    #[test]
    fn round_trip() {
        let series = vec![
            TimeSeries {
                labels: l(&[("__name__", "a"), ("job", "x\ty\"z")]),
                samples: vec![
                    Sample::new(1_700_000_000_000, 1.5),
                    Sample::new(1_700_000_015_000, f64::INFINITY),
                    Sample::new(1_700_000_030_000, f64::NEG_INFINITY),
                    Sample::new(1_700_000_045_000, -0.0),
                    Sample::new(-5, 1e-300),
                    Sample::new(7, 12345678901234567890.0),
                ],
            },
            TimeSeries {
                labels: l(&[("__name__", "b"), ("ü", "é")]),
                samples: vec![Sample::new(1, f64::NAN)],
            },
        ];
        let mut buf = Vec::new();
        for s in &series {
            encode_jsonl_series(&mut buf, &s.labels, &s.samples);
        }
        let parsed = parse_jsonl(&buf, 1 << 20).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], series[0]);
        assert_eq!(parsed[1].labels, series[1].labels);
        assert!(parsed[1].samples[0].v.is_nan());
    }

    #[test]
    fn csv_escaping() {
        let mut buf = Vec::new();
        encode_csv_header(&mut buf);
        let labels = l(&[("__name__", "up"), ("job", "a,b"), ("q", "say \"hi\"")]);
        encode_csv_series(
            &mut buf,
            &labels,
            &[
                Sample::new(1, 2.5),
                Sample::new(2, STALE_NAN),
                Sample::new(3, f64::NAN),
            ],
        );
        encode_csv_row(
            &mut buf,
            &l(&[("__name__", "plain"), ("x", "y")]),
            Sample::new(4, f64::NEG_INFINITY),
        );
        encode_csv_row(&mut buf, &l(&[("x", "line\nbreak")]), Sample::new(5, 1.0));
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "name,labels,timestamp,value\n\
up,\"job=a,b;q=say \"\"hi\"\"\",1,2.5\n\
up,\"job=a,b;q=say \"\"hi\"\"\",3,NaN\n\
plain,x=y,4,-Inf\n\
,\"x=line\nbreak\",5,1\n"
        );
    }
}
