//! Reading a JSON tree without caring which parser built it.
//!
//! Most events need no scrubbing and no normalising change: Strix only reads them, and
//! keeps their text. Those are read from a simd-json tape (one flat vector of nodes
//! pointing into the parse buffer: about 5 µs for a 5 KB event, against about 20 for a
//! [`serde_json::Value`] with its many allocations, and cheap to walk). Events that change
//! take the [`Value`] path, which can be edited in place. [`Json`] is what the scrubbing
//! decision, normalisation and categorisation read through, so both trees give the same
//! answers from the same code.

use std::cell::RefCell;

use serde_json::{Number, Value};
use simd_json::prelude::{TypedValue, ValueAsScalar, ValueIntoString, ValueType};
use simd_json::tape;

/// What a node is, with its text when it is a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Number,
    Str(&'a str),
    Array,
    Object,
}

/// A handle to a node of a read-only JSON tree.
pub trait Json<'a>: Copy + 'a {
    /// What this node is.
    fn node(self) -> Node<'a>;
    /// An object's member (the first of a repeated key: callers that care check
    /// [`has_long_string_or_repeated_key`] first).
    fn get(self, key: &str) -> Option<Self>;
    /// An object's members in order (nothing for other nodes).
    fn members(self) -> impl Iterator<Item = (&'a str, Self)>;
    /// An array's items in order (nothing for other nodes).
    fn items(self) -> impl Iterator<Item = Self>;
    /// An array's length (0 for other nodes).
    fn array_len(self) -> usize;
    fn as_u64(self) -> Option<u64>;
    fn as_i64(self) -> Option<i64>;
    fn as_f64(self) -> Option<f64>;

    fn as_str(self) -> Option<&'a str> {
        match self.node() {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Bool(b) => Some(b),
            _ => None,
        }
    }

    fn is_object(self) -> bool {
        self.node() == Node::Object
    }

    fn is_array(self) -> bool {
        self.node() == Node::Array
    }

    fn is_null(self) -> bool {
        self.node() == Node::Null
    }

    /// An array's item by position.
    fn item(self, i: usize) -> Option<Self> {
        self.items().nth(i)
    }

    /// A number as serde_json prints it.
    fn number_text(self) -> Option<String> {
        if let Some(u) = self.as_u64() {
            return Some(u.to_string());
        }
        if let Some(i) = self.as_i64() {
            return Some(i.to_string());
        }
        Number::from_f64(self.as_f64()?).map(|n| n.to_string())
    }

    /// The node as a [`serde_json::Value`] (a repeated key keeps its last value, as
    /// serde_json's parser does).
    fn to_value(self) -> Value {
        match self.node() {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Number => {
                if let Some(u) = self.as_u64() {
                    Value::from(u)
                } else if let Some(i) = self.as_i64() {
                    Value::from(i)
                } else {
                    self.as_f64()
                        .and_then(Number::from_f64)
                        .map_or(Value::Null, Value::Number)
                }
            }
            Node::Str(s) => Value::String(s.to_owned()),
            Node::Array => Value::Array(self.items().map(Json::to_value).collect()),
            Node::Object => Value::Object(
                self.members()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl<'a> Json<'a> for &'a Value {
    fn node(self) -> Node<'a> {
        match self {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(_) => Node::Number,
            Value::String(s) => Node::Str(s),
            Value::Array(_) => Node::Array,
            Value::Object(_) => Node::Object,
        }
    }

    fn get(self, key: &str) -> Option<Self> {
        self.as_object()?.get(key)
    }

    fn members(self) -> impl Iterator<Item = (&'a str, Self)> {
        Either::of(
            self.as_object()
                .map(|m| m.iter().map(|(k, v)| (k.as_str(), v))),
        )
    }

    fn items(self) -> impl Iterator<Item = Self> {
        Either::of(self.as_array().map(|a| a.iter()))
    }

    fn array_len(self) -> usize {
        self.as_array().map_or(0, Vec::len)
    }

    fn item(self, i: usize) -> Option<Self> {
        self.as_array()?.get(i)
    }

    fn as_u64(self) -> Option<u64> {
        Value::as_u64(self)
    }

    fn as_i64(self) -> Option<i64> {
        Value::as_i64(self)
    }

    fn as_f64(self) -> Option<f64> {
        Value::as_f64(self)
    }

    fn number_text(self) -> Option<String> {
        match self {
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn to_value(self) -> Value {
        self.clone()
    }
}

impl<'a> Json<'a> for Tape<'a> {
    fn node(self) -> Node<'a> {
        match TypedValue::value_type(&self) {
            ValueType::String => Node::Str(ValueIntoString::into_string(self).unwrap_or_default()),
            ValueType::Object => Node::Object,
            ValueType::Array => Node::Array,
            ValueType::Bool => Node::Bool(ValueAsScalar::as_bool(&self).unwrap_or_default()),
            ValueType::Null => Node::Null,
            _ => Node::Number,
        }
    }

    fn get(self, key: &str) -> Option<Self> {
        tape::Value::get(&self, key)
    }

    fn members(self) -> impl Iterator<Item = (&'a str, Self)> {
        Either::of(self.as_object().map(|o| o.iter()))
    }

    fn items(self) -> impl Iterator<Item = Self> {
        Either::of(self.as_array().map(|a| a.iter()))
    }

    fn array_len(self) -> usize {
        self.as_array().map_or(0, |a| a.len())
    }

    fn as_u64(self) -> Option<u64> {
        ValueAsScalar::as_u64(&self)
    }

    fn as_i64(self) -> Option<i64> {
        ValueAsScalar::as_i64(&self)
    }

    fn as_f64(self) -> Option<f64> {
        // Integers too, as serde_json's `as_f64` gives them.
        ValueAsScalar::cast_f64(&self)
    }
}

/// An iterator, or none (cheaper to step through than flattening an `Option`).
enum Either<I> {
    Some(I),
    None,
}

impl<I> Either<I> {
    fn of(i: Option<I>) -> Self {
        i.map_or(Either::None, Either::Some)
    }
}

impl<I: Iterator> Iterator for Either<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        match self {
            Either::Some(i) => i.next(),
            Either::None => None,
        }
    }
}

