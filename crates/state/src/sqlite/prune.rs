//! Retention: removal of finished rows.

use rusqlite::Connection;

use crate::{PruneStats, StateError};

pub(super) fn prune(conn: &Connection, before: i64) -> Result<PruneStats, StateError> {
    // Foreign keys cascade to alert_transitions, escalations and delivery_log.
    let alerts = conn.execute(
        "DELETE FROM alerts WHERE state = 'resolved' AND ended_at < ?1",
        [before],
    )?;
    let silences = conn.execute("DELETE FROM silences WHERE ends_at < ?1", [before])?;
    let outbox = conn.execute(
        "DELETE FROM outbox WHERE status IN ('delivered', 'abandoned') AND finished_at < ?1",
        [before],
    )?;
    Ok(PruneStats {
        alerts: alerts as u64,
        silences: silences as u64,
        outbox: outbox as u64,
    })
}
