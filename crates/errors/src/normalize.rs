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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::json::{self, Json, Node};
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
    /// `timestamp` is the arrival time, not the SDK's: it sent none, or one
    /// [`clamp_timestamp`] replaced. A retry of the event arrives later, so it is found
    /// by its id alone.
    #[serde(default)]
    pub filed_at_arrival: bool,
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
    /// The whole event as received, after scrubbing and truncation; `None` when the event
    /// is kept as the text it was sent as ([`raw_text`](Self::raw_text)), which then says
    /// exactly this (see [`NormalizedEvent::raw`]).
    pub raw: Option<Value>,
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

    /// The whole raw event as a tree: [`raw`](Self::raw), or the kept text parsed.
    pub fn raw(&self) -> Cow<'_, Value> {
        match (&self.raw, &self.raw_text) {
            (Some(v), _) => Cow::Borrowed(v),
            (None, Some(text)) => Cow::Owned(serde_json::from_slice(text).unwrap_or(Value::Null)),
            (None, None) => Cow::Owned(Value::Null),
        }
    }

    /// Raw `contexts` (os, runtime, browser, trace, …), `null` when absent.
    pub fn contexts(&self) -> Value {
        self.raw().get("contexts").cloned().unwrap_or(Value::Null)
    }

    /// Raw breadcrumbs, the most recent ones, oldest first.
    pub fn breadcrumbs(&self) -> Vec<Value> {
        let raw = self.raw();
        breadcrumb_list(raw.as_ref()).map_or_else(Vec::new, |b| b.items().cloned().collect())
    }

    /// A member of the raw event by dotted path (`extra.component`, `tags.x`).
    pub fn raw_path(&self, path: &str) -> Option<Value> {
        lookup(self.raw().as_ref(), path).cloned()
    }
}

/// Follows a dotted path through objects (and numeric indexes through arrays).
pub fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    json::lookup(v, path)
}

/// Normalises one raw event (scrub it first: the raw event is kept as it is given).
pub fn normalize(raw: Value, opts: &NormalizeOptions) -> NormalizedEvent {
    normalize_raw(RawEvent::from(raw), opts)
}

/// [`normalize`], keeping the event's text as [`NormalizedEvent::raw_text`] when
/// normalising changes nothing in the tree. Scrub first, and pass the text only when
/// scrubbing changed nothing either: the text is then exactly the event Strix keeps.
pub fn normalize_raw(raw: RawEvent, opts: &NormalizeOptions) -> NormalizedEvent {
    match raw {
        RawEvent::Tree { value, text } => normalize_tree(value, text, opts),
        RawEvent::Text { text, .. } => {
            let read = json::with_tape(&text, |t| read_unchanged(t, opts));
            match read.flatten() {
                Some(mut e) => {
                    e.raw_text = Some(text);
                    e
                }
                None => {
                    let (value, text) = crate::limits::reparse(text);
                    normalize_tree(value, text, opts)
                }
            }
        }
    }
}

/// The event id and timestamp of an event that normalising would leave as it is, `None`
/// when it would change it: not an object, too many breadcrumbs, an event id that is
/// missing or not written as Strix keeps it, a timestamp out of range, a string over the
/// raw limit, or a repeated key (a read-only tree keeps each copy; the edited tree keeps
/// the last one only).
fn unchanged<'a, J: Json<'a>>(raw: J, opts: &NormalizeOptions) -> Option<(String, i64, bool)> {
    let lim = &opts.limits;
    if !raw.is_object() || breadcrumb_list(raw).map_or(0, Json::array_len) > lim.max_breadcrumbs {
        return None;
    }
    let sent_id = raw.get("event_id").and_then(Json::as_str)?;
    if normalize_event_id(sent_id).as_deref() != Some(sent_id) {
        return None;
    }
    let sdk_timestamp = raw.get("timestamp").and_then(parse_timestamp_ms);
    let timestamp = clamp_timestamp(sdk_timestamp, opts.received_ms, lim.max_event_age);
    if sdk_timestamp.is_some_and(|t| t != timestamp)
        || json::has_long_string_or_repeated_key(raw, lim.max_raw_string_bytes)
    {
        return None;
    }
    Some((sent_id.to_owned(), timestamp, sdk_timestamp.is_none()))
}

/// The normalised event read from `raw` when normalising would leave `raw` as it is
/// ([`unchanged`]); `raw` and `raw_text` are left to the caller.
pub(crate) fn read_unchanged<'a, J: Json<'a>>(
    raw: J,
    opts: &NormalizeOptions,
) -> Option<NormalizedEvent> {
    unchanged(raw, opts)
        .map(|(id, timestamp, at_arrival)| fields(raw, id, (timestamp, at_arrival), opts))
}

