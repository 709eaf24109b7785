//! Grouping events into issues: a stable hash, a title and a culprit.
//!
//! The hash is computed from *components*, in this order of preference:
//!
//! 1. The SDK's `fingerprint`, each entry literal except variables: `{{ default }}`
//!    expands to the components below (as Sentry does), and `{{ type }}`, `{{ value }}`,
//!    `{{ function }}`, `{{ module }}`, `{{ transaction }}`, `{{ level }}`,
//!    `{{ logger }}` and `{{ message }}` to the event's own.
//! 2. The exception chain: each exception's type plus the module and function of its
//!    in-app frames (all frames when none is in-app). File names, line and column
//!    numbers are left out, so a deploy that shifts code does not split issues; an
//!    exception without usable frames contributes its normalised value instead.
//! 3. The message, normalised ([`normalize_message`]): numbers, hex, UUIDs, e-mail and
//!    IP addresses, dates and quoted values become placeholders. A message event whose
//!    only exception is *synthetic* (`mechanism.synthetic`, as `@sentry/node` sends for
//!    `captureMessage`) counts as a message event.
//!
//! The hash is the first 128 bits of SHA-256 over a version tag and the components, in
//! hex; changing the algorithm means a new tag, never reinterpreting old hashes.

use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::normalize::{Frame, NormalizedEvent};

/// Prefix of every hashed input; bump when the algorithm changes.
const VERSION_TAG: &str = "strix-group-v1";
/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// What grouping used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Fingerprint,
    Exception,
    Message,
    Fallback,
}

/// The result of grouping one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouping {
    /// 32 lowercase hex digits; equal hashes mean the same issue.
    pub hash: String,
    /// `TypeError: Cannot read properties of undefined`, or the message's first line.
    pub title: String,
    /// `module in function` of the top in-app frame, else the transaction.
    pub culprit: Option<String>,
    pub method: Method,
    /// What was hashed, for explaining a grouping decision.
    pub components: Vec<String>,
}

/// Groups one event.
pub fn group(e: &NormalizedEvent) -> Grouping {
    let (default_method, default) = default_components(e);
    let (method, components) = match &e.fingerprint {
        Some(fp) => {
            let mut out = Vec::new();
            for entry in fp {
                expand(entry, e, &default, &mut out);
            }
            (Method::Fingerprint, out)
        }
        None => (default_method, default),
    };
    Grouping {
        hash: hash(&components),
        title: title(e),
        culprit: culprit(e),
        method,
        components,
    }
}

