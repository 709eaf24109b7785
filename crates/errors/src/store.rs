//! The legacy `/api/{id}/store/` body: one JSON event.
//!
//! Old raven clients sent the event base64-encoded and zlib-compressed in the body itself
//! (no `Content-Encoding`); that form is recognised by its first byte and decoded with the
//! same caps as any compressed body.

use base64::Engine as _;
use serde_json::Value;
use strix_ingest::{decompress, ContentEncoding, DecodeLimits};

use crate::limits::{parse_json, PayloadLimits};
use crate::Error;

const WHAT: &str = "store body";

/// Parses a (decompressed) store body into the raw event.
pub fn parse_store(
    body: &[u8],
    limits: &PayloadLimits,
    decode: &DecodeLimits,
) -> Result<Value, Error> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(Error::Invalid {
            what: WHAT.into(),
            message: "empty body".into(),
        });
    }
    let decoded;
    let json: &[u8] = if trimmed[0] == b'{' {
        trimmed
    } else {
        decoded = legacy_encoded(trimmed, decode)?;
        &decoded
    };
    if json.len() > limits.max_event_bytes {
        return Err(Error::TooLarge {
            what: WHAT.into(),
            limit: limits.max_event_bytes,
        });
    }
    let v = parse_json(json, WHAT, limits.depth())?;
    if !v.is_object() {
        return Err(Error::Invalid {
            what: WHAT.into(),
            message: "the event must be a JSON object".into(),
        });
    }
    Ok(v)
}

/// base64 (standard alphabet) of a zlib stream, as raven clients sent.
fn legacy_encoded(body: &[u8], decode: &DecodeLimits) -> Result<Vec<u8>, Error> {
    let bad = || Error::Invalid {
        what: WHAT.into(),
        message: "neither a JSON object nor a base64-encoded zlib event".into(),
    };
    // base64 expands 3 bytes to 4: reject before decoding what could not fit anyway.
    if body.len() / 4 * 3 > decode.max_body_bytes {
        return Err(strix_ingest::DecodeError::TooLarge {
            limit: decode.max_body_bytes,
        }
        .into());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| bad())?;
    Ok(decompress(ContentEncoding::Deflate, &raw, decode)?.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(b: &[u8]) -> Result<Value, Error> {
        parse_store(b, &PayloadLimits::default(), &DecodeLimits::default())
    }

    #[test]
    fn plain_json() {
        let v = parse(b"  {\"message\":\"hi\",\"debug_meta\":{\"images\":[{\"type\":\"sourcemap\",\"code_file\":\"app.js\"}]}}\n").unwrap();
        assert_eq!(v["message"], "hi");
        assert_eq!(v["debug_meta"]["images"][0]["type"], "sourcemap");
    }

    #[test]
    fn legacy_base64_zlib() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"{\"message\":\"old raven\"}").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
        assert_eq!(parse(b64.as_bytes()).unwrap()["message"], "old raven");
    }

    #[test]
    fn bad_bodies() {
        let e = parse(b"").unwrap_err();
        assert_eq!(e.to_string(), "store body: empty body");
        let e = parse(b"[1,2]").unwrap_err();
        assert!(e.to_string().contains("neither a JSON object"), "{e}");
        let e = parse(b"{\"a\":").unwrap_err();
        assert!(e.to_string().starts_with("store body: invalid JSON"), "{e}");
        let e = parse_store(
            b"{\"a\":\"0123456789\"}",
            &PayloadLimits {
                max_event_bytes: 10,
                ..PayloadLimits::default()
            },
            &DecodeLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        let e = parse(deep.as_bytes()).unwrap_err();
        assert!(matches!(e, Error::TooDeep { .. }), "{e}");
    }
}
