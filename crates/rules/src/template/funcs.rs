//! Template functions: Go's predefined ones and Prometheus' additions.
//!
//! `and` and `or` short-circuit and are evaluated by the executor; everything else is
//! called here with evaluated arguments. Errors are plain messages; the executor adds the
//! position.

use std::net::IpAddr;

use super::value::{self, format_float, Flags, GoTime, Value};
use super::TemplateData;

/// Functions that exist in Prometheus but need something Strix' templates do not have.
pub(crate) fn unsupported(name: &str) -> Option<&'static str> {
    match name {
        "query" | "first" | "label" | "value" | "sortByLabel" | "strvalue" => {
            Some("query-based template functions are not supported (no query engine in templates)")
        }
        "args" | "tmpl" => Some("named templates are not supported"),
        "now" => Some("the evaluation time is not available to templates"),
        "call" => Some("templates have no function values to call"),
        _ => None,
    }
}

const KNOWN: &[&str] = &[
    // Go text/template.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    // Prometheus.
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "title",
    "toUpper",
    "toLower",
    "match",
    "reReplaceAll",
    "stripPort",
    "stripDomain",
    "parseDuration",
    "safeHtml",
    "externalURL",
    "pathPrefix",
];

pub(crate) fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

fn arity(name: &str, args: &[Value<'_>], want: usize) -> Result<(), String> {
    if args.len() == want {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ))
    }
}

fn min_arity(name: &str, args: &[Value<'_>], want: usize) -> Result<(), String> {
    if args.len() >= want {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        ))
    }
}

