//! The one error type of this crate.

use strix_core::ErrorClass;

/// Why an error-tracking payload could not be accepted.
///
/// Messages say what is wrong and where (envelope item index, item type), so they can be
/// returned to the sender verbatim. [`Error::class`] maps each variant to a transport-free
/// [`ErrorClass`]; the HTTP layer turns that into a status code (and an [`Error::Auth`]
/// into 401, which has no class of its own).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Decompression failed or the body is over a size cap (from strix-ingest).
    #[error(transparent)]
    Decode(#[from] strix_ingest::DecodeError),
    /// No usable Sentry key, or a malformed DSN / auth header.
    #[error("authentication: {0}")]
    Auth(String),
    /// The envelope framing is broken; `item` is the 0-based index of the item concerned,
    /// `None` for the envelope header.
    #[error("{}", at(.item, .message))]
    Envelope {
        item: Option<usize>,
        message: String,
    },
    /// A JSON document (envelope header, item header or payload, store body) is invalid.
    #[error("{what}: invalid JSON: {message}")]
    Json { what: String, message: String },
    /// A JSON document nests deeper than the configured limit.
    #[error("{what}: JSON nested deeper than the limit of {limit} levels")]
    TooDeep { what: String, limit: usize },
    /// One item (or the envelope's item count) is over a configured limit.
    #[error("{what}: larger than the limit of {limit}")]
    TooLarge { what: String, limit: usize },
    /// The document is valid JSON but not an event we can use (e.g. not an object).
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    /// A configuration value (regex, condition) is invalid.
    #[error("config: {0}")]
    Config(String),
}

fn at(item: &Option<usize>, message: &str) -> String {
    match item {
        Some(i) => format!("envelope item {i}: {message}"),
        None => format!("envelope header: {message}"),
    }
}

impl Error {
    /// The transport-free class: size and depth caps are [`ErrorClass::Limit`], everything
    /// a sender got wrong is [`ErrorClass::BadInput`].
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Decode(e) => e.class(),
            Error::TooLarge { .. } | Error::TooDeep { .. } => ErrorClass::Limit,
            Error::Auth(_)
            | Error::Envelope { .. }
            | Error::Json { .. }
            | Error::Invalid { .. }
            | Error::Config(_) => ErrorClass::BadInput,
        }
    }

    pub(crate) fn envelope(item: Option<usize>, message: impl Into<String>) -> Self {
        Error::Envelope {
            item,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_item() {
        let e = Error::envelope(Some(2), "length 10 runs past the end");
        assert_eq!(
            e.to_string(),
            "envelope item 2: length 10 runs past the end"
        );
        assert_eq!(e.class(), ErrorClass::BadInput);
        let e = Error::TooDeep {
            what: "item 0 (event)".into(),
            limit: 64,
        };
        assert_eq!(e.class(), ErrorClass::Limit);
        assert!(e.to_string().contains("64 levels"), "{e}");
    }
}
