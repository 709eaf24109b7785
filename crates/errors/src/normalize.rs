//! From a raw (already scrubbed) Sentry event to the fields Strix uses.
//!
//! Extraction is lenient: every field is optional, wrong types are read as well as they
//! can be (numbers where strings belong are stringified) or ignored, and the raw event is
//! kept — with huge strings truncated with a marker and breadcrumbs capped — so nothing
//! the SDK sent is lost beyond those caps. Both shapes SDKs use are read:
//! `exception: {values: [...]}` and `exception: [...]`, `logentry` and `message` (string
//! or object, `%s` params applied), timestamps as RFC 3339 strings or float seconds,
//! `tags` as an object or a list of pairs, headers and query strings likewise.
//!
//! Order follows Sentry: exceptions oldest (cause) first, the one raised last at the end;
//! frames outermost first, the frame that raised at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::limits::RawEvent;

/// Event severity as SDKs report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl Level {
    /// Reads an SDK level name (`warn`, `critical` and `log` included), case-insensitive.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "info" | "log" | "notice" => Level::Info,
            "warning" | "warn" => Level::Warning,
            "error" | "err" => Level::Error,
            "fatal" | "critical" | "crit" | "emergency" | "alert" => Level::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

/// Caps applied while normalising; each keeps one event's stored size bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeLimits {
    /// Longest message, exception value, or other extracted text, in bytes.
    pub max_text_bytes: usize,
    /// Longest string kept anywhere in the raw event, in bytes.
    pub max_raw_string_bytes: usize,
    /// Breadcrumbs kept (the most recent ones).
    pub max_breadcrumbs: usize,
    /// Frames kept per stack trace (the outermost and innermost halves).
    pub max_frames: usize,
    /// Exceptions kept per chain (the most recent ones).
    pub max_exceptions: usize,
    /// Tags kept.
    pub max_tags: usize,
    /// Longest tag key or value, in bytes.
    pub max_tag_bytes: usize,
    /// Oldest event timestamp taken as given, relative to the arrival time; an older one
    /// (a wrong device clock, an offline cache sent late) becomes the arrival time, with
    /// the original kept in the stored event under `strix.timestamp`. Zero turns it off.
    #[serde(with = "strix_core::duration::serde_str")]
    pub max_event_age: Duration,
}

