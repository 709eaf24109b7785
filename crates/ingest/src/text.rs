//! Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 (text) parsers.
//!
//! One hand-written byte scanner serves both formats; the differences are switched on a
//! flag: OpenMetrics timestamps are float seconds, exemplars after ` # ` are skipped and
//! counted, `# UNIT` is read, and the input must end with `# EOF`.
//!
//! The parser is meant for the scrape path too, so it avoids per-sample allocations:
//! label values without escapes are borrowed from the input, the label scratch vector is
//! reused across lines, and a repeated series (same text as written) is found by its raw
//! text without building its label set again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use strix_core::storage::TimeSeries;
use strix_core::{Labels, Sample, METRIC_NAME};

use crate::series::{build_labels, SeriesSet};
use crate::{DecodeError, Metadata};

/// The result of parsing one exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedText {
    /// One entry per distinct label set, in first-seen order, samples in input order.
    pub series: Vec<TimeSeries>,
    /// One entry per metric family named in `# HELP`, `# TYPE` or `# UNIT` lines.
    pub metadata: Vec<Metadata>,
    /// OpenMetrics exemplars seen (and dropped).
    pub exemplars_skipped: u64,
}

/// Parses the Prometheus text exposition format 0.0.4. Samples without a timestamp get
/// `default_timestamp`; timestamps are integer milliseconds.
///
/// Errors name the 1-based line and what was expected there.
pub fn parse_text(input: &str, default_timestamp: i64) -> Result<ParsedText, DecodeError> {
    Parser::new(false, default_timestamp).run(input)
}

/// Parses OpenMetrics 1.0 text. Timestamps are float seconds (rounded to the nearest
/// millisecond), exemplars are skipped, `_created` samples are kept as ordinary series,
/// and the input must end with `# EOF` (so a truncated body is an error, not less data).
pub fn parse_openmetrics(input: &str, default_timestamp: i64) -> Result<ParsedText, DecodeError> {
    Parser::new(true, default_timestamp).run(input)
}

/// Checks that a body is UTF-8 before [`parse_text`] / [`parse_openmetrics`], naming the
/// line of the first invalid byte in the error.
pub fn from_utf8(body: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(body).map_err(|e| {
        let at = e.valid_up_to();
        let line = body[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        DecodeError::line(line, format!("invalid UTF-8 at byte offset {at}"))
    })
}

/// Types accepted in `# TYPE` lines: the 0.0.4 set plus the OpenMetrics additions.
const METRIC_TYPES: [&str; 9] = [
    "counter",
    "gauge",
    "histogram",
    "summary",
    "untyped",
    "gaugehistogram",
    "stateset",
    "info",
    "unknown",
];

type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

struct Parser<'a> {
    openmetrics: bool,
    default_ts: i64,
    set: SeriesSet<'a>,
    /// Scratch for one line's labels, reused.
    pairs: Vec<Pair<'a>>,
    metadata: Vec<Metadata>,
    meta_index: HashMap<Cow<'a, str>, usize>,
    exemplars_skipped: u64,
}

enum Meta {
    Help,
    Type,
    Unit,
}

impl<'a> Parser<'a> {
    fn new(openmetrics: bool, default_ts: i64) -> Self {
        Parser {
            openmetrics,
            default_ts,
            set: SeriesSet::default(),
            pairs: Vec::new(),
            metadata: Vec::new(),
            meta_index: HashMap::new(),
            exemplars_skipped: 0,
        }
    }

    fn run(mut self, input: &'a str) -> Result<ParsedText, DecodeError> {
        let mut eof_line = None;
        let mut last = 0;
        for (i, line) in input.split('\n').enumerate() {
            let n = i + 1;
            last = n;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let t = line.trim_start_matches([' ', '\t']);
            if t.is_empty() {
                continue;
            }
            if let Some(eof) = eof_line {
                return Err(DecodeError::line(
                    n,
                    format!("unexpected content after # EOF on line {eof}"),
                ));
            }
            if t.starts_with('#') {
                if self.comment(t, n)? {
                    eof_line = Some(n);
                }
            } else {
                self.sample(t, n)?;
            }
        }
        if self.openmetrics && eof_line.is_none() {
            return Err(DecodeError::line(
                last,
                "expected \"# EOF\" at the end of OpenMetrics input",
            ));
        }
        Ok(ParsedText {
            series: self.set.series,
            metadata: self.metadata,
            exemplars_skipped: self.exemplars_skipped,
        })
    }

