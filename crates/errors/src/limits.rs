//! Caps on what one payload may cost, and the one JSON entry point that enforces them.
//!
//! Decompression caps live in strix-ingest ([`strix_ingest::DecodeLimits`]); these apply
//! to the decompressed envelope: item count, item size, event size and JSON depth.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use crate::Error;

/// serde_json refuses documents nested 128 levels deep on its own; our limit stays below
/// that so the clearer [`Error::TooDeep`] is what a sender sees.
pub const MAX_JSON_DEPTH: usize = 120;

/// Caps applied while decoding envelopes and store bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayloadLimits {
    /// Most items one envelope may carry.
    pub max_items: usize,
    /// Largest payload of any one item (attachments included), in bytes.
    pub max_item_bytes: usize,
    /// Largest event or transaction payload, in bytes (Sentry's own limit is 1 MiB).
    pub max_event_bytes: usize,
    /// Deepest JSON nesting accepted (objects and arrays), at most [`MAX_JSON_DEPTH`].
    pub max_depth: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        PayloadLimits {
            max_items: 1000,
            max_item_bytes: 20 << 20,
            max_event_bytes: 1 << 20,
            max_depth: 100,
        }
    }
}

impl PayloadLimits {
    /// The effective depth limit: the configured one, never above [`MAX_JSON_DEPTH`].
    pub fn depth(&self) -> usize {
        self.max_depth.min(MAX_JSON_DEPTH)
    }
}

/// Parses `bytes` as JSON after checking its nesting depth. `what` names the document in
/// errors ("envelope item 0 (event)").
pub fn parse_json(bytes: &[u8], what: &str, max_depth: usize) -> Result<Value, Error> {
    check_depth(bytes, what, max_depth)?;
    serde_json::from_slice(bytes).map_err(|e| json_error(what, &e))
}

/// [`Error::TooDeep`] when `bytes` nest deeper than `max_depth` (at most
/// [`MAX_JSON_DEPTH`]).
fn check_depth(bytes: &[u8], what: &str, max_depth: usize) -> Result<(), Error> {
    let limit = max_depth.min(MAX_JSON_DEPTH);
    if json_depth(bytes) > limit {
        return Err(Error::TooDeep {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(())
}

fn json_error(what: &str, e: &serde_json::Error) -> Error {
    Error::Json {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

/// A raw event, as parsed from its text or built by Strix.
#[derive(Debug, Clone, PartialEq)]
pub enum RawEvent {
    /// A tree to scrub and normalise in place, and the text it was parsed from if that
    /// text says exactly what the tree holds (absent when an object in it repeats a key:
    /// the tree keeps only the last value of a repeated key, so what scrubbing sees of
    /// the tree would not cover the text).
    Tree { value: Value, text: Option<Vec<u8>> },
    /// An event's JSON text as received, its nesting depth checked. Processing parses it
    /// and reads it where it is parsed ([`crate::json::with_tape`]), keeping the text when
    /// scrubbing and normalising would change nothing; otherwise the text is parsed again
    /// into a tree to edit. Text that is not JSON is an error of
    /// [`crate::process`], naming the document as `what`.
    Text { text: Vec<u8>, what: String },
}

impl From<Value> for RawEvent {
    fn from(value: Value) -> RawEvent {
        RawEvent::Tree { value, text: None }
    }
}

impl RawEvent {
    /// The event as a [`Value`] (a repeated key keeps its last value).
    pub fn to_value(&self) -> Value {
        match self {
            RawEvent::Tree { value, .. } => value.clone(),
            RawEvent::Text { text, .. } => reparse(text.clone()).0,
        }
    }

    /// The text kept with the event, if any.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            RawEvent::Tree { text, .. } => text.as_deref(),
            RawEvent::Text { text, .. } => Some(text),
        }
    }
}

/// An event's text to be parsed where it is processed ([`RawEvent::Text`]), after the
/// depth check [`parse_json`] makes. Whether it is JSON at all is decided by
/// [`crate::process`], which parses it once.
pub fn parse_event_json(bytes: &[u8], what: &str, max_depth: usize) -> Result<RawEvent, Error> {
    check_depth(bytes, what, max_depth)?;
    Ok(RawEvent::Text {
        text: bytes.to_vec(),
        what: what.to_owned(),
    })
}

/// The text of a [`RawEvent::Text`] that the tape parser refused, parsed by serde_json,
/// whose verdict and error text are the ones a sender sees; the text is kept unless a key
/// repeats.
pub(crate) fn parse_text(text: Vec<u8>, what: &str) -> Result<TreeAndText, Error> {
    tree_keeping_text(text).map_err(|(_, e)| json_error(what, &e))
}

/// The text of a [`RawEvent::Text`] as a tree to edit, with the text kept unless a key
/// repeats. Should serde_json refuse what simd-json read, the tree simd-json reads is
/// converted instead and the text dropped.
pub(crate) fn reparse(text: Vec<u8>) -> TreeAndText {
    tree_keeping_text(text).unwrap_or_else(|(text, _)| {
        let tree = crate::json::with_tape(&text, |t| crate::json::Json::to_value(t));
        (tree.unwrap_or(Value::Null), None)
    })
}

/// A tree and the text kept with it (see [`RawEvent::Tree`]).
type TreeAndText = (Value, Option<Vec<u8>>);

/// `text` as a [`Value`], with the text unless an object repeats a key; the text back
/// with serde_json's error when it is not JSON.
fn tree_keeping_text(text: Vec<u8>) -> Result<TreeAndText, (Vec<u8>, serde_json::Error)> {
    match parse_tree(&text) {
        Ok((value, repeated)) => Ok((value, (!repeated).then_some(text))),
        Err(e) => Err((text, e)),
    }
}

/// `bytes` as a [`Value`], and whether an object in it repeats a key.
fn parse_tree(bytes: &[u8]) -> Result<(Value, bool), serde_json::Error> {
    let repeated = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Tree {
        repeated: &repeated,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v))?;
    Ok((value, repeated.get()))
}

/// Builds a [`Value`] as serde_json's own `Deserialize` does, noting in `repeated` when an
/// object repeats a key.
#[derive(Clone, Copy)]
struct Tree<'a> {
    repeated: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Tree<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tree<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            if members.insert(k, v).is_some() {
                self.repeated.set(true);
            }
        }
        Ok(Value::Object(members))
    }
}