/// Stable hex hash of components.
pub fn hash(components: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(VERSION_TAG.as_bytes());
    for c in components {
        h.update([0u8]);
        h.update(c.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The components used when the SDK sends no fingerprint.
pub fn default_components(e: &NormalizedEvent) -> (Method, Vec<String>) {
    let mut out = Vec::new();
    let exceptions: &[_] = if e.is_message_event() {
        &[]
    } else {
        &e.exception
    };
    for ex in exceptions {
        out.push(format!("type:{}", ex.ty.as_deref().unwrap_or("Error")));
        let before = out.len();
        push_frames(&ex.frames, &mut out);
        if out.len() == before {
            if let Some(v) = &ex.value {
                out.push(format!("value:{}", normalize_message(v)));
            }
        }
    }
    if !out.is_empty() {
        return (Method::Exception, out);
    }
    if let Some(m) = &e.message {
        out.push(format!("message:{}", normalize_message(m)));
        return (Method::Message, out);
    }
    if !e.stacktrace.is_empty() {
        push_frames(&e.stacktrace, &mut out);
        if !out.is_empty() {
            return (Method::Exception, out);
        }
    }
    out.push(format!(
        "fallback:{}:{}",
        e.platform,
        e.transaction.as_deref().unwrap_or_default()
    ));
    (Method::Fallback, out)
}

fn push_frames(frames: &[Frame], out: &mut Vec<String>) {
    let any_in_app = frames.iter().any(Frame::is_in_app);
    for f in frames.iter().filter(|f| !any_in_app || f.is_in_app()) {
        let module = f.module.as_deref().map(normalize_module);
        let function = f.function.as_deref().map(normalize_function);
        if module.is_none() && function.is_none() {
            continue;
        }
        out.push(format!(
            "frame:{}:{}",
            module.unwrap_or_default(),
            function.unwrap_or_default()
        ));
    }
}

/// Bundler hashes in module names (`main.3f2a9c1b`) vary per build.
fn normalize_module(m: &str) -> String {
    match PATTERNS.as_ref() {
        Some(p) => p
            .hex_word
            .replace_all(m, |c: &Captures<'_>| {
                if c[0].bytes().any(|b| b.is_ascii_digit()) {
                    "<hex>".to_owned()
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned(),
        None => m.to_owned(),
    }
}

/// `async foo` and `foo` are the same function.
fn normalize_function(f: &str) -> String {
    f.trim_start_matches("async ").to_owned()
}

fn expand(entry: &str, e: &NormalizedEvent, default: &[String], out: &mut Vec<String>) {
    let t = entry.trim();
    let var = t
        .strip_prefix("{{")
        .and_then(|r| r.strip_suffix("}}"))
        .map(|v| v.trim().to_ascii_lowercase());
    let main = e.main_exception();
    let top = top_in_app(e.frames());
    let value = match var.as_deref() {
        None => Some(entry.to_owned()),
        Some("default") => {
            out.extend(default.iter().cloned());
            return;
        }
        Some("type" | "error.type") => main.and_then(|m| m.ty.clone()),
        Some("value" | "error.value") => {
            main.and_then(|m| m.value.as_deref().map(normalize_message))
        }
        Some("function") => top.and_then(|f| f.function.clone()),
        Some("module") => top.and_then(|f| f.module.clone()),
        Some("transaction") => e.transaction.clone(),
        Some("level") => Some(e.level.as_str().to_owned()),
        Some("logger") => e.logger.clone(),
        Some("message") => e.message.as_deref().map(normalize_message),
        Some(_) => Some(entry.to_owned()),
    };
    out.push(format!("fp:{}", value.unwrap_or_default()));
}

/// The innermost in-app frame (the last one), else the innermost frame.
fn top_in_app(frames: &[Frame]) -> Option<&Frame> {
    frames
        .iter()
        .rev()
        .find(|f| f.is_in_app())
        .or_else(|| frames.last())
}

/// The issue title.
pub fn title(e: &NormalizedEvent) -> String {
    let t = match e.main_exception().filter(|_| !e.is_message_event()) {
        Some(ex) => {
            let value = ex
                .value
                .as_deref()
                .map(first_line)
                .filter(|v| !v.is_empty());
            match (ex.ty.as_deref(), value) {
                (Some(ty), Some(v)) => format!("{ty}: {v}"),
                (Some(ty), None) => ty.to_owned(),
                (None, Some(v)) => v.to_owned(),
                (None, None) => "Error".to_owned(),
            }
        }
        None => match &e.message {
            Some(m) => first_line(m).to_owned(),
            None => e
                .transaction
                .clone()
                .unwrap_or_else(|| "<unlabeled event>".to_owned()),
        },
    };
    if t.chars().count() > MAX_TITLE_CHARS {
        let cut: String = t.chars().take(MAX_TITLE_CHARS).collect();
        format!("{cut}…")
    } else {
        t
    }
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or_default().trim()
}

/// `module in function` of the top in-app frame (file name when there is no module).
pub fn culprit(e: &NormalizedEvent) -> Option<String> {
    let f = top_in_app(e.frames());
    let place = f.and_then(|f| {
        f.module
            .clone()
            .or_else(|| f.filename.clone())
            .or_else(|| f.abs_path.clone())
    });
    match (place, f.and_then(|f| f.function.clone())) {
        (Some(p), Some(func)) => Some(format!("{p} in {func}")),
        (Some(p), None) => Some(p),
        (None, Some(func)) => Some(func),
        (None, None) => e.transaction.clone(),
    }
}

/// The built-in patterns. Constants checked by a test; should one fail to compile,
/// messages and modules are hashed as they are rather than panicking.
struct Patterns {
    normalizers: Vec<(Regex, &'static str)>,
    hex_word: Regex,
    float: Regex,
    int: Regex,
}

const NORMALIZERS: &[(&str, &str)] = &[
    (r#""(?:[^"\\]|\\.)*""#, "<str>"),
    (r"(^|[\s(\[{=:,])'[^'\n]*'", "${1}<str>"),
    (r"(^|[\s(\[{=:,])`[^`\n]*`", "${1}<str>"),
    (
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        "<uuid>",
    ),
    (
        r"[A-Za-z0-9._%+*\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
        "<email>",
    ),
    (
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
        "<date>",
    ),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>"),
    (
        r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|\b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:?){1,6}\b",
        "<ip>",
    ),
    (r"\b0[xX][0-9a-fA-F]+\b", "<hex>"),
];

impl Patterns {
    fn new() -> Result<Self, regex::Error> {
        Ok(Patterns {
            normalizers: NORMALIZERS
                .iter()
                .map(|(s, r)| Ok((Regex::new(s)?, *r)))
                .collect::<Result<_, regex::Error>>()?,
            hex_word: Regex::new(r"\b[0-9a-fA-F]{8,}\b")?,
            // Only the left edge is a word boundary: `30s` and `500ms` normalise, `utf8`
            // and `v2` do not.
            float: Regex::new(r"\b\d+\.\d+")?,
            int: Regex::new(r"\b\d+")?,
        })
    }
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| Patterns::new().ok());

/// Replaces the variable parts of a message with placeholders, so
/// `Error 42 at 0xdeadbeef for "bob"` → `Error <int> at <hex> for <str>`.
pub fn normalize_message(m: &str) -> String {
    let mut s = m.trim().to_owned();
    let Some(p) = PATTERNS.as_ref() else {
        return s;
    };
    for (re, rep) in &p.normalizers {
        if re.is_match(&s) {
            s = re.replace_all(&s, *rep).into_owned();
        }
    }
    s = p
        .hex_word
        .replace_all(&s, |c: &Captures<'_>| {
            let w = &c[0];
            let digit = w.bytes().any(|b| b.is_ascii_digit());
            let letter = w.bytes().any(|b| b.is_ascii_alphabetic());
            if digit && letter {
                "<hex>".to_owned()
            } else {
                w.to_owned()
            }
        })
        .into_owned();
    s = p.float.replace_all(&s, "<float>").into_owned();
    p.int.replace_all(&s, "<int>").into_owned()
}

#[cfg(test)]
#[path = "fingerprint_tests.rs"]
mod tests;