    /// Handles a line starting with `#`. Returns true for the OpenMetrics `# EOF`.
    fn comment(&mut self, t: &'a str, n: usize) -> Result<bool, DecodeError> {
        let b = t.as_bytes();
        let kw_start = skip_ws(b, 1);
        if kw_start == 1 {
            return Ok(false); // `#text`: a plain comment
        }
        let kw_end = scan_token(b, kw_start);
        let kind = match &t[kw_start..kw_end] {
            "EOF" if self.openmetrics && skip_ws(b, kw_end) == b.len() => return Ok(true),
            "HELP" => Meta::Help,
            "TYPE" => Meta::Type,
            "UNIT" if self.openmetrics => Meta::Unit,
            _ => return Ok(false),
        };
        let kw = &t[kw_start..kw_end];
        let name_start = skip_ws(b, kw_end);
        if name_start == b.len() {
            return Err(DecodeError::line(
                n,
                format!("expected metric name after # {kw}"),
            ));
        }
        let (name, name_end) = if b[name_start] == b'"' {
            quoted(t, name_start + 1, n)?
        } else {
            let e = scan_token(b, name_start);
            (Cow::Borrowed(&t[name_start..e]), e)
        };
        let rest = &t[skip_ws(b, name_end)..];
        let idx = match self.meta_index.get(name.as_ref()) {
            Some(&i) => i,
            None => {
                self.metadata.push(Metadata {
                    metric_family_name: name.as_ref().to_owned(),
                    ..Metadata::default()
                });
                self.meta_index.insert(name, self.metadata.len() - 1);
                self.metadata.len() - 1
            }
        };
        let m = &mut self.metadata[idx];
        match kind {
            Meta::Help => m.help = unescape_help(rest, self.openmetrics),
            Meta::Type => {
                let ty = rest.trim_end_matches([' ', '\t']);
                if ty.is_empty() {
                    return Err(DecodeError::line(
                        n,
                        "expected metric type after the metric name",
                    ));
                }
                let lower = ty.to_ascii_lowercase();
                if !METRIC_TYPES.contains(&lower.as_str()) {
                    return Err(DecodeError::line(
                        n,
                        format!(
                            "unknown metric type {ty:?} (expected one of {})",
                            METRIC_TYPES.join(", ")
                        ),
                    ));
                }
                m.r#type = lower;
            }
            Meta::Unit => m.unit = rest.trim_end_matches([' ', '\t']).to_owned(),
        }
        Ok(false)
    }