fn string_arg<'v>(name: &str, v: &'v Value<'_>) -> Result<&'v str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(format!(
            "error calling {name}: wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// Calls `name` with evaluated arguments.
pub(crate) fn call<'a>(
    name: &str,
    args: Vec<Value<'a>>,
    data: &'a TemplateData,
) -> Result<Value<'a>, String> {
    let s = |i: usize| string_arg(name, &args[i]);
    let num =
        |i: usize| convert_to_float(&args[i]).map_err(|e| format!("error calling {name}: {e}"));
    match name {
        "not" => {
            arity(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "len" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                Value::Nil => Err("error calling len: len of nil pointer".into()),
                v => Err(format!("error calling len: len of type {}", v.type_name())),
            }
        }
        "index" => {
            min_arity(name, &args, 1)?;
            let mut item = args[0].clone();
            for key in &args[1..] {
                item = index(&item, key)?;
            }
            Ok(item)
        }
        "slice" => {
            min_arity(name, &args, 1)?;
            slice(&args[0], &args[1..])
        }
        "print" => Ok(Value::Str(value::sprint(&args))),
        "println" => Ok(Value::Str(value::sprintln(&args))),
        "printf" => {
            min_arity(name, &args, 1)?;
            let format = s(0)?;
            Ok(Value::Str(value::sprintf(format, &args[1..])))
        }
        "html" => Ok(Value::Str(html_escape(&eval_args_string(&args)))),
        "js" => Ok(Value::Str(js_escape(&eval_args_string(&args)))),
        "urlquery" => Ok(Value::Str(query_escape(&eval_args_string(&args)))),
        "eq" => {
            if args.len() < 2 {
                return Err("error calling eq: missing argument for comparison".into());
            }
            eq(&args[0], &args[1..])
                .map(Value::Bool)
                .map_err(|e| format!("error calling eq: {e}"))
        }
        "ne" => {
            arity(name, &args, 2)?;
            eq(&args[0], &args[1..])
                .map(|b| Value::Bool(!b))
                .map_err(|e| format!("error calling ne: {e}"))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let (a, b) = (&args[0], &args[1]);
            let r = match name {
                "lt" => lt(a, b),
                "le" => le(a, b),
                "gt" => le(a, b).map(|x| !x),
                _ => lt(a, b).map(|x| !x),
            };
            r.map(Value::Bool)
                .map_err(|e| format!("error calling {name}: {e}"))
        }
        "humanize" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(humanize(num(0)?)))
        }
        "humanize1024" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(humanize1024(num(0)?)))
        }
        "humanizeDuration" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(humanize_duration(num(0)?)))
        }
        "humanizePercentage" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(format!("{}%", g4(num(0)? * 100.0))))
        }
        "humanizeTimestamp" => {
            arity(name, &args, 1)?;
            let v = num(0)?;
            if v.is_nan() || v.is_infinite() {
                return Ok(Value::Str(g4(v)));
            }
            let t = float_to_time(v).map_err(|e| format!("error calling {name}: {e}"))?;
            Ok(Value::Str(value::time_string(t)))
        }
        "toTime" => {
            arity(name, &args, 1)?;
            let t = float_to_time(num(0)?).map_err(|e| format!("error calling {name}: {e}"))?;
            Ok(Value::Time(t))
        }
        "toDuration" => {
            arity(name, &args, 1)?;
            let v = num(0)?;
            let ns = v * 1e9;
            if v.is_nan() || v.is_infinite() {
                return Err(format!("error calling {name}: value is NaN or Inf"));
            }
            if !(ns > i64::MIN as f64 && ns < i64::MAX as f64) {
                return Err(format!(
                    "error calling {name}: {} cannot be represented as a duration since it overflows int64",
                    g4(v)
                ));
            }
            Ok(Value::Duration(ns as i64))
        }
        "title" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(title(s(0)?)))
        }
        "toUpper" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(map_chars(s(0)?, char::to_uppercase)))
        }
        "toLower" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(map_chars(s(0)?, char::to_lowercase)))
        }
        "match" => {
            arity(name, &args, 2)?;
            regex::is_match(s(0)?, s(1)?)
                .map(Value::Bool)
                .map_err(|e| format!("error calling {name}: {e}"))
        }
        "reReplaceAll" => {
            arity(name, &args, 3)?;
            regex::replace_all(s(0)?, s(2)?, s(1)?)
                .map(Value::Str)
                .map_err(|e| format!("error calling {name}: {e}"))
        }
        "stripPort" => {
            arity(name, &args, 1)?;
            let hp = s(0)?;
            Ok(Value::Str(match split_host_port(hp) {
                Some((host, _)) => host.to_string(),
                None => hp.to_string(),
            }))
        }
        "stripDomain" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(strip_domain(s(0)?)))
        }
        "parseDuration" => {
            arity(name, &args, 1)?;
            parse_duration(s(0)?)
                .map(Value::Float)
                .map_err(|e| format!("error calling {name}: {e}"))
        }
        "safeHtml" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(s(0)?.to_string()))
        }
        "externalURL" => {
            arity(name, &args, 0)?;
            Ok(Value::Str(data.external_url.clone()))
        }
        "pathPrefix" => {
            arity(name, &args, 0)?;
            Ok(Value::Str(url_path(&data.external_url)))
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

// ---------------------------------------------------------------------------------------
// Go builtins
// ---------------------------------------------------------------------------------------

fn index<'a>(item: &Value<'a>, key: &Value<'a>) -> Result<Value<'a>, String> {
    match item {
        Value::Map(m) => match key {
            Value::Str(k) => Ok(Value::Str(m.get(k).cloned().unwrap_or_default())),
            other => Err(format!(
                "error calling index: value has type {}; should be string",
                other.type_name()
            )),
        },
        Value::Str(s) => {
            let Value::Int(i) = key else {
                return Err(format!(
                    "error calling index: cannot index slice/array with type {}",
                    key.type_name()
                ));
            };
            usize::try_from(*i)
                .ok()
                .and_then(|i| s.as_bytes().get(i))
                .map(|b| Value::Int(i64::from(*b)))
                .ok_or_else(|| format!("error calling index: index out of range: {i}"))
        }
        Value::Nil => Err("error calling index: index of untyped nil".into()),
        other => Err(format!(
            "error calling index: can't index item of type {}",
            other.type_name()
        )),
    }
}

fn slice<'a>(item: &Value<'a>, idx: &[Value<'a>]) -> Result<Value<'a>, String> {
    let Value::Str(s) = item else {
        return Err(format!(
            "error calling slice: can't slice item of type {}",
            item.type_name()
        ));
    };
    if idx.len() > 2 {
        return Err("error calling slice: cannot 3-index slice a string".into());
    }
    let mut bounds = [0usize, s.len()];
    for (i, v) in idx.iter().enumerate() {
        let Value::Int(n) = v else {
            return Err(format!(
                "error calling slice: cannot index slice/array with type {}",
                v.type_name()
            ));
        };
        bounds[i] = usize::try_from(*n)
            .ok()
            .filter(|n| *n <= s.len())
            .ok_or_else(|| format!("error calling slice: index out of range: {n}"))?;
    }
    if bounds[0] > bounds[1] {
        return Err(format!(
            "error calling slice: invalid slice index: {} > {}",
            bounds[0], bounds[1]
        ));
    }
    Ok(Value::Str(
        String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned(),
    ))
}

/// `html`, `js` and `urlquery` take a single string as is and print anything else.
fn eval_args_string(args: &[Value<'_>]) -> String {
    match args {
        [Value::Str(s)] => s.clone(),
        _ => value::sprint(args),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
}

fn basic_kind(v: &Value<'_>) -> Option<Kind> {
    match v {
        Value::Bool(_) => Some(Kind::Bool),
        Value::Int(_) | Value::Duration(_) => Some(Kind::Int),
        Value::Float(_) => Some(Kind::Float),
        Value::Str(_) => Some(Kind::Str),
        _ => None,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn as_int(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) | Value::Duration(i) => *i,
        _ => 0,
    }
}

/// `eq a b c...`: whether `a` equals any of the others, with Go's type rules.
fn eq(a: &Value<'_>, others: &[Value<'_>]) -> Result<bool, String> {
    let ka = basic_kind(a);
    for b in others {
        let kb = basic_kind(b);
        let truth = match (ka, kb) {
            (Some(x), Some(y)) if x != y => return Err(BAD_COMPARISON.into()),
            (Some(_), Some(_)) => match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                _ => as_int(a) == as_int(b),
            },
            (Some(_), None) | (None, Some(_)) => {
                if matches!(a, Value::Nil) || matches!(b, Value::Nil) {
                    false
                } else {
                    return Err(BAD_COMPARISON.into());
                }
            }
            (None, None) => match (a, b) {
                (Value::Nil, Value::Nil) => true,
                (Value::Nil, _) | (_, Value::Nil) => false,
                (Value::Time(x), Value::Time(y)) => x == y,
                (Value::Data(x), Value::Data(y)) => std::ptr::eq(*x, *y),
                (Value::Map(_), Value::Map(_)) => {
                    return Err("non-comparable type map[string]string".into())
                }
                _ => {
                    return Err(format!(
                        "non-comparable types {} and {}",
                        a.type_name(),
                        b.type_name()
                    ))
                }
            },
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (Some(ka), Some(kb)) = (basic_kind(a), basic_kind(b)) else {
        return Err(BAD_COMPARISON_TYPE.into());
    };
    if ka != kb {
        return Err(BAD_COMPARISON.into());
    }
    Ok(match (a, b) {
        (Value::Bool(_), _) => return Err(BAD_COMPARISON_TYPE.into()),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => as_int(a) < as_int(b),
    })
}

fn le(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    Ok(lt(a, b)? || eq(a, std::slice::from_ref(b))?)
}

// ---------------------------------------------------------------------------------------
// Prometheus functions
// ---------------------------------------------------------------------------------------

/// The number a value stands for: floats, integers, durations (in seconds) and numeric
/// strings.
pub(crate) fn convert_to_float(v: &Value<'_>) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration(d) => Ok(*d as f64 / 1e9),
        Value::Str(s) => parse_go_float(s)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    let plain = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !special && !plain {
        return None;
    }
    s.parse().ok()
}

/// `%.4g`.
pub(crate) fn g4(v: f64) -> String {
    format_float(v, 'g', Some(4), &Flags::default())
}

pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

pub(crate) fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let a = v.abs();
        let whole = a as i64;
        let (days, hours, minutes, seconds) = (
            whole / 86_400,
            whole / 3600 % 24,
            whole / 60 % 60,
            whole % 60,
        );
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", g4(a));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Seconds since the epoch to a time, at millisecond precision as Prometheus timestamps.
fn float_to_time(v: f64) -> Result<GoTime, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ns = v * 1e9;
    if !(ns > i64::MIN as f64 && ns < i64::MAX as f64) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            value::format_float(v, 'g', None, &Flags::default())
        ));
    }
    let ms = (ns as i64) / 1_000_000;
    Ok(GoTime {
        secs: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
    })
}