/// Normalising an editable tree: the event id, timestamp, breadcrumb cap and string
/// truncation are applied to it.
fn normalize_tree(
    mut raw: Value,
    sent_text: Option<Vec<u8>>,
    opts: &NormalizeOptions,
) -> NormalizedEvent {
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

    let at_arrival = sdk_timestamp != Some(timestamp);
    let mut e = fields(&raw, event_id, (timestamp, at_arrival), opts);
    // Extracted text was cut to its own limit above; the raw copy gets the raw limit.
    changed |= truncate_strings(&mut raw, lim.max_raw_string_bytes);
    e.raw = Some(raw);
    e.raw_text = if changed { None } else { sent_text };
    e
}

/// What Strix reads from an event, once its id and timestamp (and whether that is the
/// arrival time) are settled (`raw` and `raw_text` are left to the caller).
fn fields<'a, J: Json<'a>>(
    raw: J,
    event_id: String,
    (timestamp, filed_at_arrival): (i64, bool),
    opts: &NormalizeOptions,
) -> NormalizedEvent {
    let lim = &opts.limits;
    let text = |k: &str| {
        raw.get(k)
            .and_then(str_of)
            .filter(|s| !s.is_empty())
            .map(|s| truncate_owned(s, lim.max_text_bytes))
    };
    let level = raw
        .get("level")
        .and_then(Json::as_str)
        .and_then(Level::parse)
        .unwrap_or(Level::Error);
    let stacktrace = raw
        .get("stacktrace")
        .map(|s| frames(s, lim))
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| thread_frames(raw, lim));
    NormalizedEvent {
        event_id,
        timestamp,
        filed_at_arrival,
        received: opts.received_ms,
        level,
        platform: text("platform").unwrap_or_else(|| "other".into()),
        logger: text("logger"),
        environment: text("environment"),
        release: text("release"),
        server_name: text("server_name"),
        transaction: text("transaction"),
        message: message(raw).map(|m| truncate_owned(m, lim.max_text_bytes)),
        exception: exceptions(raw, lim),
        stacktrace,
        user: user(raw.get("user"), opts.client_ip.as_deref()),
        tags: tags(raw.get("tags"), lim),
        request: request(raw.get("request")),
        fingerprint: fingerprint(raw.get("fingerprint")),
        sdk: raw.get("sdk").filter(|s| s.is_object()).map(|s| Sdk {
            name: s.get("name").and_then(str_of),
            version: s.get("version").and_then(str_of),
        }),
        raw: None,
        raw_text: None,
    }
}

