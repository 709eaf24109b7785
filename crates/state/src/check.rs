//! Health-check history: the status changes of every check, from which incidents
//! (periods in `unhealthy`) and uptime over any window are computed exactly.

use serde::{Deserialize, Serialize};

/// The statuses a check can be in, as stored.
pub const CHECK_STATUSES: [&str; 4] = ["healthy", "degraded", "unhealthy", "unknown"];

/// One status change of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckChangeRecord {
    /// The check's name.
    pub check: String,
    /// When the probe (or heartbeat evaluation) that caused the change ran, ms.
    pub at: i64,
    /// The status before (one of [`CHECK_STATUSES`]).
    pub from: String,
    /// The status after (one of [`CHECK_STATUSES`]).
    pub to: String,
    /// The probe's error for changes to unhealthy or degraded.
    pub cause: Option<String>,
}

/// A health check defined through the admin API (not in `strix.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDefinitionRecord {
    /// The check's name; unique.
    pub name: String,
    /// The check's definition as JSON, in the shape of one `checks:` entry (a JSON object).
    pub config: String,
    /// When the definition was first stored, ms.
    pub created_at: i64,
    /// When it was last replaced, ms.
    pub updated_at: i64,
}