impl Default for NormalizeLimits {
    fn default() -> Self {
        NormalizeLimits {
            max_text_bytes: 8 << 10,
            max_raw_string_bytes: 16 << 10,
            max_breadcrumbs: 100,
            max_frames: 250,
            max_exceptions: 25,
            max_tags: 200,
            max_tag_bytes: 200,
            max_event_age: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Per-request inputs of [`normalize`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// When the event arrived, ms since the Unix epoch; the fallback timestamp.
    pub received_ms: i64,
    /// The sender's address, substituted for `user.ip_address = "{{auto}}"`.
    pub client_ip: Option<String>,
    pub limits: NormalizeLimits,
}

/// One stack frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub function: Option<String>,
    pub module: Option<String>,
    pub filename: Option<String>,
    pub abs_path: Option<String>,
    pub lineno: Option<u32>,
    pub colno: Option<u32>,
    /// As the SDK said; see [`Frame::is_in_app`] for the value grouping uses.
    pub in_app: Option<bool>,
    pub context_line: Option<String>,
}

impl Frame {
    /// `in_app` when the SDK set it, else guessed from the path: library and runtime code
    /// (`node_modules`, `site-packages`, `node:` internals, …) is not in-app.
    pub fn is_in_app(&self) -> bool {
        if let Some(b) = self.in_app {
            return b;
        }
        let path = self
            .abs_path
            .as_deref()
            .or(self.filename.as_deref())
            .unwrap_or_default();
        const LIB: &[&str] = &[
            "node_modules",
            "site-packages",
            "dist-packages",
            "/lib/python",
            "node:",
            "internal/",
            "<frozen ",
            "/usr/lib/",
            "/rustc/",
            "/.cargo/registry/",
        ];
        !LIB.iter().any(|l| path.contains(l))
    }
}

/// One exception of a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub value: Option<String>,
    pub module: Option<String>,
    /// Raw `mechanism` (`{type, handled, …}`).
    pub mechanism: Option<Value>,
    pub frames: Vec<Frame>,
}

impl Exception {
    /// `mechanism.synthetic`: the SDK made this exception up to carry a stack trace (as
    /// `@sentry/node` does for `captureMessage`); its type and value say nothing.
    pub fn is_synthetic(&self) -> bool {
        self.mechanism
            .as_ref()
            .and_then(|m| m.get("synthetic"))
            .and_then(Value::as_bool)
            == Some(true)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub ip_address: Option<String>,
}

impl User {
    /// A stable identity for counting affected users: id, else e-mail, username, IP.
    pub fn key(&self) -> Option<&str> {
        self.id
            .as_deref()
            .or(self.email.as_deref())
            .or(self.username.as_deref())
            .or(self.ip_address.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub url: Option<String>,
    pub method: Option<String>,
    /// Header name → value, after scrubbing.
    pub headers: BTreeMap<String, String>,
    /// The query string, `a=1&b=2`, after scrubbing.
    pub query: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdk {
    pub name: Option<String>,
    pub version: Option<String>,
}

/// The fields Strix uses, plus the scrubbed raw event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedEvent {
    /// 32 lowercase hex digits (the SDK's, or a new one).
    pub event_id: String,
    /// When it happened, ms since the Unix epoch (future timestamps clamped to `received`).
    pub timestamp: i64,
    /// When it arrived, ms since the Unix epoch.
    pub received: i64,
    pub level: Level,
    pub platform: String,
    pub logger: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub server_name: Option<String>,
    pub transaction: Option<String>,
    pub message: Option<String>,
    /// The chain, oldest first; the main exception is the last.
    pub exception: Vec<Exception>,
    /// A stack trace attached to a message event (`stacktrace` or the current thread's).
    pub stacktrace: Vec<Frame>,
    pub user: Option<User>,
    pub tags: BTreeMap<String, String>,
    pub request: Option<Request>,
    pub fingerprint: Option<Vec<String>>,
    pub sdk: Option<Sdk>,
    /// The whole event as received, after scrubbing and truncation.
    pub raw: Value,
    /// The event's JSON text exactly as received, when scrubbing and normalising changed
    /// nothing (see [`normalize_raw`]): what is stored then, instead of `raw` serialised
    /// again.
    #[serde(skip)]
    pub raw_text: Option<Vec<u8>>,
}

impl NormalizedEvent {
    /// The exception raised last, which titles the issue.
    pub fn main_exception(&self) -> Option<&Exception> {
        self.exception.last()
    }

    /// A message event whose only exception is synthetic (made up by the SDK to carry
    /// a stack trace): titled and grouped by its message.
    pub fn is_message_event(&self) -> bool {
        self.message.is_some() && self.exception.iter().all(Exception::is_synthetic)
    }

    /// The frames of the main exception, else of the attached stack trace.
    pub fn frames(&self) -> &[Frame] {
        match self.main_exception() {
            Some(e) if !e.frames.is_empty() => &e.frames,
            _ => &self.stacktrace,
        }
    }

    /// Raw `contexts` (os, runtime, browser, trace, …), `null` when absent.
    pub fn contexts(&self) -> &Value {
        self.raw.get("contexts").unwrap_or(&Value::Null)
    }

    /// Raw breadcrumbs, the most recent ones, oldest first.
    pub fn breadcrumbs(&self) -> &[Value] {
        breadcrumb_list(&self.raw)
    }

    /// A string member of `raw` by dotted path (`extra.component`, `tags.x`).
    pub fn raw_path(&self, path: &str) -> Option<&Value> {
        lookup(&self.raw, path)
    }
}

/// Follows a dotted path through objects (and numeric indexes through arrays).
pub fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Normalises one raw event (scrub it first: the raw event is kept as it is given).
pub fn normalize(raw: Value, opts: &NormalizeOptions) -> NormalizedEvent {
    normalize_raw(RawEvent::from(raw), opts)
}

/// [`normalize`], keeping the event's text as [`NormalizedEvent::raw_text`] when
/// normalising changes nothing in the tree. Scrub first, and pass the text only when
/// scrubbing changed nothing either: the text is then exactly the event Strix keeps.
pub fn normalize_raw(raw: RawEvent, opts: &NormalizeOptions) -> NormalizedEvent {
    let RawEvent {
        value: mut raw,
        text: sent_text,
    } = raw;
    let lim = &opts.limits;
    let mut changed = false;
    if !raw.is_object() {
        raw = Value::Object(Map::new());
        changed = true;
    }
    changed |= cap_breadcrumbs(&mut raw, lim.max_breadcrumbs);

    let sent_id = raw.get("event_id").and_then(Value::as_str);
    let event_id = sent_id
        .and_then(normalize_event_id)
        .unwrap_or_else(new_event_id);
    if sent_id != Some(event_id.as_str()) {
        if let Some(m) = raw.as_object_mut() {
            m.insert("event_id".into(), Value::String(event_id.clone()));
            changed = true;
        }
    }
    let received = opts.received_ms;
    let sdk_timestamp = raw.get("timestamp").and_then(parse_timestamp_ms);
    let timestamp = clamp_timestamp(sdk_timestamp, received, lim.max_event_age);
    if let (Some(sdk), Some(m)) = (sdk_timestamp, raw.as_object_mut()) {
        if sdk != timestamp {
            changed = true;
            // Keep what the SDK said beside the value we use, as Sentry notes clock drift.
            let original = m.get("timestamp").cloned().unwrap_or(Value::Null);
            let note = json!({
                "timestamp": {
                    "original": original,
                    "reason": if sdk > timestamp { "future_timestamp" } else { "past_timestamp" },
                }
            });
            match m.get_mut("strix") {
                Some(Value::Object(s)) => s.extend(note.as_object().cloned().unwrap_or_default()),
                _ => {
                    m.insert("strix".into(), note);
                }
            }
            m.insert("timestamp".into(), Value::from(timestamp as f64 / 1000.0));
        }
    }

    let text = |k: &str| {
        raw.get(k)
            .and_then(str_of)
            .filter(|s| !s.is_empty())
            .map(|s| truncate_owned(s, lim.max_text_bytes))
    };
    let exception = exceptions(&raw, lim);
    let level = raw
        .get("level")
        .and_then(Value::as_str)
        .and_then(Level::parse)
        .unwrap_or(Level::Error);
    let stacktrace = raw
        .get("stacktrace")
        .map(|s| frames(s, lim))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| thread_frames(&raw, lim));

    let mut e = NormalizedEvent {
        event_id,
        timestamp,
        received,
        level,
        platform: text("platform").unwrap_or_else(|| "other".into()),
        logger: text("logger"),
        environment: text("environment"),
        release: text("release"),
        server_name: text("server_name"),
        transaction: text("transaction"),
        message: message(&raw).map(|m| truncate_owned(m, lim.max_text_bytes)),
        exception,
        stacktrace,
        user: user(raw.get("user"), opts.client_ip.as_deref()),
        tags: tags(raw.get("tags"), lim),
        request: request(raw.get("request")),
        fingerprint: fingerprint(raw.get("fingerprint")),
        sdk: raw.get("sdk").filter(|s| s.is_object()).map(|s| Sdk {
            name: s.get("name").and_then(str_of),
            version: s.get("version").and_then(str_of),
        }),
        raw: Value::Null,
        raw_text: None,
    };
    // Extracted text was cut to its own limit above; the raw copy gets the raw limit.
    changed |= truncate_strings(&mut raw, lim.max_raw_string_bytes);
    e.raw = raw;
    e.raw_text = if changed { None } else { sent_text };
    e
}

/// Text of a scalar: strings as they are, numbers and booleans printed.
pub(crate) fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, with a marker saying how
/// much was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated {} bytes]", &s[..end], s.len() - end)
}

/// [`truncate`] of an owned string: no copy when it fits.
fn truncate_owned(s: String, max: usize) -> String {
    if s.len() <= max {
        s
    } else {
        truncate(&s, max)
    }
}

/// Cuts every string longer than `max`; whether any was.
fn truncate_strings(v: &mut Value, max: usize) -> bool {
    match v {
        Value::String(s) if s.len() > max => {
            *s = truncate(s, max);
            true
        }
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |cut, x| truncate_strings(x, max) | cut),
        Value::Object(m) => m
            .values_mut()
            .fold(false, |cut, x| truncate_strings(x, max) | cut),
        _ => false,
    }
}

fn breadcrumb_list(raw: &Value) -> &[Value] {
    match raw.get("breadcrumbs") {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(a)) => a,
            _ => &[],
        },
        _ => &[],
    }
}