/// The deepest nesting of `{`/`[` outside strings. Linear, no allocation; on malformed
/// input the figure is meaningless but the parser reports the real error afterwards.
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                // Skip the string: jump to the next quote or backslash.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', bytes.get(i..).unwrap_or_default()) {
                        None => return max,
                        Some(off) => {
                            i += off;
                            if bytes.get(i) == Some(&b'\\') {
                                i += 2;
                            } else {
                                break;
                            }
                        }
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a":"{{[[\"]]","b":[1,{"c":2}]}"#), 3);
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(br#"["a\\", ["b\"]"]]"#), 2);
        assert_eq!(json_depth(br#"[["unterminated \"#), 2);
    }

    #[test]
    fn too_deep_is_a_limit_error() {
        let deep = format!("{}{}", "[".repeat(30), "]".repeat(30));
        assert!(parse_json(deep.as_bytes(), "x", 30).is_ok());
        let e = parse_json(deep.as_bytes(), "store body", 29).unwrap_err();
        assert_eq!(
            e.to_string(),
            "store body: JSON nested deeper than the limit of 29 levels"
        );
        // Even a configured limit above serde_json's own gets our message.
        let deeper = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let e = parse_json(deeper.as_bytes(), "x", 10_000).unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooDeep {
                    limit: MAX_JSON_DEPTH,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn an_event_parses_to_the_same_tree_and_keeps_its_text() {
        let docs: &[&str] = &[
            r#"{"a":1,"b":-2,"c":1.5,"d":1e300,"e":18446744073709551616,"f":"x\u00e9\n","g":[true,false,null,{}],"h":{"i":[[]]}}"#,
            "  [1, 2.50, \"\\ud83d\\ude00\"]\r\n",
            "\"just a string\"",
            "-0",
        ];
        for doc in docs {
            let e = parse_event_json(doc.as_bytes(), "x", 10).unwrap();
            let want: Value = serde_json::from_str(doc).unwrap();
            assert!(matches!(e, RawEvent::Text { .. }), "{doc}");
            assert_eq!(e.to_value(), want, "{doc}");
            assert_eq!(e.text(), Some(doc.as_bytes()), "{doc}");
        }
    }

    #[test]
    fn an_event_repeating_a_key_keeps_no_text_once_parsed_to_edit() {
        // The edited tree keeps the last "note"; the text still holds the first.
        let reparsed = |doc: &[u8]| match parse_event_json(doc, "x", 10).unwrap() {
            RawEvent::Text { text, .. } => reparse(text),
            RawEvent::Tree { .. } => panic!("not kept as text"),
        };
        let doc = br#"{"extra":{"note":"4111 1111 1111 1111","note":"ok"},"z":1}"#;
        let (value, text) = reparsed(doc);
        assert_eq!(value["extra"]["note"], "ok");
        assert_eq!(text, None);
        assert_eq!(reparsed(br#"[{"a":{"b":1,"b":2}}]"#).1, None);
        // The same key in different objects is no repetition.
        let fine = br#"{"a":{"k":1},"b":{"k":2}}"#;
        assert_eq!(reparsed(fine).1.as_deref(), Some(&fine[..]));
    }

    #[test]
    fn an_event_is_held_to_the_same_limits_and_syntax() {
        let deep = format!("{}{}", "[".repeat(30), "]".repeat(30));
        assert!(parse_event_json(deep.as_bytes(), "x", 30).is_ok());
        assert!(matches!(
            parse_event_json(deep.as_bytes(), "x", 29),
            Err(Error::TooDeep { limit: 29, .. })
        ));
        let bad: [&[u8]; 22] = [
            b"{\"a\":",
            b"{} {}",
            b"[1,]",
            b"\"\\ud800\"",
            b"\xff",
            b"\"\xc3\"",
            b"01",
            b"1.",
            b".5",
            b"+1",
            b"[1 2]",
            b"{\"a\" 1}",
            b"tru",
            b"\"\x01\"",
            b"\"\\u12\"",
            b"\"\\x\"",
            b"NaN",
            b"[1]]",
            b"{\"a\":1,}",
            b"'a'",
            b"",
            b"{\"a\":1e}",
        ];
        let scrubber = crate::Scrubber::new(&Default::default()).unwrap();
        let categorizer = crate::Categorizer::new(&Default::default()).unwrap();
        for bad in bad {
            // The text is parsed where it is processed.
            let raw = parse_event_json(bad, "envelope item 0 (event)", 10).unwrap();
            let e = crate::process(raw, &scrubber, &categorizer, &Default::default()).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("envelope item 0 (event): invalid JSON: "),
                "{e}"
            );
            assert!(parse_json(bad, "x", 10).is_err());
        }
    }

    #[test]
    fn invalid_json_names_document() {
        let e = parse_json(b"{\"a\":", "envelope item 1 (event)", 10).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("envelope item 1 (event): invalid JSON: "),
            "{e}"
        );
    }
}
