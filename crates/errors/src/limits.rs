//! Caps on what one payload may cost, and the one JSON entry point that enforces them.
//!
//! Decompression caps live in strix-ingest ([`strix_ingest::DecodeLimits`]); these apply
//! to the decompressed envelope: item count, item size, event size and JSON depth.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    let limit = max_depth.min(MAX_JSON_DEPTH);
    if json_depth(bytes) > limit {
        return Err(Error::TooDeep {
            what: what.to_owned(),
            limit,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| Error::Json {
        what: what.to_owned(),
        message: e.to_string(),
    })
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
    fn invalid_json_names_document() {
        let e = parse_json(b"{\"a\":", "envelope item 1 (event)", 10).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("envelope item 1 (event): invalid JSON: "),
            "{e}"
        );
    }
}