    /// Parses `name{labels} value [timestamp] [# exemplar]`; `t` has no leading blanks.
    fn sample(&mut self, t: &'a str, n: usize) -> Result<(), DecodeError> {
        let b = t.as_bytes();
        self.pairs.clear();
        let mut name: Option<Cow<'a, str>> = None;
        let mut pos = 0;
        if b[0] != b'{' {
            if !is_name_start(b[0]) {
                return Err(DecodeError::line(
                    n,
                    format!("expected metric name, found {}", describe(t, 0)),
                ));
            }
            pos = scan_metric_name(b, 0);
            name = Some(Cow::Borrowed(&t[..pos]));
            if pos < b.len() && !is_ws(b[pos]) && b[pos] != b'{' {
                return Err(DecodeError::line(
                    n,
                    format!(
                        "expected '{{' or whitespace after metric name {:?}, found {}",
                        &t[..pos],
                        describe(t, pos)
                    ),
                ));
            }
        }
        let mut raw_end = pos;
        let p = skip_ws(b, pos);
        if b.get(p) == Some(&b'{') {
            raw_end = self.labels(t, p + 1, n, &mut name)?;
        }

        let v_start = skip_ws(b, raw_end);
        if v_start == b.len() {
            return Err(DecodeError::line(n, "expected value, found end of line"));
        }
        if v_start == raw_end {
            return Err(DecodeError::line(
                n,
                format!(
                    "expected whitespace before value, found {}",
                    describe(t, v_start)
                ),
            ));
        }
        let v_end = scan_token(b, v_start);
        let v_str = &t[v_start..v_end];
        let value = parse_float(v_str).ok_or_else(|| {
            DecodeError::line(
                n,
                format!("invalid value {v_str:?}: expected a float, NaN, +Inf or -Inf"),
            )
        })?;

        let mut ts = self.default_ts;
        let mut p = skip_ws(b, v_end);
        if p < b.len() && !(self.openmetrics && b[p] == b'#') {
            let ts_end = scan_token(b, p);
            ts = self.parse_timestamp(&t[p..ts_end], n)?;
            p = skip_ws(b, ts_end);
        }
        if p < b.len() {
            if self.openmetrics && b[p] == b'#' {
                self.exemplars_skipped += 1;
            } else {
                return Err(DecodeError::line(
                    n,
                    format!(
                        "expected end of line after timestamp, found {}",
                        describe(t, p)
                    ),
                ));
            }
        }

        let raw = &t[..raw_end];
        let idx = match self.set.find_raw(raw) {
            Some(i) => i,
            None => {
                if let Some(name) = name {
                    self.pairs.push((Cow::Borrowed(METRIC_NAME), name));
                }
                let labels =
                    build_labels(&mut self.pairs).map_err(|e| DecodeError::line(n, e.message()))?;
                self.set.index_of(Some(raw), labels)
            }
        };
        self.set.push_at(idx, Sample::new(ts, value));
        Ok(())
    }

    /// Parses labels after `{` up to and including `}`; returns the position after `}`.
    /// A quoted string not followed by `=` is the metric name (`{"my.metric", a="b"}`).
    fn labels(
        &mut self,
        t: &'a str,
        mut pos: usize,
        n: usize,
        name: &mut Option<Cow<'a, str>>,
    ) -> Result<usize, DecodeError> {
        let b = t.as_bytes();
        loop {
            pos = skip_ws(b, pos);
            let (label, after) = match b.get(pos) {
                None => {
                    return Err(DecodeError::line(
                        n,
                        "expected label name or '}', found end of line",
                    ))
                }
                Some(b'}') => return Ok(pos + 1),
                Some(b'"') => {
                    let (s, after) = quoted(t, pos + 1, n)?;
                    let next = skip_ws(b, after);
                    if matches!(b.get(next), Some(b',') | Some(b'}')) {
                        if name.is_some() {
                            return Err(DecodeError::line(
                                n,
                                format!("metric name given twice (second: {s:?})"),
                            ));
                        }
                        *name = Some(s);
                        pos = if b[next] == b',' { next + 1 } else { next };
                        continue;
                    }
                    (s, after)
                }
                Some(_) => {
                    let end = scan_label_name(b, pos);
                    if end == pos {
                        return Err(DecodeError::line(
                            n,
                            format!("expected label name or '}}', found {}", describe(t, pos)),
                        ));
                    }
                    (Cow::Borrowed(&t[pos..end]), end)
                }
            };
            pos = skip_ws(b, after);
            if b.get(pos) != Some(&b'=') {
                return Err(DecodeError::line(
                    n,
                    format!(
                        "expected '=' after label name {label:?}, found {}",
                        describe(t, pos)
                    ),
                ));
            }
            pos = skip_ws(b, pos + 1);
            if b.get(pos) != Some(&b'"') {
                return Err(DecodeError::line(
                    n,
                    format!(
                        "expected '\"' to open the value of label {label:?}, found {}",
                        describe(t, pos)
                    ),
                ));
            }
            let (value, after) = quoted(t, pos + 1, n)?;
            pos = skip_ws(b, after);
            match b.get(pos) {
                Some(b',') => pos += 1,
                Some(b'}') => {
                    self.pairs.push((label, value));
                    return Ok(pos + 1);
                }
                _ => {
                    return Err(DecodeError::line(
                        n,
                        format!(
                            "expected ',' or '}}' after the value of label {label:?}, found {}",
                            describe(t, pos)
                        ),
                    ))
                }
            }
            self.pairs.push((label, value));
        }
    }