/// Text of a scalar: strings as they are, numbers and booleans printed.
pub(crate) fn str_of<'a, J: Json<'a>>(v: J) -> Option<String> {
    match v.node() {
        Node::Str(s) => Some(s.to_owned()),
        Node::Number => v.number_text(),
        Node::Bool(b) => Some(b.to_string()),
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

/// The list of `breadcrumbs`, given as a list or as `{values: [...]}`.
fn breadcrumb_list<'a, J: Json<'a>>(raw: J) -> Option<J> {
    let b = raw.get("breadcrumbs")?;
    if b.is_array() {
        Some(b)
    } else {
        b.get("values").filter(|v| v.is_array())
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
pub fn parse_timestamp_ms<'a, J: Json<'a>>(v: J) -> Option<i64> {
    let from_secs = |secs: f64| {
        (secs.is_finite() && secs > 0.0 && secs < 1e11).then(|| (secs * 1000.0).round() as i64)
    };
    match v.node() {
        Node::Number => from_secs(v.as_f64()?),
        Node::Str(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<f64>() {
                return from_secs(secs);
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

fn exceptions<'a, J: Json<'a>>(raw: J, lim: &NormalizeLimits) -> Vec<Exception> {
    let list: Vec<J> = match raw.get("exception") {
        Some(x) => match x.node() {
            Node::Array => x.items().collect(),
            Node::Object => match x.get("values").filter(|v| v.is_array()) {
                Some(a) => a.items().collect(),
                None if x.get("type").is_some() || x.get("value").is_some() => vec![x],
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        None => Vec::new(),
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
                .and_then(|v| {
                    str_of(v).or_else(|| (!v.is_null()).then(|| v.to_value().to_string()))
                })
                .filter(|s| !s.is_empty())
                .map(|s| truncate_owned(s, lim.max_text_bytes)),
            module: e.get("module").and_then(str_of),
            mechanism: e
                .get("mechanism")
                .filter(|m| !m.is_null())
                .map(Json::to_value),
            frames: e
                .get("stacktrace")
                .map(|s| frames(s, lim))
                .unwrap_or_default(),
        })
        .filter(|e| e.ty.is_some() || e.value.is_some() || !e.frames.is_empty())
        .collect()
}

fn frames<'a, J: Json<'a>>(stacktrace: J, lim: &NormalizeLimits) -> Vec<Frame> {
    let list = match stacktrace.get("frames").filter(|f| f.is_array()) {
        Some(f) => f,
        None => stacktrace,
    };
    let len = list.array_len();
    let keep = |i: usize| {
        len <= lim.max_frames
            || i < lim.max_frames / 2
            || i >= len - (lim.max_frames - lim.max_frames / 2)
    };
    list.items()
        .enumerate()
        .filter(|(i, f)| keep(*i) && f.is_object())
        .map(|(_, f)| {
            // One pass over the frame's members rather than a lookup per field.
            let mut frame = Frame::default();
            let s = |v: J| str_of(v).filter(|s| !s.is_empty());
            let n = |v: J| {
                v.as_u64()
                    .or_else(|| v.as_str()?.parse().ok())
                    .and_then(|n| u32::try_from(n).ok())
            };
            for (k, v) in f.members() {
                match k {
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
fn thread_frames<'a, J: Json<'a>>(raw: J, lim: &NormalizeLimits) -> Vec<Frame> {
    let Some(threads) = raw.get("threads") else {
        return Vec::new();
    };
    let threads: Vec<J> = match threads.node() {
        Node::Object => threads
            .get("values")
            .map(|v| v.items().collect())
            .unwrap_or_default(),
        Node::Array => threads.items().collect(),
        _ => return Vec::new(),
    };
    let flag = |t: &J, k: &str| t.get(k).and_then(Json::as_bool) == Some(true);
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
fn message<'a, J: Json<'a>>(raw: J) -> Option<String> {
    fn from_entry<'a, J: Json<'a>>(e: J) -> Option<String> {
        if let Some(f) = e
            .get("formatted")
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
        {
            return Some(f.to_owned());
        }
        let m = e.get("message").and_then(Json::as_str)?;
        Some(match e.get("params") {
            Some(p) => apply_params(m, p),
            None => m.to_owned(),
        })
    }
    let entry = raw.get("logentry").and_then(from_entry);
    let message = raw.get("message").and_then(|m| match m.node() {
        Node::Str(s) if !s.is_empty() => Some(s.to_owned()),
        Node::Object => from_entry(m),
        _ => None,
    });
    let formatted = raw
        .get("logentry")
        .and_then(|e| e.get("formatted"))
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty());
    match formatted {
        Some(f) => Some(f.to_owned()),
        None => message.or(entry),
    }
    .filter(|s| !s.is_empty())
}

/// Substitutes `%s`-style placeholders (`%s %d %i %f %r`) with `params` in order, or
/// `%(name)s` from an object; `%%` is a literal percent.
pub fn apply_params<'a, J: Json<'a>>(template: &str, params: J) -> String {
    let text = |v: J| str_of(v).unwrap_or_else(|| v.to_value().to_string());
    let mut out = String::with_capacity(template.len());
    let mut positional = params.is_array().then(|| params.items());
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

fn user<'a, J: Json<'a>>(u: Option<J>, client_ip: Option<&str>) -> Option<User> {
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

/// Key-value pairs of an object (in key order, whichever tree it is read from) or of a
/// list of `[key, value]` lists (in list order).
fn pairs<'a, J: Json<'a>>(v: Option<J>) -> Vec<(String, String)> {
    let Some(v) = v else { return Vec::new() };
    match v.node() {
        Node::Object => {
            let mut p: Vec<(String, String)> = v
                .members()
                .filter_map(|(k, v)| Some((k.to_owned(), str_of(v)?)))
                .collect();
            p.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            p
        }
        Node::Array => v
            .items()
            .filter_map(|p| {
                if !p.is_array() || p.array_len() != 2 {
                    return None;
                }
                Some((str_of(p.item(0)?)?, str_of(p.item(1)?)?))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn tags<'a, J: Json<'a>>(v: Option<J>, lim: &NormalizeLimits) -> BTreeMap<String, String> {
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

fn request<'a, J: Json<'a>>(r: Option<J>) -> Option<Request> {
    let r = r.filter(|r| r.is_object())?;
    let query = r.get("query_string").and_then(|q| match q.node() {
        Node::Str(s) if !s.is_empty() => Some(s.trim_start_matches('?').to_owned()),
        Node::Object | Node::Array => {
            let p = pairs(Some(q));
            (!p.is_empty()).then(|| {
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(p)
                    .finish()
            })
        }
        _ => None,
    });
    Some(Request {
        url: r.get("url").and_then(str_of),
        method: r.get("method").and_then(str_of),
        headers: pairs(r.get("headers")).into_iter().collect(),
        query,
    })
}

fn fingerprint<'a, J: Json<'a>>(v: Option<J>) -> Option<Vec<String>> {
    let v = v.filter(|v| v.is_array())?;
    let list: Vec<String> = v.items().filter_map(str_of).collect();
    (!list.is_empty()).then_some(list)
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
