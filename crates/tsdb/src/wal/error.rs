//! The WAL's error type.

use std::path::PathBuf;

use strix_core::ErrorClass;

/// Everything that can go wrong in the write-ahead log.
///
/// Torn or corrupt frames found by [`replay`](super::replay) are repaired there and reported in
/// [`ReplayReport::corruption`](super::ReplayReport); they only surface as
/// [`WalError::Corrupt`] where repairing automatically would destroy data that may still be
/// needed (a damaged checkpoint, a missing segment, a corrupt segment read by
/// [`checkpoint`](fn@super::checkpoint)).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O operation failed. `op` names the operation ("open", "write", "fsync", ...).
    #[error("WAL {op} failed on {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes at `offset` of segment `segment` are not a valid frame or record.
    #[error("WAL segment {segment} is corrupt at offset {offset}: {reason}")]
    Corrupt {
        segment: u32,
        offset: u64,
        reason: String,
    },
    /// A segment was written by a newer format version this build cannot read. Nothing is
    /// repaired or deleted: the files belong to a newer Strix.
    #[error("WAL segment {} has unsupported format version {version}", path.display())]
    UnsupportedVersion { path: PathBuf, version: u8 },
    /// An earlier write or fsync failed; the WAL refuses writes until it is reopened, because
    /// it can no longer tell which acknowledged bytes reached the disk.
    #[error("WAL is poisoned by an earlier write or fsync failure and refuses writes")]
    Poisoned,
    /// The WAL was closed; it accepts no more writes.
    #[error("WAL is closed")]
    Closed,
    /// A record payload could not be decoded.
    #[error("WAL record cannot be decoded: {0}")]
    RecordDecode(String),
    /// A caller passed an invalid option or argument.
    #[error("invalid WAL argument: {0}")]
    InvalidInput(String),
}

impl WalError {
    /// The transport-free class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            WalError::Io { .. } | WalError::Poisoned | WalError::Closed => ErrorClass::Unavailable,
            WalError::InvalidInput(_) => ErrorClass::BadInput,
            WalError::Corrupt { .. }
            | WalError::UnsupportedVersion { .. }
            | WalError::RecordDecode(_) => ErrorClass::Internal,
        }
    }

    /// Builds an [`WalError::Io`] mapper for `map_err`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { op, path, source }
    }
}