    fn parse_timestamp(&self, s: &str, n: usize) -> Result<i64, DecodeError> {
        if self.openmetrics {
            let secs = parse_float(s).filter(|f| f.is_finite()).ok_or_else(|| {
                DecodeError::line(
                    n,
                    format!("invalid timestamp {s:?}: expected seconds since the epoch"),
                )
            })?;
            let ms = (secs * 1000.0).round();
            // i64::MAX as f64 rounds up to 2^63, so `<` keeps the cast exact.
            if ms < i64::MIN as f64 || ms >= i64::MAX as f64 {
                return Err(DecodeError::line(
                    n,
                    format!("timestamp {s:?} out of range"),
                ));
            }
            Ok(ms as i64)
        } else {
            s.parse::<i64>().map_err(|_| {
                DecodeError::line(
                    n,
                    format!("invalid timestamp {s:?}: expected integer milliseconds"),
                )
            })
        }
    }
}

/// Parses a sample value: decimal floats with optional exponent, and the spellings Go's
/// `strconv.ParseFloat` accepts for the specials (`NaN`, `+Inf`, `-Inf`, `Inf`,
/// `infinity`, any case). Never yields the stale-marker NaN.
pub fn parse_float(s: &str) -> Option<f64> {
    // Fast path for the common plain forms; str::parse handles the rest.
    s.parse::<f64>()
        .ok()
        .map(|v| if v.is_nan() { f64::NAN } else { v })
}

/// A quoted string starting after its opening `"`: returns the unescaped content and the
/// position after the closing `"`. `\\`, `\"` and `\n` are unescaped; any other escape is
/// kept as written, as Prometheus does.
fn quoted(t: &str, start: usize, n: usize) -> Result<(Cow<'_, str>, usize), DecodeError> {
    let b = t.as_bytes();
    let mut owned: Option<String> = None;
    let mut seg = start;
    let mut i = start;
    while let Some(off) = b[i..].iter().position(|&c| c == b'"' || c == b'\\') {
        i += off;
        if b[i] == b'"' {
            let s = match owned {
                None => Cow::Borrowed(&t[start..i]),
                Some(mut o) => {
                    o.push_str(&t[seg..i]);
                    Cow::Owned(o)
                }
            };
            return Ok((s, i + 1));
        }
        let o = owned.get_or_insert_with(String::new);
        o.push_str(&t[seg..i]);
        match b.get(i + 1) {
            Some(b'\\') => o.push('\\'),
            Some(b'"') => o.push('"'),
            Some(b'n') => o.push('\n'),
            Some(_) => {
                // Unknown escape: keep the backslash; the next char is copied as text.
                o.push('\\');
                seg = i + 1;
                i += 1;
                continue;
            }
            None => break,
        }
        i += 2;
        seg = i;
    }
    Err(DecodeError::line(
        n,
        "unterminated quoted string: expected '\"' before end of line",
    ))
}

/// `# HELP` text: `\\` and `\n` are escapes (plus `\"` in OpenMetrics).
fn unescape_help(s: &str, openmetrics: bool) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if openmetrics => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// End of a token delimited by blanks.
fn scan_token(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !is_ws(b[i]) {
        i += 1;
    }
    i
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn scan_metric_name(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
        i += 1;
    }
    i
}

fn scan_label_name(b: &[u8], mut i: usize) -> usize {
    if i < b.len() && b[i].is_ascii_digit() {
        return i;
    }
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    i
}

/// "end of line" or the character at `pos`, quoted, for error messages.
fn describe(t: &str, pos: usize) -> String {
    match t.get(pos..).and_then(|s| s.chars().next()) {
        None => "end of line".to_owned(),
        Some(c) => format!("{c:?}"),
    }
}

