//! The crate's one error type.

use strix_core::ErrorClass;

/// Boxed source error, so backend types (rusqlite today, a PostgreSQL client later) do not
/// leak into the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a [`StateStore`](crate::StateStore) call can fail with.
///
/// Map it to a transport status through [`StateError::class`]; the message is safe to show
/// to an operator (it names the object, never SQL).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The named object does not exist.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// What was looked up: `alert`, `silence`, `outbox entry`, `escalation`.
        kind: &'static str,
        /// The identifier that was asked for.
        id: String,
    },
    /// The request is valid but conflicts with the current state: a forbidden alert
    /// transition, a second active alert for a fingerprint, marking an outbox entry that is
    /// no longer pending, a stale escalation.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller sent something invalid (empty matcher list, `ends_at` before `starts_at`,
    /// a limit above the maximum). Retrying the same input fails again.
    #[error("invalid input: {0}")]
    BadInput(String),
    /// The database is busy or locked by another writer beyond the busy timeout, or the disk
    /// failed. Retry later.
    #[error("state store unavailable: {message}")]
    Unavailable {
        /// What was being done.
        message: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The database was written by a newer Strix whose schema this build does not know.
    #[error(
        "state schema version {found} is newer than the newest this build knows ({supported})"
    )]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// A stored row could not be decoded (a bug or a hand-edited database).
    #[error("corrupt state row in {table}: {message}")]
    Corrupt {
        /// The table the row came from.
        table: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// Any other backend failure.
    #[error("state store error: {message}")]
    Backend {
        /// What was being done.
        message: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl StateError {
    /// The transport-free class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            StateError::NotFound { .. } => ErrorClass::NotFound,
            StateError::Conflict(_) => ErrorClass::Conflict,
            StateError::BadInput(_) => ErrorClass::BadInput,
            StateError::Unavailable { .. } => ErrorClass::Unavailable,
            StateError::SchemaTooNew { .. }
            | StateError::Corrupt { .. }
            | StateError::Backend { .. } => ErrorClass::Internal,
        }
    }

    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        StateError::NotFound {
            kind,
            id: id.into(),
        }
    }
}
