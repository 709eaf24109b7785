//! Health-check status changes: appended as they happen, loaded on start, pruned by age.

use rusqlite::{params, Connection};

use crate::check::CHECK_STATUSES;
use crate::{CheckChangeRecord, StateError};

fn valid_status(s: &str) -> bool {
    CHECK_STATUSES.contains(&s)
}

pub(super) fn record(conn: &Connection, changes: &[CheckChangeRecord]) -> Result<(), StateError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO check_changes (check_name, at, from_status, to_status, cause)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in changes {
        if c.check.is_empty() {
            return Err(StateError::BadInput(
                "check status change without a check name".into(),
            ));
        }
        for s in [&c.from, &c.to] {
            if !valid_status(s) {
                return Err(StateError::BadInput(format!(
                    "check {:?}: unknown status {s:?} (expected one of {})",
                    c.check,
                    CHECK_STATUSES.join(", ")
                )));
            }
        }
        stmt.execute(params![c.check, c.at, c.from, c.to, c.cause])?;
    }
    Ok(())
}

pub(super) fn load(conn: &Connection, since: i64) -> Result<Vec<CheckChangeRecord>, StateError> {
    // Every change at or after `since`, plus each check's newest change before it (the
    // status the check was in at `since`).
    let mut stmt = conn.prepare_cached(
        "SELECT check_name, at, from_status, to_status, cause FROM check_changes c
         WHERE at >= ?1
            OR seq = (SELECT p.seq FROM check_changes p
                      WHERE p.check_name = c.check_name AND p.at < ?1
                      ORDER BY p.at DESC, p.seq DESC LIMIT 1)
         ORDER BY check_name, at, seq",
    )?;
    let rows = stmt
        .query_map([since], |r| {
            Ok(CheckChangeRecord {
                check: r.get(0)?,
                at: r.get(1)?,
                from: r.get(2)?,
                to: r.get(3)?,
                cause: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn prune(conn: &Connection, before: i64) -> Result<u64, StateError> {
    let n = conn.execute(
        "DELETE FROM check_changes
         WHERE at < ?1
           AND seq <> (SELECT p.seq FROM check_changes p
                       WHERE p.check_name = check_changes.check_name AND p.at < ?1
                       ORDER BY p.at DESC, p.seq DESC LIMIT 1)",
        [before],
    )?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use crate::{CheckChangeRecord, SqliteStore, StateError, StateStore};

    fn change(check: &str, at: i64, from: &str, to: &str) -> CheckChangeRecord {
        CheckChangeRecord {
            check: check.into(),
            at,
            from: from.into(),
            to: to.into(),
            cause: (to == "unhealthy").then(|| "connection refused".to_string()),
        }
    }

    #[test]
    fn record_load_prune_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            s.record_check_changes(&[
                change("api", 1_000, "unknown", "healthy"),
                change("api", 5_000, "healthy", "unhealthy"),
                change("db", 2_000, "unknown", "healthy"),
                change("api", 9_000, "unhealthy", "healthy"),
            ])
            .unwrap();
            // A bad status writes nothing of the batch.
            let e = s
                .record_check_changes(&[
                    change("api", 10_000, "healthy", "unhealthy"),
                    change("api", 11_000, "unhealthy", "sideways"),
                ])
                .unwrap_err();
            assert!(
                matches!(e, StateError::BadInput(ref m) if m.contains("sideways")),
                "{e}"
            );
        }
        let s = SqliteStore::open(&path).unwrap();
        let all = s.load_check_changes(0).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].check, "api");
        assert_eq!(all[1].cause.as_deref(), Some("connection refused"));
        // Since 6 s: api's change at 9 s, plus the newest before (5 s) for each check.
        let recent = s.load_check_changes(6_000).unwrap();
        let got: Vec<(&str, i64)> = recent.iter().map(|c| (c.check.as_str(), c.at)).collect();
        assert_eq!(got, vec![("api", 5_000), ("api", 9_000), ("db", 2_000)]);
        // Pruning keeps the status each check was in at the cut.
        assert_eq!(s.prune_check_changes(6_000).unwrap(), 1);
        assert_eq!(s.load_check_changes(0).unwrap(), recent);
        assert_eq!(s.prune_check_changes(6_000).unwrap(), 0);
    }
}