/// Whether the tree holds a string value longer than `max` bytes, or an object that
/// repeats a key: what an edited tree would not keep as sent.
pub fn has_long_string_or_repeated_key<'a, J: Json<'a>>(v: J, max: usize) -> bool {
    match v.node() {
        Node::Str(s) => s.len() > max,
        Node::Array => v.items().any(|x| has_long_string_or_repeated_key(x, max)),
        Node::Object => {
            // The keys seen so far: objects of up to `SMALL` members (nearly all) need
            // no allocation.
            const SMALL: usize = 16;
            let mut small = [""; SMALL];
            let mut more: Vec<&str> = Vec::new();
            for (i, (k, x)) in v.members().enumerate() {
                if small[..i.min(SMALL)].contains(&k)
                    || more.contains(&k)
                    || has_long_string_or_repeated_key(x, max)
                {
                    return true;
                }
                match small.get_mut(i) {
                    Some(slot) => *slot = k,
                    None => more.push(k),
                }
            }
            false
        }
        _ => false,
    }
}

/// Follows a dotted path through objects (and numeric indexes through arrays).
pub fn lookup<'a, J: Json<'a>>(v: J, path: &str) -> Option<J> {
    path.split('.').try_fold(v, |cur, seg| match cur.node() {
        Node::Object => cur.get(seg),
        Node::Array => seg.parse::<usize>().ok().and_then(|i| cur.item(i)),
        _ => None,
    })
}

/// A node of a simd-json tape (the tape and the parse buffer it points into share one
/// lifetime here).
pub type Tape<'a> = tape::Value<'a, 'a>;

/// The parse buffer and simd-json's working buffers, kept per thread for texts up to
/// [`KEEP_BYTES`] (a bigger one gets buffers of its own, freed after it).
struct Scratch {
    input: Vec<u8>,
    buffers: simd_json::Buffers,
}

const KEEP_BYTES: usize = 256 << 10;

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// Parses `text` into a simd-json tape and gives its root to `f`; `None` when the text is
/// not JSON that simd-json reads (callers fall back to serde_json, whose verdict and error
/// texts are the ones senders see).
///
/// Text with an escaped UTF-16 surrogate (`\ud800`) is left to serde_json too: simd-json
/// accepts a lone one, serde_json does not, and the text is what Strix stores.
pub fn with_tape<R>(text: &[u8], f: impl for<'t> FnOnce(Tape<'t>) -> R) -> Option<R> {
    fn run<R>(s: &mut Scratch, text: &[u8], f: impl for<'t> FnOnce(Tape<'t>) -> R) -> Option<R> {
        s.input.clear();
        s.input.extend_from_slice(text);
        let tape = simd_json::to_tape_with_buffers(&mut s.input, &mut s.buffers).ok()?;
        Some(f(tape.as_value()))
    }
    if escapes_a_surrogate(text) {
        return None;
    }
    let fresh = || Scratch {
        input: Vec::new(),
        buffers: simd_json::Buffers::new(text.len()),
    };
    if text.len() > KEEP_BYTES {
        return run(&mut fresh(), text, f);
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => run(slot.get_or_insert_with(fresh), text, f),
        // Called again from inside `f`: buffers of its own for this one.
        Err(_) => run(&mut fresh(), text, f),
    })
}