fn map_chars<I: Iterator<Item = char>>(s: &str, f: impl Fn(char) -> I) -> String {
    // One character in, one out (Go's simple case mapping): multi-character expansions
    // such as 'ß' → "SS" leave the character as it is.
    s.chars()
        .map(|c| {
            let mut it = f(c);
            match (it.next(), it.next()) {
                (Some(m), None) => m,
                _ => c,
            }
        })
        .collect()
}

/// Capitalises the first letter of each word; words are separated by spaces, ASCII
/// punctuation and symbols (letters, digits and `_` continue a word).
fn title(s: &str) -> String {
    let separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev_sep = true;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if prev_sep {
            out.push_str(&map_chars(&c.to_string(), char::to_uppercase));
        } else {
            out.push(c);
        }
        prev_sep = separator(c);
    }
    out
}

/// Go's `net.SplitHostPort`; `None` where it fails.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = match split_host_port(hp) {
        Some((h, p)) => (h, p),
        None => (hp, ""),
    };
    if host.parse::<IpAddr>().is_ok() {
        return hp.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    if port.is_empty() {
        short.to_string()
    } else if short.contains(':') {
        format!("[{short}]:{port}")
    } else {
        format!("{short}:{port}")
    }
}

/// A Prometheus duration (`1h30m`, `500ms`, `-5m`, `0`) in seconds.
fn parse_duration(s: &str) -> Result<f64, String> {
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    if body == "0" {
        return Ok(0.0);
    }
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = body;
    let mut next_unit = 0usize;
    let mut total: u128 = 0;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let pos = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?;
        total = total
            .checked_add(
                n.checked_mul(UNITS[next_unit + pos].1)
                    .ok_or_else(invalid)?,
            )
            .ok_or_else(invalid)?;
        next_unit += pos + 1;
    }
    if total > i64::MAX as u128 / 1_000_000 {
        return Err(invalid());
    }
    let secs = total as f64 / 1000.0;
    Ok(if neg { -secs } else { secs })
}

