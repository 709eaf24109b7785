use crate::block::BlockError;
use crate::wal::WalError;
use std::path::PathBuf;
use strix_core::ErrorClass;

/// Errors of the engine as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write-ahead log: {0}")]
    Wal(#[from] WalError),
    #[error("block: {0}")]
    Block(#[from] BlockError),
    #[error("the database is closed")]
    Closed,
}

impl DbError {
    pub fn class(&self) -> ErrorClass {
        match self {
            DbError::Io { .. } => ErrorClass::Internal,
            DbError::Wal(e) => e.class(),
            DbError::Block(e) => e.class(),
            DbError::Closed => ErrorClass::Unavailable,
        }
    }
}

impl From<DbError> for strix_core::storage::StorageError {
    fn from(e: DbError) -> Self {
        strix_core::storage::StorageError::new(e.class(), e.to_string())
    }
}