/// Whether `text` holds a `\u` escape of a UTF-16 surrogate (`\uD800`-`\uDFFF`). A
/// backslash escaping another (`\\ud800`, which is text) counts too: erring that way only
/// sends the event to serde_json.
fn escapes_a_surrogate(text: &[u8]) -> bool {
    memchr::memmem::find_iter(text, b"\\u").any(|i| {
        matches!(text.get(i + 2), Some(b'd' | b'D'))
            && matches!(
                text.get(i + 3),
                Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f` applied to both trees of `doc`.
    fn both<R: PartialEq + std::fmt::Debug>(doc: &str, f: impl Fn(Either<'_>) -> R) -> R {
        let value: Value = serde_json::from_str(doc).unwrap();
        let a = f(Either::Value(&value));
        let b = with_tape(doc.as_bytes(), |t| f(Either::Tape(t))).unwrap();
        assert_eq!(a, b, "{doc}");
        a
    }

    #[derive(Clone, Copy)]
    enum Either<'a> {
        Value(&'a Value),
        Tape(Tape<'a>),
    }

    macro_rules! on {
        ($e:expr, $t:ident => $body:expr) => {
            match $e {
                Either::Value($t) => $body,
                Either::Tape($t) => $body,
            }
        };
    }

    #[test]
    fn both_trees_read_the_same() {
        // (`-0` is the one number the two read differently: 0 from the tape, -0.0 from
        // serde_json; both print it as a number.)
        let doc = r#"{"s":"x\u00e9\n\"","n":[1,-2,2.5,1e2,18446744073709551615,18446744073709551616,0.1],
            "o":{"b":true,"z":null,"nested":{"k":[{"a":1}]}},"e":{},"a":[]}"#;
        let value: Value = serde_json::from_str(doc).unwrap();
        assert_eq!(both(doc, |e| on!(e, t => t.to_value())), value);
        assert_eq!(
            both(
                doc,
                |e| on!(e, t => t.get("s").and_then(Json::as_str).map(str::to_owned))
            ),
            Some("xé\n\"".to_owned())
        );
        let numbers = both(
            doc,
            |e| on!(e, t => t.get("n").unwrap().items().map(Json::number_text).collect::<Vec<_>>()),
        );
        let printed: Vec<Option<String>> = value["n"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| Some(n.to_string()))
            .collect();
        assert_eq!(numbers, printed);
        both(
            doc,
            |e| on!(e, t => t.get("n").unwrap().items().map(|n| (n.as_u64(), n.as_i64(), n.as_f64())).collect::<Vec<_>>()),
        );
        both(
            doc,
            |e| on!(e, t => lookup(t, "o.nested.k.0.a").map(Json::to_value)),
        );
        both(doc, |e| on!(e, t => lookup(t, "o.missing").is_none()));
        // Members come in document order from the tape, sorted from serde_json's map.
        both(doc, |e| {
            on!(e, t => {
                let mut m: Vec<_> = t.members().map(|(k, v)| (k.to_owned(), v.node(), v.array_len())).collect();
                m.sort_by(|a, b| a.0.cmp(&b.0));
                format!("{m:?}")
            })
        });
        both(
            doc,
            |e| on!(e, t => [usize::MAX, 3, 4].map(|max| has_long_string_or_repeated_key(t, max))),
        );
    }

    #[test]
    fn a_repeated_key_is_found_anywhere_and_the_last_value_wins_as_with_serde_json() {
        let doc = br#"{"a":[{"x":{"k":1,"k":2}}]}"#;
        assert_eq!(
            with_tape(doc, |t| has_long_string_or_repeated_key(t, usize::MAX)),
            Some(true)
        );
        let value: Value = serde_json::from_slice(doc).unwrap();
        assert_eq!(with_tape(doc, |t| t.to_value()), Some(value));
        assert_eq!(
            with_tape(br#"{"a":{"k":1},"b":{"k":2}}"#, |t| {
                has_long_string_or_repeated_key(t, usize::MAX)
            }),
            Some(false)
        );
    }

    #[test]
    fn a_repeated_key_is_found_in_objects_of_any_size() {
        let object = |keys: &[usize]| {
            let members: Vec<String> = keys.iter().map(|k| format!("\"k{k}\":{k}")).collect();
            format!("{{{}}}", members.join(","))
        };
        let odd =
            |doc: String| with_tape(doc.as_bytes(), |t| has_long_string_or_repeated_key(t, 100));
        let distinct: Vec<usize> = (0..40).collect();
        assert_eq!(odd(object(&distinct)), Some(false));
        for (first, again) in [(3, 9), (3, 30), (20, 35), (0, 39)] {
            let mut keys = distinct.clone();
            keys[again] = first;
            assert_eq!(odd(object(&keys)), Some(true), "{first} at {again}");
        }
    }

    #[test]
    fn texts_of_any_size_parse_and_the_kept_buffers_stay_small() {
        for n in [10, KEEP_BYTES + 1, 10] {
            let doc = format!("{{\"s\":\"{}\"}}", "x".repeat(n));
            let len = with_tape(doc.as_bytes(), |t| {
                t.get("s").and_then(Json::as_str).map(str::len)
            });
            assert_eq!(len, Some(Some(n)));
            let kept = SCRATCH.with(|c| c.borrow().as_ref().map_or(0, |s| s.input.capacity()));
            assert!(kept <= KEEP_BYTES, "{kept}");
        }
    }

    #[test]
    fn a_nested_parse_gets_its_own_buffers() {
        let inner = with_tape(b"[1,2]", |outer| {
            let x = with_tape(b"{\"x\":3}", |t| t.get("x").and_then(Json::as_u64));
            x.flatten().unwrap_or(0) + outer.array_len() as u64
        });
        assert_eq!(inner, Some(5));
    }
}