/// The path of a URL such as `https://host:9090/prefix?x` (`/prefix`).
fn url_path(url: &str) -> String {
    let after_scheme = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let path = match after_scheme.find('/') {
        Some(i) if url.contains("://") => &after_scheme[i..],
        Some(_) | None if url.contains("://") => "",
        _ => after_scheme,
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path[..end].to_string()
}

/// Go-style (RE2) regular expressions, unanchored as Go's `regexp` package matches.
mod regex {
    use regex::Regex;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    /// Compiled patterns, keyed by source text; rule annotations reuse a handful.
    fn compiled(pattern: &str) -> Result<Regex, String> {
        static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(re) = c.get(pattern) {
            return Ok(re.clone());
        }
        let re = Regex::new(&go_braces(pattern))
            .map_err(|e| format!("error parsing regexp {pattern:?}: {e}"))?;
        // Bounded: templates are fixed text, but patterns can come from label values.
        if c.len() >= 1024 {
            c.clear();
        }
        c.insert(pattern.to_string(), re.clone());
        Ok(re)
    }

    /// Escapes `{` that does not open a repetition (`{n}`, `{n,}`, `{n,m}`): Go's RE2 reads
    /// such braces as literals, Rust's `regex` rejects them.
    fn go_braces(p: &str) -> String {
        let chars: Vec<char> = p.chars().collect();
        let mut out = String::with_capacity(p.len() + 4);
        let mut i = 0;
        let mut in_class = false;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(n) = chars.get(i + 1) {
                        out.push(*n);
                    }
                    i += 2;
                    continue;
                }
                '[' => in_class = true,
                ']' => in_class = false,
                '{' if !in_class => {
                    let rest: String = chars[i + 1..].iter().take_while(|c| **c != '}').collect();
                    let closed = chars.len() > i + 1 + rest.len();
                    let mut parts = rest.splitn(2, ',');
                    let lo = parts.next().unwrap_or("");
                    let hi = parts.next();
                    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                    let valid =
                        closed && digits(lo) && hi.is_none_or(|h| h.is_empty() || digits(h));
                    if !valid {
                        out.push_str("\\{");
                        i += 1;
                        continue;
                    }
                }
                '}' if !in_class => {
                    // A `}` closing a repetition was consumed with it below; a stray one is literal.
                }
                _ => {}
            }
            out.push(c);
            i += 1;
        }
        out
    }

    pub(super) fn is_match(pattern: &str, text: &str) -> Result<bool, String> {
        Ok(compiled(pattern)?.is_match(text))
    }

    /// Replaces every match; `$1`, `${name}` and `$$` in the replacement expand as in Go.
    pub(super) fn replace_all(pattern: &str, text: &str, repl: &str) -> Result<String, String> {
        Ok(compiled(pattern)?.replace_all(text, repl).into_owned())
    }
}