/// Appends `labels` with `samples` in text format 0.0.4, one line per sample:
/// `name{a="b"} value timestamp`. Label names outside `[a-zA-Z_][a-zA-Z0-9_]*` and metric
/// names outside `[a-zA-Z_:][a-zA-Z0-9_:]*` use the quoted form. Stale markers are
/// written as `NaN`, as the format has no other spelling for them.
pub fn encode_text_series(dst: &mut Vec<u8>, labels: &Labels, samples: &[Sample]) {
    let start = dst.len();
    let name = labels.metric_name().unwrap_or("");
    let plain_name = !name.is_empty() && is_plain_metric_name(name);
    if plain_name {
        dst.extend_from_slice(name.as_bytes());
    }
    let mut first = true;
    let mut open = |dst: &mut Vec<u8>| {
        dst.push(if first { b'{' } else { b',' });
        first = false;
    };
    if !name.is_empty() && !plain_name {
        open(dst);
        write_quoted(dst, name);
    }
    for l in labels.iter().filter(|l| l.name != METRIC_NAME) {
        open(dst);
        if is_plain_label_name(&l.name) {
            dst.extend_from_slice(l.name.as_bytes());
        } else {
            write_quoted(dst, &l.name);
        }
        dst.push(b'=');
        write_quoted(dst, &l.value);
    }
    if !first {
        dst.push(b'}');
    }
    let series_end = dst.len();
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            dst.extend_from_within(start..series_end);
        }
        dst.push(b' ');
        write_float(dst, s.v);
        let _ = writeln!(dst, " {}", s.t);
    }
    if samples.is_empty() {
        dst.truncate(start);
    }
}

fn is_plain_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && scan_metric_name(b, 0) == b.len()
}

fn is_plain_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && !b[0].is_ascii_digit() && scan_label_name(b, 0) == b.len()
}

fn write_quoted(dst: &mut Vec<u8>, s: &str) {
    dst.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'\\' => dst.extend_from_slice(b"\\\\"),
            b'"' => dst.extend_from_slice(b"\\\""),
            b'\n' => dst.extend_from_slice(b"\\n"),
            _ => dst.push(c),
        }
    }
    dst.push(b'"');
}

