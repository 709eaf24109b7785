//! The one error type of every decoder in this crate.

use strix_core::ErrorClass;

/// Why a body could not be decoded.
///
/// Messages say what is wrong and where (line number, array index, series index), so they
/// can be returned to the sender verbatim. [`DecodeError::class`] maps each variant to a
/// transport-free [`ErrorClass`]; the HTTP layer turns that into a status code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body, or what it decompresses to, is larger than the configured limit.
    #[error("body too large: the limit is {limit} bytes")]
    TooLarge { limit: usize },
    /// One line of a line-oriented format is longer than the configured limit.
    #[error("line {line}: longer than the limit of {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    /// The `Content-Encoding` is not one this crate can decompress.
    #[error("unsupported content encoding {0:?} (supported: identity, gzip, deflate, br, zstd, snappy, x-snappy-framed)")]
    UnsupportedEncoding(String),
    /// The compressed stream is corrupt; `encoding` is "gzip", "deflate", "br", "zstd" or
    /// "snappy".
    #[error("{encoding}: {message}")]
    Decompress {
        encoding: &'static str,
        message: String,
    },
    /// The protobuf message is malformed.
    #[error("protobuf: {0}")]
    Protobuf(String),
    /// A series of a remote_write request has an invalid label.
    #[error("series {series}: {message}")]
    Series { series: usize, message: String },
    /// A line of a text format (exposition format, JSON lines) is malformed.
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    /// An element of a JSON push body is malformed; `field` is empty for the element itself.
    #[error("{}", fmt_item(.index, .field, .message))]
    Item {
        index: usize,
        field: String,
        message: String,
    },
    /// The body as a whole is malformed (e.g. not JSON at all).
    #[error("{0}")]
    Body(String),
}

fn fmt_item(index: &usize, field: &str, message: &str) -> String {
    if field.is_empty() {
        format!("[{index}]: {message}")
    } else {
        format!("[{index}].{field}: {message}")
    }
}

impl DecodeError {
    /// The transport-free class: size limits are [`ErrorClass::Limit`] (the data itself
    /// may be fine), everything else is [`ErrorClass::BadInput`].
    pub fn class(&self) -> ErrorClass {
        match self {
            DecodeError::TooLarge { .. } | DecodeError::LineTooLong { .. } => ErrorClass::Limit,
            _ => ErrorClass::BadInput,
        }
    }

    pub(crate) fn line(line: usize, message: impl Into<String>) -> Self {
        DecodeError::Line {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn item(index: usize, field: &str, message: impl Into<String>) -> Self {
        DecodeError::Item {
            index,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_messages() {
        let e = DecodeError::TooLarge { limit: 10 };
        assert_eq!(e.class(), ErrorClass::Limit);
        assert_eq!(e.to_string(), "body too large: the limit is 10 bytes");
        assert_eq!(
            DecodeError::LineTooLong { line: 3, limit: 5 }.class(),
            ErrorClass::Limit
        );
        let e = DecodeError::item(2, "value", "expected a number");
        assert_eq!(e.class(), ErrorClass::BadInput);
        assert_eq!(e.to_string(), "[2].value: expected a number");
        assert_eq!(
            DecodeError::item(0, "", "expected an object").to_string(),
            "[0]: expected an object"
        );
        assert_eq!(DecodeError::Protobuf("x".into()).to_string(), "protobuf: x");
    }
}
