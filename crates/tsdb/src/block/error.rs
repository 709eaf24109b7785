use std::io;
use std::path::{Path, PathBuf};
use strix_core::ErrorClass;

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A block file is damaged; `reason` names the section and byte offset.
    #[error("corrupt block file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The block was written by a format version this build cannot read.
    #[error("unsupported format version {version} in {path}")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The caller broke a contract (series out of order, mixed resolutions, ...).
    #[error("invalid block input: {0}")]
    InvalidInput(String),
}

impl BlockError {
    /// The transport-free class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            BlockError::Io { .. } => ErrorClass::Unavailable,
            BlockError::Corrupt { .. } | BlockError::UnsupportedVersion { .. } => {
                ErrorClass::Internal
            }
            BlockError::InvalidInput(_) => ErrorClass::Internal,
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> BlockError + '_ {
        move |source| BlockError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> BlockError {
        BlockError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = BlockError> = std::result::Result<T, E>;
