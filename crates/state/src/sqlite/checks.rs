//! Health-check status changes (appended as they happen, loaded on start, pruned by age)
//! and the definitions of checks made through the admin API.

use rusqlite::{params, Connection, OptionalExtension};

use crate::check::CHECK_STATUSES;
use crate::{CheckChangeRecord, CheckDefinitionRecord, StateError};

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

pub(super) fn list_definitions(
    conn: &Connection,
) -> Result<Vec<CheckDefinitionRecord>, StateError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, config, created_at, updated_at FROM check_definitions ORDER BY name",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(CheckDefinitionRecord {
                name: r.get(0)?,
                config: r.get(1)?,
                created_at: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn upsert_definition(
    conn: &Connection,
    name: &str,
    config: &str,
    at: i64,
) -> Result<CheckDefinitionRecord, StateError> {
    if name.is_empty() {
        return Err(StateError::BadInput(
            "check definition without a name".into(),
        ));
    }
    match serde_json::from_str::<serde_json::Value>(config) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => {
            return Err(StateError::BadInput(format!(
                "check {name:?}: the definition must be a JSON object"
            )))
        }
        Err(e) => {
            return Err(StateError::BadInput(format!(
                "check {name:?}: the definition is not valid JSON: {e}"
            )))
        }
    }
    conn.execute(
        "INSERT INTO check_definitions (name, config, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
        params![name, config, at],
    )?;
    let created_at: Option<i64> = conn
        .query_row(
            "SELECT created_at FROM check_definitions WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(CheckDefinitionRecord {
        name: name.to_string(),
        config: config.to_string(),
        created_at: created_at.unwrap_or(at),
        updated_at: at,
    })
}

pub(super) fn delete_definition(conn: &Connection, name: &str) -> Result<bool, StateError> {
    let n = conn.execute("DELETE FROM check_definitions WHERE name = ?1", [name])?;
    Ok(n > 0)
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

    #[test]
    fn definitions_upsert_list_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            assert!(s.list_check_definitions().unwrap().is_empty());
            let web = r#"{"name":"web","type":"http","url":"http://127.0.0.1:1/"}"#;
            let r = s.upsert_check_definition("web", web, 1_000).unwrap();
            assert_eq!((r.created_at, r.updated_at), (1_000, 1_000));
            s.upsert_check_definition("db", r#"{"name":"db","type":"tcp"}"#, 2_000)
                .unwrap();
            // Replacing keeps created_at and moves updated_at.
            let web2 = r#"{"name":"web","type":"http","url":"http://127.0.0.1:2/"}"#;
            let r = s.upsert_check_definition("web", web2, 3_000).unwrap();
            assert_eq!((r.created_at, r.updated_at), (1_000, 3_000));
            // Bad input is refused and changes nothing.
            for (name, config) in [("", web), ("x", "[1]"), ("x", "{not json")] {
                let e = s.upsert_check_definition(name, config, 4_000).unwrap_err();
                assert!(matches!(e, StateError::BadInput(_)), "{e}");
            }
            s.record_check_changes(&[change("db", 2_500, "unknown", "healthy")])
                .unwrap();
            assert!(s.delete_check_definition("db").unwrap());
            assert!(!s.delete_check_definition("db").unwrap());
        }
        let s = SqliteStore::open(&path).unwrap();
        let all = s.list_check_definitions().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].name, "web");
        assert_eq!(
            all[0].config,
            r#"{"name":"web","type":"http","url":"http://127.0.0.1:2/"}"#
        );
        assert_eq!((all[0].created_at, all[0].updated_at), (1_000, 3_000));
        // The history of a deleted definition stays.
        assert_eq!(s.load_check_changes(0).unwrap().len(), 1);
    }
}