/// Shortest round-trip decimal; `NaN`, `+Inf`, `-Inf` for the specials.
pub(crate) fn write_float(dst: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        dst.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        dst.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        dst.extend_from_slice(b"-Inf");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Integral values print without a fraction ("3", not "3.0").
        let _ = write!(dst, "{}", v as i64);
        if v == 0.0 && v.is_sign_negative() {
            dst.truncate(dst.len() - 1);
            dst.extend_from_slice(b"-0");
        }
    } else {
        let _ = write!(dst, "{v:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strix_core::Labels;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn err(input: &str) -> String {
        parse_text(input, 0).unwrap_err().to_string()
    }

    #[test]
    fn basic_exposition() {
        let input = "# HELP http_requests_total The total number of HTTP requests.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
\n\
# A normal comment.\n\
metric_without_timestamp_and_labels 12.47\n\
something_weird{problem=\"division by zero\"} +Inf -3982045\n\
# TYPE rpc_duration_seconds summary\n\
rpc_duration_seconds{quantile=\"0.99\"} 76656\n\
rpc_duration_seconds_sum 1.7560473e+07\n\
rpc_duration_seconds_count 2693\n";
        let p = parse_text(input, 42).unwrap();
        assert_eq!(p.series.len(), 7);
        assert_eq!(
            p.series[0].labels,
            l(&[
                ("__name__", "http_requests_total"),
                ("method", "post"),
                ("code", "200")
            ])
        );
        assert_eq!(
            p.series[0].samples,
            vec![Sample::new(1395066363000, 1027.0)]
        );
        assert_eq!(p.series[2].samples, vec![Sample::new(42, 12.47)]);
        assert_eq!(
            p.series[3].samples,
            vec![Sample::new(-3982045, f64::INFINITY)]
        );
        assert_eq!(p.series[5].samples[0].v, 1.7560473e7);
        assert_eq!(
            p.metadata,
            vec![
                Metadata {
                    metric_family_name: "http_requests_total".into(),
                    r#type: "counter".into(),
                    help: "The total number of HTTP requests.".into(),
                    unit: String::new(),
                },
                Metadata {
                    metric_family_name: "rpc_duration_seconds".into(),
                    r#type: "summary".into(),
                    ..Metadata::default()
                },
            ]
        );
    }

    #[test]
    fn label_value_escapes() {
        let p = parse_text(
            "m{path=\"C:\\\\dir\\\\\",q=\"say \\\"hi\\\"\",nl=\"a\\nb\",other=\"\\t\"} 1\n",
            0,
        )
        .unwrap();
        let labels = &p.series[0].labels;
        assert_eq!(labels.get("path"), Some("C:\\dir\\"));
        assert_eq!(labels.get("q"), Some("say \"hi\""));
        assert_eq!(labels.get("nl"), Some("a\nb"));
        assert_eq!(labels.get("other"), Some("\\t"), "unknown escapes are kept");
    }

    #[test]
    fn braces_and_commas_inside_values() {
        let p = parse_text("m{a=\"}{,=\",b=\"x\"} 1\n", 0).unwrap();
        assert_eq!(p.series[0].labels.get("a"), Some("}{,="));
    }

    #[test]
    fn special_values() {
        let p = parse_text("a NaN\nb +Inf\nc -Inf\nd 1e3\ne -1.5E-3\nf 0x\n", 0);
        assert!(p
            .unwrap_err()
            .to_string()
            .starts_with("line 6: invalid value \"0x\""));
        let p = parse_text(
            "a NaN\nb +Inf\nc -Inf\nd 1e3\ne -1.5E-3\nf 7\ng Inf\nh .5\n",
            0,
        )
        .unwrap();
        let v: Vec<f64> = p.series.iter().map(|s| s.samples[0].v).collect();
        assert!(v[0].is_nan() && !strix_core::is_stale_nan(v[0]));
        assert_eq!(
            &v[1..],
            &[
                f64::INFINITY,
                f64::NEG_INFINITY,
                1000.0,
                -0.0015,
                7.0,
                f64::INFINITY,
                0.5
            ]
        );
    }

    #[test]
    fn whitespace_trailing_comma_and_crlf() {
        let input = "  m { a = \"1\" , b=\"2\", }\t5\t 100  \r\n\t\n m{} 6\nm 7";
        let p = parse_text(input, 0).unwrap();
        assert_eq!(p.series.len(), 2);
        assert_eq!(
            p.series[0].labels,
            l(&[("__name__", "m"), ("a", "1"), ("b", "2")])
        );
        assert_eq!(p.series[0].samples, vec![Sample::new(100, 5.0)]);
        assert_eq!(
            p.series[1].samples,
            vec![Sample::new(0, 6.0), Sample::new(0, 7.0)]
        );
    }

    #[test]
    fn samples_grouped_by_label_set() {
        let input = "m{a=\"1\",b=\"2\"} 1 10\nm{b=\"2\",a=\"1\"} 2 20\nm{a=\"1\",b=\"2\"} 3 30\nm{a=\"1\",b=\"\"} 4 40\nm{a=\"1\"} 5 50\n";
        let p = parse_text(input, 0).unwrap();
        assert_eq!(p.series.len(), 2);
        assert_eq!(
            p.series[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
            vec![10, 20, 30]
        );
        assert_eq!(
            p.series[1].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
            vec![40, 50]
        );
    }

    #[test]
    fn help_escaping_and_comments() {
        let input = "# HELP m  Line one\\nwith \\\\ backslash and \\\"quote\\\"\n#HELP not meta\n# HELPER x\n# TYPE m GAUGE\nm 1\n";
        let p = parse_text(input, 0).unwrap();
        assert_eq!(p.metadata.len(), 1);
        assert_eq!(
            p.metadata[0].help,
            "Line one\nwith \\ backslash and \\\"quote\\\""
        );
        assert_eq!(p.metadata[0].r#type, "gauge");
        // An empty help text is allowed.
        assert_eq!(parse_text("# HELP m\n", 0).unwrap().metadata[0].help, "");
    }

    #[test]
    fn errors_name_line_and_expectation() {
        assert_eq!(
            err("ok 1\nm{a=\"1\" 2\n"),
            "line 2: expected ',' or '}' after the value of label \"a\", found '2'"
        );
        assert_eq!(
            err("m{a=\"1} 2\n"),
            "line 1: unterminated quoted string: expected '\"' before end of line"
        );
        assert_eq!(err("\n\nm\n"), "line 3: expected value, found end of line");
        assert_eq!(
            err("m 1 2 3\n"),
            "line 1: expected end of line after timestamp, found '3'"
        );
        assert_eq!(
            err("m 1 1.5\n"),
            "line 1: invalid timestamp \"1.5\": expected integer milliseconds"
        );
        assert_eq!(
            err("m abc\n"),
            "line 1: invalid value \"abc\": expected a float, NaN, +Inf or -Inf"
        );
        assert_eq!(
            err("m{a=1} 2\n"),
            "line 1: expected '\"' to open the value of label \"a\", found '1'"
        );
        assert_eq!(
            err("m{1a=\"x\"} 2\n"),
            "line 1: expected label name or '}', found '1'"
        );
        assert_eq!(
            err("m{a} 2\n"),
            "line 1: expected '=' after label name \"a\", found '}'"
        );
        assert_eq!(
            err("m{a=\"x\"\n"),
            "line 1: expected ',' or '}' after the value of label \"a\", found end of line"
        );
        assert_eq!(err("1m 2\n"), "line 1: expected metric name, found '1'");
        assert_eq!(
            err("m.x 2\n"),
            "line 1: expected '{' or whitespace after metric name \"m\", found '.'"
        );
        assert_eq!(
            err("m{a=\"1\"}2\n"),
            "line 1: expected whitespace before value, found '2'"
        );
        assert_eq!(
            err("m{a=\"1\",a=\"2\"} 2\n"),
            "line 1: duplicate label name \"a\""
        );
        assert_eq!(
            err("m{__name__=\"x\"} 2\n"),
            "line 1: duplicate label name \"__name__\""
        );
        assert_eq!(
            err("# TYPE m\n"),
            "line 1: expected metric type after the metric name"
        );
        assert!(err("# TYPE m countr\n").starts_with("line 1: unknown metric type \"countr\""));
        assert_eq!(err("# HELP\n"), "line 1: expected metric name after # HELP");
    }

    #[test]
    fn utf8_quoted_names() {
        let p = parse_text("{\"my.metric\", \"a.b\"=\"ü\"} 1\n{\"my.metric\",\"a.b\"=\"ü\"} 2\n# TYPE \"my.metric\" gauge\n", 0).unwrap();
        assert_eq!(p.series.len(), 1);
        assert_eq!(
            p.series[0].labels,
            l(&[("__name__", "my.metric"), ("a.b", "ü")])
        );
        assert_eq!(p.metadata[0].metric_family_name, "my.metric");
        assert!(err("m{\"x\"} 1\n").contains("metric name given twice"));
    }

    #[test]
    fn utf8_check_names_line() {
        assert_eq!(from_utf8(b"a 1\n").unwrap(), "a 1\n");
        let e = from_utf8(b"a 1\nb{x=\"\xff\"} 2\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: invalid UTF-8 at byte offset 9");
    }

    #[test]
    fn eof_is_a_comment_in_0_0_4() {
        let p = parse_text("m 1\n# EOF\n", 0).unwrap();
        assert_eq!(p.series.len(), 1);
    }

    #[test]
    fn openmetrics_basics() {
        let input = "# TYPE foo counter\n\
# UNIT foo seconds\n\
# HELP foo A \\\"quoted\\\" help.\n\
foo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
foo_created{a=\"b\"} 1520430000.123\n\
bar 1 # {x=\"y\"} 1 1520879607.7\n\
baz 2 1520879607\n\
# EOF\n";
        let p = parse_openmetrics(input, 5).unwrap();
        assert_eq!(p.series.len(), 4);
        assert_eq!(p.series[0].samples, vec![Sample::new(1520879607789, 17.0)]);
        assert_eq!(p.series[1].labels.metric_name(), Some("foo_created"));
        assert_eq!(p.series[1].samples, vec![Sample::new(5, 1520430000.123)]);
        assert_eq!(p.series[2].samples, vec![Sample::new(5, 1.0)]);
        assert_eq!(p.series[3].samples, vec![Sample::new(1520879607000, 2.0)]);
        assert_eq!(p.exemplars_skipped, 2);
        assert_eq!(
            p.metadata[0],
            Metadata {
                metric_family_name: "foo".into(),
                r#type: "counter".into(),
                help: "A \"quoted\" help.".into(),
                unit: "seconds".into(),
            }
        );
    }

    #[test]
    fn openmetrics_requires_eof_and_nothing_after() {
        let e = parse_openmetrics("m 1\n", 0).unwrap_err().to_string();
        assert_eq!(
            e,
            "line 2: expected \"# EOF\" at the end of OpenMetrics input"
        );
        let e = parse_openmetrics("m 1\n# EOF\nm 2\n", 0)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "line 3: unexpected content after # EOF on line 2");
        let e = parse_openmetrics("m 1 NaN\n# EOF\n", 0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "line 1: invalid timestamp \"NaN\": expected seconds since the epoch"
        );
        assert!(parse_openmetrics("# EOF", 0).unwrap().series.is_empty());
    }

    #[test]
    fn encode_then_parse() {
        let labels = l(&[
            ("__name__", "up"),
            ("job", "a\"b\\c\nd"),
            ("weird.name", "x"),
        ]);
        let samples = [
            Sample::new(1, 1.0),
            Sample::new(2, f64::NEG_INFINITY),
            Sample::new(3, 0.1),
        ];
        let mut buf = Vec::new();
        encode_text_series(&mut buf, &labels, &samples);
        let text = std::str::from_utf8(&buf).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.starts_with("up{job=\"a\\\"b\\\\c\\nd\",\"weird.name\"=\"x\"} 1 1\n"),
            "{text}"
        );
        let p = parse_text(text, 0).unwrap();
        assert_eq!(
            p.series,
            vec![TimeSeries {
                labels,
                samples: samples.to_vec()
            }]
        );
    }

    #[test]
    fn float_formatting() {
        let f = |v: f64| {
            let mut b = Vec::new();
            write_float(&mut b, v);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(3.0), "3");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1e300), "1e300");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "+Inf");
        for v in [
            3.0,
            -0.0,
            0.1,
            1e300,
            1.5e-7,
            -123456.789,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(f(v).parse::<f64>().unwrap().to_bits(), v.to_bits(), "{v}");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip_arbitrary_label_values(
            values in proptest::collection::vec("(?s).*", 1..4),
            v in proptest::num::f64::ANY,
            t in proptest::num::i64::ANY,
        ) {
            let pairs: Vec<(String, String)> = values
                .iter()
                .enumerate()
                .map(|(i, val)| (format!("l{i}"), val.clone()))
                .chain([("__name__".to_owned(), "m".to_owned())])
                .collect();
            let labels = Labels::from_pairs(pairs);
            let mut buf = Vec::new();
            encode_text_series(&mut buf, &labels, &[Sample::new(t, v)]);
            let text = String::from_utf8(buf).unwrap();
            let p = parse_text(&text, 0).unwrap();
            proptest::prop_assert_eq!(p.series.len(), 1);
            proptest::prop_assert_eq!(&p.series[0].labels, &labels);
            let got = p.series[0].samples[0];
            proptest::prop_assert_eq!(got.t, t);
            if v.is_nan() {
                proptest::prop_assert!(got.v.is_nan());
            } else {
                proptest::prop_assert_eq!(got.v.to_bits(), v.to_bits());
            }
        }
    }
}