/// Keeps the last `max` breadcrumbs; whether there were more.
fn cap_breadcrumbs(raw: &mut Value, max: usize) -> bool {
    let list = match raw.get_mut("breadcrumbs") {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get_mut("values") {
            Some(Value::Array(a)) => a,
            _ => return false,
        },
        _ => return false,
    };
    if list.len() <= max {
        return false;
    }
    let cut = list.len() - max;
    list.drain(..cut);
    true
}

/// Accepts 32 hex digits or a dashed UUID; returns 32 lowercase hex digits.
fn normalize_event_id(s: &str) -> Option<String> {
    let id: String = s.chars().filter(|c| *c != '-').collect();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

fn new_event_id() -> String {
    format!("{:032x}", ulid::Ulid::new().0)
}

/// The timestamp an event is filed under: the SDK's, unless it is more than a minute
/// ahead of `received` or older than `max_age` before it (then `received`); `received`
/// when the SDK gave none. No clamping without an arrival time (`received <= 0`).
pub fn clamp_timestamp(sdk: Option<i64>, received: i64, max_age: Duration) -> i64 {
    let Some(t) = sdk else {
        return received;
    };
    if received <= 0 {
        return t;
    }
    let max_age = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
    if t > received.saturating_add(60_000) || (max_age > 0 && t < received.saturating_sub(max_age))
    {
        received
    } else {
        t
    }
}

/// Float (or integer) seconds since the epoch, or an RFC 3339 string (a missing offset
/// means UTC, as older Python SDKs send).
pub fn parse_timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            (secs.is_finite() && secs > 0.0 && secs < 1e11).then(|| (secs * 1000.0).round() as i64)
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<f64>() {
                return parse_timestamp_ms(&Value::from(secs));
            }
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.timestamp_millis());
            }
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| t.and_utc().timestamp_millis())
        }
        _ => None,
    }
}

