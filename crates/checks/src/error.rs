use strix_core::ErrorClass;

use crate::config::ConfigError;

/// Errors of the checks domain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The check configuration is invalid; the message names the key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No check with this name.
    #[error("unknown check {0:?}")]
    UnknownCheck(String),
    /// No heartbeat with this token.
    #[error("unknown heartbeat token")]
    UnknownToken,
    /// A probe could not be built (e.g. the HTTP client failed to initialise).
    #[error("check {check:?}: cannot build probe: {message}")]
    Build { check: String, message: String },
    /// The change conflicts with an existing check (a name or heartbeat token in use, or a
    /// check declared in `strix.yaml`, which is read-only through the API).
    #[error("{0}")]
    Conflict(String),
    /// A configured limit was reached (`check_settings.max_api_checks`).
    #[error("{0}")]
    Limit(String),
    /// The state store failed.
    #[error("state store: {0}")]
    Store(String),
}

impl Error {
    /// The transport-free class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) => ErrorClass::BadInput,
            Error::UnknownCheck(_) | Error::UnknownToken => ErrorClass::NotFound,
            Error::Build { .. } => ErrorClass::Internal,
            Error::Conflict(_) => ErrorClass::Conflict,
            Error::Limit(_) => ErrorClass::Limit,
            Error::Store(_) => ErrorClass::Unavailable,
        }
    }
}