fn exceptions(raw: &Value, lim: &NormalizeLimits) -> Vec<Exception> {
    let list: Vec<&Value> = match raw.get("exception") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ if o.contains_key("type") || o.contains_key("value") => vec![&raw["exception"]],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let skip = list.len().saturating_sub(lim.max_exceptions);
    list.into_iter()
        .skip(skip)
        .filter(|e| e.is_object())
        .map(|e| Exception {
            ty: e
                .get("type")
                .and_then(str_of)
                .filter(|s| !s.is_empty())
                .map(|s| truncate_owned(s, 256)),
            value: e
                .get("value")
                .and_then(|v| str_of(v).or_else(|| (!v.is_null()).then(|| v.to_string())))
                .filter(|s| !s.is_empty())
                .map(|s| truncate_owned(s, lim.max_text_bytes)),
            module: e.get("module").and_then(str_of),
            mechanism: e.get("mechanism").filter(|m| !m.is_null()).cloned(),
            frames: e
                .get("stacktrace")
                .map(|s| frames(s, lim))
                .unwrap_or_default(),
        })
        .filter(|e| e.ty.is_some() || e.value.is_some() || !e.frames.is_empty())
        .collect()
}

fn frames(stacktrace: &Value, lim: &NormalizeLimits) -> Vec<Frame> {
    let list: &[Value] = match stacktrace.get("frames") {
        Some(Value::Array(a)) => a,
        _ => match stacktrace {
            Value::Array(a) => a,
            _ => &[],
        },
    };
    let keep = |i: usize| {
        list.len() <= lim.max_frames
            || i < lim.max_frames / 2
            || i >= list.len() - (lim.max_frames - lim.max_frames / 2)
    };
    list.iter()
        .enumerate()
        .filter(|(i, f)| keep(*i) && f.is_object())
        .map(|(_, f)| {
            // One pass over the frame's members rather than a lookup per field.
            let mut frame = Frame::default();
            let Value::Object(members) = f else {
                return frame;
            };
            let s = |v: &Value| str_of(v).filter(|s| !s.is_empty());
            let n = |v: &Value| {
                v.as_u64()
                    .or_else(|| v.as_str()?.parse().ok())
                    .and_then(|n| u32::try_from(n).ok())
            };
            for (k, v) in members {
                match k.as_str() {
                    "function" => frame.function = s(v),
                    "module" => frame.module = s(v),
                    "filename" => frame.filename = s(v),
                    "abs_path" => frame.abs_path = s(v),
                    "lineno" => frame.lineno = n(v),
                    "colno" => frame.colno = n(v),
                    "in_app" => frame.in_app = v.as_bool(),
                    "context_line" => frame.context_line = s(v).map(|c| truncate_owned(c, 512)),
                    _ => {}
                }
            }
            frame
        })
        .collect()
}

/// The stack of the crashed thread, else the current one, else the only one.
fn thread_frames(raw: &Value, lim: &NormalizeLimits) -> Vec<Frame> {
    let threads: &[Value] = match raw.get("threads") {
        Some(Value::Object(o)) => o.get("values").and_then(Value::as_array).map_or(&[], |a| a),
        Some(Value::Array(a)) => a,
        _ => return Vec::new(),
    };
    let flag = |t: &&Value, k: &str| t.get(k).and_then(Value::as_bool) == Some(true);
    threads
        .iter()
        .find(|t| flag(t, "crashed"))
        .or_else(|| threads.iter().find(|t| flag(t, "current")))
        .or_else(|| (threads.len() == 1).then(|| &threads[0]))
        .and_then(|t| t.get("stacktrace"))
        .map(|s| frames(s, lim))
        .unwrap_or_default()
}

/// `logentry.formatted`, else `message` (string, or object like `logentry`), else
/// `logentry.message` with its params applied.
fn message(raw: &Value) -> Option<String> {
    fn from_entry(e: &Value) -> Option<String> {
        if let Some(f) = e
            .get("formatted")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return Some(f.to_owned());
        }
        let m = e.get("message").and_then(Value::as_str)?;
        Some(match e.get("params") {
            Some(p) => apply_params(m, p),
            None => m.to_owned(),
        })
    }
    let entry = raw.get("logentry").and_then(from_entry);
    let message = match raw.get("message") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(m @ Value::Object(_)) => from_entry(m),
        _ => None,
    };
    let formatted = raw
        .get("logentry")
        .and_then(|e| e.get("formatted"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match formatted {
        Some(f) => Some(f.to_owned()),
        None => message.or(entry),
    }
    .filter(|s| !s.is_empty())
}

/// Substitutes `%s`-style placeholders (`%s %d %i %f %r`) with `params` in order, or
/// `%(name)s` from an object; `%%` is a literal percent.
pub fn apply_params(template: &str, params: &Value) -> String {
    let text = |v: &Value| str_of(v).unwrap_or_else(|| v.to_string());
    let mut out = String::with_capacity(template.len());
    let mut positional = params.as_array().map(|a| a.iter());
    let mut rest = template;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        match after.chars().next() {
            Some('%') => {
                out.push('%');
                rest = &after[1..];
            }
            Some(c @ ('s' | 'd' | 'i' | 'f' | 'r')) => {
                match positional.as_mut().and_then(Iterator::next) {
                    Some(v) => out.push_str(&text(v)),
                    None => {
                        out.push('%');
                        out.push(c);
                    }
                }
                rest = &after[1..];
            }
            Some('(') => {
                let named = after.find(')').and_then(|end| {
                    let conv = after[end + 1..].chars().next()?;
                    let v = params.get(&after[1..end])?;
                    conv.is_ascii_alphabetic().then(|| (end + 2, text(v)))
                });
                match named {
                    Some((skip, t)) => {
                        out.push_str(&t);
                        rest = &after[skip..];
                    }
                    None => {
                        out.push('%');
                        rest = after;
                    }
                }
            }
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn user(u: Option<&Value>, client_ip: Option<&str>) -> Option<User> {
    let u = u.filter(|u| u.is_object())?;
    let s = |k: &str| u.get(k).and_then(str_of).filter(|s| !s.is_empty());
    let ip = match s("ip_address") {
        Some(ip) if ip == "{{auto}}" => client_ip.map(str::to_owned),
        other => other,
    };
    let user = User {
        id: s("id"),
        email: s("email"),
        username: s("username"),
        ip_address: ip,
    };
    (user != User::default()).then_some(user)
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), str_of(v)?)))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| match p.as_array()?.as_slice() {
                [k, v] => Some((str_of(k)?, str_of(v)?)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn tags(v: Option<&Value>, lim: &NormalizeLimits) -> BTreeMap<String, String> {
    pairs(v)
        .into_iter()
        .filter(|(k, _)| !k.is_empty())
        .take(lim.max_tags)
        .map(|(k, v)| {
            (
                truncate_owned(k, lim.max_tag_bytes),
                truncate_owned(v, lim.max_tag_bytes),
            )
        })
        .collect()
}

fn request(r: Option<&Value>) -> Option<Request> {
    let r = r.filter(|r| r.is_object())?;
    let query = match r.get("query_string") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.trim_start_matches('?').to_owned()),
        q @ Some(Value::Object(_) | Value::Array(_)) => {
            let p = pairs(q);
            (!p.is_empty()).then(|| {
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(p)
                    .finish()
            })
        }
        _ => None,
    };
    Some(Request {
        url: r.get("url").and_then(str_of),
        method: r.get("method").and_then(str_of),
        headers: pairs(r.get("headers")).into_iter().collect(),
        query,
    })
}

fn fingerprint(v: Option<&Value>) -> Option<Vec<String>> {
    let list: Vec<String> = v?.as_array()?.iter().filter_map(str_of).collect();
    (!list.is_empty()).then_some(list)
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
